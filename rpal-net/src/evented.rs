//! A non-blocking fd plus its reactor registration, created lazily on the worker that first
//! polls it (so a socket accepted on one worker and handed to a task on another gets its events
//! on the worker that uses it), and the io_uring operations of each direction.
//!
//! # Two paths
//! * **readiness** (epoll, and io_uring with socket ops off): non-blocking syscall; on
//!   `WouldBlock`, wait for readiness through the worker's reactor.
//! * **ring** (an io_uring worker with socket ops on, `rpal_rt::io::uring`): `poll_read` submits
//!   one `RECV` into a buffer the operation owns and copies the bytes out when it completes
//!   (bytes beyond the caller's buffer wait in `rx` for the next read); `poll_write` copies the
//!   bytes into an owned buffer, submits one `SEND` and returns its count when it completes.
//!   With `SocketIo::Ring`, a write first tries a plain `send(2)` (a `SEND` only when the socket
//!   buffer is full), and a read that follows a read which filled the caller's buffer first tries
//!   a plain `recv(2)` (streaming); `SocketIo::RingPlain` never does. `SocketIo::Adaptive` (the
//!   default) acts as one or the other per call, from the operations in flight on the worker's
//!   ring (`rpal_rt::io::uring::socket_io_now`). An operation stays in flight across polls (a
//!   read future dropped meanwhile loses nothing: the next read gets the bytes). A write is
//!   reported when its `SEND` completes: a caller that abandons a pending write and then writes
//!   different bytes gets an error, since the abandoned bytes went out. Operations still in
//!   flight when the socket drops are cancelled; they keep the fd open (an `Arc` of the socket)
//!   until the kernel lets go.
//!
//! Which path runs is decided per call ([`rpal_rt::io::uring::socket_ops_enabled`]); a
//! direction with ring state (an operation in flight or buffered bytes) finishes it first.

use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use rpal_rt::io::uring::{self, AcceptOp, BufOp, RecvChunk, RecvMulti};
use rpal_rt::io::{Interest, Registration};

use crate::loom::sync::{Mutex, MutexGuard};
// std `Arc` for the socket: ring operations take a `std::sync::Arc` (they only keep the fd open).
use std::sync::Arc;

/// Most bytes one ring `RECV` asks for.
const MAX_RECV: usize = 256 * 1024;
/// Fewest bytes one ring `RECV` asks for, whatever the caller's buffer (the rest waits in `rx`).
const MIN_RECV: usize = 4096;
/// Most bytes one ring `SEND` takes.
const MAX_SEND: usize = 256 * 1024;

/// Ring state of the read direction.
#[derive(Debug, Default)]
struct Rx {
    /// The `RECV` in flight.
    op: Option<BufOp>,
    /// Received bytes; `data[pos..]` not yet handed out. Also the buffer of the next `RECV`.
    data: Vec<u8>,
    pos: usize,
    /// The last read filled the caller's buffer, so more bytes are probably queued: in
    /// `SocketIo::Ring` the next read tries a plain `recv(2)` before submitting a `RECV`. (For
    /// request/response with exact-size reads that attempt usually fails; measured, dropping it
    /// saves ~0.4 µs per round trip when client and server share a worker but costs ~0.5 µs
    /// when they are on two threads, the common case, so it stays.)
    full: bool,
    /// `SocketIo::RingMultishot`: the socket's multishot `RECV`, and the delivery being read
    /// (`chunk[chunk_pos..]` not yet handed out).
    multi: Option<RecvMulti>,
    chunk: Option<RecvChunk>,
    chunk_pos: usize,
}

/// Ring state of the write direction.
#[derive(Debug, Default)]
struct Tx {
    /// The `SEND` in flight.
    op: Option<BufOp>,
    /// The buffer of the next `SEND`.
    spare: Vec<u8>,
}

