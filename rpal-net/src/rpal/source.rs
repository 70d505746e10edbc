//! The RpalStream side of rpal-rt's user-space source hook: one [`RpalSource`] per worker
//! holds the [`WaitSlot`]s of the stream ends waiting on that worker.
//!
//! * Every scheduler tick the worker calls [`RpalSource::poll`]: each waiting slot's ring is
//!   probed (a cache-line read, no syscall) and the task is woken when its data (or room) is
//!   there. While the worker is busy, nobody has published "waiting", so the peer never rings.
//! * When the worker is idle and some slot allows spinning, the worker keeps polling for an
//!   adaptive budget before parking (`UserSource::wants_spin`).
//! * Two ways to publish "waiting" (see `doorbell.rs`):
//!   - **worker slot** (the peer has this process's worker-state table and the worker has a
//!     slot): the worker publishes WAIT in its own table slot and fences before
//!     [`RpalSource::prepare_park`], which arms each waiting end's parking line with the
//!     worker's slot (a store only if the line is not armed already), fences once and
//!     re-checks every ring. Lines stay armed across parks while their end waits and are
//!     disarmed when it stops waiting. The peer rings only while the worker is in WAIT, so a
//!     worker that woke and runs (on any of its streams) is not rung again, and a busy-polling
//!     pair writes no shared parking line per message.
//!   - **classic** (no table, or no slot): [`RpalSource::prepare_park`] publishes "waiting" on
//!     every waiting slot's parking word, fences once and re-checks; `after_park` retracts.
//!
//! Either way the peer that publishes after the fence sees the flag and rings this end's
//! eventfd, which the task's reactor registration watches.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use rpal_rt::io::{register_source, worker_state, SourceRegistration, UserSource};

use super::ring::layout::NO_SLOT;
use super::ring::RingProbe;

/// What a slot waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitFor {
    /// Bytes (or end of stream) in the incoming ring.
    Data,
    /// Room (or a closed reader) in the outgoing ring.
    Room,
}

/// One stream end's wait: its ring probe, its task's waker, whether it waits.
#[derive(Debug)]
pub(crate) struct WaitSlot {
    probe: RingProbe,
    what: WaitFor,
    spin: bool,
    /// The peer reads this process's worker-state table: arm with the worker's slot.
    peer_reads_slots: bool,
    /// The worker slot the line is armed with (`NO_SLOT`: classic, armed only at park).
    armed_slot: AtomicU32,
    waker: Mutex<Option<Waker>>,
    /// The end is waiting (set by the end, cleared by a source that woke it, or the end).
    waiting: AtomicBool,
    /// Id of the worker whose source lists this slot (0: none).
    listed_on: AtomicU64,
    /// Times "waiting" was published for a park.
    parks: AtomicU64,
}

impl WaitSlot {
    pub(crate) fn new(
        probe: RingProbe,
        what: WaitFor,
        spin: bool,
        peer_reads_slots: bool,
    ) -> Arc<WaitSlot> {
        Arc::new(WaitSlot {
            probe,
            what,
            spin,
            peer_reads_slots,
            armed_slot: AtomicU32::new(NO_SLOT),
            waker: Mutex::new(None),
            waiting: AtomicBool::new(false),
            listed_on: AtomicU64::new(0),
            parks: AtomicU64::new(0),
        })
    }

    /// True if the end has something to do.
    pub(crate) fn ready(&self) -> bool {
        match self.what {
            WaitFor::Data => self.probe.has_data(),
            WaitFor::Room => self.probe.has_room(),
        }
    }

    pub(crate) fn parks(&self) -> u64 {
        self.parks.load(Ordering::Relaxed)
    }

    /// The end starts (or keeps) waiting with `waker`, listed on the current worker's source.
    pub(crate) fn wait(self: &Arc<Self>, waker: &Waker) -> io::Result<()> {
        {
            let mut w = lock(&self.waker);
            match w.as_ref() {
                Some(old) if old.will_wake(waker) => {}
                _ => *w = Some(waker.clone()),
            }
        }
        self.waiting.store(true, Ordering::Release);
        let worker = rpal_rt::io::current_worker_id().ok_or_else(no_runtime)?;
        if self.listed_on.load(Ordering::Acquire) != worker {
            current_source(worker)?.add(self.clone());
            self.listed_on.store(worker, Ordering::Release);
        }
        let slot = match self.peer_reads_slots {
            true => worker_state::current_index().unwrap_or(NO_SLOT),
            false => NO_SLOT,
        };
        // Local only: the shared line is armed at the worker's next park, not here, so a
        // busy-polling pair writes no shared parking line per message.
        self.armed_slot.store(slot, Ordering::Relaxed);
        Ok(())
    }

