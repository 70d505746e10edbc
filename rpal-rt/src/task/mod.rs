//! Tasks: spawned futures, their reference-counted memory, wakers and join handles.
//!
//! # Memory and references
//! A task is one heap allocation ([`raw`]): a header (state word, vtable, owner, registry key)
//! followed by the stage (future, then output) and the join waker slot. References are counted
//! in the state word ([`state`]); they are held by the `JoinHandle`, each `Waker`, each queue
//! entry (`Notified`) and the owner's registry entry (`OwnedTask`). Waking, cloning and
//! dropping wakers never allocate.
//!
//! # Safety: who touches which field
//! * The **future** is polled and dropped only on the owner's thread: a worker thread for
//!   spawned tasks (so `spawn_local` futures need not be `Send`), a pool thread for blocking
//!   tasks. Aborting from elsewhere only sets CANCELLED and queues the task to its owner.
//! * The **stage** belongs to whoever holds RUNNING; after COMPLETE it belongs to the
//!   `JoinHandle` if JOIN_INTEREST was set at completion, else it was emptied by the task side.
//! * The **join waker slot** belongs to the `JoinHandle` while JOIN_WAKER is clear, and may be
//!   read by the completing task while it is set.
//! * The **registry key** is written once before publication, then only on the owner thread.
//! * Panics in `poll` or in the future's `Drop` are caught and stored as a [`JoinError`].
//!
//! # Utilities (built on the above without touching the task cell)
//! [`JoinSet`] (tasks awaited in completion order), task-local values ([`LocalKey`],
//! [`crate::task_local!`]), named tasks ([`Builder`], [`name`]) and the cooperative budget
//! ([`consume_budget`], [`unconstrained`]; reset by the worker before every poll).

mod builder;
pub(crate) mod coop;
mod error;
mod harness;
mod join;
mod join_set;
mod local_key;
pub(crate) mod raw;
pub(crate) mod state;
mod waker;
mod yield_now;

use std::future::Future;

pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
pub use yield_now::yield_now;
// Task utilities (taskx): named tasks, JoinSet, task-locals, cooperative budget.
pub use builder::{name, Builder};
pub use coop::{consume_budget, unconstrained, Unconstrained};
pub use join_set::JoinSet;
pub use local_key::{AccessError, LocalKey, TaskLocalFuture};

pub(crate) use raw::{Notified, OwnedTask, Owner, PollOutcome};

/// Creates a task for `owner`; returns its first queue entry and its join handle.
pub(crate) fn new_task<F>(future: F, owner: Owner) -> (Notified, JoinHandle<F::Output>)
where
    F: Future + 'static,
{
    let registered = matches!(owner, Owner::Worker(_));
    let raw = raw::RawTask::new(future, owner, registered);
    (Notified(raw), JoinHandle::new(raw))
}

/// Spawns a `Send` future onto the runtime of the current thread.
///
/// On a worker thread, the task runs on that worker (thread-per-core: no task migrates). From
/// the thread inside `Runtime::block_on` of a thread-per-core runtime, tasks are spread over the
/// workers round-robin. Use [`crate::runtime::Handle::spawn`] from threads outside the runtime.
///
/// # Panics
/// When called outside an rpal runtime.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let n = rt.block_on(async { rpal_rt::spawn(async { 1 + 1 }).await.unwrap() });
/// assert_eq!(n, 2);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match crate::executor::spawn_current(future) {
        Ok(h) => h,
        Err(e) => panic!("rpal_rt::spawn: {e}"),
    }
}

/// Spawns a `!Send` future onto the current worker; it is polled only on this thread.
///
/// # Panics
/// When called outside an rpal runtime.
///
/// # Examples
/// ```
/// use std::rc::Rc;
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let shared = Rc::new(5);
///     let s2 = shared.clone();
///     let h = rpal_rt::spawn_local(async move { *s2 * 2 });
///     assert_eq!(h.await.unwrap(), 10);
/// });
/// ```
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    match crate::executor::spawn_local_current(future) {
        Ok(h) => h,
        Err(e) => panic!("rpal_rt::spawn_local: {e}"),
    }
}
