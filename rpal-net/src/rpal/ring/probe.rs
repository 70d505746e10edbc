//! [`RingProbe`]: a thread-safe view of one ring's indices and parking words, for the stream
//! layer's waiters (a worker polls it while spinning, publishes "waiting" through it before
//! parking) while the endpoint itself (not `Sync`) stays with its task.
//!
//! A probe only *reads* indices to decide whether to wake the endpoint's task; the endpoint then
//! re-reads and validates them. So a peer that scribbles indices can at worst make a probe say
//! "ready", which leads to a validated read that reports the corruption.
//!
//! The endpoint's *own* index (a consumer's `head`, a producer's `tail`) is never read from
//! shared memory: the peer can rewrite that copy too, and a probe comparing the peer's index
//! with a forged copy of ours would say "ready" while the endpoint, which trusts only its
//! private copy, has nothing to do: its task would be woken again and again (or spin inside
//! one poll) without progress. The probe reads the endpoint's [`Own`] mirror instead, kept in
//! this process's memory and stored by the endpoint each time it publishes its index.

use std::fmt;
use std::ptr::NonNull;

use super::layout::{Parking, RingHeader, NO_SLOT};
use super::{Keep, RingRef};
use crate::loom::sync::atomic::{fence, AtomicU64, Ordering};
use crate::loom::sync::Arc;

/// Parking word value: running.
const RUNNING: u32 = 0;
/// Parking word value: parked (see `doorbell.rs`).
const PARKED: u32 = 1;

/// Which end a probe belongs to, with that end's own index as it last published it (in local
/// memory, out of the peer's reach).
#[derive(Clone, Debug)]
pub(super) enum Own {
    /// A consumer's probe: the `head` it last released.
    Head(Arc<AtomicU64>),
    /// A producer's probe: the `tail` it last published.
    Tail(Arc<AtomicU64>),
}

/// A `Send + Sync` view of one ring for waiters.
pub struct RingProbe {
    /// # Invariant
    /// Points to a validated ring header kept mapped by `_keep`.
    header: NonNull<RingHeader>,
    capacity: u64,
    own: Own,
    _keep: Keep,
}

// SAFETY: the header is all atomics in memory kept mapped by `_keep`; the probe only performs
// atomic loads and stores on it.
unsafe impl Send for RingProbe {}
// SAFETY: as above; every method takes &self and uses atomics only.
unsafe impl Sync for RingProbe {}

