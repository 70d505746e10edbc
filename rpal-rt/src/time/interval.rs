//! [`Interval`], [`interval`], [`interval_at`] and [`MissedTickBehavior`].
//!
//! An `Interval` is a [`Sleep`] re-armed after each tick. A tick is *missed* when, by the time it
//! is observed, the next scheduled tick is already due; [`MissedTickBehavior`] then decides when
//! the following tick is scheduled. The instant returned for a tick is always its scheduled
//! instant, not the time it was observed.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::sleep::{sleep_until, Sleep};

/// What an [`Interval`] does when ticks were missed (the task was busy past the next tick).
///
/// Below, `P` is the period, `S` the scheduled instant of the late tick and `now` the instant it
/// was observed, with `now >= S + P`. A tick observed before the next one is due never changes
/// the schedule.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpal_rt::time::{interval, MissedTickBehavior};
///
/// let mut ticks = interval(Duration::from_millis(10));
/// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
/// ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Keep the original schedule `S + kP` and deliver the missed ticks back to back until caught
    /// up (the default).
    #[default]
    Burst,
    /// Restart the schedule from the late tick: the next tick is `now + P`, then every `P`.
    Delay,
    /// Drop the missed ticks: the next tick is the first `S + kP` (k > 0) after `now`.
    Skip,
}

impl MissedTickBehavior {
    /// The tick after one scheduled at `scheduled` and observed at `now`.
    fn next_tick(self, scheduled: Instant, now: Instant, period: Duration) -> Instant {
        let on_schedule = scheduled + period;
        if now < on_schedule {
            return on_schedule;
        }
        match self {
            MissedTickBehavior::Burst => on_schedule,
            MissedTickBehavior::Delay => now + period,
            MissedTickBehavior::Skip => {
                let period_ns = period.as_nanos();
                let behind_ns = (now - scheduled).as_nanos() % period_ns;
                // `behind_ns < period_ns`, which came from a Duration, so it fits.
                now + (period - Duration::from_nanos(behind_ns as u64))
            }
        }
    }
}

/// Ticks every `period`; the first tick completes immediately.
///
/// # Panics
/// Panics if `period` is zero. Ticking on a thread that runs no rpal runtime panics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let mut ticks = rpal_rt::time::interval(Duration::from_micros(100));
///     let first = ticks.tick().await; // immediate
///     let second = ticks.tick().await;
///     assert_eq!(second - first, Duration::from_micros(100));
/// });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start`.
///
/// # Panics
/// Panics if `period` is zero. Ticking on a thread that runs no rpal runtime panics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpal_rt::time::{interval_at, Instant};
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let start = Instant::now() + Duration::from_micros(200);
///     let mut ticks = interval_at(start, Duration::from_micros(100));
///     assert_eq!(ticks.tick().await, start);
/// });
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "rpal_rt::time::interval: the period must be non-zero"
    );
    Interval {
        delay: sleep_until(start),
        period,
        missed: MissedTickBehavior::default(),
    }
}

/// A stream of ticks every period. Created by [`interval`] and [`interval_at`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let mut ticks = rpal_rt::time::interval(Duration::from_micros(50));
///     for _ in 0..3 {
///         ticks.tick().await;
///     }
/// });
/// ```
#[derive(Debug)]
pub struct Interval {
    /// Armed at the next tick's scheduled instant.
    delay: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Completes at the next tick and returns its scheduled instant.
    ///
    /// Cancel-safe: dropping the future before it completes loses no tick.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
    ///     let mut ticks = rpal_rt::time::interval(Duration::from_micros(100));
    ///     let a = ticks.tick().await;
    ///     let b = ticks.tick().await;
    ///     assert!(b > a);
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick: `Ready(scheduled instant)` once it is due, otherwise registers
    /// `cx`'s waker.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::time::Duration;
    ///
    /// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
    ///     let mut ticks = rpal_rt::time::interval(Duration::from_micros(100));
    ///     poll_fn(|cx| ticks.poll_tick(cx)).await;
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        if Pin::new(&mut self.delay).poll(cx).is_pending() {
            return Poll::Pending;
        }
        let scheduled = self.delay.deadline();
        let next = self
            .missed
            .next_tick(scheduled, Instant::now(), self.period);
        Pin::new(&mut self.delay).reset(next);
        Poll::Ready(scheduled)
    }

    /// Restarts the schedule: the next tick is one period from now.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpal_rt::time::Instant;
    ///
    /// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
    ///     let mut ticks = rpal_rt::time::interval(Duration::from_micros(100));
    ///     let before = Instant::now();
    ///     ticks.reset();
    ///     let tick = ticks.tick().await;
    ///     assert!(tick >= before + Duration::from_micros(100));
    /// });
    /// ```
    pub fn reset(&mut self) {
        Pin::new(&mut self.delay).reset(Instant::now() + self.period);
    }

    /// The period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let ticks = rpal_rt::time::interval(Duration::from_millis(3));
    /// assert_eq!(ticks.period(), Duration::from_millis(3));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The behaviour when ticks are missed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpal_rt::time::MissedTickBehavior;
    ///
    /// let ticks = rpal_rt::time::interval(Duration::from_millis(3));
    /// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Burst);
    /// ```
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// Sets the behaviour when ticks are missed.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpal_rt::time::MissedTickBehavior;
    ///
    /// let mut ticks = rpal_rt::time::interval(Duration::from_millis(3));
    /// ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    /// assert_eq!(ticks.missed_tick_behavior(), MissedTickBehavior::Delay);
    /// ```
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const P: Duration = Duration::from_millis(10);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn on_time_ticks_keep_the_schedule() {
        let s = Instant::now();
        for b in [
            MissedTickBehavior::Burst,
            MissedTickBehavior::Delay,
            MissedTickBehavior::Skip,
        ] {
            assert_eq!(b.next_tick(s, s, P), s + P);
            assert_eq!(b.next_tick(s, s + ms(9), P), s + P);
        }
    }

    #[test]
    fn missed_ticks() {
        let s = Instant::now();
        let now = s + ms(35);
        assert_eq!(MissedTickBehavior::Burst.next_tick(s, now, P), s + ms(10));
        assert_eq!(MissedTickBehavior::Delay.next_tick(s, now, P), now + P);
        assert_eq!(MissedTickBehavior::Skip.next_tick(s, now, P), s + ms(40));
        // Exactly on a later tick: Skip goes to the one after.
        assert_eq!(
            MissedTickBehavior::Skip.next_tick(s, s + ms(20), P),
            s + ms(30)
        );
    }

    #[test]
    #[should_panic(expected = "period must be non-zero")]
    fn zero_period_panics() {
        let _ = interval(Duration::ZERO);
    }
}
