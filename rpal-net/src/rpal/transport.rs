//! The two ends of a shared-memory stream: [`RingReader`] (incoming ring) and [`RingWriter`]
//! (outgoing ring), and the [`Link`] they share (mapping, setup socket, liveness).
//!
//! # Waiting
//! An end that finds its ring empty (full) lists its [`WaitSlot`] on the current worker's
//! source, installs its task's waker on its own eventfd (the peer rings it) and on its watch of
//! the setup socket (hang-up = the peer process is gone), and returns `Pending`. See
//! `source.rs` for who publishes "waiting" and when.
//!
//! # Peer failure
//! * A clean close travels in the ring: end of stream after the last byte, `BrokenPipe` for a
//!   writer whose reader closed.
//! * A peer that dies without closing is seen as a hang-up of the setup socket: a reader first
//!   drains what is in the ring, then gets `ConnectionReset`; a writer gets `BrokenPipe`.
//! * A peer that scribbles the ring makes the next validated access fail (`ConnectionReset`,
//!   sticky); a peer that writes on the setup socket after the handshake is treated as gone.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use rpal_rt::io::Interest;

use super::doorbell::{Doorbell, StateTable};
use super::error::RingError;
use super::eventfd;
use super::ring::{Consumer, Producer};
use super::shm::SharedRegion;
use super::source::{WaitFor, WaitSlot};
use crate::evented::Evented;
use crate::unix::UnixStream;

/// How many empty `try_read`s pass between two liveness checks of the peer (a syscall).
const TRY_READ_LIVENESS_EVERY: u32 = 1024;
/// Times one poll may find the ring "ready" yet have nothing to do before it yields (wakes its
/// task and returns `Pending`). Honest peers never get near it; a peer that flips shared words
/// back and forth cannot keep a worker inside one poll.
const MAX_EMPTY_WAKEUPS: u32 = 64;

