//! [`copy_bidirectional`]: pump bytes both ways between two streams until both reach EOF.
//!
//! Each direction is a small state machine over its own buffer: read when the buffer is empty,
//! write until it is empty again, flush whenever the reader would wait (so a buffered writer
//! never holds bytes the peer is waiting for), and on end-of-file flush then close the writer
//! (a socket's write side is shut down, so the peer sees EOF too).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};

/// Buffer per direction used by [`copy_bidirectional`].
const DEFAULT_BUF_SIZE: usize = 8 * 1024;

/// Copies `a`'s reads into `b` and `b`'s reads into `a` at the same time, until both have
/// reached end-of-file. When one side's reads end, the other side's write half is flushed and
/// closed (`poll_close`), passing the EOF on. Returns `(bytes a -> b, bytes b -> a)`.
///
/// Same contract as tokio's `io::copy_bidirectional`, on `futures-io` streams.
///
/// # Errors
/// The first error of either direction (the other direction stops too); a write that accepts 0
/// bytes gives `WriteZero`.
///
/// # Examples
/// ```
/// use futures::io::Cursor;
/// use futures::AsyncWriteExt;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     // Two stream-like values: each reads from one buffer and writes into another.
///     let mut left = Duplex(Cursor::new(b"ping".to_vec()), Vec::new());
///     let mut right = Duplex(Cursor::new(b"pong!".to_vec()), Vec::new());
///     let (ab, ba) = rpal_rt::io::util::copy_bidirectional(&mut left, &mut right).await.unwrap();
///     assert_eq!((ab, ba), (4, 5));
///     assert_eq!(right.1, b"ping");
///     assert_eq!(left.1, b"pong!");
///     left.1.close().await.unwrap();
/// });
///
/// /// Reads from `.0`, writes into `.1`.
/// struct Duplex(Cursor<Vec<u8>>, Vec<u8>);
/// impl futures::AsyncRead for Duplex {
///     fn poll_read(
///         mut self: std::pin::Pin<&mut Self>,
///         cx: &mut std::task::Context<'_>,
///         buf: &mut [u8],
///     ) -> std::task::Poll<std::io::Result<usize>> {
///         std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
///     }
/// }
/// impl futures::AsyncWrite for Duplex {
///     fn poll_write(
///         mut self: std::pin::Pin<&mut Self>,
///         cx: &mut std::task::Context<'_>,
///         buf: &[u8],
///     ) -> std::task::Poll<std::io::Result<usize>> {
///         std::pin::Pin::new(&mut self.1).poll_write(cx, buf)
///     }
///     fn poll_flush(
///         mut self: std::pin::Pin<&mut Self>,
///         cx: &mut std::task::Context<'_>,
///     ) -> std::task::Poll<std::io::Result<()>> {
///         std::pin::Pin::new(&mut self.1).poll_flush(cx)
///     }
///     fn poll_close(
///         mut self: std::pin::Pin<&mut Self>,
///         cx: &mut std::task::Context<'_>,
///     ) -> std::task::Poll<std::io::Result<()>> {
///         std::pin::Pin::new(&mut self.1).poll_close(cx)
///     }
/// }
/// ```
pub async fn copy_bidirectional<A, B>(a: &mut A, b: &mut B) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    copy_bidirectional_with_sizes(a, b, DEFAULT_BUF_SIZE, DEFAULT_BUF_SIZE).await
}

/// [`copy_bidirectional`] with the buffer size of each direction given (`a_to_b`, `b_to_a`;
/// a size of 0 counts as 1).
///
/// # Errors
/// As [`copy_bidirectional`].
///
/// # Examples
/// ```
/// # let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// # rt.block_on(async {
/// let (mut a, mut b) = (futures::io::Cursor::new(Vec::new()), futures::io::Cursor::new(Vec::new()));
/// let counts = rpal_rt::io::util::copy_bidirectional_with_sizes(&mut a, &mut b, 64, 64).await;
/// assert_eq!(counts.unwrap(), (0, 0));
/// # });
/// ```
pub async fn copy_bidirectional_with_sizes<A, B>(
    a: &mut A,
    b: &mut B,
    a_to_b: usize,
    b_to_a: usize,
) -> io::Result<(u64, u64)>
where
    A: AsyncRead + AsyncWrite + Unpin + ?Sized,
    B: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut ab = Transfer::new(a_to_b);
    let mut ba = Transfer::new(b_to_a);
    poll_fn(|cx| {
        let ab_done = ab.poll(cx, Pin::new(&mut *a), Pin::new(&mut *b))?;
        let ba_done = ba.poll(cx, Pin::new(&mut *b), Pin::new(&mut *a))?;
        match (ab_done, ba_done) {
            (Poll::Ready(x), Poll::Ready(y)) => Poll::Ready(Ok((x, y))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// Where one direction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Moving bytes.
    Copying,
    /// The reader hit EOF and the buffer is written: flush and close the writer.
    Closing,
    /// Closed; the count is final.
    Done,
}

/// One direction: a buffer with `buf[pos..cap]` still to write.
struct Transfer {
    buf: Box<[u8]>,
    pos: usize,
    cap: usize,
    /// Bytes written since the last flush.
    need_flush: bool,
    phase: Phase,
    total: u64,
}

impl Transfer {
    fn new(size: usize) -> Transfer {
        Transfer {
            buf: vec![0; size.max(1)].into_boxed_slice(),
            pos: 0,
            cap: 0,
            need_flush: false,
            phase: Phase::Copying,
            total: 0,
        }
    }

    /// Moves bytes until the reader or writer would wait (`Pending`) or the direction is closed
    /// (`Ready(total)`).
    fn poll<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut reader: Pin<&mut R>,
        mut writer: Pin<&mut W>,
    ) -> Poll<io::Result<u64>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        loop {
            match self.phase {
                Phase::Done => return Poll::Ready(Ok(self.total)),
                Phase::Closing => {
                    ready!(writer.as_mut().poll_close(cx))?;
                    self.phase = Phase::Done;
                }
                Phase::Copying => {
                    if self.pos == self.cap {
                        match reader.as_mut().poll_read(cx, &mut self.buf) {
                            Poll::Ready(Ok(0)) => {
                                self.phase = Phase::Closing;
                                continue;
                            }
                            Poll::Ready(Ok(n)) => {
                                self.pos = 0;
                                self.cap = n.min(self.buf.len());
                            }
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                            Poll::Pending => {
                                // Nothing to read for now: push out what we wrote.
                                if self.need_flush {
                                    ready!(writer.as_mut().poll_flush(cx))?;
                                    self.need_flush = false;
                                }
                                return Poll::Pending;
                            }
                        }
                    }
                    while self.pos < self.cap {
                        let n = ready!(writer
                            .as_mut()
                            .poll_write(cx, &self.buf[self.pos..self.cap]))?;
                        if n == 0 {
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::WriteZero,
                                "copy_bidirectional: the writer accepted 0 bytes",
                            )));
                        }
                        self.pos += n;
                        self.total += n as u64;
                        self.need_flush = true;
                    }
                }
            }
        }
    }
}
