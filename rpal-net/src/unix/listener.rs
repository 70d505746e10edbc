//! [`UnixListener`].

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::SocketAddr;
use std::task::{Context, Poll};

use rpal_rt::io::Interest;

use super::{UnixAddr, UnixStream};
use crate::evented::Evented;

/// A Unix stream socket server.
///
/// # Examples
/// ```
/// use rpal_net::unix::{UnixAddr, UnixListener, UnixStream};
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let name = format!("rpal-doc-{}", std::process::id());
///     let l = UnixListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
///     let c = UnixStream::connect(UnixAddr::Abstract(name.as_bytes())).await.unwrap();
///     let (s, _) = l.accept().await.unwrap();
///     assert_eq!(s.peer_cred().unwrap().pid, std::process::id() as i32);
///     drop(c);
/// });
/// ```
#[derive(Debug)]
pub struct UnixListener {
    inner: Evented<std::os::unix::net::UnixListener>,
}

impl UnixListener {
    /// Binds and listens on a path (`&str`, `&Path`) or an abstract name ([`UnixAddr`]).
    ///
    /// # Errors
    /// As `bind(2)`/`listen(2)`; `AddrInUse` if the path exists.
    pub fn bind<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<UnixListener> {
        let addr = addr.into().to_socket_addr()?;
        let l = std::os::unix::net::UnixListener::bind_addr(&addr)?;
        UnixListener::from_std(l)
    }

    /// Wraps a listener from the standard library (made non-blocking here).
    ///
    /// # Errors
    /// Setting non-blocking mode failed.
    pub fn from_std(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        l.set_nonblocking(true)?;
        Ok(UnixListener {
            inner: Evented::new(l),
        })
    }

    /// Accepts a connection.
    ///
    /// # Errors
    /// As `accept(2)`.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection.
    ///
    /// # Errors
    /// As `accept(2)`.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        // On an io_uring worker with socket ops on: one ACCEPT on the ring (kept across polls).
        let ring = self.inner.poll_accept_ring(cx).map(|p| {
            p.map(|r| {
                let s = std::os::unix::net::UnixStream::from(r?);
                let addr = s.peer_addr()?;
                Ok((s, addr))
            })
        });
        let polled = match ring {
            Some(p) => p,
            None => self.inner.poll_io(cx, Interest::READABLE, |l| l.accept()),
        };
        match polled {
            Poll::Ready(Ok((s, addr))) => Poll::Ready(UnixStream::from_std(s).map(|s| (s, addr))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

impl AsRawFd for UnixListener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl AsFd for UnixListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}
