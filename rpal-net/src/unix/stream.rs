//! [`UnixStream`].

use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::task::{Context, Poll};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use super::UnixAddr;
use crate::evented::Evented;

/// Credentials of the process at the other end of a Unix socket (`SO_PEERCRED`, taken when
/// the connection was made).
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, _b) = rpal_net::UnixStream::pair().unwrap();
///     let cred = a.peer_cred().unwrap();
///     assert_eq!(cred.pid, std::process::id() as i32);
///     assert_eq!(cred.uid, rustix::process::getuid().as_raw());
/// });
/// ```
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
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use rpal_net::UnixStream;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (mut a, mut b) = UnixStream::pair().unwrap();
///     a.write_all(b"hi").await.unwrap();
///     let (mut rd, mut wr) = UnixStream::split(&mut b);
///     let mut buf = [0u8; 2];
///     rd.read_exact(&mut buf).await.unwrap();
///     wr.write_all(&buf).await.unwrap();
///     a.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// ```
#[derive(Debug)]
pub struct UnixStream {
    pub(super) inner: Evented<std::os::unix::net::UnixStream>,
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

    /// The local address (unnamed for a socket from [`pair`](Self::pair) or a client).
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// Borrows the stream as a read half and a write half that can be used at the same time.
    ///
    /// With `futures::AsyncReadExt` in scope, `stream.split()` resolves to that trait's by-value
    /// `split` (a lock-based split) before this one: call `UnixStream::split(&mut stream)` to get these
    /// lock-free halves.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Splits the stream into owned halves that can move to different tasks;
    /// [`OwnedReadHalf::reunite`] puts them back together. Dropping the write half shuts the
    /// write direction down.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(self.inner)
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

crate::halves::impl_async_read!(UnixStream, |s| s.inner);
crate::halves::impl_async_write!(UnixStream, |s| s.inner);
