//! [`TimeHandle`]: one worker's wheel behind a mutex, plus the park/unpark bookkeeping.
//!
//! # Protocol
//! * The owning worker calls [`TimeHandle::process`] each turn, [`TimeHandle::park_timeout`] just
//!   before it parks and [`TimeHandle::unparked`] when the park returns.
//! * Any thread may insert, reset, poll or cancel a timer (a `Sleep` created on one worker and
//!   polled or dropped on another). All of that happens under `Shared::state`, held for a few
//!   slab and bit operations; the worker is nearly always the only locker, so the lock is
//!   uncontended.
//! * No waker is woken or dropped under `state`: `process` collects fired wakers into the
//!   reusable `Shared::fired` buffer, releases `state`, then wakes them; `cancel` and `poll` hand
//!   replaced wakers back to be dropped after the unlock. (`Waker::clone` may run under the lock.)
//! * `state.parked_until` is `Some(tick)` between `park_timeout` and `unparked`: the owner sleeps
//!   until that tick (`u64::MAX`: no timeout). An insert or reset with an earlier tick lowers it
//!   and calls the unpark callback after the unlock, so the owner wakes and re-computes its
//!   timeout. The owner records the park *before* it parks, and unpark makes the current or the
//!   next park return, so a timer inserted in between is never missed.
//! * `next_due` (atomic) is a lower bound of the next due tick, written only under `state`:
//!   lowered by insert/reset, recomputed by `process`. `process` returns without locking while
//!   `now` is below it. A stale read by the owner only delays a timer inserted from another
//!   thread to the owner's next `park_timeout`, which locks, sees it, and so does not sleep past it.

use std::fmt;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::wheel::{PollTimer, TimerKey, Wheel};
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::{Arc, Mutex, MutexGuard};
use crate::reactor;

/// Shared handle to one worker's timer wheel. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub(crate) struct TimeHandle {
    shared: Arc<Shared>,
}

struct Shared {
    clock: Clock,
    state: Mutex<State>,
    /// Reusable buffer of fired wakers; only `process` (the owner) locks it.
    fired: Mutex<Vec<Waker>>,
    /// A lower bound of the tick at which the next timer is due (`u64::MAX`: no timer), so that
    /// `process` returns without locking when nothing is due. Written only under `state`.
    next_due: AtomicU64,
    /// Wakes the owning worker's park.
    unpark: Box<dyn Fn() + Send + Sync>,
}

struct State {
    wheel: Wheel,
    /// See the module protocol; `None` while the owner is not parked.
    parked_until: Option<u64>,
}

impl State {
    /// Records a timer at tick `when`; true if the parked owner must be woken to honour it.
    fn needs_unpark(&mut self, when: u64) -> bool {
        match self.parked_until {
            Some(until) if when < until => {
                self.parked_until = Some(when);
                true
            }
            _ => false,
        }
    }
}

