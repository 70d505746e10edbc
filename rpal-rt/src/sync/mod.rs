//! Synchronisation helpers. [`AdaptiveSpin`] is the spin-before-park policy of the workers.
mod spin;

pub use spin::{AdaptiveSpin, SPIN_CHECK_EVERY, SPIN_MAX, SPIN_MIN, SPIN_START};
