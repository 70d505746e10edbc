//! [`TcpListener`].

use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use rpal_rt::io::Interest;

use super::TcpStream;
use crate::evented::Evented;

/// A TCP socket server, listening for connections.
///
/// # Examples
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// let listener = rpal_net::TcpListener::bind("127.0.0.1:7878").await?;
/// loop {
///     let (stream, peer) = listener.accept().await?;
///     rpal_rt::spawn(async move {
///         let _ = (stream, peer); // serve the connection
///     });
/// }
/// # }
/// # let _ = demo;
/// ```
#[derive(Debug)]
pub struct TcpListener {
    inner: Evented<std::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (tries each resolved address in turn) and listens. Async like Tokio's, so
    /// a port from Tokio keeps its `.await`; it completes at once (name resolution, if `addr`
    /// needs any, runs on the calling thread, as with `std::net::TcpListener::bind`).
    ///
    /// # Errors
    /// The address cannot be resolved or bound.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        TcpListener::from_std(std::net::TcpListener::bind(addr)?)
    }

    /// Wraps a listener from the standard library (made non-blocking here).
    ///
    /// # Errors
    /// Setting non-blocking mode failed.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        Ok(TcpListener {
            inner: Evented::new(listener),
        })
    }

    /// Accepts a new connection.
    ///
    /// # Errors
    /// As `accept(2)`; `EMFILE` and friends are returned, not retried.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (s, addr) = poll_fn(|cx| {
            // On an io_uring worker with socket ops on: one ACCEPT on the ring.
            if let Some(p) = self.inner.poll_accept_ring(cx) {
                return p.map(|r| {
                    let s = std::net::TcpStream::from(r?);
                    let addr = s.peer_addr()?;
                    Ok((s, addr))
                });
            }
            self.inner.poll_io(cx, Interest::READABLE, |l| l.accept())
        })
        .await?;
        Ok((TcpStream::from_std(s)?, addr))
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}