/// Locks `m`, ignoring poison: every critical section leaves the wheel consistent, and a panic
/// can only come from a waker, which never runs under these locks.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl TimeHandle {
    /// A wheel with resolution `tick` whose owner is woken through `io`.
    pub(crate) fn new(tick: Duration, io: reactor::Handle) -> TimeHandle {
        TimeHandle::new_with_unpark(tick, move || io.unpark())
    }

    /// A wheel with resolution `tick` whose owner is woken by calling `unpark`.
    pub(crate) fn new_with_unpark(
        tick: Duration,
        unpark: impl Fn() + Send + Sync + 'static,
    ) -> TimeHandle {
        TimeHandle::with_clock(Clock::new(tick), Box::new(unpark))
    }

    fn with_clock(clock: Clock, unpark: Box<dyn Fn() + Send + Sync>) -> TimeHandle {
        let state = State {
            wheel: Wheel::new(),
            parked_until: None,
        };
        TimeHandle {
            shared: Arc::new(Shared {
                clock,
                state: Mutex::new(state),
                fired: Mutex::new(Vec::new()),
                next_due: AtomicU64::new(u64::MAX),
                unpark,
            }),
        }
    }

    /// The wheel of the current worker, if this thread runs one.
    pub(crate) fn current() -> Option<TimeHandle> {
        #[cfg(test)]
        if let Some(overridden) = test_context::get() {
            return overridden;
        }
        crate::runtime::context::time_handle()
    }

    /// True when both handles name the same wheel.
    pub(crate) fn same_wheel(&self, other: &TimeHandle) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }

    /// Number of live timers (set, neither fired nor cancelled); takes the wheel lock.
    pub(crate) fn len(&self) -> usize {
        lock(&self.shared.state).wheel.len()
    }

    /// Fires every timer due at `now` and returns how many fired. Wakers run after the wheel lock
    /// is released. Owner only.
    pub(crate) fn process(&self, now: Instant) -> usize {
        let now = self.shared.clock.now_to_tick(now);
        if now < self.shared.next_due.load(Ordering::Acquire) {
            return 0;
        }
        let mut fired = lock(&self.shared.fired);
        let count = {
            let mut state = lock(&self.shared.state);
            let count = state.wheel.advance(now, &mut fired);
            let next = state.wheel.next_deadline().unwrap_or(u64::MAX);
            self.shared.next_due.store(next, Ordering::Release);
            count
        };
        for waker in fired.drain(..) {
            waker.wake();
        }
        count
    }

    /// Time from `now` until the next timer is due (`None`: no timers; `Some(ZERO)`: one is due
    /// already), and records that the owner parks until then. Owner only, just before parking.
    ///
    /// The value is exact to the nanosecond: it ends at the tick boundary at which `process`
    /// fires the earliest timer (at most one tick after its deadline). It may be early (never
    /// late) when the earliest timer was cancelled: the owner then wakes once for nothing.
    pub(crate) fn park_timeout(&self, now: Instant) -> Option<Duration> {
        let mut state = lock(&self.shared.state);
        let next = state.wheel.next_deadline();
        state.parked_until = Some(next.unwrap_or(u64::MAX));
        next.map(|tick| self.shared.clock.until_tick(tick, now))
    }

    /// Time from `now` until the earliest timer may be due, without taking the lock (a lower
    /// bound: it may be early, never late). `None` when no timer is set.
    pub(crate) fn until_next_due(&self, now: Instant) -> Option<Duration> {
        let next = self.shared.next_due.load(Ordering::Acquire);
        (next != u64::MAX).then(|| self.shared.clock.until_tick(next, now))
    }

    /// Clears the park record; the owner calls it when its park returns.
    pub(crate) fn unparked(&self) {
        lock(&self.shared.state).parked_until = None;
    }

    /// Adds a timer firing at `deadline` that wakes `waker`.
    pub(super) fn insert(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let when = self.shared.clock.deadline_to_tick(deadline);
        let (key, unpark) = {
            let mut state = lock(&self.shared.state);
            let key = state.wheel.insert(when, Some(waker));
            self.lower_next_due(when);
            (key, state.needs_unpark(when))
        };
        if unpark {
            (self.shared.unpark)();
        }
        key
    }

    /// Moves a live timer to `deadline`; false if it already fired (or `key` is stale).
    pub(super) fn reset(&self, key: TimerKey, deadline: Instant) -> bool {
        let when = self.shared.clock.deadline_to_tick(deadline);
        let (live, unpark) = {
            let mut state = lock(&self.shared.state);
            let live = state.wheel.reset(key, when);
            if live {
                self.lower_next_due(when);
            }
            (live, live && state.needs_unpark(when))
        };
        if unpark {
            (self.shared.unpark)();
        }
        live
    }

    /// Lowers `next_due` to `when`. Caller holds `state` (writers are serialized by it).
    fn lower_next_due(&self, when: u64) {
        let next_due = &self.shared.next_due;
        if when < next_due.load(Ordering::Relaxed) {
            next_due.store(when, Ordering::Release);
        }
    }

    /// Cancels a timer; true if it was still live (it will now never fire), false if it had
    /// fired already (or `key` is stale). A no-op in the latter case.
    pub(super) fn cancel(&self, key: TimerKey) -> bool {
        let removed = lock(&self.shared.state).wheel.cancel(key);
        // The waker, if any, is dropped here, after the unlock.
        removed.is_some()
    }

    /// `Ready` once the timer fired; otherwise stores `waker` and returns `Pending`.
    pub(super) fn poll(&self, key: TimerKey, waker: &Waker) -> Poll<()> {
        let polled = lock(&self.shared.state).wheel.poll(key, waker);
        match polled {
            PollTimer::Fired => Poll::Ready(()),
            // A replaced waker is dropped here, after the unlock.
            PollTimer::Pending(_replaced) => Poll::Pending,
        }
    }

    /// Whether the timer is still live (has neither fired nor been cancelled).
    pub(super) fn is_live(&self, key: TimerKey) -> bool {
        lock(&self.shared.state).wheel.is_live(key)
    }
}

impl fmt::Debug for TimeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeHandle")
            .field("tick", &self.shared.clock.tick())
            .field("origin", &self.shared.clock.origin())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl TimeHandle {
    /// A wheel whose tick 0 is `origin`, for tests that drive it with fake instants.
    pub(super) fn for_test(
        origin: Instant,
        tick: Duration,
        unpark: impl Fn() + Send + Sync + 'static,
    ) -> TimeHandle {
        TimeHandle::with_clock(Clock::with_origin(origin, tick), Box::new(unpark))
    }
}

/// Test-only stand-in for the runtime context, so futures can be polled without an executor.
#[cfg(test)]
pub(super) mod test_context {
    use std::cell::RefCell;

    use super::TimeHandle;

    std::thread_local! {
        /// `Some(x)`: `TimeHandle::current()` returns `x` on this thread.
        static CURRENT: RefCell<Option<Option<TimeHandle>>> = const { RefCell::new(None) };
    }

    /// Makes `TimeHandle::current()` return `handle` on this thread until `clear`.
    pub(in crate::time) fn set(handle: Option<TimeHandle>) {
        CURRENT.with(|c| *c.borrow_mut() = Some(handle));
    }

    /// Undoes `set`.
    pub(in crate::time) fn clear() {
        CURRENT.with(|c| *c.borrow_mut() = None);
    }

    pub(super) fn get() -> Option<Option<TimeHandle>> {
        CURRENT.with(|c| c.borrow().clone())
    }
}

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;
