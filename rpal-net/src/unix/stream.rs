//! [`UnixStream`].

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::UnixAddr;
use crate::evented::Evented;

/// Credentials of the process at the other end of a Unix socket (`SO_PEERCRED`, taken when
/// the connection was made).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

/// A Unix stream connection. Implements `futures_io::AsyncRead` and `AsyncWrite`.
#[derive(Debug)]
pub struct UnixStream {
    inner: Evented<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to a path or an abstract name.
    ///
    /// # Errors
    /// As `connect(2)`: `NotFound`/`ConnectionRefused` when nobody listens.
    pub async fn connect<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<UnixStream> {
        // A Unix-domain connect completes (or fails) at once; it never waits for the peer.
        let addr = addr.into().to_socket_addr()?;
        let s = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        UnixStream::from_std(s)
    }

    /// A connected pair.
    ///
    /// # Errors
    /// As `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std::os::unix::net::UnixStream::pair()?;
        Ok((UnixStream::from_std(a)?, UnixStream::from_std(b)?))
    }

    /// Wraps a stream from the standard library (made non-blocking here).
    ///
    /// # Errors
    /// Setting non-blocking mode failed.
    pub fn from_std(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        s.set_nonblocking(true)?;
        Ok(UnixStream {
            inner: Evented::new(s),
        })
    }

    /// The standard-library socket underneath (for ancillary-data syscalls).
    pub fn as_std(&self) -> &std::os::unix::net::UnixStream {
        self.inner.get_ref()
    }

    /// Runs a non-blocking operation on the socket, waiting for `interest` readiness whenever it
    /// returns `WouldBlock` (for `sendmsg`/`recvmsg` with ancillary data).
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: rpal_rt::io::Interest,
        mut f: impl FnMut(&std::os::unix::net::UnixStream) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.inner.poll_io(cx, interest, |s| f(s))
    }

    /// `poll_read` through a shared reference (for halves sharing one socket).
    pub(crate) fn poll_read_shared(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read(cx, buf)
    }

    /// `poll_write` through a shared reference (for halves sharing one socket).
    pub(crate) fn poll_write_shared(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }

    /// Credentials of the peer process.
    ///
    /// # Errors
    /// As `getsockopt(SO_PEERCRED)`.
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        let c = rustix::net::sockopt::socket_peercred(self.inner.get_ref())?;
        Ok(PeerCred {
            pid: c.pid.as_raw_nonzero().get(),
            uid: c.uid.as_raw(),
            gid: c.gid.as_raw(),
        })
    }

    /// The peer's address.
    ///
    /// # Errors
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// Shuts down the read side, the write side, or both.
    ///
    /// # Errors
    /// As `shutdown(2)`.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }
}

impl AsRawFd for UnixStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl futures_io::AsyncRead for UnixStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read(cx, buf)
    }
}

impl futures_io::AsyncWrite for UnixStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(match self.inner.get_ref().shutdown(Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}
