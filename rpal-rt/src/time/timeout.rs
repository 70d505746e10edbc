//! [`Timeout`], [`timeout`] and [`timeout_at`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use pin_project_lite::pin_project;

use super::error::Elapsed;
use super::sleep::{sleep, sleep_until, Sleep};

/// Runs `future` with a time limit of `duration`.
///
/// Resolves to `Ok(output)` if `future` completes first, `Err(Elapsed)` once the limit has
/// passed. The future is polled before the timer, so a future that is ready on the poll where
/// the limit passes still wins. Dropping the `Timeout` drops the future and cancels the timer.
///
/// # Panics
/// Polling the returned [`Timeout`] on a thread that runs no rpal runtime panics (once its inner
/// future is pending).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpal_rt::time::{sleep, timeout};
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
///     let slow = sleep(Duration::from_secs(3600));
///     assert!(timeout(Duration::from_micros(200), slow).await.is_err());
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        value: future,
        delay: sleep(duration),
    }
}

/// Runs `future` until `deadline` at the latest; see [`timeout`].
///
/// # Panics
/// Polling the returned [`Timeout`] on a thread that runs no rpal runtime panics (once its inner
/// future is pending).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpal_rt::time::{timeout_at, Instant};
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let deadline = Instant::now() + Duration::from_micros(200);
///     let result = timeout_at(deadline, std::future::pending::<()>()).await;
///     assert!(result.is_err());
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        value: future,
        delay: sleep_until(deadline),
    }
}

pin_project! {
    /// A future with a time limit. Created by [`timeout`] and [`timeout_at`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
    ///     let t = rpal_rt::time::timeout(Duration::from_millis(5), async { "done" });
    ///     assert!(t.deadline() > rpal_rt::time::Instant::now());
    ///     assert_eq!(t.await, Ok("done"));
    /// });
    /// ```
    #[derive(Debug)]
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timeout<F> {
        #[pin]
        value: F,
        delay: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The inner future.
    pub fn get_ref(&self) -> &F {
        &self.value
    }

    /// The inner future, mutably.
    pub fn get_mut(&mut self) -> &mut F {
        &mut self.value
    }

    /// Drops the timer and returns the inner future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let t = rpal_rt::time::timeout(Duration::from_secs(1), std::future::ready(3));
    /// let inner = t.into_inner();
    /// assert_eq!(futures::executor::block_on(inner), 3);
    /// ```
    pub fn into_inner(self) -> F {
        self.value
    }

    /// The instant the limit passes.
    pub fn deadline(&self) -> Instant {
        self.delay.deadline()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.value.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        // taskx: if the inner future spent the whole cooperative budget, the deadline must
        // still be able to fire, so the delay is then polled without a budget.
        let delay = Pin::new(this.delay);
        let fired = if crate::task::coop::has_budget_remaining() {
            delay.poll(cx)
        } else {
            crate::task::coop::with_unconstrained(|| delay.poll(cx))
        };
        match fired {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed::new())),
            Poll::Pending => Poll::Pending,
        }
    }
}
