//! The executor: per-worker run loops ([`worker`]), the inject queue for cross-thread wakes
//! ([`remote`]), and where a spawn goes.
//!
//! Thread-per-core: every worker owns its run queue, reactor driver, timer wheel and task
//! registry; a task is polled only by the worker it was spawned on (no stealing), so a
//! `spawn_local` future never leaves its thread. Wakes from other threads go through the owner's
//! inject queue and ring its doorbell only if it has published that it parks.

pub(crate) mod remote;
mod worker;

use std::future::Future;
use std::io;

pub(crate) use worker::{Core, WorkerShared};

use crate::runtime::context;
use crate::runtime::Config;
use crate::task::{self, JoinHandle, Notified, Owner};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

/// State shared by everything that belongs to one runtime.
pub(crate) struct RtShared {
    /// Workers that `spawn` from outside a worker distributes over.
    pub(crate) workers: Box<[Arc<WorkerShared>]>,
    next: AtomicUsize,
    pub(crate) blocking: Arc<crate::blocking::PoolShared>,
    pub(crate) config: Config,
}

impl std::fmt::Debug for RtShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtShared")
            .field("workers", &self.workers.len())
            .field("config", &self.config)
            .finish()
    }
}

impl RtShared {
    pub(crate) fn new(
        workers: Box<[Arc<WorkerShared>]>,
        blocking: Arc<crate::blocking::PoolShared>,
        config: Config,
    ) -> RtShared {
        RtShared {
            workers,
            next: AtomicUsize::new(0),
            blocking,
            config,
        }
    }

    /// Spawns a `Send` future: on the current worker if this thread is one of this runtime's
    /// workers, else on the next worker round-robin.
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let local = context::with(|cx| match cx {
            Some(cx) if !cx.round_robin && Arc::ptr_eq(&cx.rt, self) => Some(cx.worker.clone()),
            _ => None,
        });
        match local {
            Some(_) => match spawn_local_current(future) {
                Ok(h) => h,
                Err(_) => unreachable!("the current thread is a worker of this runtime"),
            },
            None => self.spawn_remote(future),
        }
    }

    /// Spawns on worker `index` (modulo the worker count) through its inject queue.
    pub(crate) fn spawn_on<F>(&self, index: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let worker = &self.workers[index % self.workers.len()];
        let (task, handle) = task::new_task(future, Owner::Worker(worker.clone()));
        if let Err(task) = worker.push_remote(task) {
            // SAFETY: the future is Send and was never polled.
            unsafe { task.cancel_unqueued() };
        }
        handle
    }

    fn spawn_remote<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let index = self.next.fetch_add(1, Relaxed);
        self.spawn_on(index, future)
    }
}

/// `rpal_rt::spawn`: see its docs for placement.
pub(crate) fn spawn_current<F>(future: F) -> io::Result<JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = context::with(|cx| cx.map(|cx| (cx.round_robin, cx.rt.clone())));
    match rt {
        None => Err(context::no_runtime_error()),
        Some((true, rt)) => Ok(rt.spawn_remote(future)),
        Some((false, _)) => spawn_local_current(future),
    }
}

/// Spawns on the current worker.
pub(crate) fn spawn_local_current<F>(future: F) -> io::Result<JoinHandle<F::Output>>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with(|cx| {
        let cx = cx.ok_or_else(context::no_runtime_error)?;
        let (task, handle) = task::new_task(future, Owner::Worker(cx.worker.clone()));
        cx.register(&task);
        cx.local.borrow_mut().push_back(task);
        Ok(handle)
    })
}

/// Queues a woken worker task to its owner: locally (no atomic operation beyond the state
/// word) if this thread is the owner, else through the owner's inject queue.
pub(crate) fn schedule(task: Notified) {
    let Owner::Worker(owner) = task.owner() else {
        unreachable!("executor::schedule is only called for worker tasks")
    };
    let owner_ptr = Arc::as_ptr(owner);
    let task = context::with(|cx| match cx {
        Some(cx) if std::ptr::eq(Arc::as_ptr(&cx.worker), owner_ptr) => {
            cx.worker.metrics.local_schedule(); // taskx metrics
            cx.local.borrow_mut().push_back(task);
            None
        }
        _ => Some(task),
    });
    if let Some(task) = task {
        // The queue entry may run (and the task be freed) as soon as it is pushed: keep the
        // owner alive for the doorbell check that follows the push.
        let Owner::Worker(owner) = task.owner() else {
            unreachable!()
        };
        let owner = owner.clone();
        // A closed owner has cancelled (or is cancelling) all its tasks: dropping the entry
        // is all that is left to do.
        let _ = owner.push_remote(task);
    }
}
