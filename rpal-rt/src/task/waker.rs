//! The `RawWakerVTable` of tasks: a waker is one task reference; no allocation on any path.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{Header, Notified, Owner, RawTask};
use super::state::TransitionToNotified;

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker that uses the reference the caller already holds (the caller keeps it alive and must
/// not drop the returned waker: wrap it in `ManuallyDrop`).
///
/// # Safety
/// `ptr` is a live task for as long as the waker (or a borrow of it) is used.
pub(super) unsafe fn waker_from_ref(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable functions uphold the RawWaker contract for task pointers.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &VTABLE)) }
}

fn raw(data: *const ()) -> RawTask {
    // SAFETY: wakers are only made from non-null task pointers.
    RawTask::from_header(unsafe { NonNull::new_unchecked(data as *mut Header) })
}

unsafe fn clone(data: *const ()) -> RawWaker {
    raw(data).ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: forwarded; the waker's own reference is released afterwards.
    unsafe { wake_by_ref(data) };
    raw(data).drop_ref();
}

unsafe fn wake_by_ref(data: *const ()) {
    let task = raw(data);
    if task.header().state.transition_to_notified_by_ref() == TransitionToNotified::Submit {
        schedule(Notified(task));
    }
}

unsafe fn drop_waker(data: *const ()) {
    raw(data).drop_ref();
}

/// Sends a queue entry to the task's owner.
pub(super) fn schedule(task: Notified) {
    match task.owner() {
        Owner::Worker(_) => crate::executor::schedule(task),
        Owner::Blocking(p) => {
            let p = p.clone();
            p.schedule(task);
        }
    }
}
