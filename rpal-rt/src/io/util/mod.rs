//! I/O helpers on the `futures-io` traits (`AsyncRead`, `AsyncWrite`, `AsyncBufRead`), which
//! every rpal-rt and rpal-net byte stream implements.
//!
//! Most of this is the futures ecosystem's own code, re-exported (or wrapped to tokio's
//! signatures) so a port from `tokio::io` changes only import paths; only
//! [`copy_bidirectional`], which `futures` lacks, is written here.
//!
//! | item | from | works on |
//! |---|---|---|
//! | [`copy`] | wraps `futures::io::copy` | `AsyncRead + Unpin` into `AsyncWrite + Unpin` |
//! | [`copy_buf`] | wraps `futures::io::copy_buf` | `AsyncBufRead + Unpin` into `AsyncWrite + Unpin` |
//! | [`copy_bidirectional`] | here | two `AsyncRead + AsyncWrite + Unpin` streams |
//! | [`split`], [`ReadHalf`], [`WriteHalf`] | `futures::io` | one `AsyncRead + AsyncWrite` value |
//! | [`BufReader`] | `futures::io` | implements `AsyncRead`, `AsyncBufRead`, `AsyncSeek`, and `AsyncWrite` by passing through |
//! | [`BufWriter`] | `futures::io` | implements `AsyncWrite`, and `AsyncRead`/`AsyncBufRead` by passing through |
//! | [`AsyncReadExt`], [`AsyncWriteExt`], [`AsyncBufReadExt`] | `futures::io` | the `read`/`write_all`/`read_line` methods |
//!
//! Every read and write of a runtime stream takes a unit of the task's cooperative budget
//! ([`crate::task::consume_budget`]), so a copy between two always-ready streams still lets
//! the worker's other tasks run.

mod copy_bidirectional;

use std::io;

use futures::io::{AsyncBufRead, AsyncRead, AsyncWrite};

pub use copy_bidirectional::{copy_bidirectional, copy_bidirectional_with_sizes};
pub use futures::io::{
    empty, repeat, sink, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter, Empty,
    ReadHalf, Repeat, ReuniteError, Sink, WriteHalf,
};

/// Copies everything `reader` yields into `writer`, then flushes `writer`; returns the number
/// of bytes copied. Same signature as tokio's `io::copy`. (The writer is flushed, not closed.)
///
/// # Errors
/// The first error of a read, write or flush; a write that accepts 0 bytes gives `WriteZero`.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let mut src: &[u8] = b"hello";
///     let mut dst = futures::io::Cursor::new(Vec::new());
///     let n = rpal_rt::io::util::copy(&mut src, &mut dst).await.unwrap();
///     assert_eq!((n, dst.into_inner()), (5, b"hello".to_vec()));
/// });
/// ```
pub async fn copy<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    futures::io::copy(reader, writer).await
}

/// Like [`copy`], reading through the reader's own buffer (no intermediate one).
///
/// # Errors
/// As [`copy`].
///
/// # Examples
/// ```
/// use rpal_rt::io::util::BufReader;
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let mut src = BufReader::new(&b"buffered"[..]);
///     let mut dst = Vec::new();
///     let n = rpal_rt::io::util::copy_buf(&mut src, &mut dst).await.unwrap();
///     assert_eq!(n, 8);
/// });
/// ```
pub async fn copy_buf<R, W>(reader: &mut R, writer: &mut W) -> io::Result<u64>
where
    R: AsyncBufRead + Unpin + ?Sized,
    W: AsyncWrite + Unpin + ?Sized,
{
    futures::io::copy_buf(reader, writer).await
}

/// Splits one `AsyncRead + AsyncWrite` value into a read half and a write half that can be used
/// from two tasks (they share it through a lock; [`ReadHalf::reunite`] puts it back together).
/// Streams with a lock-free split of their own (rpal-net's `into_split`) should prefer it.
///
/// # Examples
/// ```
/// use rpal_rt::io::util::{split, AsyncReadExt, AsyncWriteExt};
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let stream = futures::io::Cursor::new(vec![0u8; 4]);
///     let (mut r, mut w) = split(stream);
///     w.write_all(b"ab").await.unwrap();
///     let mut rest = Vec::new();
///     r.read_to_end(&mut rest).await.unwrap();
///     assert_eq!(rest, [0, 0]);
/// });
/// ```
pub fn split<T>(stream: T) -> (ReadHalf<T>, WriteHalf<T>)
where
    T: AsyncRead + AsyncWrite,
{
    AsyncReadExt::split(stream)
}
