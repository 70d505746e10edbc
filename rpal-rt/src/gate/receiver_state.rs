//! The per-thread receiver word of the cross-thread gate: one atomic `u32` meant to live in
//! shared memory, padded to 128 bytes so neighbours never share its cache lines.
//!
//! States (after RPAL's receiver states, reduced to the three a user-space gate needs):
//!
//! * `RUNNING`: the receiver thread runs its own code; nobody may switch into it.
//! * `WAIT`: the receiver is parked waiting for work; its saved context may be borrowed.
//! * `CALL`: a caller has claimed the receiver and runs the receiver's handler.
//!
//! Rule: a caller may switch into a receiver **only** after winning `WAIT -> CALL` (a
//! compare-exchange), exactly as RPAL lets a sender call only a receiver in WAIT. The caller hands
//! it back with `CALL -> WAIT` when the call returns; the receiver itself moves `WAIT <-> RUNNING`
//! and can never leave `WAIT` while a call holds it, because its own `WAIT -> RUNNING` is a
//! compare-exchange that fails in `CALL`. Acquire on winning, Release on handing back, so the
//! receiver's memory written by the call is visible to whoever next wins the word.

use crate::loom::sync::atomic::{AtomicU32, Ordering};

/// The receiver's own code runs.
pub const RUNNING: u32 = 0;
/// Parked: a caller may claim it.
pub const WAIT: u32 = 1;
/// Claimed by a caller for one call.
pub const CALL: u32 = 2;

/// One receiver's state word; `#[repr(C)]` so both sides of a shared mapping agree on it.
///
/// # Examples
/// ```
/// use rpal_rt::gate::receiver_state::{ReceiverState, CALL};
///
/// let s = ReceiverState::new();
/// assert!(!s.try_claim(), "a running receiver cannot be called");
/// assert!(s.park());
/// assert!(s.try_claim());
/// assert_eq!(s.load(), CALL);
/// assert!(!s.unpark(), "the receiver stays put while a call holds it");
/// assert!(s.release());
/// assert!(s.unpark());
/// ```
#[repr(C, align(128))]
#[derive(Debug)]
pub struct ReceiverState {
    /// One of [`RUNNING`], [`WAIT`], [`CALL`].
    word: AtomicU32,
}

impl Default for ReceiverState {
    fn default() -> Self {
        ReceiverState::new()
    }
}

impl ReceiverState {
    /// A receiver that is running.
    pub fn new() -> ReceiverState {
        ReceiverState {
            word: AtomicU32::new(RUNNING),
        }
    }

    /// The state now (a snapshot; it may change at once).
    pub fn load(&self) -> u32 {
        self.word.load(Ordering::Acquire)
    }

    /// Receiver: `RUNNING -> WAIT` before it parks. Returns false if not RUNNING.
    pub fn park(&self) -> bool {
        self.transition(RUNNING, WAIT)
    }

    /// Receiver: `WAIT -> RUNNING` when it wakes on its own. Fails (false) while a caller holds
    /// it in CALL.
    pub fn unpark(&self) -> bool {
        self.transition(WAIT, RUNNING)
    }

    /// Caller: `WAIT -> CALL`. Only on success may it switch into the receiver.
    pub fn try_claim(&self) -> bool {
        self.transition(WAIT, CALL)
    }

    /// Caller: `CALL -> WAIT` when the call returned. False means the protocol was broken.
    pub fn release(&self) -> bool {
        self.transition(CALL, WAIT)
    }

    fn transition(&self, from: u32, to: u32) -> bool {
        self.word
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_only_from_wait() {
        crate::loom::model(|| {
            let s = ReceiverState::new();
            assert!(!s.try_claim(), "RUNNING cannot be claimed");
            assert!(s.park());
            assert!(s.try_claim());
            assert!(!s.unpark(), "receiver cannot leave WAIT while called");
            assert!(!s.try_claim(), "one caller at a time");
            assert!(s.release());
            assert!(s.unpark());
            assert_eq!(s.load(), RUNNING);
        });
        assert_eq!(std::mem::size_of::<ReceiverState>(), 128);
    }
}
