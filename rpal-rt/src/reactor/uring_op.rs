//! Completion operations on the io_uring driver: a task submits one SQE and awaits its CQE.
//!
//! (Over the ~600-line guide with its unit tests: the op table, the future and the shutdown
//! drain share one ownership protocol, documented once below, and read best together.)
//!
//! Owns [`OpTable`] (kept in the driver's `UringShared`, behind its own mutex), the [`Op`]
//! future, [`OpOutput`], the submission entry point [`submit`], the ring of the current worker
//! ([`current_ring`]) and the opcode probe ([`opcode_supported`]).
//!
//! # user_data of an operation
//!
//! ```text
//!  bits 63 .. 32: generation (u32, wraps) | bit 31: OP_FLAG = 1 | bits 30 .. 0: slab key (< 2^30)
//! ```
//!
//! Fd tokens (`registry.rs`) keep bit 31 clear (keys below 2^31) and the reserved tags
//! (`u64::MAX - n`, see `uring.rs`) have key bits at or above 2^30, so the three never collide.
//!
//! # Ownership and cancellation (who owns what, in which state)
//!
//! A slot in the table is created by [`submit`] and holds the operation's resources: a heap box
//! (`owned`) with every buffer, path and statx block the SQE points into, and whatever keeps the
//! SQE's fd open (an `Arc` of the file or socket). The SQE points only into that box, whose heap
//! block never moves, so the caller may drop its future at any time:
//!
//! * `Staged`: the SQE waits in `staged` for the owner's next park. A dropped [`Op`] removes the
//!   SQE and the slot: the kernel never saw them.
//! * `InFlight`: the SQE is in the SQ or in the kernel. A dropped [`Op`] turns the slot into
//!   `Orphaned` and stages an `ASYNC_CANCEL`; the resources stay in the table until the final CQE
//!   (which may still report success: an fd it returns is then closed here).
//! * `Done`: the CQE arrived; the [`Op`] takes the result and the resources back.
//!
//! The table is touched under its mutex only, by the op's task (submit, poll, drop) and by the
//! owning driver (staging into the SQ, CQEs, shutdown); only the driver touches the ring.
//!
//! # Which thread submits
//!
//! [`current_ring`] answers only on a worker thread whose driver is io_uring, and returns that
//! worker's own table, so in practice operations are submitted by tasks running on the ring's
//! owner. Callers (fs, rpal-net) fall back to the blocking pool or to readiness when it answers
//! `None`: on epoll, outside a runtime, or on a thread that is not a worker. An [`Op`] that is
//! later polled or dropped on another thread still works (the table is behind a mutex and the
//! owner is nudged awake), it only gets its completion when the owner next parks.
//!
//! # Shutdown
//!
//! When the driver drops, ops still staged complete with `ECANCELED` (the kernel never saw them);
//! for each op in flight it submits `ASYNC_CANCEL` and reaps for up to [`SHUTDOWN_DRAIN`]. Ops
//! whose final CQE did not come by then have their resources leaked on purpose (the kernel may
//! still write into them until the ring is torn down), and their futures get an error.
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, IoUring, Probe};
use slab::Slab;

use super::uring::UringShared;
use crate::loom::sync::{Arc, Mutex, MutexGuard};

/// Bit 31 of `user_data`: the CQE belongs to an operation.
pub(super) const OP_FLAG: u64 = 1 << 31;
/// Slab keys of operations stay below this (bits 30..0 minus bit 30), keeping clear of the tags.
const MAX_OP_KEY: usize = 1 << 30;
/// How long a dropping driver reaps the cancellations of operations still in flight.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(1);
/// One wait of the shutdown drain.
const DRAIN_STEP: Duration = Duration::from_millis(10);

/// True if `user_data` names an operation (not an fd token, not a reserved tag).
pub(super) fn is_op(user_data: u64) -> bool {
    user_data & OP_FLAG != 0 && ((user_data & 0xFFFF_FFFF) & !OP_FLAG) < MAX_OP_KEY as u64
}