/// The ring state of a socket, boxed and created by its first ring operation (sockets on the
/// readiness path pay one pointer for it).
#[derive(Debug, Default)]
struct RingState {
    rx: Mutex<Rx>,
    tx: Mutex<Tx>,
    accept: Mutex<Option<AcceptOp>>,
}

/// A non-blocking I/O object `T` driven by the reactor.
///
/// # Invariant
/// `reg` is declared before `ring`/`io`, so it drops (deregisters) first; `ring` drops
/// (cancelling its operations, which hold their own `Arc` of `io`) before `io`, and the fd
/// closes when the last `Arc` goes.
#[derive(Debug)]
pub(crate) struct Evented<T: AsRawFd> {
    reg: OnceLock<Registration>,
    /// Set when the ring path is first taken (module doc).
    ring: OnceLock<Box<RingState>>,
    io: Arc<T>,
}

fn lock<S>(m: &Mutex<S>) -> MutexGuard<'_, S> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// True if the first `n` bytes of `bufs` equal `sent[..n]`.
fn prefix_matches(bufs: &[io::IoSlice<'_>], sent: &[u8]) -> bool {
    let mut rest = sent;
    for b in bufs {
        if rest.is_empty() {
            return true;
        }
        let k = b.len().min(rest.len());
        if b[..k] != rest[..k] {
            return false;
        }
        rest = &rest[k..];
    }
    rest.is_empty()
}

fn abandoned_write() -> io::Error {
    io::Error::other(
        "an earlier write to this socket was abandoned while its io_uring SEND was in flight, \
         and those bytes were sent; the stream no longer matches what the caller wrote",
    )
}

impl<T: AsRawFd> Evented<T> {
    /// Wraps `io`, which must already be in non-blocking mode.
    pub(crate) fn new(io: T) -> Evented<T> {
        Evented {
            reg: OnceLock::new(),
            ring: OnceLock::new(),
            io: Arc::new(io),
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    fn registration(&self) -> io::Result<&Registration> {
        if let Some(r) = self.reg.get() {
            return Ok(r);
        }
        let r = Registration::new(self.io.as_raw_fd(), Interest::BOTH)?;
        // If another thread won the race its registration is kept and ours deregisters on drop.
        let _ = self.reg.set(r);
        self.reg
            .get()
            .ok_or_else(|| io::Error::other("socket registration vanished"))
    }

    /// Runs the non-blocking operation `f` until it stops returning `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.poll_io_with(cx, interest, |io| f(io).map(|r| (r, false)))
    }

    /// Like `poll_io`, but `f` also says whether it drained the socket (a short read or write),
    /// in which case the readiness it consumed is cleared without another syscall.
    fn poll_io_with<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        let reg = match self.reg.get() {
            Some(reg) => reg,
            None => {
                // Not registered yet: try first, so sockets that never wait never register.
                match f(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return Poll::Ready(other.map(|(r, _)| r)),
                }
                match self.registration() {
                    Ok(r) => r,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        };
        loop {
            let ev = if interest.is_readable() {
                reg.poll_read_ready(cx)
            } else {
                reg.poll_write_ready(cx)
            };
            let ev = match ev {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match f(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear_readiness(ev),
                Ok((r, drained)) => {
                    if drained {
                        reg.clear_readiness(ev);
                    }
                    return Poll::Ready(Ok(r));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<T: AsRawFd + AsFd + Send + Sync + 'static> Evented<T> {
    /// The ring state if this call should take the ring path (module doc): it already has
    /// state, or this thread is an io_uring worker with socket ops on.
    fn ring_state(&self) -> Option<&RingState> {
        if let Some(r) = self.ring.get() {
            return Some(r);
        }
        if !uring::socket_ops_enabled() {
            return None;
        }
        Some(self.ring.get_or_init(Box::default))
    }

    /// Accepts through a ring `ACCEPT` on an io_uring worker with socket ops on; `None`: use
    /// readiness.
    pub(crate) fn poll_accept_ring(
        &self,
        cx: &mut Context<'_>,
    ) -> Option<Poll<io::Result<OwnedFd>>> {
        let mut slot = lock(&self.ring_state()?.accept);
        if slot.is_none() {
            *slot = Some(uring::accept(self.io.clone())?);
        }
        let op = slot.as_mut()?;
        match Pin::new(op).poll(cx) {
            Poll::Pending => Some(Poll::Pending),
            Poll::Ready(r) => {
                *slot = None;
                Some(Poll::Ready(r))
            }
        }
    }
}

impl<T: AsRawFd + AsFd + Send + Sync + 'static> Evented<T>
where
    for<'a> &'a T: Read + Write,
{
    /// Reads (ring or readiness, module doc).
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(ring) = self.ring_state() {
            if let Some(r) = self.poll_read_ring(ring, cx, buf) {
                return r;
            }
        }
        self.poll_read_ready(cx, buf)
    }

    /// The ring path of `poll_read`; `None` when the ring cannot take a new `RECV` here and no
    /// ring state is left (the caller uses readiness).
    fn poll_read_ring(
        &self,
        ring: &RingState,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Option<Poll<io::Result<usize>>> {
        let mut rx = lock(&ring.rx);
        // Set when the multishot RECV stopped without end of stream (the worker's provided
        // buffers ran out): this read uses a single RECV with its own buffer rather than
        // re-arming at once into the same shortage.
        let mut starved = false;
        loop {
            if rx.pos < rx.data.len() {
                let n = (rx.data.len() - rx.pos).min(dst.len());
                dst[..n].copy_from_slice(&rx.data[rx.pos..rx.pos + n]);
                rx.pos += n;
                return Some(Poll::Ready(Ok(n)));
            }
            if let Some(chunk) = rx.chunk.as_ref() {
                let pos = rx.chunk_pos;
                let n = (chunk.len() - pos).min(dst.len());
                dst[..n].copy_from_slice(&chunk[pos..pos + n]);
                if pos + n == chunk.len() {
                    rx.chunk = None; // the buffer goes back to the kernel
                }
                rx.chunk_pos = pos + n;
                return Some(Poll::Ready(Ok(n)));
            }
            if let Some(op) = rx.op.as_mut() {
                let r = match Pin::new(op).poll(cx) {
                    Poll::Pending => return Some(Poll::Pending),
                    Poll::Ready(r) => r,
                };
                rx.op = None;
                rx.data = r.buf;
                rx.pos = 0;
                rx.full = rx.data.len() >= dst.len();
                match r.result {
                    Ok(0) => {
                        rx.data.clear();
                        return Some(Poll::Ready(Ok(0)));
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        rx.data.clear();
                        return Some(Poll::Ready(Err(e)));
                    }
                }
            }
            if let Some(multi) = rx.multi.as_mut() {
                match multi.poll_next(cx) {
                    Poll::Pending => return Some(Poll::Pending),
                    Poll::Ready(Some(Ok(chunk))) => {
                        rx.chunk = Some(chunk);
                        rx.chunk_pos = 0;
                        continue;
                    }
                    Poll::Ready(Some(Err(e))) => {
                        rx.multi = None;
                        return Some(Poll::Ready(Err(e)));
                    }
                    Poll::Ready(None) => {
                        let eof = multi.is_eof();
                        rx.multi = None;
                        if eof {
                            return Some(Poll::Ready(Ok(0)));
                        }
                        starved = true;
                    }
                }
            }
            if dst.is_empty() {
                return Some(Poll::Ready(Ok(0)));
            }
            let mode = uring::socket_io_now();
            if !starved && mode == uring::SocketIo::RingMultishot {
                // `None` until the worker registered its provided buffers: a single RECV below
                // serves this read meanwhile.
                if let Some(multi) = uring::recv_multishot(self.io.clone()) {
                    rx.multi = Some(multi);
                    continue;
                }
            }
            if rx.full && mode == uring::SocketIo::Ring {
                // Streaming: the bytes are likely there already; read them straight into the
                // caller's buffer (no copy, no loop turn).
                match (&*self.io).read(dst) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => rx.full = false,
                    Ok(n) => {
                        rx.full = n == dst.len();
                        return Some(Poll::Ready(Ok(n)));
                    }
                    Err(e) => return Some(Poll::Ready(Err(e))),
                }
            }
            let mut data = std::mem::take(&mut rx.data);
            data.clear();
            // At least MIN_RECV: a small read (`read_exact` of a header, say) then leaves what
            // follows in `rx` for the next read instead of a syscall per message.
            data.reserve(dst.len().clamp(MIN_RECV, MAX_RECV));
            rx.pos = 0;
            // Ring mode after a short read (request/response): the answer is not there yet, so
            // the kernel waits before its first attempt.
            let op = if mode == uring::SocketIo::Ring {
                uring::recv_poll_first(self.io.clone(), data)
            } else {
                uring::recv(self.io.clone(), data)
            };
            match op {
                Ok(op) => rx.op = Some(op),
                Err(data) => {
                    rx.data = data;
                    return None;
                }
            }
        }
    }

    /// Writes (ring or readiness, module doc).
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(ring) = self.ring_state() {
            if let Some(r) = self.poll_write_ring(ring, cx, &[io::IoSlice::new(buf)]) {
                return r;
            }
        }
        self.poll_write_ready(cx, buf)
    }

    /// The ring path of the writes; `None` when the ring cannot take a `SEND` here and none is
    /// in flight (the caller uses readiness).
    fn poll_write_ring(
        &self,
        ring: &RingState,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Option<Poll<io::Result<usize>>> {
        let mut tx = lock(&ring.tx);
        if tx.op.is_none() && uring::socket_io_now() != uring::SocketIo::RingPlain {
            // `SocketIo::Ring`: the socket buffer usually has room, so a plain send(2) costs
            // one syscall and no loop turn; only a full buffer makes it a SEND operation.
            match (&*self.io).write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Some(Poll::Ready(other)),
            }
        }
        loop {
            if let Some(op) = tx.op.as_mut() {
                let r = match Pin::new(op).poll(cx) {
                    Poll::Pending => return Some(Poll::Pending),
                    Poll::Ready(r) => r,
                };
                tx.op = None;
                let res = match r.result {
                    Ok(n) if prefix_matches(bufs, &r.buf[..n.min(r.buf.len())]) => Ok(n),
                    Ok(_) => Err(abandoned_write()),
                    Err(e) => Err(e),
                };
                tx.spare = r.buf;
                return Some(Poll::Ready(res));
            }
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            if total == 0 {
                return Some(Poll::Ready(Ok(0)));
            }
            let mut data = std::mem::take(&mut tx.spare);
            data.clear();
            for b in bufs {
                let room = MAX_SEND - data.len();
                if room == 0 {
                    break;
                }
                data.extend_from_slice(&b[..b.len().min(room)]);
            }
            match uring::send(self.io.clone(), data, 0) {
                Ok(op) => tx.op = Some(op),
                Err(data) => {
                    tx.spare = data;
                    return None;
                }
            }
        }
    }

    /// Reads by readiness; a read shorter than `buf` (but not EOF) drained the stream socket, so
    /// its readiness is cleared without a second, failing `read`.
    fn poll_read_ready(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_io_with(cx, Interest::READABLE, |mut io| {
            io.read(buf).map(|n| (n, n > 0 && n < len))
        })
    }

    /// Writes by readiness; a write shorter than `buf` filled the send buffer, so writability is
    /// cleared.
    fn poll_write_ready(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_io_with(cx, Interest::WRITABLE, |mut io| {
            io.write(buf).map(|n| (n, n < len))
        })
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(ring) = self.ring_state() {
            if let Some(r) = self.poll_write_ring(ring, cx, bufs) {
                return r;
            }
        }
        self.poll_io(cx, Interest::WRITABLE, |mut io| io.write_vectored(bufs))
    }
}
