//! The inject queue: spawns and wakes that come from other threads, and the close flag that
//! turns late arrivals away at shutdown.

use std::collections::VecDeque;

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::Mutex;

/// A multi-producer queue drained by its worker.
pub(crate) struct Inject<T> {
    queue: Mutex<InjectQueue<T>>,
    /// Number of queued tasks; read without the lock by the worker's park check.
    ///
    /// # Invariant
    /// Incremented with SeqCst inside the lock before the pusher reads the worker's parked flag
    /// (see `WorkerShared::push_remote`), so a parking worker that stored its flag first sees it.
    len: AtomicUsize,
}

struct InjectQueue<T> {
    tasks: VecDeque<T>,
    closed: bool,
}

impl<T> Inject<T> {
    pub(crate) fn new() -> Inject<T> {
        Inject {
            queue: Mutex::new(InjectQueue {
                tasks: VecDeque::new(),
                closed: false,
            }),
            len: AtomicUsize::new(0),
        }
    }

    /// Queues a task; gives it back if the worker has shut down.
    pub(crate) fn push(&self, task: T) -> Result<(), T> {
        let mut q = lock(&self.queue);
        if q.closed {
            return Err(task);
        }
        q.tasks.push_back(task);
        self.len.fetch_add(1, SeqCst);
        Ok(())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(SeqCst) == 0
    }

    /// Moves every queued task to `dst`.
    pub(crate) fn drain_into(&self, dst: &mut VecDeque<T>) {
        if self.is_empty() {
            return;
        }
        let mut q = lock(&self.queue);
        self.len.store(0, SeqCst);
        dst.extend(q.tasks.drain(..));
    }

    /// Refuses further pushes and returns what was queued.
    pub(crate) fn close(&self) -> VecDeque<T> {
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
