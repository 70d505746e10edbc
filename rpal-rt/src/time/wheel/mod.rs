//! The hierarchical timer wheel of one worker: pure data structure, no locking, no clock.
//!
//! Owns [`Wheel`] (all timers of one worker, in ticks) and [`TimerKey`] (names one timer).
//! The caller (`time::handle`) converts instants to ticks, holds the lock, and wakes the wakers
//! this module hands back.
//!
//! # Layout
//! [`NUM_LEVELS`] levels of 64 slots; slots of level `n` are `64^n` ticks wide, so level 0 has
//! one-tick slots and the top level has slots of `64^5` ticks (about 3 hours at the default
//! 10 µs tick). Each level keeps a `u64` of occupied slots, so the next slot to process is found
//! with a rotate and `trailing_zeros` per level, never by scanning. Entries live in one slab and
//! are threaded through their slot with index links (see `entry.rs`): O(1) insert and cancel.
//!
//! # Invariants
//! * `elapsed` is the last tick fully processed: every timer with `when <= elapsed` has fired or
//!   sits on the `pending` list (inserted already due, fires on the next [`Wheel::advance`]).
//! * A timer with `when > elapsed` sits on level `n`, the highest 6-bit group in which `when`
//!   and `elapsed` differ (capped at the top level), in the slot `when` falls into. Hence its
//!   slot is 1 to 63 slots after the slot holding `elapsed` on that level.
//! * Beyond the horizon (the top-level slot of `when` is more than 63 slots after that of
//!   `elapsed`) the timer is parked in the top-level slot 63 slots ahead and keeps its real
//!   `when`; it is re-examined when that slot is reached and placed again.
//! * Moving `elapsed` forward never skips an occupied slot's start: `advance` processes slots in
//!   order of start tick. Processing a slot ("cascading") fires its entries with
//!   `when <= elapsed` and re-links the others, which then land on a lower level.
//! * A timer fires only once `now >= when` (in ticks); with deadlines rounded up to a tick
//!   (`clock.rs`) that means never before its deadline.
//!
//! # Lateness
//! The wheel fires a timer in the first `advance(now)` with `now >= when`. The owner parks until
//! [`Wheel::next_deadline`], a lower bound of the earliest `when` (exact unless the earliest
//! timer was cancelled, in which case the worker wakes once for nothing). So an idle worker
//! fires a timer at most one tick (rounding) plus its own wake-up latency after the deadline.

mod entry;
mod level;
#[cfg(all(test, not(loom)))]
mod tests;

use std::task::Waker;

use slab::Slab;

pub(crate) use entry::TimerKey;
use entry::{Entry, List, ListId};
use level::{Expiration, Level, SLOT_BITS, SLOT_MASK};

/// Number of levels. With 6 bits per level the wheel spans `64^6` ticks (about 7.8 days at the
/// default 10 µs tick) before a timer has to be re-examined.
pub(super) const NUM_LEVELS: usize = 6;
/// Index of the top level.
const TOP: usize = NUM_LEVELS - 1;

/// What [`Wheel::poll`] found.
#[derive(Debug)]
pub(super) enum PollTimer {
    /// The timer has fired (or the key is stale).
    Fired,
    /// Still waiting; holds the waker it replaced, to be dropped outside the lock.
    Pending(Option<Waker>),
}

/// All timers of one worker. See the module docs for the invariants.
#[derive(Debug)]
pub(super) struct Wheel {
    slab: Slab<Entry>,
    /// `NUM_LEVELS` levels, level `n` at index `n`. Built one level at a time (a whole array
    /// would be ~9 KiB on the stack, too much for loom's small coroutine stacks).
    levels: Box<[Level]>,
    /// Timers that were already due when inserted or reset.
    pending: List,
    /// Last tick fully processed; never decreases.
    elapsed: u64,
    /// Generation for the next insertion; starts at 1 and only grows.
    next_generation: u64,
}

impl Default for Wheel {
    fn default() -> Wheel {
        Wheel::new()
    }
}

impl Wheel {
    /// An empty wheel at tick 0.
    pub(super) fn new() -> Wheel {
        Wheel {
            slab: Slab::new(),
            levels: (0..NUM_LEVELS).map(Level::new).collect(),
            pending: List::default(),
            elapsed: 0,
            next_generation: 1,
        }
    }

    #[cfg(test)]
    /// Last tick fully processed.
    pub(super) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// Number of live (not fired, not cancelled) timers.
    pub(super) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Adds a timer due at tick `when`. Already due (`when <= elapsed`): fires on the next
    /// [`Wheel::advance`].
    pub(super) fn insert(&mut self, when: u64, waker: Option<Waker>) -> TimerKey {
        let generation = self.next_generation;
        self.next_generation += 1;
        let index = self.slab.insert(Entry::new(when, generation, waker));
        self.link(index);
        TimerKey { index, generation }
    }

    /// Removes the timer; returns its waker (drop it outside the lock) if it was still live,
    /// `None` if it had fired or the key is stale.
    pub(super) fn cancel(&mut self, key: TimerKey) -> Option<Option<Waker>> {
        let index = self.lookup(key)?;
        self.unlink(index);
        Some(self.slab.remove(index).waker)
    }