fn split(user_data: u64) -> (usize, u32) {
    (
        ((user_data & 0xFFFF_FFFF) & !OP_FLAG) as usize,
        (user_data >> 32) as u32,
    )
}

/// The resources of an operation, type-erased while the kernel holds them.
type Owned = Box<dyn Any + Send>;

enum SlotState {
    /// The SQE is in `OpTable::staged`, not yet in the ring.
    Staged,
    /// The SQE is in the SQ or the kernel; `waker` is woken by its CQE.
    InFlight,
    /// The future was dropped while in flight; freed (resources included) at the final CQE.
    Orphaned,
    /// The CQE arrived (or the driver gave up on it: `owned` is then `None`).
    Done { result: i32, flags: u32 },
}

struct Slot {
    gen: u32,
    state: SlotState,
    waker: Option<Waker>,
    /// What the SQE points into and what keeps its fd open.
    ///
    /// # Invariant
    /// Present from `submit` until the final CQE has been seen (or the driver leaked it at
    /// shutdown); never moved out while the state is `InFlight` or `Orphaned`.
    owned: Option<Owned>,
    /// A non-negative result is an fd that belongs to whoever takes the result (accept, openat);
    /// the table closes it if nobody does.
    yields_fd: bool,
    /// A multishot operation (`RECV` with provided buffers): its CQEs queue here until the
    /// future takes them; a queued CQE may name a provided buffer, recycled by whoever drops it.
    multi: Option<VecDeque<(i32, u32)>>,
}

/// The provided buffer a CQE names, if any.
fn cqe_buffer(flags: u32) -> Option<u16> {
    cqueue::buffer_select(flags)
}

/// Every operation of one ring. Lives in `UringShared::ops`.
#[derive(Default)]
pub(crate) struct OpTable {
    slots: Slab<Slot>,
    next_gen: u32,
    /// SQEs of new operations and of cancellations, for the owner's next park.
    staged: Vec<squeue::Entry>,
    /// The driver is gone: no new operations.
    closed: bool,
}

impl fmt::Debug for OpTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpTable")
            .field("slots", &self.slots.len())
            .field("staged", &self.staged.len())
            .field("closed", &self.closed)
            .finish()
    }
}

pub(super) fn lock(m: &Mutex<OpTable>) -> MutexGuard<'_, OpTable> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Closes `fd` that a finished operation returned and nobody will take.
fn close_result_fd(result: i32) {
    // SAFETY: the kernel created this fd for the operation; its slot is being freed, so no
    // `Op` will ever wrap it, and nothing else knows its number.
    unsafe { libc::close(result) };
}

/// Counts an operation handed to the kernel on the current worker's metrics (the staging thread
/// is the owner).
fn count_submitted() {
    crate::runtime::context::with(|cx| {
        if let Some(cx) = cx {
            cx.worker.metrics.ring_op_submitted();
        }
    });
}

/// Counts a completion on the current worker's metrics (the reaping thread is the owner).
fn count_completed() {
    crate::runtime::context::with(|cx| {
        if let Some(cx) = cx {
            cx.worker.metrics.ring_op_completed();
        }
    });
}

