//! The typed operations behind a task's vtable: poll, complete, cancel, read the output, dealloc.
//!
//! Panics from the future (in `poll` or in its `Drop`) are caught and become the task's
//! `JoinError`; they never unwind into the worker.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use super::error::JoinError;
use super::raw::{Cell, Header, PollOutcome, RawTask, Stage, Vtable};
use super::state::{TransitionToIdle, TransitionToRunning};
use super::waker;

pub(super) fn vtable<F: Future + 'static>() -> &'static Vtable {
    &Vtable {
        poll: poll::<F>,
        shutdown: shutdown::<F>,
        try_read_output: try_read_output::<F>,
        drop_join_handle_slow: drop_join_handle_slow::<F>,
        dealloc: dealloc::<F>,
    }
}

/// # Safety
/// `ptr` points to a live `Cell<F>`.
unsafe fn cell<'a, F: Future>(ptr: NonNull<Header>) -> &'a Cell<F> {
    // SAFETY: the header is the first field of a #[repr(C)] Cell<F>; caller guarantees liveness.
    unsafe { ptr.cast::<Cell<F>>().as_ref() }
}

unsafe fn poll<F: Future>(ptr: NonNull<Header>) -> PollOutcome {
    // SAFETY: the caller holds a queue-entry reference.
    let cell = unsafe { cell::<F>(ptr) };
    let raw = RawTask::from_header(ptr);
    match cell.header.state.transition_to_running() {
        TransitionToRunning::Failed => {
            raw.drop_ref();
            return PollOutcome::Stale;
        }
        TransitionToRunning::Cancelled => {
            // SAFETY: RUNNING is ours.
            unsafe { cancel_and_complete(cell) };
            raw.drop_ref();
            return PollOutcome::Completed;
        }
        TransitionToRunning::Success => {}
    }
    // The waker borrows the queue entry's reference for the duration of the poll.
    // SAFETY: ptr stays alive for the whole poll (we hold a reference).
    let waker = ManuallyDrop::new(unsafe { waker::waker_from_ref(ptr) });
    let mut cx = Context::from_waker(&waker);
    let res = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: RUNNING is set, so the stage is ours; the future never moves (boxed cell).
        let stage = unsafe { &mut *cell.stage.get() };
        match stage {
            Stage::Running(fut) => {
                // SAFETY: the cell is heap-allocated and never moved until dealloc.
                unsafe { Pin::new_unchecked(fut) }.poll(&mut cx)
            }
            _ => unreachable!("a task is polled only while its future is present"),
        }
    }));
    match res {
        Ok(Poll::Ready(out)) => {
            // SAFETY: RUNNING is ours.
            unsafe { complete(cell, Ok(out)) };
            raw.drop_ref();
            PollOutcome::Completed
        }
        Ok(Poll::Pending) => match cell.header.state.transition_to_idle() {
            TransitionToIdle::Ok => {
                raw.drop_ref();
                PollOutcome::Idle
            }
            TransitionToIdle::OkNotified => PollOutcome::Requeue,
            TransitionToIdle::Cancelled => {
                // SAFETY: RUNNING is still ours.
                unsafe { cancel_and_complete(cell) };
                raw.drop_ref();
                PollOutcome::Completed
            }
        },
        Err(payload) => {
            // SAFETY: RUNNING is ours.
            unsafe {
                drop_future(cell);
                complete(cell, Err(JoinError::panic(payload)));
            }
            raw.drop_ref();
            PollOutcome::Completed
        }
    }
}

/// Drops the future (if present), catching a panic from its `Drop`.
///
/// # Safety
/// The caller holds RUNNING.
unsafe fn drop_future<F: Future>(cell: &Cell<F>) -> Option<JoinError> {
    let res = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: caller holds RUNNING, the stage is ours.
        unsafe { *cell.stage.get() = Stage::Consumed };
    }));
    res.err().map(JoinError::panic)
}

