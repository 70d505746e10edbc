//! [`TcpStream`].

use std::future::poll_fn;
use std::io;
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rpal_rt::io::Interest;
use rustix::net::{AddressFamily, SocketFlags, SocketType};

use super::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use crate::evented::Evented;

/// A TCP connection. Implements `futures_io::AsyncRead` and `AsyncWrite` (`poll_close` shuts the
/// write side down).
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use rpal_net::{TcpListener, TcpStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     client.set_nodelay(true).unwrap();
///     let (mut server, peer) = listener.accept().await.unwrap();
///     assert_eq!(peer, client.local_addr().unwrap());
///     client.write_all(b"hi").await.unwrap();
///     let (mut rd, _wr) = TcpStream::split(&mut server);
///     let mut buf = [0u8; 2];
///     rd.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// ```
#[derive(Debug)]
pub struct TcpStream {
    pub(super) inner: Evented<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address until one succeeds.
    ///
    /// # Errors
    /// The last connection error, or `InvalidInput` if `addr` resolved to nothing.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let mut last = None;
        for a in addr.to_socket_addrs()? {
            match TcpStream::connect_addr(a).await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "address resolved to nothing")
        }))
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let family = match addr {
            SocketAddr::V4(_) => AddressFamily::INET,
            SocketAddr::V6(_) => AddressFamily::INET6,
        };
        let fd: OwnedFd = rustix::net::socket_with(
            family,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => {}
            Err(rustix::io::Errno::INPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        let std = std::net::TcpStream::from(fd);
        let stream = TcpStream {
            inner: Evented::new(std),
        };
        // Writable means the connect finished; SO_ERROR says how.
        poll_fn(|cx| {
            stream
                .inner
                .poll_io(cx, Interest::WRITABLE, |s| match s.take_error()? {
                    Some(e) => Err(e),
                    None => match s.peer_addr() {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                            Err(io::ErrorKind::WouldBlock.into())
                        }
                        Err(e) => Err(e),
                    },
                })
        })
        .await?;
        Ok(stream)
    }

    /// Wraps a connected stream from the standard library (made non-blocking here).
    ///
    /// # Errors
    /// Setting non-blocking mode failed.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        Ok(TcpStream {
            inner: Evented::new(stream),
        })
    }

    /// The remote address.
    ///
    /// # Errors
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Reads `TCP_NODELAY`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Sets `SO_LINGER`: `Some(t)` makes close wait up to `t` for unsent data (`Some(0)` resets
    /// the connection on close); `None` restores the default background close.
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        Ok(rustix::net::sockopt::set_socket_linger(
            self.inner.get_ref(),
            linger,
        )?)
    }

    /// Reads `SO_LINGER`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(rustix::net::sockopt::socket_linger(self.inner.get_ref())?)
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

    /// Sets `SO_RCVBUF` (the kernel doubles the value and clamps it to `rmem_max`).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_recv_buffer_size(&self, size: usize) -> io::Result<()> {
        Ok(rustix::net::sockopt::set_socket_recv_buffer_size(
            self.inner.get_ref(),
            size,
        )?)
    }

    /// Reads `SO_RCVBUF`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn recv_buffer_size(&self) -> io::Result<usize> {
        Ok(rustix::net::sockopt::socket_recv_buffer_size(
            self.inner.get_ref(),
        )?)
    }

    /// Sets `SO_SNDBUF` (the kernel doubles the value and clamps it to `wmem_max`).
    ///
    /// # Errors
    /// As `setsockopt(2)`.
    pub fn set_send_buffer_size(&self, size: usize) -> io::Result<()> {
        Ok(rustix::net::sockopt::set_socket_send_buffer_size(
            self.inner.get_ref(),
            size,
        )?)
    }

    /// Reads `SO_SNDBUF`.
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn send_buffer_size(&self) -> io::Result<usize> {
        Ok(rustix::net::sockopt::socket_send_buffer_size(
            self.inner.get_ref(),
        )?)
    }

    /// Takes the pending socket error (`SO_ERROR`).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// Receives into `buf` without removing the bytes from the socket's queue (waits until some
    /// bytes are there; 0 means end of stream).
    ///
    /// # Errors
    /// As `recv(2)` with `MSG_PEEK`.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_io(cx, Interest::READABLE, |s| s.peek(buf))).await
    }

    /// Borrows the stream as a read half and a write half that can be used at the same time.
    ///
    /// With `futures::AsyncReadExt` in scope, `stream.split()` resolves to that trait's by-value
    /// `split` (a lock-based split) before this one: call `TcpStream::split(&mut stream)` to get these
    /// lock-free halves.
    /// Typical use: the two branches of a `join!`.
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

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl AsFd for TcpStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

crate::halves::impl_async_read!(TcpStream, |s| s.inner);
crate::halves::impl_async_write!(TcpStream, |s| s.inner);