impl OpTable {
    /// Moves staged SQEs into the ring with `push`; returns how many were pushed. If `push`
    /// fails, the operations not pushed complete with `EAGAIN` (their wakers are added to
    /// `wake`, for the caller to wake outside the lock) and detached ones are freed.
    pub(super) fn stage(
        &mut self,
        mut push: impl FnMut(&squeue::Entry) -> io::Result<()>,
        wake: &mut Vec<Waker>,
    ) -> io::Result<usize> {
        let n = self.staged.len();
        let mut res = Ok(());
        for sqe in self.staged.drain(..) {
            if res.is_ok() {
                res = push(&sqe);
            }
            let ud = sqe.get_user_data();
            if is_op(ud) {
                let (key, gen) = split(ud);
                let Some(slot) = self.slots.get_mut(key).filter(|s| s.gen == gen) else {
                    continue;
                };
                match (&slot.state, res.is_ok()) {
                    (SlotState::Staged | SlotState::Orphaned, true) => count_submitted(),
                    (SlotState::Staged, false) => {
                        slot.state = SlotState::Done {
                            result: -libc::EAGAIN,
                            flags: 0,
                        };
                        wake.extend(slot.waker.take());
                        continue;
                    }
                    (SlotState::Orphaned, false) => {
                        // Detached and never seen by the kernel: nobody waits for it.
                        self.slots.remove(key);
                        continue;
                    }
                    _ => continue,
                }
                if matches!(slot.state, SlotState::Staged) {
                    slot.state = SlotState::InFlight;
                }
            }
        }
        res.map(|()| n)
    }

    /// Records the CQE of an operation; returns the waker to wake (outside the lock) and the
    /// resources to drop (outside the lock: they may hold the last reference to a file).
    fn complete(
        &mut self,
        user_data: u64,
        result: i32,
        flags: u32,
        recycle: &mut Vec<u16>,
    ) -> (Option<Waker>, Option<Owned>) {
        let (key, gen) = split(user_data);
        let Some(slot) = self.slots.get_mut(key).filter(|s| s.gen == gen) else {
            recycle.extend(cqe_buffer(flags));
            return (None, None);
        };
        let more = cqueue::more(flags);
        if let Some(queue) = slot.multi.as_mut() {
            return match slot.state {
                SlotState::InFlight | SlotState::Staged => {
                    queue.push_back((result, flags));
                    if !more {
                        slot.state = SlotState::Done { result, flags };
                    }
                    (slot.waker.take(), None)
                }
                SlotState::Orphaned => {
                    recycle.extend(cqe_buffer(flags));
                    if more {
                        return (None, None);
                    }
                    let slot = self.slots.remove(key);
                    recycle.extend(slot.multi.iter().flatten().filter_map(|c| cqe_buffer(c.1)));
                    (None, slot.owned)
                }
                SlotState::Done { .. } => {
                    recycle.extend(cqe_buffer(flags));
                    (None, None)
                }
            };
        }
        if more {
            // Not the final CQE of this operation (none of ours is multishot): keep waiting.
            return (None, None);
        }
        match slot.state {
            SlotState::InFlight | SlotState::Staged => {
                slot.state = SlotState::Done { result, flags };
                (slot.waker.take(), None)
            }
            SlotState::Orphaned => (None, self.free_unclaimed(key, result).owned),
            SlotState::Done { .. } => (None, None),
        }
    }

    /// Removes the slot of a finished operation whose result nobody will take, closing an fd
    /// that result names; the caller drops the returned slot (its resources) outside the lock.
    fn free_unclaimed(&mut self, key: usize, result: i32) -> Slot {
        let slot = self.slots.remove(key);
        if slot.yields_fd && result >= 0 {
            close_result_fd(result);
        }
        slot
    }

    /// Number of operations the kernel may still hold.
    fn in_kernel(&self) -> usize {
        self.slots
            .iter()
            .filter(|(_, s)| matches!(s.state, SlotState::InFlight | SlotState::Orphaned))
            .count()
    }
}

/// Handles the CQE of an operation (called by the driver's reap on the owner thread).
pub(super) fn complete(shared: &UringShared, user_data: u64, result: i32, flags: u32) {
    let mut recycle = Vec::new();
    let (waker, owned) = {
        let mut t = lock(&shared.ops);
        let r = t.complete(user_data, result, flags, &mut recycle);
        shared
            .ops_in_flight
            .store(t.slots.len(), std::sync::atomic::Ordering::Relaxed);
        r
    };
    shared.recycle(&recycle);
    if !cqueue::more(flags) {
        count_completed();
    }
    drop(owned);
    if let Some(w) = waker {
        w.wake();
    }
}

