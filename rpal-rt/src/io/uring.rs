//! Socket operations as io_uring completion operations, for socket types (rpal-net) on an
//! io_uring worker.
//!
//! * [`socket_io`] / [`socket_ops_enabled`]: how sockets on the current thread do I/O
//!   ([`SocketIo`]: set by [`Builder::uring_socket_io`](crate::runtime::Builder::uring_socket_io)
//!   or `RPAL_URING_SOCKET_OPS`; always readiness off an io_uring worker).
//! * [`recv`], [`recv_poll_first`], [`send`]: `RECV`/`SEND` with an owned buffer, resolving to a
//!   [`BufResult`]; [`recv_multishot`]: one multishot `RECV` delivering [`RecvChunk`]s from the
//!   worker's provided-buffer ring; [`accept`]: `ACCEPT`, resolving to the new socket.
//!
//! Every operation owns the socket (an `Arc`, so the fd stays open until the kernel is done) and
//! its buffer. Dropping the future cancels the operation (`ASYNC_CANCEL`); the buffer stays with
//! the runtime until the kernel's final completion, so a dropped future never leaves the kernel
//! writing into freed memory. Each constructor returns `None` (or the buffer back) off an
//! io_uring worker: the caller then uses readiness and non-blocking syscalls.
//!
//! # Examples
//! ```
//! use std::sync::Arc;
//! let rt = rpal_rt::Runtime::new_current_thread().unwrap();
//! rt.block_on(async {
//!     let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
//!     let (a, b) = (Arc::new(a), Arc::new(b));
//!     match rpal_rt::io::uring::send(b.clone(), b"hi".to_vec(), 0) {
//!         Ok(op) => assert_eq!(op.await.result.unwrap(), 2),
//!         Err(_) => std::io::Write::write_all(&mut &*b, b"hi").unwrap(), // not on io_uring
//!     }
//!     if let Ok(op) = rpal_rt::io::uring::recv(a.clone(), Vec::with_capacity(16)) {
//!         let r = op.await;
//!         assert_eq!(r.result.unwrap(), 2);
//!         assert_eq!(r.buf, b"hi");
//!     }
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use io_uring::opcode;
use io_uring::types::Fd;

// std `Arc`, not the loom facade: callers hand in their own `std::sync::Arc`s, and an op only
// holds it to keep the fd open (no synchronisation is modelled here).
use crate::reactor::uring_op::{self, Op};
use std::sync::Arc;

/// The environment variable that chooses how sockets do I/O on io_uring workers: `adaptive`
/// (the default), `ring`, `ring-plain`, `ring-multishot` (completion operations) or `readiness`
/// (multishot poll + non-blocking syscalls).
pub const SOCKET_OPS_ENV: &str = "RPAL_URING_SOCKET_OPS";

/// How sockets (rpal-net) do I/O on an io_uring worker. The default is [`SocketIo::Adaptive`]
/// (see `benches/uring_ops.rs` and the load table of `benches/rt_micro.rs`).
///
/// # Examples
/// ```
/// use rpal_rt::io::uring::{socket_io, SocketIo};
/// use rpal_rt::runtime::Builder;
///
/// let rt = Builder::new_current_thread().uring_socket_io(SocketIo::Ring).build().unwrap();
/// rt.block_on(async {
///     // Ring on an io_uring worker; always Readiness on epoll.
///     assert!(matches!(socket_io(), SocketIo::Ring | SocketIo::Readiness));
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketIo {
    /// Readiness (multishot poll) plus non-blocking syscalls, as on epoll.
    /// `RPAL_URING_SOCKET_OPS=readiness`.
    Readiness,
    /// Reads are `RECV` operations; a write first tries a non-blocking `send(2)` and becomes a
    /// `SEND` operation only when the socket buffer is full; accepts are `ACCEPT` operations.
    /// `RPAL_URING_SOCKET_OPS=ring`.
    Ring,
    /// Every read and write is an operation (`RECV`/`SEND`, no syscall first); accepts are
    /// `ACCEPT` operations. `RPAL_URING_SOCKET_OPS=ring-plain`.
    RingPlain,
    /// As [`SocketIo::Ring`], but reads come from one multishot `RECV` per socket that fills
    /// buffers from the worker's provided-buffer ring (64 x 16 KiB per worker, registered on
    /// first use): no submission per read. `RPAL_URING_SOCKET_OPS=ring-multishot`.
    RingMultishot,
    /// Chooses per read and per write from the worker's load ([`socket_io_now`]): with fewer
    /// than [`LOADED_OPS`] operations in flight on the worker's ring it acts as
    /// [`SocketIo::Ring`] (a write is a `send(2)` at once, a read waits for data before its
    /// first attempt: the lowest latency for a few connections), with more as
    /// [`SocketIo::RingPlain`] (every read and write an operation, submitted together at the
    /// worker's next park: the fewest syscalls per request under load).
    /// `RPAL_URING_SOCKET_OPS=adaptive`.
    Adaptive,
}

