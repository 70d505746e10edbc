//! Task memory: header first (state, vtable, owner), then the stage and the join waker slot,
//! in one allocation per task. [`RawTask`] is the untyped pointer every reference type wraps.

use std::cell::UnsafeCell;
use std::future::Future;
use std::ptr::NonNull;
use std::task::Waker;

use super::error::JoinError;
use super::harness;
use super::state::State;
use crate::blocking::PoolShared;
use crate::executor::WorkerShared;
use std::sync::Arc;

/// Marks a task not (yet) in its owner's registry.
pub(super) const UNREGISTERED: usize = usize::MAX;

/// Who runs a task and where its wakes go.
pub(crate) enum Owner {
    /// A worker: the task is polled only on that worker's thread.
    Worker(Arc<WorkerShared>),
    /// The blocking pool.
    Blocking(Arc<PoolShared>),
}

/// The type-erased part of a task, first in its allocation.
#[repr(C)]
pub(crate) struct Header {
    pub(super) state: State,
    pub(super) vtable: &'static Vtable,
    pub(super) owner: Owner,
    /// Key in the owner worker's registry.
    ///
    /// # Invariant
    /// Written once by the spawner before the task is published, then only on the owner's
    /// thread (register/unregister). Never read by other threads.
    pub(super) registry_key: UnsafeCell<usize>,
}

/// Per-future-type functions.
pub(super) struct Vtable {
    pub(super) poll: unsafe fn(NonNull<Header>) -> PollOutcome,
    pub(super) shutdown: unsafe fn(NonNull<Header>),
    pub(super) try_read_output: unsafe fn(NonNull<Header>, *mut (), &Waker),
    pub(super) drop_join_handle_slow: unsafe fn(NonNull<Header>),
    pub(super) dealloc: unsafe fn(NonNull<Header>),
}

/// What a poll did with the queue entry's reference.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PollOutcome {
    /// The task is waiting; the queue entry's reference was released.
    Idle,
    /// The task was woken while it ran: queue it again (the reference moves to the new entry).
    Requeue,
    /// The task completed (or was cancelled) in this poll; the reference was released.
    Completed,
    /// The task had already completed; the reference was released.
    Stale,
}

/// What the future's slot holds.
pub(super) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The whole task allocation.
#[repr(C)]
pub(super) struct Cell<F: Future> {
    pub(super) header: Header,
    /// # Invariant
    /// Accessed by the owner while RUNNING is set; by the `JoinHandle` after it saw COMPLETE
    /// while holding JOIN_INTEREST; by the last reference at dealloc.
    pub(super) stage: UnsafeCell<Stage<F>>,
    /// # Invariant
    /// Written by the `JoinHandle` while JOIN_WAKER is clear; read by the task side while it is
    /// set and the task is completing.
    pub(super) join_waker: UnsafeCell<Option<Waker>>,
}

/// An untyped pointer to a task. Holds no reference by itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
}

// SAFETY: a RawTask is a pointer; the reference types that wrap it decide Send/Sync, and the
// state protocol serialises access to the cell across threads.
unsafe impl Send for RawTask {}
// SAFETY: as above.
unsafe impl Sync for RawTask {}

impl RawTask {
    /// Allocates a task. It starts with `refs` references (see `State::new`).
    pub(super) fn new<F: Future + 'static>(future: F, owner: Owner, registered: bool) -> RawTask {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(registered),
                vtable: harness::vtable::<F>(),
                owner,
                registry_key: UnsafeCell::new(UNREGISTERED),
            },
            stage: UnsafeCell::new(Stage::Running(future)),
            join_waker: UnsafeCell::new(None),
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        RawTask { ptr }
    }

    pub(super) fn from_header(ptr: NonNull<Header>) -> RawTask {
        RawTask { ptr }
    }

    pub(super) fn header_ptr(self) -> NonNull<Header> {
        self.ptr
    }

    pub(crate) fn header(&self) -> &Header {
        // SAFETY: the caller holds a reference (through a wrapper type), so the cell is alive.
        unsafe { self.ptr.as_ref() }
    }

    /// Polls the task. Consumes the caller's queue-entry reference unless the outcome is
    /// `Requeue`.
    ///
    /// # Safety
    /// Only on the owner's thread, with a queue-entry reference.
    pub(super) unsafe fn poll(self) -> PollOutcome {
        // SAFETY: forwarded caller contract.
        unsafe { (self.header().vtable.poll)(self.ptr) }
    }

    /// Cancels the task if not complete (drops the future). References are unchanged.
    ///
    /// # Safety
    /// Only on the owner's thread and not from inside this task's poll; or on any thread for a
    /// `Send` future that was never polled.
    pub(super) unsafe fn shutdown(self) {
        // SAFETY: forwarded caller contract.
        unsafe { (self.header().vtable.shutdown)(self.ptr) }
    }

    pub(super) fn ref_inc(self) {
        self.header().state.ref_inc();
    }

    /// Releases one reference, deallocating on the last.
    pub(super) fn drop_ref(self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference: nobody else can reach the cell.
            unsafe { (self.header().vtable.dealloc)(self.ptr) }
        }
    }
}

/// A task queued to run: owns one reference. Sent to the owner's queue.
pub(crate) struct Notified(pub(super) RawTask);

impl Notified {
    pub(crate) fn owner(&self) -> &Owner {
        &self.0.header().owner
    }

    /// Runs one poll on the owner's thread.
    ///
    /// # Safety
    /// The current thread is the task's owner (its worker thread, or a blocking-pool thread).
    pub(crate) unsafe fn run(self) -> (PollOutcome, Option<Notified>) {
        let raw = self.0;
        std::mem::forget(self);
        // SAFETY: forwarded caller contract; the reference of `self` moves into the poll.
        match unsafe { raw.poll() } {
            PollOutcome::Requeue => (PollOutcome::Requeue, Some(Notified(raw))),
            other => (other, None),
        }
    }

    /// On the owner's thread: take the task into the owner's registry if it is not there yet.
    /// Returns the registry reference the first time.
    pub(crate) fn claim_registry_ref(&self, key_of: impl FnOnce(OwnedTask) -> usize) {
        let key = self.0.header().registry_key.get();
        // SAFETY: registry_key is only touched on the owner thread (field invariant); the
        // caller is that thread.
        unsafe {
            if *key == UNREGISTERED {
                *key = key_of(OwnedTask(self.0));
            }
        }
    }

    /// The task's key in its owner's registry (`UNREGISTERED` until claimed).
    pub(crate) fn registry_key(&self) -> usize {
        // SAFETY: owner-thread-only field, and the caller is on the owner thread.
        unsafe { *self.0.header().registry_key.get() }
    }

    /// Cancels a task that could not be queued (its owner shut down) and drops the entry.
    ///
    /// # Safety
    /// The future is `Send` and was never polled, or the current thread is the owner.
    pub(crate) unsafe fn cancel_unqueued(self) {
        // SAFETY: forwarded caller contract.
        unsafe { self.0.shutdown() };
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        self.0.drop_ref();
    }
}

/// The owner registry's reference to a task; lives only on the owner's thread.
pub(crate) struct OwnedTask(RawTask);

impl OwnedTask {
    /// Cancels the task (owner thread, outside its poll) and releases the registry reference.
    pub(crate) fn shutdown(self) {
        // SAFETY: OwnedTask lives only in the owner's registry, used on the owner's thread, and
        // shutdown runs outside any poll of this task.
        unsafe { self.0.shutdown() };
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.drop_ref();
    }
}
