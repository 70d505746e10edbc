//! [`Sleep`], [`sleep`] and [`sleep_until`].
//!
//! A `Sleep` holds no timer until it is first polled; then it inserts one in the wheel of the
//! worker polling it. Polled later on another worker, it moves its timer to that worker's wheel
//! (the old wheel stays correct if it is not moved: the old worker would wake it from afar).
//! Dropping a `Sleep` cancels its timer. `Sleep` is `Unpin`: its timer lives in the wheel's slab,
//! not inside the future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::handle::TimeHandle;
use super::wheel::TimerKey;

/// Roughly 30 years: what a deadline that overflows [`Instant`] is clamped to.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// The message of the panic when a timer is polled with no runtime on the thread.
const NO_RUNTIME: &str = "rpal_rt::time::sleep polled outside an rpal runtime; timers need a \
                          worker's timer wheel: await it inside a task or Runtime::block_on";

/// `now + duration`, clamped to about 30 years from now when that overflows.
pub(super) fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + FAR_FUTURE)
}

/// Waits until `duration` has elapsed.
///
/// The timer fires on the worker that polls the returned future, at or after the deadline,
/// never before; an idle worker wakes at most one tick (10 µs by default) plus its own wake-up
/// latency late. Durations too large for [`Instant`] are clamped to about 30 years.
///
/// # Panics
/// Polling the returned [`Sleep`] on a thread that runs no rpal runtime panics.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let start = Instant::now();
///     rpal_rt::time::sleep(Duration::from_micros(250)).await;
///     assert!(start.elapsed() >= Duration::from_micros(250));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(deadline_after(duration))
}

/// Waits until `deadline`. A deadline in the past completes on the first poll.
///
/// # Panics
/// Polling the returned [`Sleep`] on a thread that runs no rpal runtime panics.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpal_rt::time::{sleep_until, Instant};
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let deadline = Instant::now() + Duration::from_micros(300);
///     sleep_until(deadline).await;
///     assert!(Instant::now() >= deadline);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// A future that completes at its deadline. Created by [`sleep`] and [`sleep_until`].
///
/// `Send + Sync + Unpin`; cancels its timer when dropped; can be moved to a new deadline with
/// [`Sleep::reset`].
///
/// # Panics
/// Polling a `Sleep` on a thread that runs no rpal runtime panics (unless it was already polled
/// inside one: it then keeps using that worker's timer).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let sleep = rpal_rt::time::sleep(Duration::from_micros(100));
///     let deadline = sleep.deadline();
///     sleep.await;
///     assert!(rpal_rt::time::Instant::now() >= deadline);
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    deadline: Instant,
    timer: Timer,
}

/// Where a `Sleep`'s timer is.
enum Timer {
    /// Not yet polled, or reset after it fired: no timer in any wheel.
    Unregistered,
    /// Live (or fired but not yet observed) in `handle`'s wheel under `key`.
    Registered { handle: TimeHandle, key: TimerKey },
    /// Completed; polls return `Ready` until a reset.
    Elapsed,
}

impl Sleep {
    fn new(deadline: Instant) -> Sleep {
        Sleep {
            deadline,
            timer: Timer::Unregistered,
        }
    }

    /// The instant this `Sleep` completes at.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpal_rt::time::{sleep_until, Instant};
    ///
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(sleep_until(deadline).deadline(), deadline);
    /// ```
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed as this `Sleep` sees it: it completed, its timer fired,
    /// or (not yet polled) the clock is past the deadline. Once true, the next poll is `Ready`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpal_rt::time::{sleep, sleep_until, Instant};
    ///
    /// assert!(!sleep(Duration::from_secs(60)).is_elapsed());
    /// assert!(sleep_until(Instant::now()).is_elapsed());
    /// ```
    pub fn is_elapsed(&self) -> bool {
        match &self.timer {
            Timer::Unregistered => Instant::now() >= self.deadline,
            Timer::Registered { handle, key } => !handle.is_live(*key),
            Timer::Elapsed => true,
        }
    }

    /// Moves the deadline to `deadline`, whether or not this `Sleep` had completed. A live timer
    /// moves in place (waking its worker if the new deadline is earlier than the one it parks
    /// for); otherwise a new timer is inserted on the next poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use rpal_rt::time::{sleep, Instant};
    ///
    /// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
    ///     let mut sleep = std::pin::pin!(sleep(Duration::from_secs(3600)));
    ///     let soon = Instant::now() + Duration::from_micros(200);
    ///     sleep.as_mut().reset(soon);
    ///     sleep.as_mut().await;
    ///     assert!(Instant::now() >= soon);
    /// });
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.deadline = deadline;
        let moved = match &this.timer {
            Timer::Registered { handle, key } => handle.reset(*key, deadline),
            Timer::Unregistered | Timer::Elapsed => false,
        };
        if !moved {
            this.timer = Timer::Unregistered;
        }
    }

    /// The poll, with the current worker's wheel passed in (`None`: no runtime on this thread).
    pub(super) fn poll_with(
        &mut self,
        cx: &mut Context<'_>,
        current: Option<TimeHandle>,
    ) -> Poll<()> {
        match &self.timer {
            Timer::Elapsed => Poll::Ready(()),
            Timer::Unregistered => {
                let Some(handle) = current else {
                    panic!("{NO_RUNTIME}");
                };
                if Instant::now() >= self.deadline {
                    self.timer = Timer::Elapsed;
                    return Poll::Ready(());
                }
                let key = handle.insert(self.deadline, cx.waker().clone());
                self.timer = Timer::Registered { handle, key };
                Poll::Pending
            }
            Timer::Registered { handle, key } => {
                let key = *key;
                if let Some(current) = current.filter(|c| !c.same_wheel(handle)) {
                    // Polled on another worker: move the timer to this worker's wheel.
                    if !handle.cancel(key) {
                        self.timer = Timer::Elapsed;
                        return Poll::Ready(());
                    }
                    let key = current.insert(self.deadline, cx.waker().clone());
                    self.timer = Timer::Registered {
                        handle: current,
                        key,
                    };
                    return Poll::Pending;
                }
                let polled = handle.poll(key, cx.waker());
                if polled.is_ready() {
                    self.timer = Timer::Elapsed;
                }
                polled
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Timer::Elapsed = this.timer {
            return Poll::Ready(());
        }
        // taskx: a timer that fires takes one unit of the task's cooperative budget.
        let mut unit = std::task::ready!(crate::task::coop::poll_proceed(cx));
        let res = this.poll_with(cx, TimeHandle::current());
        if res.is_ready() {
            unit.made_progress();
        }
        res
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Timer::Registered { handle, key } = &self.timer {
            handle.cancel(*key);
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.timer {
            Timer::Unregistered => "unregistered",
            Timer::Registered { .. } => "registered",
            Timer::Elapsed => "elapsed",
        };
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("timer", &state)
            .finish()
    }
}
