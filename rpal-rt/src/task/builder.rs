//! [`Builder`]: spawn a task with a name; [`name`] reads the name of the running task.
//!
//! A name costs nothing to tasks without one: a named task's future is wrapped in [`Named`],
//! which sets a thread-local "current name" for the length of each poll (restored on return
//! and on unwind). Hence the name is visible to everything the task's poll runs, including a
//! panic hook installed with `std::panic::set_hook`, which runs before the panic is caught and
//! turned into a [`super::JoinError`]: call [`name`] there to say which task panicked. It is not
//! visible while the task's future is dropped outside a poll (abort, runtime shutdown).
//! With the `tracing` feature, each poll of a named task also runs inside a `task` span that
//! carries the name.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::JoinHandle;

thread_local! {
    /// The name of the named task being polled on this thread, if any.
    static CURRENT_NAME: RefCell<Option<Arc<str>>> = const { RefCell::new(None) };
}

/// Spawns tasks with a name.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let h = rpal_rt::task::Builder::new()
///         .name("fetcher")
///         .spawn(async { rpal_rt::task::name() })
///         .unwrap();
///     assert_eq!(h.await.unwrap().as_deref(), Some("fetcher"));
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Arc<str>>,
}

impl Builder {
    /// A builder with no name set.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the tasks this builder spawns.
    pub fn name(mut self, name: &str) -> Builder {
        self.name = Some(Arc::from(name));
        self
    }

    /// Spawns a `Send` task like [`crate::spawn`].
    ///
    /// # Errors
    /// Outside an rpal runtime (where [`crate::spawn`] panics).
    pub fn spawn<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.name {
            Some(name) => crate::executor::spawn_current(Named::new(name, future)),
            None => crate::executor::spawn_current(future),
        }
    }

    /// Spawns a `!Send` task on the current worker like [`crate::spawn_local`].
    ///
    /// # Errors
    /// Outside an rpal runtime.
    pub fn spawn_local<F>(self, future: F) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        match self.name {
            Some(name) => crate::executor::spawn_local_current(Named::new(name, future)),
            None => crate::executor::spawn_local_current(future),
        }
    }

    /// Spawns a `Send` task through `handle` (from any thread), like
    /// [`crate::runtime::Handle::spawn`].
    ///
    /// # Errors
    /// None today; the `Result` keeps the signature of the other spawn methods (and tokio's).
    pub fn spawn_on<F>(
        self,
        future: F,
        handle: &crate::runtime::Handle,
    ) -> io::Result<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(match self.name {
            Some(name) => handle.spawn(Named::new(name, future)),
            None => handle.spawn(future),
        })
    }
}

/// The name of the task being polled on this thread, if it was spawned with a
/// [`Builder::name`]. `None` in unnamed tasks and outside tasks.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     assert_eq!(rpal_rt::task::name(), None);
/// });
/// ```
pub fn name() -> Option<String> {
    CURRENT_NAME
        .try_with(|n| n.borrow().as_deref().map(str::to_owned))
        .ok()
        .flatten()
}

pin_project_lite::pin_project! {
    /// A future with a task name, set as the current name while it is polled.
    struct Named<F> {
        name: Arc<str>,
        #[pin]
        inner: F,
    }
}

impl<F> Named<F> {
    fn new(name: Arc<str>, inner: F) -> Named<F> {
        Named { name, inner }
    }
}

/// Puts the previous current name back, also on unwind (after the panic hook has run).
struct RestoreName(Option<Arc<str>>);

impl Drop for RestoreName {
    fn drop(&mut self) {
        let prev = self.0.take();
        let _ = CURRENT_NAME.try_with(|n| *n.borrow_mut() = prev);
    }
}

impl<F: Future> Future for Named<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let prev = CURRENT_NAME
            .try_with(|n| n.borrow_mut().replace(this.name.clone()))
            .ok()
            .flatten();
        let _restore = RestoreName(prev);
        #[cfg(feature = "tracing")]
        let _span = tracing::trace_span!("task", name = &**this.name).entered();
        this.inner.poll(cx)
    }
}
