//! The task state: one atomic word holding the lifecycle bits and the reference count.
//!
//! Every transition is a named method returning what the caller must do next; the caller owns the
//! side effect (schedule, drop a reference, cancel), the state word only records who may act.

use crate::loom::sync::atomic::{AtomicUsize, Ordering::AcqRel, Ordering::Acquire};

/// The future is being polled by its owner worker. Only the owner sets or clears it.
const RUNNING: usize = 1 << 0;
/// The task is in a run queue, or will be put in one when the current poll ends.
const NOTIFIED: usize = 1 << 1;
/// The future is gone and the stage holds the output (or it was already taken/dropped).
const COMPLETE: usize = 1 << 2;
/// Abort was requested: the owner drops the future at its next chance.
const CANCELLED: usize = 1 << 3;
/// A `JoinHandle` exists and will read the output.
const JOIN_INTEREST: usize = 1 << 4;
/// The join waker slot holds a waker and belongs to the task side (which may wake it); while
/// clear, the slot belongs to the `JoinHandle`.
const JOIN_WAKER: usize = 1 << 5;

const REF_SHIFT: u32 = 6;
/// One reference. References are held by: the `JoinHandle`, each `Waker`, each queue entry
/// (`Notified`), and the owner's registry entry (`OwnedTask`).
const REF_ONE: usize = 1 << REF_SHIFT;
const REF_MASK: usize = !(REF_ONE - 1);

/// The state word of one task.
pub(crate) struct State {
    val: AtomicUsize,
}

/// A copy of the state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        (self.0 & REF_MASK) >> REF_SHIFT
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &(self.0 & RUNNING != 0))
            .field("notified", &(self.0 & NOTIFIED != 0))
            .field("complete", &self.is_complete())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// Result of [`State::transition_to_running`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToRunning {
    /// Poll the future.
    Success,
    /// Abort was requested: drop the future and complete as cancelled.
    Cancelled,
    /// Already complete: just drop the queue entry's reference.
    Failed,
}

/// Result of [`State::transition_to_idle`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToIdle {
    /// Parked; drop the queue entry's reference.
    Ok,
    /// Woken during the poll: put the queue entry back in a run queue (its reference moves along).
    OkNotified,
    /// Aborted during the poll: drop the future and complete as cancelled.
    Cancelled,
}

/// Result of the notify transitions.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TransitionToNotified {
    /// Nothing to do: already queued, complete, or running (the runner requeues it).
    DoNothing,
    /// A reference was added for a new queue entry: submit it to the owner.
    Submit,
}

