//! The runtime: [`Runtime`], its [`Builder`], the [`Handle`] other threads spawn through, and the
//! per-thread context.
//!
//! # Threads and ownership
//! * **Current-thread**: one worker, no thread of its own. Its [`Core`](crate::executor::Core)
//!   (driver, queues, task registry) sits in the runtime and is lent to whichever thread calls
//!   [`Runtime::block_on`]; tasks run only while some thread is inside `block_on`.
//! * **Thread-per-core**: `N` worker threads (default: one per CPU), each with its own run queue,
//!   reactor driver and timer wheel, no work stealing. The thread inside `block_on` gets a core of
//!   its own for the main future and its `spawn_local` tasks; `spawn` from it goes round-robin to
//!   the workers, `spawn` from a worker stays on that worker.
//! * Dropping the runtime stops the workers, drops every unfinished task on its own worker, and
//!   stops the blocking pool from taking new work.

mod builder;
pub(crate) mod config;
pub(crate) mod context;
mod handle;

use std::future::Future;
use std::io;
use std::sync::{Condvar, Mutex};

pub use builder::{Builder, Flavor};
pub(crate) use config::Config;
pub use handle::Handle;
// taskx: metrics snapshot type, under the same path as tokio's.
pub use crate::metrics::{RuntimeMetrics, WorkerMetrics};

use crate::executor::{Core, RtShared};
pub use crate::reactor::DriverKind;
use crate::task::JoinHandle;
use std::sync::Arc;

/// An rpal runtime. See the [crate docs](crate) and [`Builder`].
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new().unwrap(); // thread-per-core
/// let sum = rt.block_on(async {
///     let tasks: Vec<_> = (0..8u64).map(|i| rpal_rt::spawn(async move { i * i })).collect();
///     let mut sum = 0;
///     for t in tasks {
///         sum += t.await.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 140);
/// ```
pub struct Runtime {
    shared: Arc<RtShared>,
    /// The lent core of a current-thread runtime (`None` while a `block_on` holds it).
    core: Mutex<Option<Core>>,
    core_returned: Condvar,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("flavor", &self.shared.config.flavor)
            .field("workers", &self.shared.workers.len())
            .field("driver", &self.driver_kind())
            .finish()
    }
}

impl Runtime {
    /// A thread-per-core runtime with default settings (see [`Builder::new_thread_per_core`]).
    ///
    /// # Errors
    /// When a driver cannot be created or a worker thread cannot start.
    pub fn new() -> io::Result<Runtime> {
        Builder::new_thread_per_core().build()
    }

    /// A current-thread runtime with default settings.
    ///
    /// # Errors
    /// When the driver cannot be created.
    pub fn new_current_thread() -> io::Result<Runtime> {
        Builder::new_current_thread().build()
    }

    pub(crate) fn from_parts(
        shared: Arc<RtShared>,
        core: Option<Core>,
        threads: Vec<std::thread::JoinHandle<()>>,
    ) -> Runtime {
        Runtime {
            shared,
            core: Mutex::new(core),
            core_returned: Condvar::new(),
            threads,
        }
    }

    /// Runs `future` on the current thread until it completes, running the runtime's tasks.
    ///
    /// # Panics
    /// When called from inside a runtime (a task or another `block_on`): `.await` instead.
    /// A panic of `future` itself propagates to the caller.
    ///
    /// # Examples
    /// ```
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// assert_eq!(rt.block_on(async { 1 }), 1);
    /// ```
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        if context::is_entered() {
            panic!(
                "Runtime::block_on called from inside an rpal runtime; \
                 `.await` the future instead (blocking here would stall the worker)"
            );
        }
        set_timer_slack();
        match self.shared.config.flavor {
            Flavor::CurrentThread => {
                let mut lent = LentCore {
                    rt: self,
                    core: Some(self.take_core()),
                };
                match lent.core.as_mut() {
                    Some(core) => core.block_on(future),
                    None => unreachable!("the core was just taken"),
                }
            }
            Flavor::ThreadPerCore => {
                let (driver, worker) = match Core::new_parts(usize::MAX, &self.shared.config) {
                    Ok(parts) => parts,
                    Err(e) => panic!("rpal: cannot create the block_on thread's driver: {e}"),
                };
                let mut core = Core::new(driver, worker, self.shared.clone(), true);
                let guard = ShutdownOnDrop(&mut core);
                guard.0.block_on(future)
            }
        }
    }

    fn take_core(&self) -> Core {
        let mut slot = lock(&self.core);
        loop {
            if let Some(core) = slot.take() {
                return core;
            }
            slot = match self.core_returned.wait(slot) {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
        }
    }

    /// Spawns a `Send` task: round-robin over the workers (or on the current worker when called
    /// from one of this runtime's workers).
    ///
    /// # Examples
    /// ```
    /// let rt = rpal_rt::Runtime::new().unwrap();
    /// let h = rt.spawn(async { 3 });
    /// assert_eq!(rt.block_on(h).unwrap(), 3);
    /// ```
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future)
    }

    /// Runs blocking code on this runtime's blocking pool. See [`crate::spawn_blocking`].
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::blocking::spawn_on(&self.shared.blocking, f)
    }

    /// A clonable handle for spawning from other threads.
    pub fn handle(&self) -> Handle {
        Handle::new(self.shared.clone())
    }

    /// The I/O driver the workers use.
    pub fn driver_kind(&self) -> DriverKind {
        self.shared.workers[0].io.kind()
    }

    /// The number of workers that `spawn` distributes over.
    pub fn worker_count(&self) -> usize {
        self.shared.workers.len()
    }

    /// A snapshot of every worker's counters (taskx). See [`crate::metrics`].
    ///
    /// # Examples
    /// ```
    /// let rt = rpal_rt::Runtime::new().unwrap();
    /// assert_eq!(rt.metrics().num_workers(), rt.worker_count());
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        let workers = self.shared.workers.iter();
        let snaps = workers
            .map(|w| w.metrics.snapshot(w.index, w.time.len()))
            .collect();
        RuntimeMetrics::new(self.shared.config.flavor, self.driver_kind(), snaps)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if std::thread::panicking() && context::is_entered() {
            return;
        }
        for w in self.shared.workers.iter() {
            w.request_shutdown();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let core = lock(&self.core).take();
        if let Some(mut core) = core {
            core.shutdown();
        }
        self.shared.blocking.shutdown();
    }
}

/// Gives a current-thread core back to the runtime, even when `block_on` unwinds.
struct LentCore<'a> {
    rt: &'a Runtime,
    core: Option<Core>,
}

impl Drop for LentCore<'_> {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            *lock(&self.rt.core) = Some(core);
            self.rt.core_returned.notify_one();
        }
    }
}

/// Shuts a `block_on` thread's own core down (cancelling its `spawn_local` tasks), even on unwind.
struct ShutdownOnDrop<'a>(&'a mut Core);

impl Drop for ShutdownOnDrop<'_> {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Asks the kernel to wake this thread within 1 ns of a timer instead of the default 50 µs
/// slack, so sub-millisecond timers fire on time when the worker is idle.
pub(crate) fn set_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and touches only this thread's settings.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}