/// Operations in flight on a worker's ring from which [`SocketIo::Adaptive`] acts as
/// [`SocketIo::RingPlain`]: with that many sockets waiting, a read submitted at the next park
/// usually finds its data already there, and batching the sends saves a syscall each.
pub const LOADED_OPS: usize = 16;

/// The mode for the read or write about to be made on this thread: [`socket_io`], with
/// [`SocketIo::Adaptive`] resolved to [`SocketIo::Ring`] or [`SocketIo::RingPlain`] from the
/// number of operations in flight on this worker's ring (never returns `Adaptive`).
///
/// # Examples
/// ```
/// use rpal_rt::io::uring::{socket_io_now, SocketIo};
/// use rpal_rt::runtime::Builder;
///
/// let rt = Builder::new_current_thread().uring_socket_io(SocketIo::Adaptive).build().unwrap();
/// rt.block_on(async {
///     // Nothing in flight: Ring on an io_uring worker; always Readiness on epoll.
///     assert!(matches!(socket_io_now(), SocketIo::Ring | SocketIo::Readiness));
/// });
/// ```
pub fn socket_io_now() -> SocketIo {
    match socket_io() {
        SocketIo::Adaptive => {
            if uring_op::current_ops_in_flight() >= LOADED_OPS {
                SocketIo::RingPlain
            } else {
                SocketIo::Ring
            }
        }
        other => other,
    }
}

/// A socket an operation keeps open.
type Socket = Arc<dyn AsFd + Send + Sync>;

/// What a `RECV` or `SEND` owns.
struct SockBuf {
    sock: Socket,
    buf: Vec<u8>,
    /// Send: the bytes start here. Recv: the bytes land at `buf.len()`.
    start: usize,
}

/// The result of [`recv`] or [`send`] and the buffer, back from the kernel.
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
///     std::io::Write::write_all(&mut &b, b"ok").unwrap();
///     // `Err(buf)` off an io_uring worker: the caller reads with readiness instead.
///     if let Ok(op) = rpal_rt::io::uring::recv(Arc::new(a), Vec::with_capacity(8)) {
///         let r: rpal_rt::io::uring::BufResult = op.await;
///         assert_eq!((r.result.unwrap(), &r.buf[..]), (2, &b"ok"[..]));
///     }
/// });
/// ```
#[derive(Debug)]
pub struct BufResult {
    /// Bytes received (appended to `buf`; 0: end of stream) or sent (from the start offset).
    pub result: io::Result<usize>,
    /// The buffer (empty if the runtime shut down while the kernel held it: it was leaked).
    pub buf: Vec<u8>,
}

/// A `RECV` or `SEND` in flight; resolves to a [`BufResult`]. Dropping it cancels the operation.
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
///     if let Ok(op) = rpal_rt::io::uring::recv(Arc::new(a), Vec::with_capacity(8)) {
///         // Nothing arrives: dropping the op cancels the RECV; the runtime keeps the buffer
///         // until the kernel lets go of it.
///         let timed_out = rpal_rt::time::timeout(std::time::Duration::from_millis(5), op).await;
///         assert!(timed_out.is_err());
///     }
/// });
/// ```
#[must_use = "an operation is cancelled when dropped"]
pub struct BufOp {
    op: Op<SockBuf>,
    recv: bool,
}

