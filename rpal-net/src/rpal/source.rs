//! The RpalStream side of rpal-rt's user-space source hook: one [`RpalSource`] per worker
//! holds the [`WaitSlot`]s of the stream ends waiting on that worker.
//!
//! * Every scheduler tick the worker calls [`RpalSource::poll`]: each waiting slot's ring is
//!   probed (a cache-line read, no syscall) and the task is woken when its data (or room) is
//!   there. While the worker is busy, nobody has published "waiting", so the peer never rings.
//! * When the worker is idle and some slot allows spinning, the worker keeps polling for an
//!   adaptive budget before parking (`UserSource::wants_spin`).
//! * Before the worker parks, [`RpalSource::prepare_park`] publishes "waiting" on every slot's
//!   parking word and re-checks (the Dekker handshake of `doorbell.rs`); the peer that then
//!   publishes sees the flag and rings this end's eventfd, which the task's reactor registration
//!   watches. `after_park` retracts the flags.

use std::cell::RefCell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

use rpal_rt::io::{register_source, SourceRegistration, UserSource};

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
    waker: Mutex<Option<Waker>>,
    /// The end is waiting (set by the end, cleared by a source that woke it, or the end).
    waiting: AtomicBool,
    /// Id of the worker whose source lists this slot (0: none).
    listed_on: AtomicU64,
    /// Times "waiting" was published for a park.
    parks: AtomicU64,
}

impl WaitSlot {
    pub(crate) fn new(probe: RingProbe, what: WaitFor, spin: bool) -> Arc<WaitSlot> {
        Arc::new(WaitSlot {
            probe,
            what,
            spin,
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
        Ok(())
    }

    /// The end stopped waiting (it found work itself).
    pub(crate) fn done(&self) {
        // A plain load first: this runs on every read and write, and usually nothing waits.
        if self.waiting.load(Ordering::Relaxed) && self.waiting.swap(false, Ordering::AcqRel) {
            self.cancel_park();
        }
    }

    fn prepare_park(&self) -> bool {
        let ready = match self.what {
            WaitFor::Data => self.probe.prepare_wait_data(),
            WaitFor::Room => self.probe.prepare_wait_room(),
        };
        if !ready {
            self.parks.fetch_add(1, Ordering::Relaxed);
        }
        ready
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
        slots
            .iter()
            .filter(|s| s.waiting.load(Ordering::Acquire))
            .any(|s| s.prepare_park())
    }

    fn after_park(&self) {
        for s in lock(&self.slots).iter() {
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
