//! The wheel's unit of time: conversion between [`Instant`]s and ticks.
//!
//! A tick is a fixed [`Duration`] (the wheel's resolution) counted from the `origin` instant taken
//! when the wheel was built. Two roundings keep the "never early" rule:
//! * a **deadline** becomes the first tick at or after it ([`Clock::deadline_to_tick`], rounds up);
//! * **now** becomes the last tick at or before it ([`Clock::now_to_tick`], rounds down).
//!
//! A timer is due when `now_tick >= deadline_tick`, which implies `now >= deadline`. The price of
//! the rounding is at most one tick of lateness.

use std::time::{Duration, Instant};

/// Default resolution of a worker's timer wheel.
///
/// 10 µs: the kernel's default timer slack for ordinary threads is 50 µs, so the wheel's own
/// rounding (at most one tick) costs a fifth of the 100 µs lateness budget and is never the
/// dominant term. A finer tick buys nothing measurable, and a coarser one would eat the budget;
/// the tick does not change the cost of `process` (it jumps between occupied slots, it does not
/// step through ticks).
pub(crate) const DEFAULT_TICK: Duration = Duration::from_micros(10);

/// Largest tick value the wheel stores. Deadlines beyond it are clamped (they then fire at this
/// tick, which for the smallest 1 ns tick is still about 146 years after the wheel started).
/// Kept well below `u64::MAX` so slot arithmetic in the wheel never overflows.
pub(super) const MAX_TICK: u64 = 1 << 62;

/// Converts between instants and ticks for one wheel.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// Tick 0.
    origin: Instant,
    /// Length of one tick in nanoseconds; at least 1.
    tick_ns: u64,
}

impl Clock {
    /// A clock starting now with ticks of `tick` (a zero tick is raised to 1 ns).
    pub(super) fn new(tick: Duration) -> Clock {
        Clock::with_origin(Instant::now(), tick)
    }

    /// A clock whose tick 0 is `origin`.
    pub(super) fn with_origin(origin: Instant, tick: Duration) -> Clock {
        let tick_ns = u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX).max(1);
        Clock { origin, tick_ns }
    }

    /// The instant of tick 0.
    pub(super) fn origin(&self) -> Instant {
        self.origin
    }

    /// The length of one tick.
    pub(super) fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_ns)
    }

    /// Largest tick representable as an instant without overflowing nanoseconds.
    fn max_tick(&self) -> u64 {
        MAX_TICK.min(u64::MAX / self.tick_ns)
    }

    /// First tick at or after `deadline` (rounds up; instants before the origin map to tick 0).
    pub(super) fn deadline_to_tick(&self, deadline: Instant) -> u64 {
        let ns = deadline.saturating_duration_since(self.origin).as_nanos();
        let ticks = ns.div_ceil(u128::from(self.tick_ns));
        u64::try_from(ticks)
            .unwrap_or(u64::MAX)
            .min(self.max_tick())
    }

    /// Last tick at or before `now` (rounds down).
    pub(super) fn now_to_tick(&self, now: Instant) -> u64 {
        let ns = now.saturating_duration_since(self.origin).as_nanos();
        let ticks = ns / u128::from(self.tick_ns);
        u64::try_from(ticks)
            .unwrap_or(u64::MAX)
            .min(self.max_tick())
    }

    /// Time from `now` until the instant of tick `tick` (zero when that instant has passed).
    pub(super) fn until_tick(&self, tick: u64, now: Instant) -> Duration {
        let at = Duration::from_nanos(tick.min(self.max_tick()) * self.tick_ns);
        at.saturating_sub(now.saturating_duration_since(self.origin))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_now_rounds_down() {
        let origin = Instant::now();
        let clock = Clock::with_origin(origin, Duration::from_micros(10));
        assert_eq!(clock.deadline_to_tick(origin), 0);
        assert_eq!(clock.deadline_to_tick(origin + Duration::from_nanos(1)), 1);
        assert_eq!(
            clock.deadline_to_tick(origin + Duration::from_micros(10)),
            1
        );
        assert_eq!(
            clock.deadline_to_tick(origin + Duration::from_nanos(10_001)),
            2
        );
        assert_eq!(clock.now_to_tick(origin + Duration::from_nanos(9_999)), 0);
        assert_eq!(clock.now_to_tick(origin + Duration::from_micros(10)), 1);
        // Before the origin.
        let early = origin.checked_sub(Duration::from_secs(1));
        if let Some(early) = early {
            assert_eq!(clock.deadline_to_tick(early), 0);
            assert_eq!(clock.now_to_tick(early), 0);
        }
    }

    #[test]
    fn due_tick_never_precedes_deadline() {
        let origin = Instant::now();
        let clock = Clock::with_origin(origin, Duration::from_micros(7));
        for ns in [0u64, 1, 6_999, 7_000, 7_001, 123_456_789] {
            let deadline = origin + Duration::from_nanos(ns);
            let tick = clock.deadline_to_tick(deadline);
            let wake = origin + clock.until_tick(tick, origin);
            assert!(wake >= deadline);
            assert!(wake - deadline < clock.tick());
            assert_eq!(clock.now_to_tick(wake), tick);
        }
    }

    #[test]
    fn zero_tick_is_one_nanosecond_and_far_deadlines_clamp() {
        let origin = Instant::now();
        let clock = Clock::with_origin(origin, Duration::ZERO);
        assert_eq!(clock.tick(), Duration::from_nanos(1));
        let far = origin + Duration::from_secs(200 * 365 * 24 * 3600);
        assert_eq!(clock.deadline_to_tick(far), MAX_TICK);
        assert_eq!(
            clock.until_tick(u64::MAX, origin),
            Duration::from_nanos(MAX_TICK)
        );
    }
}