impl fmt::Debug for RingProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingProbe")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl RingProbe {
    pub(super) fn new(ring: &RingRef, own: Own) -> RingProbe {
        RingProbe {
            header: NonNull::from(ring.header()),
            capacity: ring.capacity(),
            own,
            _keep: ring.keep().clone(),
        }
    }

    /// The producer's `tail`: our mirror if we are the producer, else the shared word.
    fn tail(&self, h: &RingHeader, order: Ordering) -> u64 {
        match &self.own {
            Own::Tail(t) => t.load(Ordering::Acquire),
            Own::Head(_) => h.prod.0.tail.load(order),
        }
    }

    /// The consumer's `head`: our mirror if we are the consumer, else the shared word.
    fn head(&self, h: &RingHeader, order: Ordering) -> u64 {
        match &self.own {
            Own::Head(m) => m.load(Ordering::Acquire),
            Own::Tail(_) => h.cons.0.head.load(order),
        }
    }

    fn h(&self) -> &RingHeader {
        crate::rpal::protect::ensure_readable();
        // SAFETY: field invariant.
        unsafe { self.header.as_ref() }
    }

    /// True if the consumer has something to act on: bytes published, or the writer closed.
    pub fn has_data(&self) -> bool {
        let h = self.h();
        self.tail(h, Ordering::Acquire) != self.head(h, Ordering::Relaxed)
            || h.prod.0.writer_closed.load(Ordering::Acquire) != 0
    }

    /// True if the producer has something to act on: room in the ring, or the reader closed.
    pub fn has_room(&self) -> bool {
        let h = self.h();
        let used = self
            .tail(h, Ordering::Relaxed)
            .wrapping_sub(self.head(h, Ordering::Acquire));
        used < self.capacity || h.cons.0.reader_closed.load(Ordering::Acquire) != 0
    }

    /// Consumer side: publish "waiting for data", full fence, re-check. Returns true (and
    /// retracts "waiting") if data is already there: do not sleep.
    pub fn prepare_wait_data(&self) -> bool {
        self.prepare_wait(&self.h().consumer_waiting.0, || self.has_data())
    }

    /// Consumer side: retract "waiting for data" (the producer stops ringing).
    pub fn cancel_wait_data(&self) {
        self.cancel(&self.h().consumer_waiting.0);
    }

    /// Producer side: publish "waiting for room", full fence, re-check. Returns true (and
    /// retracts "waiting") if room is already there.
    pub fn prepare_wait_room(&self) -> bool {
        self.prepare_wait(&self.h().producer_waiting.0, || self.has_room())
    }

    /// Producer side: retract "waiting for room".
    pub fn cancel_wait_room(&self) {
        self.cancel(&self.h().producer_waiting.0);
    }

    /// Consumer side, classic handshake done by the caller: publish "parked" (word = 1, no
    /// slot) without a fence; the caller fences once for many lines, then re-checks.
    pub fn publish_parked_data(&self) {
        publish_parked(&self.h().consumer_waiting.0);
    }

    /// Producer side: as [`publish_parked_data`](Self::publish_parked_data), for room.
    pub fn publish_parked_room(&self) {
        publish_parked(&self.h().producer_waiting.0);
    }

    /// Consumer side, waiter on worker `slot`: publish "waiting for data" on behalf of that
    /// worker, without a fence (the worker's park supplies it: WAIT, `fence(SeqCst)`, re-check).
    /// Stores only what changed, so re-arming an armed line writes nothing.
    pub fn arm_data(&self, slot: u32) {
        arm(&self.h().consumer_waiting.0, slot);
    }

    /// Producer side, waiter on worker `slot`: as [`arm_data`](Self::arm_data), for room.
    pub fn arm_room(&self, slot: u32) {
        arm(&self.h().producer_waiting.0, slot);
    }

    /// Classic handshake: word = 1, fence, re-check; on success the word goes back to 0.
    fn prepare_wait(&self, p: &Parking, ready: impl Fn() -> bool) -> bool {
        let _w = crate::rpal::protect::write_window();
        if p.slot.load(Ordering::Relaxed) != NO_SLOT {
            p.slot.store(NO_SLOT, Ordering::Relaxed);
        }
        p.word.store(PARKED, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if ready() {
            p.word.store(RUNNING, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn cancel(&self, p: &Parking) {
        // Loads first: usually nothing is armed, and a store would dirty a line the peer reads.
        if p.word.load(Ordering::Relaxed) == RUNNING && p.slot.load(Ordering::Relaxed) == NO_SLOT {
            return;
        }
        let _w = crate::rpal::protect::write_window();
        p.word.store(RUNNING, Ordering::Relaxed);
        p.slot.store(NO_SLOT, Ordering::Relaxed);
    }
}

fn publish_parked(p: &Parking) {
    let _w = crate::rpal::protect::write_window();
    if p.slot.load(Ordering::Relaxed) != NO_SLOT {
        p.slot.store(NO_SLOT, Ordering::Relaxed);
    }
    p.word.store(PARKED, Ordering::Relaxed);
}

fn arm(p: &Parking, slot: u32) {
    if p.slot.load(Ordering::Relaxed) == slot && p.word.load(Ordering::Relaxed) == PARKED {
        return;
    }
    let _w = crate::rpal::protect::write_window();
    // Order between the two stores does not matter for correctness: the worker's park fence
    // orders both before its re-check (see "Worker slots" in doorbell.rs).
    p.slot.store(slot, Ordering::Relaxed);
    p.word.store(PARKED, Ordering::Release);
}