impl fmt::Debug for BufOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufOp")
            .field("op", &self.op)
            .field("recv", &self.recv)
            .finish()
    }
}

impl Future for BufOp {
    type Output = BufResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BufResult> {
        let this = self.get_mut();
        let out = match Pin::new(&mut this.op).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        let Some(owned) = out.owned else {
            return Poll::Ready(BufResult {
                result: out.result.map(|n| n as usize),
                buf: Vec::new(),
            });
        };
        let mut sb = *owned;
        let result = out.result.map(|n| n as usize);
        if this.recv {
            if let Ok(n) = result {
                let len = sb.buf.len() + n;
                debug_assert!(len <= sb.buf.capacity());
                // SAFETY: the kernel wrote `n` bytes into the spare capacity starting at
                // `buf.len()` (the CQE says so, and `n` is at most the length we gave it), so
                // the first `len` bytes are initialised.
                unsafe { sb.buf.set_len(len.min(sb.buf.capacity())) };
            }
        }
        Poll::Ready(BufResult {
            result,
            buf: sb.buf,
        })
    }
}

/// An `ACCEPT` in flight; resolves to the new socket (non-blocking, close-on-exec). Dropping it
/// cancels the operation (a connection accepted meanwhile is closed).
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
///     let addr = l.local_addr().unwrap();
///     l.set_nonblocking(true).unwrap();
///     if let Some(op) = rpal_rt::io::uring::accept(Arc::new(l)) {
///         let _client = std::net::TcpStream::connect(addr).unwrap();
///         let sock = op.await.unwrap(); // an OwnedFd, non-blocking and close-on-exec
///         drop(sock);
///     }
/// });
/// ```
#[must_use = "an operation is cancelled when dropped"]
#[derive(Debug)]
pub struct AcceptOp {
    op: Op<Socket>,
}

impl Future for AcceptOp {
    type Output = io::Result<OwnedFd>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<OwnedFd>> {
        let out = match Pin::new(&mut self.get_mut().op).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        let fd = out.result?;
        // SAFETY: the kernel created this fd for this accept and handed it to us in the CQE;
        // the op table gave the result to this future only, so nothing else owns it.
        Poll::Ready(Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }))
    }
}

/// How sockets do I/O on this thread: the runtime's [`SocketIo`] on an io_uring worker,
/// [`SocketIo::Readiness`] anywhere else (epoll workers, threads outside a runtime).
pub fn socket_io() -> SocketIo {
    crate::runtime::context::with(|cx| match cx {
        Some(cx) if cx.worker.io.uring().is_some() => cx
            .rt
            .config
            .uring_socket_io
            .unwrap_or(crate::runtime::config::DEFAULT_URING_SOCKET_IO),
        _ => SocketIo::Readiness,
    })
}

/// Bytes a multishot receive delivered, in one of the worker's provided buffers; the buffer goes
/// back to the kernel when this drops.
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
///     if let Some(mut multi) = rpal_rt::io::uring::recv_multishot(Arc::new(a)) {
///         std::io::Write::write_all(&mut &b, b"chunk").unwrap();
///         let chunk = std::future::poll_fn(|cx| multi.poll_next(cx)).await.unwrap().unwrap();
///         assert_eq!(&chunk[..], b"chunk"); // the buffer goes back to the kernel on drop
///     }
/// });
/// ```
pub struct RecvChunk {
    ring: Arc<crate::reactor::uring_bufs::BufRing>,
    bid: u16,
    len: usize,
}

impl std::ops::Deref for RecvChunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: a CQE handed buffer `bid` with `len` bytes to this chunk, and it is recycled
        // only when the chunk drops.
        unsafe { self.ring.bytes(self.bid, self.len) }
    }
}

impl Drop for RecvChunk {
    fn drop(&mut self) {
        self.ring.recycle(self.bid);
    }
}

impl fmt::Debug for RecvChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvChunk")
            .field("bid", &self.bid)
            .field("len", &self.len)
            .finish()
    }
}

