//! Cooperative scheduling: a per-poll budget that stops one busy task from starving its worker.
//!
//! A worker gives every task poll (and every poll of the `block_on` future) a budget of
//! [`BUDGET_PER_POLL`] units. Runtime resources that can be ready again and again without the
//! task ever returning `Pending` take one unit per ready poll: [`crate::io::Registration`]'s
//! `poll_*` methods, [`crate::time::Sleep`], [`JoinSet::join_next`](super::JoinSet::join_next)
//! and [`consume_budget`]. When the budget is spent they wake the task and return `Pending`, so
//! the task goes to the back of its worker's run queue and timers, the reactor and other tasks
//! get their turn. A resource that turns out not to be ready gives its unit back.
//!
//! Outside a worker's poll (another executor, a plain thread) the budget is unlimited, as it is
//! inside [`unconstrained`].
//!
//! # Invariant
//! The budget lives in one thread-local cell. [`with_budget`] sets it for the length of one poll
//! and restores the previous value when the poll returns or unwinds, so a budget never leaks from
//! one task into the next.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Units a task may consume in one poll before runtime resources start returning `Pending`.
pub(crate) const BUDGET_PER_POLL: u8 = 128;

thread_local! {
    /// `None`: unconstrained. `Some(n)`: `n` units left in the current poll.
    static BUDGET: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Restores the previous budget on drop (also on unwind).
struct ResetGuard(Option<u8>);

impl Drop for ResetGuard {
    fn drop(&mut self) {
        let _ = BUDGET.try_with(|b| b.set(self.0));
    }
}

/// Runs `f` (one poll) with a fresh budget of [`BUDGET_PER_POLL`] units.
pub(crate) fn with_budget<R>(f: impl FnOnce() -> R) -> R {
    with_value(Some(BUDGET_PER_POLL), f)
}

/// Runs `f` without a budget (resources never return `Pending` for budget reasons).
pub(crate) fn with_unconstrained<R>(f: impl FnOnce() -> R) -> R {
    with_value(None, f)
}

fn with_value<R>(value: Option<u8>, f: impl FnOnce() -> R) -> R {
    let prev = BUDGET.try_with(|b| b.replace(value)).unwrap_or(None);
    let _guard = ResetGuard(prev);
    f()
}

/// One unit taken by [`poll_proceed`]; given back on drop unless [`RestoreOnPending::made_progress`]
/// was called.
#[must_use = "drop it if the resource was not ready, or call made_progress"]
pub(crate) struct RestoreOnPending(Option<u8>);

impl RestoreOnPending {
    /// The resource was ready: the unit stays spent.
    pub(crate) fn made_progress(&mut self) {
        self.0 = None;
    }
}

impl Drop for RestoreOnPending {
    fn drop(&mut self) {
        if let Some(prev) = self.0 {
            let _ = BUDGET.try_with(|b| b.set(Some(prev)));
        }
    }
}

/// Takes one unit of the current poll's budget. `Pending` (after waking the task, so it runs
/// again later) when the budget is spent.
pub(crate) fn poll_proceed(cx: &mut Context<'_>) -> Poll<RestoreOnPending> {
    let budget = BUDGET.try_with(Cell::get).unwrap_or(None);
    match budget {
        None => Poll::Ready(RestoreOnPending(None)),
        Some(0) => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        Some(n) => {
            let _ = BUDGET.try_with(|b| b.set(Some(n - 1)));
            Poll::Ready(RestoreOnPending(Some(n)))
        }
    }
}

/// True if the current poll still has budget (or is unconstrained).
pub(crate) fn has_budget_remaining() -> bool {
    BUDGET.try_with(Cell::get).unwrap_or(None) != Some(0)
}

/// Consumes one unit of the task's budget, yielding to the worker if it is spent.
///
/// Use it in a loop that never awaits a runtime resource (pure computation over an in-memory
/// queue, say), so the loop still gives its worker back every 128-odd
/// iterations.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let sum = rt.block_on(async {
///     let mut sum = 0u64;
///     for i in 0..1000u64 {
///         rpal_rt::task::consume_budget().await;
///         sum += i;
///     }
///     sum
/// });
/// assert_eq!(sum, 499_500);
/// ```
pub async fn consume_budget() {
    let mut done = false;
    std::future::poll_fn(|cx| {
        if done {
            return Poll::Ready(());
        }
        let mut unit = std::task::ready!(poll_proceed(cx));
        unit.made_progress();
        done = true;
        Poll::Ready(())
    })
    .await
}

pin_project_lite::pin_project! {
    /// A future polled without a budget: see [`unconstrained`].
    ///
    /// # Examples
    /// ```
    /// let fut: rpal_rt::task::Unconstrained<_> = rpal_rt::task::unconstrained(async { 3 });
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// assert_eq!(rt.block_on(fut), 3);
    /// ```
    #[must_use = "futures do nothing unless polled"]
    #[derive(Debug)]
    pub struct Unconstrained<F> {
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Unconstrained<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let inner = self.project().inner;
        with_unconstrained(|| inner.poll(cx))
    }
}

/// Turns the cooperative budget off for `inner`: the runtime resources it awaits never return
/// `Pending` for budget reasons. Only for futures known to yield on their own, since an
/// unconstrained busy future can starve its worker.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(rpal_rt::task::unconstrained(async {
///     for _ in 0..10_000 {
///         rpal_rt::task::consume_budget().await; // never yields in here
///     }
/// }));
/// ```
pub fn unconstrained<F: Future>(inner: F) -> Unconstrained<F> {
    Unconstrained { inner }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_then_resets() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            for _ in 0..BUDGET_PER_POLL {
                let Poll::Ready(mut u) = poll_proceed(&mut cx) else {
                    panic!("budget ran out early")
                };
                u.made_progress();
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(!has_budget_remaining());
        });
        // Outside a poll: unconstrained.
        assert!(has_budget_remaining());
        with_budget(|| assert!(poll_proceed(&mut cx).is_ready()));
    }

    #[test]
    fn a_unit_not_used_is_given_back() {
        let mut cx = Context::from_waker(Waker::noop());
        with_budget(|| {
            for _ in 0..1000 {
                let Poll::Ready(unit) = poll_proceed(&mut cx) else {
                    panic!("a returned unit was lost")
                };
                drop(unit);
            }
        });
    }
}
