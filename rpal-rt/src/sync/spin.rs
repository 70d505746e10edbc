//! [`AdaptiveSpin`]: how long an idle worker keeps polling user-space sources before it parks.
//!
//! Parking costs a kernel sleep and, for the peer, a doorbell syscall (10,000+ cycles on the
//! machines we measure); a reply from a busy peer often arrives within a few microseconds. So an
//! idle worker whose sources have waiters spins for a budget first. The budget adapts:
//! * a spin that found work doubles the budget (up to [`SPIN_MAX`]): spinning pays here;
//! * a spin that timed out halves it (down to [`SPIN_MIN`]): the peer is slow, stop burning CPU.

use std::time::Duration;

/// The smallest spin budget: below this a spin is not worth the `Instant::now` calls.
pub const SPIN_MIN: Duration = Duration::from_micros(1);
/// The largest spin budget: bounds the CPU an idle worker burns per park.
pub const SPIN_MAX: Duration = Duration::from_micros(50);
/// The budget a fresh policy starts with.
pub const SPIN_START: Duration = Duration::from_micros(20);
/// How many polls happen between two clock reads while spinning.
pub const SPIN_CHECK_EVERY: u32 = 16;

/// An adaptive spin budget (one per worker).
///
/// # Examples
/// ```
/// use rpal_rt::sync::AdaptiveSpin;
/// let mut spin = AdaptiveSpin::new();
/// let before = spin.budget();
/// spin.record(false); // the spin timed out
/// assert!(spin.budget() < before);
/// spin.record(true); // the spin found work
/// assert_eq!(spin.budget(), before);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveSpin {
    budget: Duration,
}

impl Default for AdaptiveSpin {
    fn default() -> Self {
        AdaptiveSpin::new()
    }
}

impl AdaptiveSpin {
    /// A policy at [`SPIN_START`].
    pub fn new() -> AdaptiveSpin {
        AdaptiveSpin { budget: SPIN_START }
    }

    /// How long the next spin may last.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// Records how a spin ended: `found` work, or timed out.
    pub fn record(&mut self, found: bool) {
        self.budget = if found {
            (self.budget * 2).min(SPIN_MAX)
        } else {
            (self.budget / 2).max(SPIN_MIN)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_stays_within_bounds() {
        let mut s = AdaptiveSpin::new();
        for _ in 0..20 {
            s.record(true);
        }
        assert_eq!(s.budget(), SPIN_MAX);
        for _ in 0..40 {
            s.record(false);
        }
        assert_eq!(s.budget(), SPIN_MIN);
    }
}