/// # Safety
/// The caller holds RUNNING.
unsafe fn cancel_and_complete<F: Future>(cell: &Cell<F>) {
    // SAFETY: forwarded.
    let err = unsafe { drop_future(cell) }.unwrap_or_else(JoinError::cancelled);
    // SAFETY: forwarded.
    unsafe { complete(cell, Err(err)) };
}

/// Stores the output, publishes COMPLETE and tells the `JoinHandle`.
///
/// # Safety
/// The caller holds RUNNING.
unsafe fn complete<F: Future>(cell: &Cell<F>, out: Result<F::Output, JoinError>) {
    // SAFETY: RUNNING is ours; drop the future first so its Drop panicking is caught.
    let dropped = unsafe { drop_future(cell) };
    let out = match (out, dropped) {
        (Ok(_), Some(panic)) => Err(panic),
        (out, _) => out,
    };
    // SAFETY: RUNNING is ours.
    unsafe { *cell.stage.get() = Stage::Finished(out) };
    let prev = cell.header.state.transition_to_complete();
    if !prev.is_join_interested() {
        // Nobody will read the output: drop it here, where the stage is still ours (the
        // JoinHandle left before COMPLETE was set, so it will not touch the stage).
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: see above.
            unsafe { *cell.stage.get() = Stage::Consumed };
        }));
    } else if prev.is_join_waker_set() {
        // SAFETY: JOIN_WAKER set means the slot is the task side's to read.
        if let Some(w) = unsafe { &*cell.join_waker.get() } {
            w.wake_by_ref();
        }
    }
}

unsafe fn shutdown<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let cell = unsafe { cell::<F>(ptr) };
    if cell.header.state.transition_to_shutdown() {
        // SAFETY: transition_to_shutdown gave us RUNNING.
        unsafe { cancel_and_complete(cell) };
    }
}

unsafe fn try_read_output<F: Future>(ptr: NonNull<Header>, dst: *mut (), waker: &Waker) {
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F>(ptr) };
    let state = &cell.header.state;
    let snap = state.load();
    if !snap.is_complete() {
        let install = if snap.is_join_waker_set() {
            // SAFETY: reading the slot while JOIN_WAKER is set is allowed to both sides (only
            // the JoinHandle writes it, and it writes only while JOIN_WAKER is clear).
            let same = unsafe { &*cell.join_waker.get() }
                .as_ref()
                .is_some_and(|w| w.will_wake(waker));
            if same {
                return;
            }
            state.unset_join_waker().is_ok()
        } else {
            true
        };
        if install {
            // SAFETY: JOIN_WAKER is clear: the slot is ours.
            unsafe { *cell.join_waker.get() = Some(waker.clone()) };
            if state.set_join_waker().is_ok() {
                return;
            }
        }
    }
    // Complete: the stage is ours to read.
    // SAFETY: COMPLETE observed with Acquire while holding JOIN_INTEREST.
    let stage = unsafe { std::mem::replace(&mut *cell.stage.get(), Stage::Consumed) };
    let dst = dst.cast::<Poll<Result<F::Output, JoinError>>>();
    match stage {
        // SAFETY: the JoinHandle passes a valid `*mut Poll<Result<T, JoinError>>`.
        Stage::Finished(out) => unsafe { *dst = Poll::Ready(out) },
        _ => panic!("JoinHandle polled after it returned Ready"),
    }
}

unsafe fn drop_join_handle_slow<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the JoinHandle holds a reference.
    let cell = unsafe { cell::<F>(ptr) };
    if cell.header.state.unset_join_interested().is_err() {
        // Complete before we left: the output is ours to drop.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: COMPLETE observed while holding JOIN_INTEREST.
            unsafe { *cell.stage.get() = Stage::Consumed };
        }));
    }
    RawTask::from_header(ptr).drop_ref();
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: last reference; the cell was created by Box::new in RawTask::new.
    let boxed = unsafe { Box::from_raw(ptr.cast::<Cell<F>>().as_ptr()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}
