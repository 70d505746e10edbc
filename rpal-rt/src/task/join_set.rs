//! [`JoinSet`]: a set of spawned tasks awaited in completion order.
//!
//! Built on `futures::stream::FuturesUnordered` of [`JoinHandle`]s: a completing task wakes only
//! the set's waiter, and `join_next` polls only the handles whose task has finished.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures::stream::{FuturesUnordered, Stream};

use super::coop;
use super::{AbortHandle, JoinError, JoinHandle};

/// A collection of tasks spawned on the runtime, whose outputs are collected in the order the
/// tasks finish.
///
/// Dropping the set aborts every task still in it (see [`JoinSet::detach_all`] to let them run
/// on instead). All tasks of one set have the same output type `T`.
///
/// # Examples
/// ```
/// use rpal_rt::task::JoinSet;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let mut set = JoinSet::new();
///     for i in 0..4u32 {
///         set.spawn(async move { i * 10 });
///     }
///     let mut seen = Vec::new();
///     while let Some(res) = set.join_next().await {
///         seen.push(res.unwrap());
///     }
///     seen.sort();
///     assert_eq!(seen, [0, 10, 20, 30]);
/// });
/// ```
pub struct JoinSet<T> {
    tasks: FuturesUnordered<JoinHandle<T>>,
}

impl<T> JoinSet<T> {
    /// An empty set.
    pub fn new() -> JoinSet<T> {
        JoinSet {
            tasks: FuturesUnordered::new(),
        }
    }

    /// Number of tasks in the set (finished ones count until `join_next` returns them).
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// True if the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Adds a task spawned elsewhere (by [`crate::spawn`], a [`super::Builder`], a `Handle`) to
    /// the set. Returns a handle that can abort it.
    pub fn insert(&mut self, handle: JoinHandle<T>) -> AbortHandle {
        let abort = handle.abort_handle();
        self.tasks.push(handle);
        abort
    }

    /// Waits for the next task to finish and returns its output, or `None` if the set is empty.
    ///
    /// A task that panicked or was aborted gives `Some(Err(JoinError))`.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes (say, as the losing branch of
    /// [`crate::select!`]), no output is lost; the finished task stays in the set for the next
    /// call.
    ///
    /// Each output taken consumes one unit of the task's cooperative budget (see
    /// [`super::consume_budget`]).
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        std::future::poll_fn(|cx| self.poll_join_next(cx)).await
    }

    /// Returns the output of a task that has already finished, without waiting; `None` if no
    /// task has finished yet or the set is empty.
    pub fn try_join_next(&mut self) -> Option<Result<T, JoinError>> {
        let mut cx = Context::from_waker(Waker::noop());
        match Pin::new(&mut self.tasks).poll_next(&mut cx) {
            Poll::Ready(Some(res)) => Some(res),
            _ => None,
        }
    }

    /// The poll behind [`JoinSet::join_next`]: `Ready(None)` when the set is empty; otherwise
    /// `Pending` until some task finishes (and the waker of `cx` is woken then).
    pub fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        if self.tasks.is_empty() {
            return Poll::Ready(None);
        }
        let mut unit = std::task::ready!(coop::poll_proceed(cx));
        let res = Pin::new(&mut self.tasks).poll_next(cx);
        if res.is_ready() {
            unit.made_progress();
        }
        res
    }

    /// Requests cancellation of every task in the set. They stay in the set: `join_next` then
    /// returns a cancelled [`JoinError`] for each (or its output, if it finished first).
    pub fn abort_all(&mut self) {
        for handle in self.tasks.iter() {
            handle.abort();
        }
    }

    /// Aborts every task and waits until all of them have stopped, discarding their outputs.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }

    /// Empties the set without aborting: the tasks run on, detached.
    pub fn detach_all(&mut self) {
        self.tasks.clear();
    }

    /// Waits for every task and returns their outputs in completion order.
    ///
    /// # Panics
    /// Resumes the panic of a task that panicked (after aborting the others, when the set is
    /// dropped). Aborted tasks are skipped.
    pub async fn join_all(mut self) -> Vec<T> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(res) = self.join_next().await {
            match res {
                Ok(v) => out.push(v),
                Err(e) => {
                    if let Ok(payload) = e.try_into_panic() {
                        std::panic::resume_unwind(payload);
                    }
                }
            }
        }
        out
    }
}

impl<T: 'static> JoinSet<T> {
    /// Spawns a `!Send` task on the current worker (see [`crate::spawn_local`]) into
    /// the set.
    ///
    /// # Panics
    /// Outside an rpal runtime.
    #[track_caller]
    pub fn spawn_local<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + 'static,
    {
        self.insert(crate::spawn_local(future))
    }
}

impl<T: Send + 'static> JoinSet<T> {
    /// Spawns a task (see [`crate::spawn`] for where it runs) into the set.
    ///
    /// # Panics
    /// Outside an rpal runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(crate::spawn(future))
    }

    /// Spawns a task through `handle` (usable from any thread) into the set.
    pub fn spawn_on<F>(&mut self, future: F, handle: &crate::runtime::Handle) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        self.insert(handle.spawn(future))
    }

    /// Runs blocking code on the blocking pool (see [`crate::spawn_blocking`]) as a member of
    /// the set. Aborting it only takes effect if it has not started.
    ///
    /// # Panics
    /// Outside an rpal runtime.
    #[track_caller]
    pub fn spawn_blocking<F>(&mut self, f: F) -> AbortHandle
    where
        F: FnOnce() -> T + Send + 'static,
    {
        self.insert(crate::spawn_blocking(f))
    }
}

impl<T> Default for JoinSet<T> {
    fn default() -> JoinSet<T> {
        JoinSet::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        self.abort_all();
    }
}

impl<T> fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinSet").field("len", &self.len()).finish()
    }
}

impl<T: Send + 'static, F> FromIterator<F> for JoinSet<T>
where
    F: Future<Output = T> + Send + 'static,
{
    /// Spawns every future of the iterator into a new set.
    ///
    /// # Panics
    /// Outside an rpal runtime.
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> JoinSet<T> {
        let mut set = JoinSet::new();
        for f in iter {
            set.spawn(f);
        }
        set
    }
}
