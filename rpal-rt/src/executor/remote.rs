//! The inject queue: spawns and wakes that come from other threads, and the close flag that
//! turns late arrivals away at shutdown.

use std::collections::VecDeque;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;
use crate::task::Notified;

/// A multi-producer queue drained by its worker.
pub(super) struct Inject {
    queue: Mutex<InjectQueue>,
    /// Number of queued tasks; read without the lock by the worker's park check.
    ///
    /// # Invariant
    /// Incremented with SeqCst inside the lock before the pusher reads the worker's parked flag
    /// (see `WorkerShared::push_remote`), so a parking worker that stored its flag first sees it.
    len: AtomicUsize,
}

struct InjectQueue {
    tasks: VecDeque<Notified>,
    closed: bool,
}

impl Inject {
    pub(super) fn new() -> Inject {
        Inject {
            queue: Mutex::new(InjectQueue {
                tasks: VecDeque::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    /// Queues a task; gives it back if the worker has shut down.
    pub(super) fn push(&self, task: Notified) -> Result<(), Notified> {
        let mut q = lock(&self.queue);
        if q.closed {
            return Err(task);
        }
        q.tasks.push_back(task);
        self.len.fetch_add(1, SeqCst);
        Ok(())
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len.load(SeqCst) == 0
    }

    /// Moves every queued task to `dst`.
    pub(super) fn drain_into(&self, dst: &mut VecDeque<Notified>) {
        if self.is_empty() {
            return;
        }
        let mut q = lock(&self.queue);
        self.len.store(0, SeqCst);
        dst.extend(q.tasks.drain(..));
    }

    /// Refuses further pushes and returns what was queued.
    pub(super) fn close(&self) -> VecDeque<Notified> {
        let mut q = lock(&self.queue);
        q.closed = true;
        self.len.store(0, SeqCst);
        std::mem::take(&mut q.tasks)
    }
}

/// Locks, ignoring poisoning: the queue holds no invariant a panicking pusher could break
/// (push_back either happened or not).
fn lock<T>(m: &Mutex<T>) -> crate::loom::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}