/// Gives the worker back after [`MAX_EMPTY_WAKEUPS`]: checks the peer's liveness (it may have
/// died while the ring looked ready, which hides the socket's hang-up from the wait) and
/// reschedules the task.
fn yield_to_worker<T>(cx: &mut Context<'_>, link: &Link) -> Poll<T> {
    link.check_now();
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// What both ends share.
#[derive(Debug)]
pub(crate) struct Link {
    /// Keeps the mapping alive (the rings also hold it).
    _region: Arc<SharedRegion>,
    /// The setup socket: credentials; its hang-up means the peer is gone.
    pub(crate) ctrl: UnixStream,
    peer_gone: AtomicBool,
    /// How each side learns the other's worker states (see `doorbell.rs`, "Worker slots").
    pub(crate) states: WorkerStates,
}

/// The worker-state tables exchanged at the handshake.
#[derive(Debug, Default)]
pub(crate) struct WorkerStates {
    /// The peer's table (read-only mapping): our notifiers ring only a peer worker in WAIT.
    pub(crate) peer: Option<Arc<StateTable>>,
    /// We sent ours: our waiters arm their lines with their worker's slot.
    pub(crate) sent_ours: bool,
}

impl Link {
    pub(crate) fn new(
        region: Arc<SharedRegion>,
        ctrl: UnixStream,
        states: WorkerStates,
    ) -> Arc<Link> {
        Arc::new(Link {
            _region: region,
            ctrl,
            peer_gone: AtomicBool::new(false),
            states,
        })
    }

    fn gone(&self) -> bool {
        self.peer_gone.load(Ordering::Acquire)
    }

    /// Non-blocking check of the setup socket; marks the peer gone on hang-up or stray bytes.
    fn check_now(&self) {
        let mut b = [0u8; 1];
        match rustix::net::recv(
            &self.ctrl,
            &mut b,
            rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
        ) {
            Ok((n, _)) if n > 0 => self.peer_gone.store(true, Ordering::Release),
            Ok(_) => self.peer_gone.store(true, Ordering::Release),
            Err(rustix::io::Errno::AGAIN) => {}
            Err(_) => self.peer_gone.store(true, Ordering::Release),
        }
    }
}

/// A watch on the setup socket (its own dup, so each end has its own reactor registration).
#[derive(Debug)]
struct Watch {
    fd: Evented<OwnedFd>,
}

impl Watch {
    fn new(link: &Link) -> io::Result<Watch> {
        Ok(Watch {
            fd: Evented::new(link.ctrl.as_fd().try_clone_to_owned()?),
        })
    }

    /// Ready(()) once the peer is gone (hang-up, error, or stray bytes); installs the waker.
    fn poll_gone(&self, cx: &mut Context<'_>, link: &Link) -> Poll<()> {
        if link.gone() {
            return Poll::Ready(());
        }
        let r = self.fd.poll_io(cx, Interest::READABLE, |fd| {
            let mut b = [0u8; 1];
            match rustix::net::recv(
                fd,
                &mut b,
                rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT,
            ) {
                Ok(_) => Ok(()),
                Err(rustix::io::Errno::AGAIN) => Err(io::ErrorKind::WouldBlock.into()),
                Err(_) => Ok(()),
            }
        });
        match r {
            Poll::Ready(_) => {
                link.peer_gone.store(true, Ordering::Release);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A notifier that reads the peer's worker states, if the peer sent its table.
fn with_states(bell: Doorbell, link: &Link) -> Doorbell {
    match &link.states.peer {
        Some(t) => bell.with_peer_states(t.clone()),
        None => bell,
    }
}

/// Polls an eventfd: Ready if it was rung (and drains it), installing the waker otherwise.
fn poll_rung(efd: &Evented<OwnedFd>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    efd.poll_io(cx, Interest::READABLE, |fd| match eventfd::drain(fd) {
        Ok(true) => Ok(()),
        Ok(false) => Err(io::ErrorKind::WouldBlock.into()),
        Err(e) => Err(e),
    })
}

/// What one end waits on: its ring (through the slot), its own eventfd (rung by the peer), and
/// the peer's liveness (the setup socket).
#[derive(Debug)]
struct Waiter {
    slot: Arc<WaitSlot>,
    efd: Evented<OwnedFd>,
    watch: Watch,
}

impl Waiter {
    fn new(slot: Arc<WaitSlot>, efd: OwnedFd, link: &Link) -> io::Result<Waiter> {
        Ok(Waiter {
            slot,
            efd: Evented::new(efd),
            watch: Watch::new(link)?,
        })
    }

    /// Waits until the ring is ready (data or room, or a close), the peer is gone, or an error
    /// is due. `Ready(Ok(()))`: retry the operation. Installs the task's waker everywhere the
    /// wake-up can come from before returning `Pending`.
    fn poll_wait(&self, cx: &mut Context<'_>, link: &Link) -> Poll<io::Result<()>> {
        loop {
            if self.slot.ready() || self.watch.poll_gone(cx, link).is_ready() {
                self.slot.done();
                return Poll::Ready(Ok(()));
            }
            if let Err(e) = self.slot.wait(cx.waker()) {
                return Poll::Ready(Err(e));
            }
            match poll_rung(&self.efd, cx) {
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            // The ring may have become ready between the first check and the waker installs.
            if self.slot.ready() {
                self.slot.done();
                return Poll::Ready(Ok(()));
            }
            return Poll::Pending;
        }
    }
}

fn ring_err(e: RingError) -> io::Error {
    e.into()
}

fn peer_died() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "RpalStream peer exited without closing the stream",
    )
}

/// The reading end: the incoming ring.
#[derive(Debug)]
pub(crate) struct RingReader {
    cons: Consumer,
    /// Notifier of the peer's writer: room was freed.
    room_bell: Doorbell,
    /// Waits for data; its eventfd is rung by the peer when it publishes while we wait.
    wait: Waiter,
    pub(crate) link: Arc<Link>,
    empty_tries: u32,
    pub(crate) bytes: u64,
}

impl RingReader {
    pub(crate) fn new(
        cons: Consumer,
        peer_room_efd: OwnedFd,
        data_efd: OwnedFd,
        link: Arc<Link>,
        spin: bool,
    ) -> io::Result<RingReader> {
        let room_bell = with_states(
            cons.room_doorbell(super::doorbell::Wake::EventFd(peer_room_efd)),
            &link,
        );
        let slot = WaitSlot::new(cons.probe(), WaitFor::Data, spin, link.states.sent_ours);
        Ok(RingReader {
            wait: Waiter::new(slot, data_efd, &link)?,
            cons,
            room_bell,
            link,
            empty_tries: 0,
            bytes: 0,
        })
    }

    pub(crate) fn doorbells_sent(&self) -> u64 {
        self.room_bell.stats().rings
    }

    pub(crate) fn doorbells_skipped_busy(&self) -> u64 {
        self.room_bell.stats().worker_busy
    }

    pub(crate) fn parks(&self) -> u64 {
        self.wait.slot.parks()
    }

    fn after_consume(&mut self, n: usize) -> io::Result<()> {
        self.bytes += n as u64;
        self.wait.slot.done();
        self.room_bell.notify_if_waiting().map(|_| ())
    }

    /// One non-waiting attempt. `Ok(None)`: empty.
    fn try_once(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.cons.read(buf) {
            Ok(n) => {
                if n > 0 {
                    self.after_consume(n)?;
                }
                Ok(Some(n))
            }
            Err(RingError::WouldBlock) => Ok(None),
            Err(e) => Err(ring_err(e)),
        }
    }

    pub(crate) fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(n) = self.try_once(buf)? {
            return Ok(n);
        }
        self.empty_tries += 1;
        if self.empty_tries.is_multiple_of(TRY_READ_LIVENESS_EVERY) {
            self.link.check_now();
        }
        if self.link.gone() {
            // Whatever the peer published before dying was read above.
            return match self.try_once(buf)? {
                Some(n) => Ok(n),
                None => Err(peer_died()),
            };
        }
        Err(io::ErrorKind::WouldBlock.into())
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut empty = 0;
        loop {
            if let Some(n) = self.try_once(buf)? {
                return Poll::Ready(Ok(n));
            }
            if self.link.gone() {
                return Poll::Ready(match self.try_once(buf)? {
                    Some(n) => Ok(n),
                    None => Err(peer_died()),
                });
            }
            match self.wait.poll_wait(cx, &self.link) {
                Poll::Ready(Ok(())) => {
                    empty += 1;
                    if empty >= MAX_EMPTY_WAKEUPS {
                        return yield_to_worker(cx, &self.link);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Zero-copy: lends the first contiguous run of readable bytes (empty at end of stream).
    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let mut empty = 0;
        loop {
            match self.cons.lend() {
                Ok(_) => break,
                Err(RingError::WouldBlock) => {}
                Err(e) => return Poll::Ready(Err(ring_err(e))),
            }
            if self.link.gone() {
                match self.cons.lend() {
                    Ok(_) => break,
                    Err(RingError::WouldBlock) => return Poll::Ready(Err(peer_died())),
                    Err(e) => return Poll::Ready(Err(ring_err(e))),
                }
            }
            match self.wait.poll_wait(cx, &self.link) {
                Poll::Ready(Ok(())) => {
                    empty += 1;
                    if empty >= MAX_EMPTY_WAKEUPS {
                        return yield_to_worker(cx, &self.link);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.wait.slot.done();
        match self.cons.lend() {
            Ok((a, _)) => Poll::Ready(Ok(a)),
            Err(e) => Poll::Ready(Err(ring_err(e))),
        }
    }

    /// Releases `n` lent bytes (clamped to what was lent, as `BufRead` implementations do).
    pub(crate) fn consume(&mut self, n: usize) {
        let avail = self
            .cons
            .lend()
            .map(|(a, b)| a.len() + b.len())
            .unwrap_or(0);
        let n = n.min(avail);
        if n == 0 {
            return;
        }
        self.cons.consume(n);
        let _ = self.after_consume(n);
    }
}

impl Drop for RingReader {
    fn drop(&mut self) {
        self.wait.slot.done();
        self.cons.close();
        let _ = self.room_bell.notify_if_waiting();
    }
}

/// The writing end: the outgoing ring.
#[derive(Debug)]
pub(crate) struct RingWriter {
    prod: Producer,
    /// Notifier of the peer's reader: data was published.
    data_bell: Doorbell,
    /// Waits for room; its eventfd is rung by the peer when it frees room while we wait.
    wait: Waiter,
    pub(crate) link: Arc<Link>,
    closed: bool,
    pub(crate) bytes: u64,
}

impl RingWriter {
    pub(crate) fn new(
        prod: Producer,
        peer_data_efd: OwnedFd,
        room_efd: OwnedFd,
        link: Arc<Link>,
        spin: bool,
    ) -> io::Result<RingWriter> {
        let data_bell = with_states(
            prod.data_doorbell(super::doorbell::Wake::EventFd(peer_data_efd)),
            &link,
        );
        let slot = WaitSlot::new(prod.probe(), WaitFor::Room, spin, link.states.sent_ours);
        Ok(RingWriter {
            wait: Waiter::new(slot, room_efd, &link)?,
            prod,
            data_bell,
            link,
            closed: false,
            bytes: 0,
        })
    }

    pub(crate) fn doorbells_sent(&self) -> u64 {
        self.data_bell.stats().rings
    }

    pub(crate) fn doorbells_skipped_busy(&self) -> u64 {
        self.data_bell.stats().worker_busy
    }

    /// The state of the worker the peer's reader last armed its line with.
    pub(crate) fn peer_reader_worker(&self) -> Option<rpal_rt::io::worker_state::WorkerState> {
        self.data_bell.waiter_worker_state()
    }

    pub(crate) fn parks(&self) -> u64 {
        self.wait.slot.parks()
    }

    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut empty = 0;
        loop {
            if self.link.gone() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "RpalStream peer exited",
                )));
            }
            match self.prod.write(buf) {
                Ok(n) => {
                    self.bytes += n as u64;
                    self.wait.slot.done();
                    self.data_bell.notify_if_waiting()?;
                    return Poll::Ready(Ok(n));
                }
                Err(RingError::WouldBlock) => {}
                Err(e) => return Poll::Ready(Err(ring_err(e))),
            }
            // Full: wait for room, the reader closing, or the peer dying.
            match self.wait.poll_wait(cx, &self.link) {
                Poll::Ready(Ok(())) => {
                    empty += 1;
                    if empty >= MAX_EMPTY_WAKEUPS {
                        return yield_to_worker(cx, &self.link);
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Half-close: the peer reads end of stream after the bytes already written.
    pub(crate) fn close(&mut self) -> io::Result<()> {
        if !self.closed {
            self.closed = true;
            self.prod.close();
            self.data_bell.notify_if_waiting()?;
        }
        Ok(())
    }
}

impl Drop for RingWriter {
    fn drop(&mut self) {
        self.wait.slot.done();
        let _ = self.close();
    }
}