    fn arm(&self, slot: u32) {
        match self.what {
            WaitFor::Data => self.probe.arm_data(slot),
            WaitFor::Room => self.probe.arm_room(slot),
        }
    }

    /// Before the park fence: re-arm a worker-slot line (a wake-up may have consumed it), or
    /// publish "parked" on a classic one.
    fn publish_for_park(&self) {
        self.parks.fetch_add(1, Ordering::Relaxed);
        let slot = self.armed_slot.load(Ordering::Relaxed);
        if slot != NO_SLOT {
            self.arm(slot);
        } else {
            self.arm_classic();
        }
    }

    fn arm_classic(&self) {
        match self.what {
            WaitFor::Data => self.probe.publish_parked_data(),
            WaitFor::Room => self.probe.publish_parked_room(),
        }
    }

    fn is_classic(&self) -> bool {
        self.armed_slot.load(Ordering::Relaxed) == NO_SLOT
    }

    /// The end stopped waiting (it found work itself).
    pub(crate) fn done(&self) {
        // A plain load first: this runs on every read and write, and usually nothing waits.
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            self.cancel_park();
        }
    }

    fn cancel_park(&self) {
        match self.what {
            WaitFor::Data => self.probe.cancel_wait_data(),
            WaitFor::Room => self.probe.cancel_wait_room(),
        }
    }

    fn wake(&self) {
        if let Some(w) = lock(&self.waker).take() {
            w.wake();
        }
    }
}

/// The waiting slots of one worker.
#[derive(Debug, Default)]
pub(crate) struct RpalSource {
    slots: Mutex<Vec<Arc<WaitSlot>>>,
    /// Slots woken by the last `poll`, kept so waking allocates nothing after warm-up.
    woken: Mutex<Vec<Arc<WaitSlot>>>,
}

impl RpalSource {
    fn add(&self, slot: Arc<WaitSlot>) {
        lock(&self.slots).push(slot);
    }
}

impl UserSource for RpalSource {
    fn poll(&self) -> bool {
        let mut woken = lock(&self.woken);
        {
            let mut slots = lock(&self.slots);
            if slots.is_empty() {
                return false;
            }
            slots.retain(|s| {
                if !s.waiting.load(Ordering::Acquire) {
                    s.listed_on.store(0, Ordering::Release);
                    return false;
                }
                if s.ready() {
                    s.waiting.store(false, Ordering::Release);
                    s.listed_on.store(0, Ordering::Release);
                    // Nobody waits on the line any more: disarm it, so the peer does not ring
                    // when this worker next parks.
                    s.cancel_park();
                    woken.push(s.clone());
                    return false;
                }
                true
            });
        }
        // Wakers run outside the slots lock (a waker may call back into this source); the
        // `woken` buffer is only ever locked here, by this worker.
        let any = !woken.is_empty();
        for s in woken.drain(..) {
            s.wake();
        }
        any
    }

    fn prepare_park(&self) -> bool {
        let slots = lock(&self.slots);
        let waiting = || slots.iter().filter(|s| s.waiting.load(Ordering::Acquire));
        let mut any = false;
        for s in waiting() {
            s.publish_for_park();
            any = true;
        }
        if !any {
            return false;
        }
        // W2 for every line at once (and for the worker's WAIT, stored before this call).
        fence(Ordering::SeqCst);
        waiting().any(|s| s.ready())
    }

    fn after_park(&self) {
        // Classic lines are retracted; worker-slot lines stay armed while their end waits (the
        // peer reads the worker's RUNNING and does not ring).
        for s in lock(&self.slots).iter().filter(|s| s.is_classic()) {
            s.cancel_park();
        }
    }

    fn wants_spin(&self) -> bool {
        lock(&self.slots)
            .iter()
            .any(|s| s.spin && s.waiting.load(Ordering::Relaxed))
    }
}

thread_local! {
    /// The source of the worker running this thread, with its registration.
    static CURRENT: RefCell<Option<(u64, Arc<RpalSource>, SourceRegistration)>> =
        const { RefCell::new(None) };
}

/// The source of worker `worker` (the current one), registering it on first use.
fn current_source(worker: u64) -> io::Result<Arc<RpalSource>> {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((id, src, _)) = c.as_ref() {
            if *id == worker {
                return Ok(src.clone());
            }
        }
        let src = Arc::new(RpalSource::default());
        let reg = register_source(src.clone())?;
        // The previous worker's registration (if any) drops here, outside its registry's walk.
        let old = c.replace((worker, src.clone(), reg));
        drop(c);
        drop(old);
        Ok(src)
    })
}

fn no_runtime() -> io::Error {
    io::Error::other("RpalStream polled outside an rpal runtime: use it from an rpal_rt task")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