/// Shuts the operations of a dropping driver down (module doc, "Shutdown"): called by the
/// driver's `Drop` with its ring, before the ring closes.
pub(super) fn shutdown(shared: &UringShared, ring: &mut IoUring) {
    let mut wake = Vec::new();
    {
        let mut t = lock(&shared.ops);
        t.closed = true;
        // SQEs the kernel never saw: detached ops among them are simply freed.
        let unsent: Vec<u64> = t
            .staged
            .iter()
            .map(|sqe| sqe.get_user_data())
            .filter(|ud| is_op(*ud))
            .collect();
        t.staged.retain(|sqe| !is_op(sqe.get_user_data()));
        for ud in unsent {
            let (key, gen) = split(ud);
            if t.slots
                .get(key)
                .is_some_and(|s| s.gen == gen && matches!(s.state, SlotState::Orphaned))
            {
                t.slots.remove(key);
            }
        }
        let mut cancels = Vec::new();
        for (key, slot) in t.slots.iter_mut() {
            match slot.state {
                SlotState::Staged => {
                    slot.state = SlotState::Done {
                        result: -libc::ECANCELED,
                        flags: 0,
                    };
                    wake.extend(slot.waker.take());
                }
                SlotState::InFlight | SlotState::Orphaned => {
                    let ud = (u64::from(slot.gen) << 32) | OP_FLAG | key as u64;
                    cancels.push(
                        opcode::AsyncCancel::new(ud)
                            .build()
                            .user_data(super::uring::CANCEL_TAG),
                    );
                }
                SlotState::Done { .. } => {}
            }
        }
        t.staged.extend(cancels);
        let _ = t.stage(|sqe| super::uring::push(ring, sqe), &mut wake);
    }
    for w in wake.drain(..) {
        w.wake();
    }
    let deadline = Instant::now() + SHUTDOWN_DRAIN;
    while lock(&shared.ops).in_kernel() > 0 && Instant::now() < deadline {
        let ts = io_uring::types::Timespec::from(DRAIN_STEP);
        let args = io_uring::types::SubmitArgs::new().timespec(&ts);
        if let Err(e) = ring.submitter().submit_with_args(1, &args) {
            if !super::uring::is_transient(&e) {
                break;
            }
        }
        let mut cq = ring.completion();
        cq.sync();
        for cqe in &mut cq {
            if is_op(cqe.user_data()) {
                let mut recycle = Vec::new();
                let (w, owned) = lock(&shared.ops).complete(
                    cqe.user_data(),
                    cqe.result(),
                    cqe.flags(),
                    &mut recycle,
                );
                shared.recycle(&recycle);
                drop(owned);
                wake.extend(w);
            }
        }
    }
    let mut t = lock(&shared.ops);
    let mut leaked = false;
    for (_, slot) in t.slots.iter_mut() {
        if matches!(slot.state, SlotState::InFlight | SlotState::Orphaned) {
            // The kernel may still write into these until the ring is torn down: leak them on
            // purpose rather than free memory it could use.
            if let Some(owned) = slot.owned.take() {
                std::mem::forget(owned);
            }
            slot.state = SlotState::Done {
                result: -libc::ECANCELED,
                flags: 0,
            };
            wake.extend(slot.waker.take());
            leaked = true;
        }
    }
    drop(t);
    if leaked {
        // The kernel may still fill provided buffers for the ops it holds: never free them.
        if let Some(bufs) = shared.bufs.get() {
            std::mem::forget(bufs.clone());
        }
    }
    for w in wake {
        w.wake();
    }
}

/// The shared half of an io_uring driver, as operations see it.
pub(crate) type UringRing = UringShared;