/// A multishot `RECV` on the current worker's ring ([`recv_multishot`]). Dropping it cancels
/// the operation; buffers it received and nobody took go back to the kernel.
///
/// # Examples
/// ```
/// use std::sync::Arc;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
///     if let Some(mut multi) = rpal_rt::io::uring::recv_multishot(Arc::new(a)) {
///         std::io::Write::write_all(&mut &b, b"x").unwrap();
///         drop(b); // end of stream after the byte
///         let mut got = Vec::new();
///         while let Some(c) = std::future::poll_fn(|cx| multi.poll_next(cx)).await {
///             got.extend_from_slice(&c.unwrap());
///         }
///         assert_eq!(got, b"x");
///         assert!(multi.is_eof());
///     }
/// });
/// ```
#[must_use = "an operation is cancelled when dropped"]
#[derive(Debug)]
pub struct RecvMulti {
    op: Op<Socket>,
    /// The kernel reported end of stream (a 0-byte completion).
    eof: bool,
}

impl RecvMulti {
    /// True once the kernel reported end of stream (after `poll_next` returned `None`, this
    /// says whether the stream ended or the operation only stopped).
    pub fn is_eof(&self) -> bool {
        self.eof
    }

    /// The next delivery:
    ///
    /// * `Poll::Ready(Some(Ok(chunk)))`: bytes (never empty);
    /// * `Poll::Ready(Some(Err(e)))`: `recv(2)` failed; the operation has ended;
    /// * `Poll::Ready(None)`: the operation ended: end of stream if the last delivery was bytes
    ///   or nothing, or the kernel stopped it (no free buffer, `ENOBUFS`, is reported as `None`
    ///   too): submit a new one to go on reading.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<RecvChunk>>> {
        loop {
            let (res, flags) = match self.op.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(c)) => c,
            };
            let bid = io_uring::cqueue::buffer_select(flags);
            let bufs = self.op.ring().buffers().cloned();
            match (res, bid, bufs) {
                (n, Some(bid), Some(ring)) if n > 0 => {
                    return Poll::Ready(Some(Ok(RecvChunk {
                        ring,
                        bid,
                        len: n as usize,
                    })))
                }
                (n, Some(bid), Some(ring)) => {
                    self.eof |= n == 0;
                    ring.recycle(bid);
                }
                (0, None, _) => self.eof = true,
                (e, _, _) if e < 0 && e != -libc::ENOBUFS => {
                    return Poll::Ready(Some(Err(io::Error::from_raw_os_error(-e))))
                }
                // End of stream (0) or out of buffers: the op's final CQE; the next poll
                // returns None.
                _ => {}
            }
        }
    }
}

/// Starts a multishot `RECV` on `sock` that fills the current worker's provided buffers. `None`
/// off an io_uring worker, or while the worker has no provided-buffer ring yet (the first call
/// asks it to register one at its next park: use [`recv`] meanwhile).
pub fn recv_multishot(sock: Arc<impl AsFd + Send + Sync + 'static>) -> Option<RecvMulti> {
    let ring = uring_op::current_ring()?;
    ring.buffers()?;
    let sock: Socket = sock;
    // SAFETY: the SQE selects buffers of the ring's provided group (owned by the driver and kept
    // alive as `uring_bufs.rs` describes) and names the owned socket's fd.
    let op = unsafe {
        uring_op::submit_multishot(ring, sock, |s| {
            opcode::RecvMulti::new(Fd(s.as_fd().as_raw_fd()), crate::reactor::uring_bufs::GROUP)
                .build()
        })
    };
    op.ok().map(|op| RecvMulti { op, eof: false })
}

/// True on an io_uring worker whose runtime uses completion operations for sockets.
pub fn socket_ops_enabled() -> bool {
    socket_io() != SocketIo::Readiness
}

/// Receives into the spare capacity of `buf` (bytes are appended; reserve room first): one
/// `RECV` on the current worker's ring. Gives `buf` back off an io_uring worker or when `buf`
/// has no spare capacity.
///
/// # Errors
/// The future's [`BufResult::result`] carries `recv(2)`'s error.
pub fn recv(sock: Arc<impl AsFd + Send + Sync + 'static>, buf: Vec<u8>) -> Result<BufOp, Vec<u8>> {
    recv_with(sock, buf, 0)
}