impl State {
    /// A new task: queued once, with a `JoinHandle`, a queue entry and, when `registered`, a
    /// reference for the owner's registry.
    pub(crate) fn new(registered: bool) -> State {
        let refs = if registered { 3 } else { 2 };
        State {
            val: AtomicUsize::new(NOTIFIED | JOIN_INTEREST | (refs * REF_ONE)),
        }
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.val.load(Acquire))
    }

    fn update<R>(&self, mut f: impl FnMut(usize) -> (Option<usize>, R)) -> R {
        let mut cur = self.val.load(Acquire);
        loop {
            let (next, ret) = f(cur);
            let Some(next) = next else { return ret };
            match self.val.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return ret,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Owner, holding a queue entry: claim the poll.
    pub(crate) fn transition_to_running(&self) -> TransitionToRunning {
        self.update(|cur| {
            debug_assert!(cur & RUNNING == 0, "task polled twice at once");
            if cur & COMPLETE != 0 {
                return (None, TransitionToRunning::Failed);
            }
            let next = (cur & !NOTIFIED) | RUNNING;
            let ret = if cur & CANCELLED != 0 {
                TransitionToRunning::Cancelled
            } else {
                TransitionToRunning::Success
            };
            (Some(next), ret)
        })
    }

    /// Owner, after a poll returned `Pending`.
    pub(crate) fn transition_to_idle(&self) -> TransitionToIdle {
        self.update(|cur| {
            debug_assert!(cur & RUNNING != 0);
            if cur & CANCELLED != 0 {
                return (None, TransitionToIdle::Cancelled);
            }
            let next = cur & !RUNNING;
            if cur & NOTIFIED != 0 {
                (Some(next), TransitionToIdle::OkNotified)
            } else {
                (Some(next), TransitionToIdle::Ok)
            }
        })
    }

    /// Owner: the stage now holds the output. Clears RUNNING, sets COMPLETE; returns the state
    /// before, so the caller learns whether a `JoinHandle` waits and whether its waker is set.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = Snapshot(self.val.fetch_xor(RUNNING | COMPLETE, AcqRel));
        debug_assert!(prev.0 & RUNNING != 0 && prev.0 & COMPLETE == 0);
        prev
    }

    /// Owner, outside any poll (shutdown, or a rejected spawn): claim the task to cancel it.
    /// Returns false if it is already complete.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|cur| {
            if cur & COMPLETE != 0 {
                return (None, false);
            }
            debug_assert!(cur & RUNNING == 0);
            (Some(cur | RUNNING | CANCELLED), true)
        })
    }

    /// Any thread, holding a reference (waker): mark the task to run.
    pub(crate) fn transition_to_notified_by_ref(&self) -> TransitionToNotified {
        self.update(|cur| {
            if cur & (COMPLETE | NOTIFIED) != 0 {
                (None, TransitionToNotified::DoNothing)
            } else if cur & RUNNING != 0 {
                (Some(cur | NOTIFIED), TransitionToNotified::DoNothing)
            } else {
                (
                    Some((cur | NOTIFIED) + REF_ONE),
                    TransitionToNotified::Submit,
                )
            }
        })
    }

    /// Any thread: request abort; schedule the task if it is idle so the owner drops it.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> TransitionToNotified {
        self.update(|cur| {
            if cur & (COMPLETE | CANCELLED) != 0 {
                (None, TransitionToNotified::DoNothing)
            } else if cur & (RUNNING | NOTIFIED) != 0 {
                (
                    Some(cur | CANCELLED | NOTIFIED),
                    TransitionToNotified::DoNothing,
                )
            } else {
                let next = (cur | CANCELLED | NOTIFIED) + REF_ONE;
                (Some(next), TransitionToNotified::Submit)
            }
        })
    }

    /// `JoinHandle` drop. `Err` if the task already completed: the caller must drop the output.
    pub(crate) fn unset_join_interested(&self) -> Result<(), Snapshot> {
        self.update(|cur| {
            if cur & COMPLETE != 0 {
                (None, Err(Snapshot(cur)))
            } else {
                (Some(cur & !(JOIN_INTEREST | JOIN_WAKER)), Ok(()))
            }
        })
    }

    /// `JoinHandle`, after writing the waker slot: hand the slot to the task side.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0 && cur & JOIN_WAKER == 0);
            if cur & COMPLETE != 0 {
                (None, Err(Snapshot(cur)))
            } else {
                (Some(cur | JOIN_WAKER), Ok(()))
            }
        })
    }

    /// `JoinHandle`: take the waker slot back to replace the waker.
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0 && cur & JOIN_WAKER != 0);
            if cur & COMPLETE != 0 {
                (None, Err(Snapshot(cur)))
            } else {
                (Some(cur & !JOIN_WAKER), Ok(()))
            }
        })
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self
            .val
            .fetch_add(REF_ONE, std::sync::atomic::Ordering::Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Drops one reference; true if it was the last (the caller deallocates).
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = Snapshot(self.val.fetch_sub(REF_ONE, AcqRel));
        debug_assert!(prev.ref_count() >= 1);
        prev.ref_count() == 1
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wake_while_running_requeues() {
        let s = State::new(true);
        assert_eq!(s.transition_to_running(), TransitionToRunning::Success);
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(s.transition_to_idle(), TransitionToIdle::OkNotified);
        assert_eq!(s.load().ref_count(), 3);
    }

    #[test]
    fn wake_when_idle_adds_a_ref() {
        let s = State::new(true);
        let _ = s.transition_to_running();
        assert_eq!(s.transition_to_idle(), TransitionToIdle::Ok);
        assert!(!s.ref_dec());
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::Submit
        );
        assert_eq!(
            s.transition_to_notified_by_ref(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(s.load().ref_count(), 3);
    }

    #[test]
    fn abort_while_running_is_seen_at_idle() {
        let s = State::new(true);
        let _ = s.transition_to_running();
        assert_eq!(
            s.transition_to_notified_and_cancel(),
            TransitionToNotified::DoNothing
        );
        assert_eq!(s.transition_to_idle(), TransitionToIdle::Cancelled);
        let prev = s.transition_to_complete();
        assert!(prev.is_join_interested());
        assert_eq!(s.transition_to_running(), TransitionToRunning::Failed);
    }

    #[test]
    fn join_drop_after_complete_must_drop_output() {
        let s = State::new(true);
        let _ = s.transition_to_running();
        let _ = s.transition_to_complete();
        assert!(s.unset_join_interested().is_err());
        assert!(s.set_join_waker().is_err());
    }
}
