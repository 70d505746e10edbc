//! [`JoinHandle`]: await a task's output, abort it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::error::JoinError;
use super::raw::{Notified, RawTask};
use super::state::TransitionToNotified;

/// An owned permission to await a task's output. Dropping it detaches the task (it keeps running).
///
/// Awaiting it gives `Ok(output)`, or `Err(JoinError)` if the task panicked or was aborted.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let handle = rpal_rt::spawn(async { "done" });
///     assert_eq!(handle.await.unwrap(), "done");
///
///     let boom = rpal_rt::spawn(async { panic!("boom") });
///     assert!(boom.await.unwrap_err().is_panic());
/// });
/// ```
pub struct JoinHandle<T> {
    raw: RawTask,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output out (T: Send) and touches the task through its
// atomic state protocol.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: &JoinHandle only allows abort and is_finished, which are atomic operations.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    pub(super) fn new(raw: RawTask) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    /// Requests cancellation. The task's future is dropped on its worker at the next
    /// opportunity (immediately if idle, after the current poll if running); awaiting the handle
    /// then gives a cancelled [`JoinError`] unless the task had already completed.
    ///
    /// # Examples
    /// ```
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// rt.block_on(async {
    ///     let h = rpal_rt::spawn(std::future::pending::<()>());
    ///     h.abort();
    ///     assert!(h.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn abort(&self) {
        abort_raw(self.raw);
    }

    /// True once the task has completed (with output, panic or cancellation).
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        self.raw.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

fn abort_raw(raw: RawTask) {
    if raw.header().state.transition_to_notified_and_cancel() == TransitionToNotified::Submit {
        super::waker::schedule(Notified(raw));
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the type the vtable's try_read_output writes (the task's output
        // type is T by construction of JoinHandle<T>), and we hold a reference.
        unsafe {
            (self.raw.header().vtable.try_read_output)(
                self.raw.header_ptr(),
                &mut out as *mut _ as *mut (),
                cx.waker(),
            )
        };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: we hold the JoinHandle reference, released by this call.
        unsafe { (self.raw.header().vtable.drop_join_handle_slow)(self.raw.header_ptr()) }
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("state", &self.raw.header().state.load())
            .finish()
    }
}

/// Aborts a task without owning its output. See [`JoinHandle::abort`].
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let task = rpal_rt::spawn(std::future::pending::<()>());
///     let abort = task.abort_handle();
///     assert!(!abort.is_finished());
///     abort.abort();
///     assert!(task.await.unwrap_err().is_cancelled());
/// });
/// ```
pub struct AbortHandle {
    raw: RawTask,
}

impl AbortHandle {
    /// Requests cancellation of the task.
    pub fn abort(&self) {
        abort_raw(self.raw);
    }

    /// True once the task has completed.
    pub fn is_finished(&self) -> bool {
        self.raw.header().state.load().is_complete()
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        self.raw.drop_ref();
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle").finish_non_exhaustive()
    }
}