/// As [`recv`], with `IORING_RECVSEND_POLL_FIRST` where the kernel has it (5.19+): the kernel
/// waits for data before its first attempt instead of trying at once (for a request/response
/// socket whose answer is not there yet, this saves the failing attempt).
///
/// # Errors
/// As [`recv`].
pub fn recv_poll_first(
    sock: Arc<impl AsFd + Send + Sync + 'static>,
    buf: Vec<u8>,
) -> Result<BufOp, Vec<u8>> {
    let ioprio = if poll_first_supported() {
        RECVSEND_POLL_FIRST
    } else {
        0
    };
    recv_with(sock, buf, ioprio)
}

/// `IORING_RECVSEND_POLL_FIRST` (the `ioprio` of a `RECV`), Linux 5.19+.
const RECVSEND_POLL_FIRST: u16 = 1;

/// True where the kernel knows `IORING_RECVSEND_POLL_FIRST`: it came in 5.19 with
/// `IORING_OP_SOCKET`, whose presence the opcode probe can see (older kernels reject an unknown
/// `ioprio` bit with `EINVAL`).
fn poll_first_supported() -> bool {
    uring_op::opcode_supported(opcode::Socket::CODE)
}

fn recv_with(
    sock: Arc<impl AsFd + Send + Sync + 'static>,
    buf: Vec<u8>,
    ioprio: u16,
) -> Result<BufOp, Vec<u8>> {
    let Some(ring) = uring_op::current_ring().filter(|_| buf.capacity() > buf.len()) else {
        return Err(buf);
    };
    let owned = SockBuf {
        sock,
        start: buf.len(),
        buf,
    };
    // SAFETY: the SQE points into the spare capacity of the owned `buf` (not touched until the
    // final CQE) and names the owned socket's fd.
    let op = unsafe {
        uring_op::submit(ring, owned, false, |sb| {
            let spare = sb.buf.spare_capacity_mut();
            let len = spare.len().min(u32::MAX as usize) as u32;
            opcode::Recv::new(
                Fd(sb.sock.as_fd().as_raw_fd()),
                spare.as_mut_ptr().cast::<u8>(),
                len,
            )
            .ioprio(ioprio)
            .build()
        })
    };
    op.map(|op| BufOp { op, recv: true }).map_err(|sb| sb.buf)
}

/// Sends `buf[start..]` (`MSG_NOSIGNAL`): one `SEND` on the current worker's ring. Gives `buf`
/// back off an io_uring worker.
///
/// # Errors
/// The future's [`BufResult::result`] carries `send(2)`'s error.
pub fn send(
    sock: Arc<impl AsFd + Send + Sync + 'static>,
    buf: Vec<u8>,
    start: usize,
) -> Result<BufOp, Vec<u8>> {
    let Some(ring) = uring_op::current_ring() else {
        return Err(buf);
    };
    let owned = SockBuf {
        sock,
        start: start.min(buf.len()),
        buf,
    };
    // SAFETY: the SQE points into the owned `buf` and names the owned socket's fd.
    let op = unsafe {
        uring_op::submit(ring, owned, false, |sb| {
            let src = &sb.buf[sb.start..];
            let len = src.len().min(u32::MAX as usize) as u32;
            opcode::Send::new(Fd(sb.sock.as_fd().as_raw_fd()), src.as_ptr(), len)
                .flags(libc::MSG_NOSIGNAL)
                .build()
        })
    };
    op.map(|op| BufOp { op, recv: false }).map_err(|sb| sb.buf)
}

/// Accepts one connection on the listening `sock`: one `ACCEPT` on the current worker's ring.
/// `None` off an io_uring worker.
///
/// # Errors
/// The future resolves to `accept4(2)`'s error.
pub fn accept(sock: Arc<impl AsFd + Send + Sync + 'static>) -> Option<AcceptOp> {
    let ring = uring_op::current_ring()?;
    let sock: Socket = sock;
    // SAFETY: no buffer (the peer address is not asked for); the fd is the owned socket's.
    let op = unsafe {
        uring_op::submit(ring, sock, true, |s| {
            opcode::Accept::new(
                Fd(s.as_fd().as_raw_fd()),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
            .flags(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            .build()
        })
    };
    op.ok().map(|op| AcceptOp { op })
}
