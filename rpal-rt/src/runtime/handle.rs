//! [`Handle`]: spawn onto a runtime from any thread.

use std::future::Future;
use std::io;

use super::context;
use crate::executor::RtShared;
use crate::task::JoinHandle;
use std::sync::Arc;

/// A clonable, `Send` handle to a runtime: spawn onto it from threads outside it.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new().unwrap();
/// let handle = rt.handle();
/// let from_thread = std::thread::spawn(move || handle.spawn(async { 7 }))
///     .join()
///     .unwrap();
/// assert_eq!(rt.block_on(from_thread).unwrap(), 7);
/// ```
#[derive(Clone, Debug)]
pub struct Handle {
    shared: Arc<RtShared>,
}

impl Handle {
    pub(crate) fn new(shared: Arc<RtShared>) -> Handle {
        Handle { shared }
    }

    /// The handle of the runtime running the current thread.
    ///
    /// # Errors
    /// Outside an rpal runtime.
    pub fn try_current() -> io::Result<Handle> {
        context::with(|cx| cx.map(|cx| Handle::new(cx.rt.clone())))
            .ok_or_else(context::no_runtime_error)
    }

    /// The handle of the runtime running the current thread.
    ///
    /// # Panics
    /// Outside an rpal runtime.
    #[track_caller]
    pub fn current() -> Handle {
        match Handle::try_current() {
            Ok(h) => h,
            Err(e) => panic!("rpal_rt::runtime::Handle::current: {e}"),
        }
    }

    /// Spawns a `Send` task (on the current worker if called from one of this runtime's
    /// workers, else round-robin).
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn(future)
    }

    /// Spawns a `Send` task on worker `index % worker_count()`.
    pub fn spawn_on<F>(&self, index: usize, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.spawn_on(index, future)
    }

    /// Runs blocking code on the runtime's blocking pool.
    pub fn spawn_blocking<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        crate::blocking::spawn_on(&self.shared.blocking, f)
    }

    /// Number of workers.
    pub fn worker_count(&self) -> usize {
        self.shared.workers.len()
    }
}
