//! The thread-local "current worker": which queues, reactor, timer wheel and source registry
//! code running on this thread uses.
//!
//! A [`WorkerCx`] lives on the stack of the thread that runs a worker loop; [`enter`] points the
//! thread-local at it for the duration of a guard. Only that thread ever sees it.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;

use slab::Slab;

use crate::executor::{RtShared, WorkerShared};
use crate::reactor::{self, source::SourceRegistry};
use crate::task::{Notified, OwnedTask};
use crate::time::TimeHandle;
use std::sync::Arc;

/// The worker that runs on this thread.
pub(crate) struct WorkerCx {
    pub(crate) worker: Arc<WorkerShared>,
    pub(crate) rt: Arc<RtShared>,
    /// Run queue of this worker.
    pub(crate) local: RefCell<VecDeque<Notified>>,
    /// Every live task of this worker, so shutdown can drop their futures here.
    pub(crate) registry: RefCell<Slab<OwnedTask>>,
    /// `spawn` distributes over the runtime's workers instead of staying here (the `block_on`
    /// thread of a thread-per-core runtime).
    pub(crate) round_robin: bool,
    /// The spin-before-park budget of this worker.
    pub(crate) spin: RefCell<crate::sync::AdaptiveSpin>,
}

impl WorkerCx {
    pub(crate) fn new(worker: Arc<WorkerShared>, rt: Arc<RtShared>, round_robin: bool) -> Self {
        WorkerCx {
            worker,
            rt,
            local: RefCell::new(VecDeque::with_capacity(256)),
            registry: RefCell::new(Slab::with_capacity(256)),
            round_robin,
            spin: RefCell::new(crate::sync::AdaptiveSpin::new()),
        }
    }

    /// Puts a task of this worker in the registry if it is not there yet.
    pub(crate) fn register(&self, task: &Notified) {
        task.claim_registry_ref(|owned| {
            // taskx metrics: a task is counted as spawned when its worker first owns it.
            self.worker.metrics.task_spawned();
            self.registry.borrow_mut().insert(owned)
        });
    }

    /// Empties the registry (shutdown).
    pub(crate) fn take_registry(&self) -> Vec<OwnedTask> {
        self.registry.borrow_mut().drain().collect()
    }
}

thread_local! {
    static CURRENT: Cell<*const WorkerCx> = const { Cell::new(std::ptr::null()) };
}

/// Restores the previous context on drop.
pub(crate) struct EnterGuard {
    prev: *const WorkerCx,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Makes `cx` the current worker of this thread until the guard drops.
pub(crate) fn enter(cx: &WorkerCx) -> EnterGuard {
    let prev = CURRENT.with(|c| c.replace(cx as *const WorkerCx));
    EnterGuard { prev }
}

/// True if this thread currently runs a worker.
pub(crate) fn is_entered() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

/// Calls `f` with the current worker, if any.
pub(crate) fn with<R>(f: impl FnOnce(Option<&WorkerCx>) -> R) -> R {
    let ptr = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    // SAFETY: a non-null pointer was set by `enter` from a live `&WorkerCx` whose guard has not
    // dropped yet (the guard outlives every use on this thread, and the pointer is never shared).
    let cx = unsafe { ptr.as_ref() };
    f(cx)
}

/// The reactor handle of the current worker.
///
/// # Errors
/// When no rpal runtime runs on this thread.
pub(crate) fn io_handle() -> io::Result<reactor::Handle> {
    with(|cx| cx.map(|cx| cx.worker.io.clone())).ok_or_else(no_runtime_error)
}

/// The timer wheel of the current worker, if any.
pub(crate) fn time_handle() -> Option<TimeHandle> {
    with(|cx| cx.map(|cx| cx.worker.time.clone()))
}

/// The user-space source registry of the current worker, if any.
pub(crate) fn sources() -> Option<SourceRegistry> {
    with(|cx| cx.map(|cx| cx.worker.sources.clone()))
}

/// The error every "must run inside the runtime" entry point returns.
pub(crate) fn no_runtime_error() -> io::Error {
    io::Error::other(
        "no rpal runtime on this thread: call this from a task or from inside Runtime::block_on",
    )
}
