//! Halves of a [`TcpStream`]: borrowed ([`ReadHalf`], [`WriteHalf`], from
//! [`TcpStream::split`]) and owned ([`OwnedReadHalf`], [`OwnedWriteHalf`], from
//! [`TcpStream::into_split`]).
//!
//! Both halves drive one `Evented` socket: the reader waits only for read readiness and the
//! writer only for write readiness, so each direction has its own waker slot in the
//! registration and the halves never steal each other's wake-ups. Owned halves share the socket
//! through an `Arc`; dropping the [`OwnedWriteHalf`] shuts the write direction down (like
//! Tokio's), unless it was [`forget`](OwnedWriteHalf::forget)-ed or reunited.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::TcpStream;
use crate::evented::Evented;
use crate::loom::sync::Arc;

type Inner = Evented<std::net::TcpStream>;

/// The read half of a [`TcpStream`], borrowed by [`TcpStream::split`]. Implements
/// `futures_io::AsyncRead`.
#[derive(Debug)]
pub struct ReadHalf<'a>(pub(super) &'a TcpStream);

/// The write half of a [`TcpStream`], borrowed by [`TcpStream::split`]. Implements
/// `futures_io::AsyncWrite`; `poll_close` shuts the write direction down.
#[derive(Debug)]
pub struct WriteHalf<'a>(pub(super) &'a TcpStream);

/// The owned read half of a [`TcpStream`], from [`TcpStream::into_split`]. Implements
/// `futures_io::AsyncRead`.
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use rpal_net::{TcpListener, TcpStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0").unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let (mut server, _) = listener.accept().await.unwrap();
///     let (mut rd, mut wr) = client.into_split();
///     let writer = rpal_rt::spawn(async move {
///         wr.write_all(b"ping").await.unwrap();
///         wr
///     });
///     let mut buf = [0u8; 4];
///     server.read_exact(&mut buf).await.unwrap();
///     server.write_all(b"pong").await.unwrap();
///     rd.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"pong");
///     let stream = rd.reunite(writer.await.unwrap()).unwrap();
///     assert!(stream.peer_addr().is_ok());
/// });
/// ```
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<Inner>,
}

/// The owned write half of a [`TcpStream`], from [`TcpStream::into_split`]. Implements
/// `futures_io::AsyncWrite`; dropping it (or `poll_close`) shuts the write direction down.
///
/// # Examples
/// See [`OwnedReadHalf`].
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<Inner>,
    /// Whether dropping this half calls `shutdown(Write)`; cleared by `forget` and `reunite`.
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams; both are
/// handed back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves of two different TCP streams")
    }
}

impl Error for ReuniteError {}

pub(super) fn into_split(inner: Inner) -> (OwnedReadHalf, OwnedWriteHalf) {
    let inner = Arc::new(inner);
    (
        OwnedReadHalf {
            inner: inner.clone(),
        },
        OwnedWriteHalf {
            inner,
            shutdown_on_drop: true,
        },
    )
}

impl OwnedReadHalf {
    /// Puts the two halves back together into the stream they came from.
    ///
    /// # Errors
    /// [`ReuniteError`] (holding both halves) if they belong to different streams.
    pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Arc::ptr_eq(&self.inner, &other.inner) {
            return Err(ReuniteError(self, other));
        }
        other.shutdown_on_drop = false;
        drop(other);
        let inner = Arc::try_unwrap(self.inner)
            .expect("the two halves of a stream are the only owners of its socket");
        Ok(TcpStream { inner })
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
}

impl OwnedWriteHalf {
    /// Drops this half without shutting the write direction down.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
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
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            // The peer may already be gone; nothing useful to do with the error in a drop.
            let _ = self.inner.get_ref().shutdown(Shutdown::Write);
        }
    }
}

impl ReadHalf<'_> {
    /// The remote address.
    ///
    /// # Errors
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl WriteHalf<'_> {
    /// The remote address.
    ///
    /// # Errors
    /// As `getpeername(2)`.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    /// The local address.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

fn shutdown_write(s: &std::net::TcpStream) -> Poll<io::Result<()>> {
    Poll::Ready(match s.shutdown(Shutdown::Write) {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        other => other,
    })
}

impl futures_io::AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.0.inner.poll_read(cx, buf)
    }
}

impl futures_io::AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_read(cx, buf)
    }
}

impl futures_io::AsyncWrite for WriteHalf<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.inner.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.0.inner.poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        shutdown_write(self.0.inner.get_ref())
    }
}

impl futures_io::AsyncWrite for OwnedWriteHalf {
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
        shutdown_write(self.inner.get_ref())
    }
}