/// How many operations the current worker's ring holds (staged, in flight or done but not yet
/// taken), as of the last submission or completion taken; 0 off an io_uring worker. A hint for
/// choosing how to do I/O, not an exact count.
pub(crate) fn current_ops_in_flight() -> usize {
    crate::runtime::context::with(|cx| {
        cx.and_then(|cx| cx.worker.io.uring()).map_or(0, |r| {
            r.ops_in_flight.load(std::sync::atomic::Ordering::Relaxed)
        })
    })
}

/// The ring of the current worker, if this thread runs a worker whose driver is io_uring.
pub(crate) fn current_ring() -> Option<Arc<UringShared>> {
    crate::runtime::context::with(|cx| cx.and_then(|cx| cx.worker.io.uring().cloned()))
}

/// Opcodes the running kernel supports (probed once per process).
fn probed() -> &'static Option<Probe> {
    static PROBE: OnceLock<Option<Probe>> = OnceLock::new();
    PROBE.get_or_init(|| {
        let ring = IoUring::new(2).ok()?;
        let mut p = Probe::new();
        ring.submitter().register_probe(&mut p).ok()?;
        Some(p)
    })
}

/// True if the running kernel supports io_uring opcode `code`.
pub(crate) fn opcode_supported(code: u8) -> bool {
    probed().as_ref().is_some_and(|p| p.is_supported(code))
}

/// What an operation produced.
#[derive(Debug)]
pub(crate) struct OpOutput<T> {
    /// The CQE result: a count or fd when non-negative, else the errno.
    pub(crate) result: io::Result<u32>,
    /// The CQE flags.
    #[allow(dead_code)]
    pub(crate) flags: u32,
    /// The resources, back from the kernel; `None` only if the driver shut down while the kernel
    /// still held them (they were leaked, and `result` is an error).
    pub(crate) owned: Option<Box<T>>,
}

/// A submitted operation; resolves to its [`OpOutput`]. Dropping it early cancels the operation
/// (module doc).
#[must_use = "an operation is cancelled when dropped"]
pub(crate) struct Op<T: Send + 'static> {
    shared: Arc<UringShared>,
    user_data: u64,
    /// The output was taken: the slot is gone.
    done: bool,
    _owned: PhantomData<fn() -> T>,
}

impl<T: Send + 'static> fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Op")
            .field("user_data", &format_args!("{:#x}", self.user_data))
            .field("done", &self.done)
            .finish()
    }
}

/// Submits one operation on `ring`: moves `owned` to the heap, lets `build` make the SQE from it,
/// and stages the SQE for the owner's next park (nudging the owner if it is parked).
///
/// Returns `owned` back when the ring is shut down.
///
/// # Safety
/// The SQE that `build` returns may point only into the `T` it is given (whose heap block stays
/// put until the final CQE) and into `'static` data, and may name only fds that `T` keeps open
/// (or `AT_FDCWD`). Its user_data is overwritten.
pub(crate) unsafe fn submit<T: Send + 'static>(
    ring: Arc<UringShared>,
    owned: T,
    yields_fd: bool,
    build: impl FnOnce(&mut T) -> squeue::Entry,
) -> Result<Op<T>, T> {
    // SAFETY: the caller's contract is ours.
    unsafe { submit_inner(ring, owned, yields_fd, false, build) }
}

/// As [`submit`], for a multishot operation that selects provided buffers: its CQEs are taken
/// one by one with [`Op::poll_next`].
///
/// # Safety
/// As [`submit`]; the SQE may also select buffers of the ring's provided-buffer group.
pub(crate) unsafe fn submit_multishot<T: Send + 'static>(
    ring: Arc<UringShared>,
    owned: T,
    build: impl FnOnce(&mut T) -> squeue::Entry,
) -> Result<Op<T>, T> {
    // SAFETY: the caller's contract is ours.
    unsafe { submit_inner(ring, owned, false, true, build) }
}

