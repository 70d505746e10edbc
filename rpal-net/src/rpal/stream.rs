//! [`RpalStream`]: a byte stream over a shared-memory ring pair, or a plain Unix stream.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::handshake::{self, Outcome};
use super::plain::{PlainReader, PlainWriter};
use super::split::{ReadSide, RpalReadHalf, RpalWriteHalf, WriteSide};
use super::RpalConfig;
use crate::unix::{PeerCred, UnixAddr, UnixStream};
use rpal_rt::io::worker_state::WorkerState;

/// Counters of one stream: how often it had to make a syscall to wake or wait.
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use rpal_net::unix::UnixAddr;
/// use rpal_net::{RpalListener, RpalStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let name = format!("rpal-doc-stats-{}", std::process::id());
///     let listener = RpalListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
///     let server = rpal_rt::spawn(async move {
///         let (mut s, _) = listener.accept().await.unwrap();
///         let mut b = [0u8; 3];
///         s.read_exact(&mut b).await.unwrap();
///     });
///     let mut c = RpalStream::connect(UnixAddr::Abstract(name.as_bytes())).await.unwrap();
///     c.write_all(b"abc").await.unwrap();
///     server.await.unwrap();
///     let st = c.stats();
///     assert_eq!(st.bytes_written, 3);
///     assert_eq!(st.bytes_read, 0);
///     println!("{} doorbells, {} skipped while the peer ran", st.doorbells_sent, st.doorbells_skipped_busy);
/// });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RpalStats {
    /// Bytes written into the outgoing ring (or socket, on fallback).
    pub bytes_written: u64,
    /// Bytes read from the incoming ring (or socket).
    pub bytes_read: u64,
    /// Doorbell rings sent to the peer (one syscall each).
    pub doorbells_sent: u64,
    /// Times this side published "waiting" before its worker parked.
    pub parks: u64,
    /// Wake-ups not sent because the peer's worker was running (read from the peer's
    /// worker-state table): the peer polls its rings before it parks.
    pub doorbells_skipped_busy: u64,
}

/// A local stream between two processes. Over shared memory when both sides speak RPAL
/// ([`RpalStream::is_shared_memory`]), else over the Unix socket: same type, same API.
///
/// Implements `futures_io::AsyncRead`, `AsyncWrite` (`poll_close` is a half-close: the peer
/// reads end-of-stream) and `AsyncBufRead`: `poll_fill_buf` lends the reader the bytes in
/// place in the ring (zero-copy receive) and `consume` releases them.
///
/// # Examples
/// ```
/// use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
/// use rpal_net::unix::UnixAddr;
/// use rpal_net::{RpalListener, RpalStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let name = format!("rpal-doc-stream-{}", std::process::id());
///     let listener = RpalListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
///     let server = rpal_rt::spawn(async move {
///         let (mut s, _) = listener.accept().await.unwrap();
///         assert!(s.is_shared_memory());
///         let got = s.fill_buf().await.unwrap().to_vec(); // in place in the ring
///         let n = got.len();
///         s.consume_unpin(n);
///         s.write_all(&got).await.unwrap();
///     });
///     let mut c = RpalStream::connect(UnixAddr::Abstract(name.as_bytes())).await.unwrap();
///     c.write_all(b"ping").await.unwrap();
///     let mut back = [0u8; 4];
///     c.read_exact(&mut back).await.unwrap();
///     assert_eq!(&back, b"ping");
///     server.await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct RpalStream {
    read: ReadSide,
    write: WriteSide,
    shared_memory: bool,
}

impl RpalStream {
    pub(crate) fn from_outcome(o: Outcome) -> RpalStream {
        match o {
            Outcome::Ring(ends) => {
                let (r, w) = *ends;
                RpalStream {
                    read: ReadSide::Ring(r),
                    write: WriteSide::Ring(w),
                    shared_memory: true,
                }
            }
            Outcome::Plain(sock) => {
                let sock = Arc::new(sock);
                RpalStream {
                    read: ReadSide::Plain(PlainReader::new(sock.clone())),
                    write: WriteSide::Plain(PlainWriter { sock, bytes: 0 }),
                    shared_memory: false,
                }
            }
        }
    }

