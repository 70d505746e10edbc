//! loom: the task state word under concurrent wake, abort, completion and JoinHandle drop.

use crate::loom::model;
use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Arc;
use crate::task::state::{State, TransitionToIdle, TransitionToNotified, TransitionToRunning};

/// A wake racing with a poll that returns Pending: the task is queued exactly once more
/// (either the waker submits it, or the runner requeues it), never zero or twice.
#[test]
fn loom_wake_vs_poll_schedules_exactly_once() {
    model(|| {
        let state = Arc::new(State::new(true));
        assert_eq!(state.transition_to_running(), TransitionToRunning::Success);
        let submits = Arc::new(AtomicUsize::new(0));
        let (s2, sub2) = (state.clone(), submits.clone());
        let waker = crate::loom::thread::spawn(move || {
            if s2.transition_to_notified_by_ref() == TransitionToNotified::Submit {
                sub2.fetch_add(1, SeqCst);
            }
        });
        let requeued = state.transition_to_idle() == TransitionToIdle::OkNotified;
        waker.join().unwrap();
        let total = submits.load(SeqCst) + usize::from(requeued);
        assert_eq!(total, 1, "the wake must lead to exactly one queue entry");
    });
}

/// Abort racing with completion: either the abort sees COMPLETE and does nothing, or the
/// runner sees CANCELLED; the task never both completes with output and stays cancellable.
#[test]
fn loom_abort_vs_complete() {
    model(|| {
        let state = Arc::new(State::new(true));
        assert_eq!(state.transition_to_running(), TransitionToRunning::Success);
        let s2 = state.clone();
        let aborter = crate::loom::thread::spawn(move || s2.transition_to_notified_and_cancel());
        let prev = state.transition_to_complete();
        let abort = aborter.join().unwrap();
        // A running task is never submitted by abort: the runner is responsible for it.
        assert_eq!(abort, TransitionToNotified::DoNothing);
        assert!(state.load().is_complete());
        let _ = prev;
        // A later poll of any stale entry sees the task complete.
        assert_eq!(state.transition_to_running(), TransitionToRunning::Failed);
    });
}

/// JoinHandle drop racing with completion: exactly one side drops the output.
#[test]
fn loom_join_drop_vs_complete_drops_output_once() {
    model(|| {
        let state = Arc::new(State::new(true));
        assert_eq!(state.transition_to_running(), TransitionToRunning::Success);
        let drops = Arc::new(AtomicUsize::new(0));
        let (s2, d2) = (state.clone(), drops.clone());
        let join = crate::loom::thread::spawn(move || {
            if s2.unset_join_interested().is_err() {
                d2.fetch_add(1, SeqCst);
            }
        });
        let prev = state.transition_to_complete();
        if !prev.is_join_interested() {
            drops.fetch_add(1, SeqCst);
        }
        join.join().unwrap();
        assert_eq!(drops.load(SeqCst), 1);
    });
}
