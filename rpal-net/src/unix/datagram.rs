//! [`UnixDatagram`].

use std::future::poll_fn;
use std::io;
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::task::{Context, Poll};

use rpal_rt::io::Interest;

use super::UnixAddr;
use crate::evented::Evented;

/// A Unix datagram socket, bound to a path or an abstract name, or unbound.
///
/// Methods take `&self`, so one socket can be shared between a sending and a receiving task.
/// Addresses are paths (`&str`, `&Path`) or [`UnixAddr::Abstract`] names.
///
/// # Examples
/// ```
/// use rpal_net::UnixDatagram;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, b) = UnixDatagram::pair().unwrap();
///     a.send(b"one").await.unwrap();
///     a.send(b"two").await.unwrap();
///     let mut buf = [0u8; 8];
///     let n = b.recv(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"one"); // message boundaries are kept
///     let n = b.recv(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"two");
/// });
/// ```
#[derive(Debug)]
pub struct UnixDatagram {
    inner: Evented<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a socket bound to a path or an abstract name.
    ///
    /// # Errors
    /// As `bind(2)`; `AddrInUse` if the path exists.
    pub fn bind<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<UnixDatagram> {
        let addr = addr.into().to_socket_addr()?;
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::bind_addr(&addr)?)
    }

    /// Creates a socket bound to no address (it can send, and receive replies only from a
    /// peer it is connected to, or none if the peer needs an address to answer).
    ///
    /// # Errors
    /// As `socket(2)`.
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_std(std::os::unix::net::UnixDatagram::unbound()?)
    }

    /// A connected pair of unnamed sockets.
    ///
    /// # Errors
    /// As `socketpair(2)`.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std::os::unix::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_std(a)?, UnixDatagram::from_std(b)?))
    }

    /// Wraps a socket from the standard library (made non-blocking here).
    ///
    /// # Errors
    /// Setting non-blocking mode failed.
    pub fn from_std(s: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        s.set_nonblocking(true)?;
        Ok(UnixDatagram {
            inner: Evented::new(s),
        })
    }

    /// Sets the default destination of `send` and the only source `recv` accepts.
    ///
    /// # Errors
    /// As `connect(2)`: `NotFound`/`ConnectionRefused` if nothing is bound there.
    pub fn connect<'a>(&self, addr: impl Into<UnixAddr<'a>>) -> io::Result<()> {
        let addr = addr.into().to_socket_addr()?;
        self.inner.get_ref().connect_addr(&addr)
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Errors
    /// `NotConnected` without [`connect`](Self::connect); otherwise as `send(2)`.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls to send one datagram to the connected peer.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_io(cx, Interest::WRITABLE, |s| s.send(buf))
    }

    /// Sends without waiting: `WouldBlock` if the peer's queue is full.
    ///
    /// # Errors
    /// As [`send`](Self::send), plus `WouldBlock`.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.get_ref().send(buf)
    }

    /// Receives one datagram; bytes beyond `buf.len()` are discarded.
    ///
    /// # Errors
    /// As `recv(2)`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls to receive one datagram.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_io(cx, Interest::READABLE, |s| s.recv(buf))
    }

    /// Receives without waiting: `WouldBlock` if nothing is queued.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), plus `WouldBlock`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.get_ref().recv(buf)
    }

    /// Sends one datagram to a path or an abstract name.
    ///
    /// # Errors
    /// As `sendto(2)`: `NotFound`/`ConnectionRefused` if nothing is bound there.
    pub async fn send_to<'a>(
        &self,
        buf: &[u8],
        target: impl Into<UnixAddr<'a>>,
    ) -> io::Result<usize> {
        let addr = target.into().to_socket_addr()?;
        poll_fn(|cx| {
            self.inner
                .poll_io(cx, Interest::WRITABLE, |s| s.send_to_addr(buf, &addr))
        })
        .await
    }

    /// Receives one datagram and the sender's address (unnamed if the sender is unbound).
    ///
    /// # Errors
    /// As `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls to receive one datagram and the sender's address.
    ///
    /// # Errors
    /// As `recvfrom(2)`.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.inner
            .poll_io(cx, Interest::READABLE, |s| s.recv_from(buf))
    }

    /// Receives with the sender's address without waiting.
    ///
    /// # Errors
    /// As `recvfrom(2)`, plus `WouldBlock`.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.get_ref().recv_from(buf)
    }

    /// The local address (unnamed for an unbound socket).
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Errors
    /// `NotConnected` without [`connect`](Self::connect).
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

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

impl AsRawFd for UnixDatagram {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixDatagram {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}
