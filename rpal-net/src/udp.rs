//! UDP: [`UdpSocket`], with Tokio's method names and semantics (`bind`, `connect`, `send`/`recv`,
//! `send_to`/`recv_from`, `peek_from`, `try_*` variants that never wait).
//!
//! The socket registers lazily with the reactor of the worker that first waits on it. Datagram
//! sockets never clear readiness after a successful call (a datagram call says nothing about
//! whether more are queued); only a `WouldBlock` clears it.

use std::future::poll_fn;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::task::{Context, Poll};

use rpal_rt::io::Interest;

use crate::evented::Evented;

/// A UDP socket.
///
/// Methods take `&self`, so one socket can be shared (for example in an `Arc`) between a task
/// that sends and a task that receives.
///
/// # Examples
/// ```
/// use rpal_net::UdpSocket;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"ping");
///     assert_eq!(from, a.local_addr().unwrap());
/// });
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    inner: Evented<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds a socket to `addr` (each resolved address is tried in turn).
    ///
    /// `async` like Tokio's, although binding never waits.
    ///
    /// # Errors
    /// The address cannot be resolved or bound.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        UdpSocket::from_std(std::net::UdpSocket::bind(addr)?)
    }

    /// Wraps a socket from the standard library (made non-blocking here).
    ///
    /// # Errors
    /// Setting non-blocking mode failed.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        Ok(UdpSocket {
            inner: Evented::new(socket),
        })
    }

    /// Sets the default destination of `send` and the only source `recv` accepts.
    ///
    /// # Errors
    /// The address cannot be resolved, or `connect(2)` failed for every resolved address.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        self.inner.get_ref().connect(addr)
    }

    /// Sends `buf` to the connected peer; returns the number of bytes sent.
    ///
    /// # Errors
    /// `NotConnected` without [`connect`](Self::connect); otherwise as `send(2)`.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_send(cx, buf)).await
    }

    /// Polls to send `buf` to the connected peer.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_io(cx, Interest::WRITABLE, |s| s.send(buf))
    }

    /// Sends without waiting: `WouldBlock` if the send buffer is full.
    ///
    /// # Errors
    /// As [`send`](Self::send), plus `WouldBlock`.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.get_ref().send(buf)
    }

    /// Receives one datagram from the connected peer into `buf`; bytes beyond `buf.len()` are
    /// discarded.
    ///
    /// # Errors
    /// As `recv(2)`.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_recv(cx, buf)).await
    }

    /// Polls to receive one datagram from the connected peer.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_io(cx, Interest::READABLE, |s| s.recv(buf))
    }

    /// Receives without waiting: `WouldBlock` if no datagram is queued.
    ///
    /// # Errors
    /// As [`recv`](Self::recv), plus `WouldBlock`.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.get_ref().recv(buf)
    }

    /// Sends `buf` to `target` (the first address it resolves to).
    ///
    /// # Errors
    /// `InvalidInput` if `target` resolves to nothing; otherwise as `sendto(2)`.
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addr = target.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "target resolved to no address")
        })?;
        poll_fn(|cx| self.poll_send_to(cx, buf, addr)).await
    }

    /// Polls to send `buf` to `target`.
    ///
    /// # Errors
    /// As `sendto(2)`.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_io(cx, Interest::WRITABLE, |s| s.send_to(buf, target))
    }

    /// Sends to `target` without waiting.
    ///
    /// # Errors
    /// As `sendto(2)`, plus `WouldBlock`.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.inner.get_ref().send_to(buf, target)
    }

    /// Receives one datagram and the address it came from.
    ///
    /// # Errors
    /// As `recvfrom(2)`.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.poll_recv_from(cx, buf)).await
    }

    /// Polls to receive one datagram and its source address.
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

    /// Receives with its source address without waiting.
    ///
    /// # Errors
    /// As `recvfrom(2)`, plus `WouldBlock`.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner.get_ref().recv_from(buf)
    }

    /// Like [`recv_from`](Self::recv_from) but leaves the datagram queued.
    ///
    /// # Errors
    /// As `recvfrom(2)` with `MSG_PEEK`.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| {
            self.inner
                .poll_io(cx, Interest::READABLE, |s| s.peek_from(buf))
        })
        .await
    }

    /// The local address.
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

    /// Sets `SO_BROADCAST`.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_broadcast(on)
    }

    /// Reads `SO_BROADCAST`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.inner.get_ref().broadcast()
    }

    /// Sets `IP_TTL`.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.inner.get_ref().set_ttl(ttl)
    }

    /// Reads `IP_TTL`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn ttl(&self) -> io::Result<u32> {
        self.inner.get_ref().ttl()
    }

    /// Sets `IP_MULTICAST_LOOP`.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.inner.get_ref().set_multicast_loop_v4(on)
    }

    /// Joins an IPv4 multicast group on `interface` (`0.0.0.0`: the kernel's choice).
    ///
    /// # Errors
    /// As `setsockopt(IP_ADD_MEMBERSHIP)`.
    pub fn join_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v4(&group, &interface)
    }

    /// Leaves an IPv4 multicast group.
    ///
    /// # Errors
    /// As `setsockopt(IP_DROP_MEMBERSHIP)`.
    pub fn leave_multicast_v4(&self, group: Ipv4Addr, interface: Ipv4Addr) -> io::Result<()> {
        self.inner.get_ref().leave_multicast_v4(&group, &interface)
    }

    /// Joins an IPv6 multicast group on interface index `interface` (0: any).
    ///
    /// # Errors
    /// As `setsockopt(IPV6_ADD_MEMBERSHIP)`.
    pub fn join_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().join_multicast_v6(group, interface)
    }

    /// Leaves an IPv6 multicast group.
    ///
    /// # Errors
    /// As `setsockopt(IPV6_DROP_MEMBERSHIP)`.
    pub fn leave_multicast_v6(&self, group: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.inner.get_ref().leave_multicast_v6(group, interface)
    }

    /// Takes the pending socket error (`SO_ERROR`), for example an ICMP port-unreachable
    /// reported for a connected socket.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl AsFd for UdpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}
