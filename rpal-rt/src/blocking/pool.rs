//! The blocking pool's threads and queue.
//!
//! # Idle accounting
//! A thread waiting on `work_ready` is counted either in `idle` (nobody has asked it to wake) or
//! in `notified` (`schedule` took it out of `idle` and signalled the condvar, and no waiter has
//! taken that hand-off yet): waiting threads = `idle + notified`. `schedule` moves one from
//! `idle` to `notified` per task it queues while a thread waits. A waiter that wakes takes a
//! hand-off if there is one (whichever waiter wakes first: the condvar picks the thread, not us);
//! otherwise it was a timeout (it leaves `idle` and exits), shutdown (it leaves `idle`), or a
//! spurious wake-up (it stays in `idle` and waits again). So no counter can underflow or drift,
//! and a queued task always has a thread that will look at the queue.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::runtime::{lock, Config};
use crate::task::Notified;
use std::sync::Arc;

/// The shared state of one runtime's blocking pool.
pub(crate) struct PoolShared {
    state: Mutex<PoolState>,
    work_ready: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    name: String,
}

struct PoolState {
    queue: VecDeque<Notified>,
    /// Pool threads alive (started and not yet exited).
    threads: usize,
    /// Waiting threads that no one has signalled (see the module's idle accounting).
    idle: usize,
    /// Signals sent by `schedule` that no waiting thread has taken yet.
    notified: usize,
    shutdown: bool,
}

impl std::fmt::Debug for PoolShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolShared")
            .field("max_threads", &self.max_threads)
            .finish_non_exhaustive()
    }
}

impl PoolShared {
    pub(crate) fn new(config: &Config) -> Arc<PoolShared> {
        Arc::new(PoolShared {
            state: Mutex::new(PoolState {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
            }),
            work_ready: Condvar::new(),
            max_threads: config.max_blocking_threads,
            keep_alive: config.blocking_keep_alive,
            name: format!("{}-blocking", config.thread_name),
        })
    }

    /// Queues a blocking task; starts a thread if none is idle and the bound allows.
    pub(crate) fn schedule(self: &Arc<Self>, task: Notified) {
        let mut st = lock(&self.state);
        if st.shutdown {
            drop(st);
            // SAFETY: blocking closures are Send; this one never ran.
            unsafe { task.cancel_unqueued() };
            return;
        }
        st.queue.push_back(task);
        if st.idle > 0 {
            st.idle -= 1;
            st.notified += 1;
            drop(st);
            self.work_ready.notify_one();
            return;
        }
        if st.threads < self.max_threads {
            st.threads += 1;
            drop(st);
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name(self.name.clone())
                .spawn(move || pool.thread_main());
            if spawned.is_err() {
                // No thread: the task waits for an existing one (if any). With none at all,
                // fail the queued work rather than leaving it pending forever.
                let mut st = lock(&self.state);
                st.threads -= 1;
                if st.threads == 0 {
                    let queued: Vec<_> = st.queue.drain(..).collect();
                    drop(st);
                    for t in queued {
                        // SAFETY: blocking closures are Send; these never ran.
                        unsafe { t.cancel_unqueued() };
                    }
                }
            }
        }
    }

    fn thread_main(self: Arc<Self>) {
        let mut st = lock(&self.state);
        'work: loop {
            if let Some(task) = st.queue.pop_front() {
                drop(st);
                // SAFETY: the pool is the owner of blocking tasks, and any pool thread may run
                // them (their closures are Send).
                let _ = unsafe { task.run() };
                st = lock(&self.state);
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            loop {
                let (guard, timeout) = match self.work_ready.wait_timeout(st, self.keep_alive) {
                    Ok(r) => r,
                    Err(p) => p.into_inner(),
                };
                st = guard;
                if st.notified > 0 {
                    // A hand-off from `schedule` (meant for any waiter): go to the queue.
                    st.notified -= 1;
                    continue 'work;
                }
                // No hand-off, so this thread is still counted in `idle`.
                if st.shutdown {
                    st.idle -= 1;
                    break 'work;
                }
                if timeout.timed_out() {
                    st.idle -= 1;
                    if st.queue.is_empty() {
                        break 'work;
                    }
                    continue 'work;
                }
                // A spurious wake-up: still idle, wait again.
            }
        }
        st.threads -= 1;
    }

    /// Stops taking work: cancels what is queued; idle threads exit, running ones finish.
    pub(crate) fn shutdown(&self) {
        let mut st = lock(&self.state);
        st.shutdown = true;
        let queued: Vec<_> = st.queue.drain(..).collect();
        drop(st);
        self.work_ready.notify_all();
        for t in queued {
            // SAFETY: blocking closures are Send; these never ran.
            unsafe { t.cancel_unqueued() };
        }
    }
}