    /// Moves a live timer to tick `when`; false (and nothing changes) if it fired or the key is
    /// stale.
    pub(super) fn reset(&mut self, key: TimerKey, when: u64) -> bool {
        let Some(index) = self.lookup(key) else {
            return false;
        };
        self.unlink(index);
        self.slab[index].when = when;
        self.link(index);
        true
    }

    /// Whether the timer is still live (neither fired nor cancelled).
    pub(super) fn is_live(&self, key: TimerKey) -> bool {
        self.lookup(key).is_some()
    }

    /// Checks a timer and stores `waker` to be woken when it fires (cloning it only when it would
    /// not wake the same task as the stored one).
    pub(super) fn poll(&mut self, key: TimerKey, waker: &Waker) -> PollTimer {
        let Some(index) = self.lookup(key) else {
            return PollTimer::Fired;
        };
        let slot = &mut self.slab[index].waker;
        match slot {
            Some(old) if old.will_wake(waker) => PollTimer::Pending(None),
            _ => PollTimer::Pending(slot.replace(waker.clone())),
        }
    }

    /// A lower bound of the earliest deadline, in ticks (`elapsed` when a timer is already due);
    /// `None` when there are no timers. Exact unless timers were cancelled.
    pub(super) fn next_deadline(&self) -> Option<u64> {
        if !self.pending.is_empty() {
            return Some(self.elapsed);
        }
        self.levels
            .iter()
            .filter_map(|level| level.next_expiration(self.elapsed))
            .map(|exp| {
                let slot_end = exp
                    .start
                    .saturating_add(1 << (SLOT_BITS * exp.level as u32));
                // A slot holding only beyond-horizon timers must be processed at its start so
                // they are placed again; every other slot can wait for its earliest deadline.
                if exp.min_when < slot_end {
                    exp.min_when
                } else {
                    exp.start
                }
            })
            .min()
    }

    /// Fires every timer with `when <= now`: pushes their wakers (timers inserted without one
    /// count but push nothing) onto `fired`, and returns how many fired. Cascades the slots it
    /// passes; afterwards `elapsed == max(elapsed, now)`.
    pub(super) fn advance(&mut self, now: u64, fired: &mut Vec<Waker>) -> usize {
        let mut count = 0;
        let pending = self.pending.take();
        let mut at = pending.head();
        while at != entry::NIL {
            let next = self.slab[at].next();
            count += self.fire(at, fired);
            at = next;
        }
        while let Some(exp) = self.next_expiration() {
            if exp.start > now {
                break;
            }
            self.elapsed = self.elapsed.max(exp.start);
            let list = self.levels[exp.level].take(exp.slot);
            let mut at = list.head();
            while at != entry::NIL {
                let next = self.slab[at].next();
                if self.slab[at].when <= self.elapsed {
                    count += self.fire(at, fired);
                } else {
                    self.link(at);
                }
                at = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
        count
    }

    /// Removes entry `index` (already off its list) and collects its waker.
    fn fire(&mut self, index: usize, fired: &mut Vec<Waker>) -> usize {
        if let Some(waker) = self.slab.remove(index).waker {
            fired.push(waker);
        }
        1
    }

    /// The slot with the smallest start over all levels.
    fn next_expiration(&self) -> Option<Expiration> {
        self.levels
            .iter()
            .filter_map(|level| level.next_expiration(self.elapsed))
            .min_by_key(|exp| exp.start)
    }

    /// Index of the entry `key` names, if it is still live.
    fn lookup(&self, key: TimerKey) -> Option<usize> {
        let entry = self.slab.get(key.index)?;
        (entry.generation == key.generation).then_some(key.index)
    }

    /// Links entry `index` (on no list) where its `when` belongs relative to `elapsed`.
    fn link(&mut self, index: usize) {
        let when = self.slab[index].when;
        if when <= self.elapsed {
            self.pending
                .push_back(&mut self.slab, index, ListId::Pending);
            return;
        }
        let level = level_for(self.elapsed, when);
        let pos = if level == TOP {
            clamp_to_horizon(self.elapsed, when)
        } else {
            when
        };
        self.levels[level].push(&mut self.slab, index, pos, when);
    }

    /// Unlinks entry `index` from whichever list holds it.
    fn unlink(&mut self, index: usize) {
        match self.slab[index].list {
            ListId::Pending => self.pending.unlink(&mut self.slab, index),
            ListId::Slot { level, slot } => {
                self.levels[usize::from(level)].unlink(&mut self.slab, usize::from(slot), index)
            }
        }
    }
}

/// The level of a timer due at `when > elapsed`: the highest 6-bit group in which they differ,
/// capped at the top level.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = (elapsed ^ when) | SLOT_MASK;
    let significant = 63 - masked.leading_zeros();
    ((significant / SLOT_BITS) as usize).min(TOP)
}

/// Position tick on the top level for a timer due at `when`: `when` itself when its top-level
/// slot is at most 63 slots after that of `elapsed`, otherwise the start of the slot 63 ahead.
fn clamp_to_horizon(elapsed: u64, when: u64) -> u64 {
    let shift = SLOT_BITS * TOP as u32;
    let last = (elapsed >> shift) + SLOT_MASK;
    if when >> shift > last {
        last << shift
    } else {
        when
    }
}