    /// Connects to an [`super::RpalListener`] with default settings.
    ///
    /// # Errors
    /// Connecting fails, the handshake times out (`TimedOut`), or the server sends a malformed
    /// answer (`InvalidData`).
    pub async fn connect<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<RpalStream> {
        RpalStream::connect_with(addr, &RpalConfig::default()).await
    }

    /// Connects with explicit settings.
    ///
    /// # Errors
    /// As [`RpalStream::connect`].
    pub async fn connect_with<'a>(
        addr: impl Into<UnixAddr<'a>>,
        config: &RpalConfig,
    ) -> io::Result<RpalStream> {
        let sock = UnixStream::connect(addr).await?;
        if !config.shared_memory {
            return Ok(RpalStream::from_outcome(Outcome::Plain(sock)));
        }
        match rpal_rt::time::timeout(config.handshake_timeout, handshake::client(sock, config))
            .await
        {
            Ok(r) => r.map(RpalStream::from_outcome),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "RPAL handshake did not finish within {:?}; is the server an RpalListener?",
                    config.handshake_timeout
                ),
            )),
        }
    }

    /// True over shared memory; false when the connection fell back to the Unix socket.
    pub fn is_shared_memory(&self) -> bool {
        self.shared_memory
    }

    /// Credentials of the peer process (SO_PEERCRED of the setup socket).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        match &self.write {
            WriteSide::Ring(w) => w.link.ctrl.peer_cred(),
            WriteSide::Plain(p) => p.sock.peer_cred(),
        }
    }

    /// Reads without waiting: `WouldBlock` when no byte is there (for busy-polling receivers).
    /// On shared memory this makes no syscall (the peer's liveness is checked every 1024 empty
    /// tries).
    ///
    /// # Errors
    /// As `poll_read`, plus `WouldBlock`.
    pub fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read.try_read(buf)
    }

    /// Counters of this stream.
    pub fn stats(&self) -> RpalStats {
        let (doorbells_sent, parks, doorbells_skipped_busy) = match (&self.read, &self.write) {
            (ReadSide::Ring(r), WriteSide::Ring(w)) => (
                r.doorbells_sent() + w.doorbells_sent(),
                r.parks() + w.parks(),
                r.doorbells_skipped_busy() + w.doorbells_skipped_busy(),
            ),
            _ => (0, 0, 0),
        };
        RpalStats {
            bytes_written: self.write.bytes(),
            bytes_read: self.read.bytes(),
            doorbells_sent,
            parks,
            doorbells_skipped_busy,
        }
    }

    /// What the worker that the peer's reading task waits on is doing (RUNNING, WAIT or CALL),
    /// read from the peer process's worker-state table without a syscall. `None` on the plain
    /// socket, when the peer sent no table, or while its reader is not waiting on a worker.
    pub fn peer_worker_state(&self) -> Option<WorkerState> {
        match &self.write {
            WriteSide::Ring(w) => w.peer_reader_worker(),
            _ => None,
        }
    }

    /// Splits into a read half and a write half that can be used from different tasks.
    pub fn into_split(self) -> (RpalReadHalf, RpalWriteHalf) {
        (
            RpalReadHalf { inner: self.read },
            RpalWriteHalf { inner: self.write },
        )
    }
}

impl futures_io::AsyncRead for RpalStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().read.poll_read(cx, buf)
    }
}

impl futures_io::AsyncBufRead for RpalStream {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        self.get_mut().read.poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().read.consume(amt)
    }
}

impl futures_io::AsyncWrite for RpalStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.get_mut().write.close())
    }
}