/// # Safety
/// As [`submit`].
unsafe fn submit_inner<T: Send + 'static>(
    ring: Arc<UringShared>,
    owned: T,
    yields_fd: bool,
    multishot: bool,
    build: impl FnOnce(&mut T) -> squeue::Entry,
) -> Result<Op<T>, T> {
    let mut boxed = Box::new(owned);
    let sqe = build(&mut boxed);
    let user_data = {
        let mut t = lock(&ring.ops);
        if t.closed {
            drop(t);
            return Err(*boxed);
        }
        let gen = t.next_gen;
        let entry = t.slots.vacant_entry();
        let key = entry.key();
        if key >= MAX_OP_KEY {
            drop(t);
            return Err(*boxed);
        }
        let user_data = (u64::from(gen) << 32) | OP_FLAG | key as u64;
        entry.insert(Slot {
            gen,
            state: SlotState::Staged,
            waker: None,
            owned: Some(boxed),
            yields_fd,
            multi: multishot.then(VecDeque::new),
        });
        t.next_gen = gen.wrapping_add(1);
        t.staged.push(sqe.user_data(user_data));
        ring.ops_in_flight
            .store(t.slots.len(), std::sync::atomic::Ordering::Relaxed);
        user_data
    };
    ring.nudge();
    // The caller's `Arc` moves into the future (no extra reference count traffic per op).
    Ok(Op {
        shared: ring,
        user_data,
        done: false,
        _owned: PhantomData,
    })
}

impl<T: Send + 'static> Future for Op<T> {
    type Output = OpOutput<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<OpOutput<T>> {
        let this = self.get_mut();
        let (key, gen) = split(this.user_data);
        let mut t = lock(&this.shared.ops);
        let Some(slot) = t.slots.get_mut(key).filter(|s| s.gen == gen) else {
            this.done = true;
            return Poll::Ready(OpOutput {
                result: Err(gone()),
                flags: 0,
                owned: None,
            });
        };
        let (result, flags) = match slot.state {
            SlotState::Done { result, flags } => (result, flags),
            _ => {
                if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    slot.waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
        };
        let slot = t.slots.remove(key);
        this.shared
            .ops_in_flight
            .store(t.slots.len(), std::sync::atomic::Ordering::Relaxed);
        drop(t);
        this.done = true;
        let owned = slot.owned.and_then(|b| b.downcast::<T>().ok());
        let result = if result >= 0 {
            Ok(result as u32)
        } else if owned.is_none() {
            Err(gone())
        } else {
            Err(io::Error::from_raw_os_error(-result))
        };
        Poll::Ready(OpOutput {
            result,
            flags,
            owned,
        })
    }
}

