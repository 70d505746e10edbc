//! The two halves of an [`super::RpalStream`], each usable from its own task.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::plain::{PlainReader, PlainWriter};
use super::transport::{RingReader, RingWriter};

/// The reading half of an [`super::RpalStream`]: `AsyncRead` and `AsyncBufRead` (zero-copy).
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use rpal_net::unix::UnixAddr;
/// use rpal_net::{RpalListener, RpalStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let name = format!("rpal-doc-split-{}", std::process::id());
///     let listener = RpalListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
///     let server = rpal_rt::spawn(async move {
///         let (s, _) = listener.accept().await.unwrap();
///         let (mut rd, mut wr) = s.into_split();
///         // Echo from one task through the two halves.
///         let mut buf = [0u8; 5];
///         rd.read_exact(&mut buf).await.unwrap();
///         wr.write_all(&buf).await.unwrap();
///     });
///     let (mut rd, mut wr) = RpalStream::connect(UnixAddr::Abstract(name.as_bytes()))
///         .await
///         .unwrap()
///         .into_split();
///     let writer = rpal_rt::spawn(async move { wr.write_all(b"hello").await.unwrap() });
///     let mut back = [0u8; 5];
///     rd.read_exact(&mut back).await.unwrap();
///     assert_eq!(&back, b"hello");
///     writer.await.unwrap();
///     server.await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct RpalReadHalf {
    pub(crate) inner: ReadSide,
}

/// The writing half of an [`super::RpalStream`]: `AsyncWrite` (`poll_close` half-closes).
///
/// # Examples
/// ```
/// use futures::AsyncWriteExt;
/// use rpal_net::unix::UnixAddr;
/// use rpal_net::{RpalListener, RpalStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let name = format!("rpal-doc-wrhalf-{}", std::process::id());
///     let listener = RpalListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
///     let server = rpal_rt::spawn(async move { listener.accept().await.unwrap() });
///     let (_rd, mut wr) = RpalStream::connect(UnixAddr::Abstract(name.as_bytes()))
///         .await
///         .unwrap()
///         .into_split();
///     wr.write_all(b"bye").await.unwrap();
///     wr.close().await.unwrap(); // the peer reads end of stream after "bye"
///     drop(server.await.unwrap());
/// });
/// ```
#[derive(Debug)]
pub struct RpalWriteHalf {
    pub(crate) inner: WriteSide,
}

// The ring end is the hot path: kept inline (no pointer chase per read); the plain
// fallback is the smaller, rarer variant.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum ReadSide {
    Ring(RingReader),
    Plain(PlainReader),
}

// As for ReadSide: the ring end stays inline.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum WriteSide {
    Ring(RingWriter),
    Plain(PlainWriter),
}

impl ReadSide {
    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            ReadSide::Ring(r) => r.poll_read(cx, buf),
            ReadSide::Plain(p) => p.poll_read(cx, buf),
        }
    }

    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ReadSide::Ring(r) => r.try_read(buf),
            ReadSide::Plain(p) => p.try_read(buf),
        }
    }

    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        match self {
            ReadSide::Ring(r) => r.poll_fill_buf(cx),
            ReadSide::Plain(p) => p.poll_fill_buf(cx),
        }
    }

    pub(crate) fn consume(&mut self, n: usize) {
        match self {
            ReadSide::Ring(r) => r.consume(n),
            ReadSide::Plain(p) => p.consume(n),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        match self {
            ReadSide::Ring(r) => r.bytes,
            ReadSide::Plain(p) => p.bytes,
        }
    }
}

impl WriteSide {
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self {
            WriteSide::Ring(w) => w.poll_write(cx, buf),
            WriteSide::Plain(p) => p.poll_write(cx, buf),
        }
    }

    pub(crate) fn close(&mut self) -> io::Result<()> {
        match self {
            WriteSide::Ring(w) => w.close(),
            WriteSide::Plain(p) => p.close(),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        match self {
            WriteSide::Ring(w) => w.bytes,
            WriteSide::Plain(p) => p.bytes,
        }
    }
}

impl RpalReadHalf {
    /// Reads without waiting (`WouldBlock` when empty).
    ///
    /// # Errors
    /// As [`super::RpalStream::try_read`].
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_read(buf)
    }
}

impl futures_io::AsyncRead for RpalReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().inner.poll_read(cx, buf)
    }
}

impl futures_io::AsyncBufRead for RpalReadHalf {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().inner.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().inner.consume(amt)
    }
}

impl futures_io::AsyncWrite for RpalWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().inner.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().inner.close())
    }
}