impl<T: Send + 'static> Op<T> {
    /// The next CQE of a multishot operation (`submit_multishot`): `Some((result, flags))`, or
    /// `None` after the final one (or if the driver is gone). A CQE that names a provided buffer
    /// hands that buffer to the caller, who must recycle it (`UringShared::recycle`).
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(i32, u32)>> {
        if self.done {
            return Poll::Ready(None);
        }
        let (key, gen) = split(self.user_data);
        let mut t = lock(&self.shared.ops);
        let Some(slot) = t.slots.get_mut(key).filter(|s| s.gen == gen) else {
            self.done = true;
            return Poll::Ready(None);
        };
        if let Some(c) = slot.multi.as_mut().and_then(VecDeque::pop_front) {
            return Poll::Ready(Some(c));
        }
        if let SlotState::Done { .. } = slot.state {
            let slot = t.slots.remove(key);
            drop(t);
            self.done = true;
            drop(slot);
            return Poll::Ready(None);
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// The driver this operation runs on.
    pub(crate) fn ring(&self) -> &Arc<UringShared> {
        &self.shared
    }

    /// Lets the operation run to its end without a future: it is not cancelled, and its
    /// resources are freed (and an fd it returns closed) at its final CQE. For writes that must
    /// not be lost when their owner goes away.
    pub(crate) fn detach(mut self) {
        self.done = true;
        let (key, gen) = split(self.user_data);
        let mut t = lock(&self.shared.ops);
        let Some(slot) = t.slots.get_mut(key).filter(|s| s.gen == gen) else {
            return;
        };
        let freed = match slot.state {
            SlotState::Staged | SlotState::InFlight => {
                slot.state = SlotState::Orphaned;
                slot.waker = None;
                None
            }
            SlotState::Done { result, .. } => Some(t.free_unclaimed(key, result)),
            SlotState::Orphaned => None,
        };
        drop(t);
        drop(freed);
    }
}

fn gone() -> io::Error {
    io::Error::other(
        "the rpal worker that owned this io_uring operation shut down while the kernel held it",
    )
}

impl<T: Send + 'static> Drop for Op<T> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (key, gen) = split(self.user_data);
        let mut t = lock(&self.shared.ops);
        let Some(slot) = t.slots.get_mut(key).filter(|s| s.gen == gen) else {
            return;
        };
        let mut nudge = false;
        let queued: Vec<u16> = slot
            .multi
            .as_mut()
            .map(|q| q.drain(..).filter_map(|c| cqe_buffer(c.1)).collect())
            .unwrap_or_default();
        let freed = match slot.state {
            SlotState::Staged => {
                let ud = self.user_data;
                t.staged.retain(|sqe| sqe.get_user_data() != ud);
                Some(t.slots.remove(key))
            }
            SlotState::InFlight => {
                slot.state = SlotState::Orphaned;
                slot.waker = None;
                t.staged.push(
                    opcode::AsyncCancel::new(self.user_data)
                        .build()
                        .user_data(super::uring::CANCEL_TAG),
                );
                nudge = true;
                None
            }
            SlotState::Done { result, .. } => Some(t.free_unclaimed(key, result)),
            SlotState::Orphaned => None,
        };
        drop(t);
        drop(freed);
        self.shared.recycle(&queued);
        if nudge {
            self.shared.nudge();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, OwnedFd};

    use io_uring::types::Fd;

    use crate::reactor::uring::UringDriver;

    fn skip() -> bool {
        if let Err(why) = crate::reactor::detect::uring_probe() {
            eprintln!("SKIPPED: io_uring unavailable: {why}");
            return true;
        }
        false
    }

    /// A pipe read as an operation: the read end and the buffer are owned by the op.
    struct PipeRead {
        fd: Arc<OwnedFd>,
        buf: Vec<u8>,
    }

    fn read_op(ring: &Arc<UringShared>, fd: &Arc<OwnedFd>, len: usize) -> Op<PipeRead> {
        let owned = PipeRead {
            fd: fd.clone(),
            buf: vec![0; len],
        };
        // SAFETY: the SQE points into `o.buf` and names `o.fd`, both owned by the op.
        let op = unsafe {
            submit(ring.clone(), owned, false, |o| {
                opcode::Read::new(Fd(o.fd.as_raw_fd()), o.buf.as_mut_ptr(), o.buf.len() as u32)
                    .offset(u64::MAX)
                    .build()
            })
        };
        op.unwrap_or_else(|_| panic!("ring closed"))
    }

    fn pipe() -> (Arc<OwnedFd>, std::fs::File) {
        let (r, w) = rustix::pipe::pipe().unwrap();
        (Arc::new(r), std::fs::File::from(w))
    }

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        Pin::new(f).poll(&mut cx)
    }

    fn slots(ring: &UringShared) -> usize {
        lock(&ring.ops).slots.len()
    }

    #[test]
    fn read_completes_with_the_buffer_back() {
        if skip() {
            return;
        }
        let mut d = UringDriver::new().unwrap();
        let ring = d.shared();
        let (r, mut w) = pipe();
        std::io::Write::write_all(&mut w, b"hello").unwrap();
        let mut op = read_op(&ring, &r, 16);
        assert!(poll_once(&mut op).is_pending());
        let start = Instant::now();
        let out = loop {
            d.park(Some(Duration::from_millis(1))).unwrap();
            if let Poll::Ready(out) = poll_once(&mut op) {
                break out;
            }
            assert!(start.elapsed() < Duration::from_secs(5));
        };
        assert_eq!(out.result.unwrap(), 5);
        assert_eq!(&out.owned.unwrap().buf[..5], b"hello");
        assert_eq!(slots(&ring), 0);
    }

    #[test]
    fn dropping_a_staged_op_never_submits_it() {
        if skip() {
            return;
        }
        let mut d = UringDriver::new().unwrap();
        let ring = d.shared();
        let (r, mut w) = pipe();
        let op = read_op(&ring, &r, 16);
        drop(op);
        assert_eq!(slots(&ring), 0);
        assert!(lock(&ring.ops).staged.is_empty());
        d.park(Some(Duration::ZERO)).unwrap();
        // The bytes are still in the pipe: nobody read them.
        std::io::Write::write_all(&mut w, b"x").unwrap();
        let mut b = [0u8; 1];
        rustix::io::read(&*r, &mut b).unwrap();
        assert_eq!(&b, b"x");
    }

    #[test]
    fn dropping_an_op_in_flight_cancels_it_and_frees_the_slot() {
        if skip() {
            return;
        }
        let mut d = UringDriver::new().unwrap();
        let ring = d.shared();
        let (r, _w) = pipe();
        let mut op = read_op(&ring, &r, 1 << 20);
        assert!(poll_once(&mut op).is_pending());
        d.park(Some(Duration::ZERO)).unwrap(); // in the kernel now, waiting for data
        assert_eq!(slots(&ring), 1);
        drop(op);
        assert_eq!(slots(&ring), 1, "kept until the final CQE");
        // The read end is still owned by the orphaned op.
        assert_eq!(Arc::strong_count(&r), 2);
        let start = Instant::now();
        while slots(&ring) > 0 {
            d.park(Some(Duration::from_millis(1))).unwrap();
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "cancel never completed"
            );
        }
        assert_eq!(Arc::strong_count(&r), 1, "resources freed with the slot");
    }

    #[test]
    fn driver_drop_cancels_ops_in_flight() {
        if skip() {
            return;
        }
        let mut d = UringDriver::new().unwrap();
        let ring = d.shared();
        let (r, _w) = pipe();
        let mut op = read_op(&ring, &r, 64);
        assert!(poll_once(&mut op).is_pending());
        d.park(Some(Duration::ZERO)).unwrap();
        let mut staged = read_op(&ring, &r, 64);
        drop(d);
        let Poll::Ready(out) = poll_once(&mut op) else {
            panic!("op still pending after its driver dropped")
        };
        assert_eq!(
            out.result.unwrap_err().raw_os_error(),
            Some(libc::ECANCELED)
        );
        assert!(out.owned.is_some(), "the cancel completed within the drain");
        let Poll::Ready(out) = poll_once(&mut staged) else {
            panic!()
        };
        assert!(out.result.is_err());
        assert_eq!(slots(&ring), 0);
        // A submission after the drop is refused.
        let owned = PipeRead {
            fd: r.clone(),
            buf: Vec::new(),
        };
        // SAFETY: as in `read_op`.
        let refused = unsafe { submit(ring.clone(), owned, false, |_| opcode::Nop::new().build()) };
        assert!(refused.is_err());
    }

    #[test]
    fn op_user_data_stays_clear_of_tags_and_tokens() {
        for tag in [u64::MAX, u64::MAX - 1, u64::MAX - 2] {
            assert!(!is_op(tag), "{tag:#x}");
        }
        // A token: any generation, key below 2^31 (bit 31 clear).
        assert!(!is_op((0xFFFF_FFFFu64 << 32) | 0x7FFF_FFFF));
        let ud = (0xFFFF_FFFFu64 << 32) | OP_FLAG | (MAX_OP_KEY as u64 - 1);
        assert!(is_op(ud));
        assert_eq!(split(ud), (MAX_OP_KEY - 1, u32::MAX));
    }
}
