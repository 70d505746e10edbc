//! [`Notify`]: wake one task or all, with a stored permit for a `notify_one` that finds nobody.
//!
//! # State (under one lock)
//! * `permit`: at most one stored notification, set by `notify_one` when no waiter is queued and
//!   consumed by the next `notified()`;
//! * `waiters`: queued `Notified` futures; a node's value is [`NOTIFIED_ONE`] or [`NOTIFIED_ALL`]
//!   once woken;
//! * `generation`: counts `notify_waiters` calls. A `Notified` records it when created, so a
//!   `notify_waiters` after creation reaches it even if it was never polled (as tokio documents).
//!   Written under the lock; read once at creation without it.
//!
//! A `Notified` woken by `notify_one` and dropped before it saw the notification passes it on (to
//! the next waiter, else into the permit), so no notification is lost to cancellation.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::lock;
use super::waiters::{WaitList, WaitState, WakeList};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

/// Node value of a waiter handed a `notify_one`.
const NOTIFIED_ONE: usize = 1;
/// Node value of a waiter woken by `notify_waiters`.
const NOTIFIED_ALL: usize = 2;

/// Notifies one task or all waiting tasks; no data is carried.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use rpal_rt::sync::Notify;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let notify = Arc::new(Notify::new());
///     let n2 = notify.clone();
///     let waiter = rpal_rt::spawn(async move { n2.notified().await; "woken" });
///     notify.notify_one(); // stored as a permit if the waiter has not queued yet
///     assert_eq!(waiter.await.unwrap(), "woken");
/// });
/// ```
pub struct Notify {
    state: Mutex<State>,
    generation: AtomicUsize,
}

struct State {
    permit: bool,
    waiters: WaitList,
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").finish_non_exhaustive()
    }
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(State {
                permit: false,
                waiters: WaitList::new(),
            }),
            generation: AtomicUsize::new(0),
        }
    }

    /// A future that completes on the next notification.
    ///
    /// # Cancel safety
    /// Dropping it is safe: it leaves the queue, and if a `notify_one` had already chosen it, the
    /// notification goes to the next waiter (or is stored as the permit).
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.load(Ordering::SeqCst),
            key: None,
            done: false,
        }
    }

    /// Wakes the longest-waiting task, or stores a permit for the next `notified()` if none waits
    /// (at most one permit is stored).
    pub fn notify_one(&self) {
        let waker = {
            let mut st = lock(&self.state);
            if st.waiters.is_empty() {
                st.permit = true;
                None
            } else {
                st.waiters.pop_front(NOTIFIED_ONE)
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wakes every task waiting now, and every `Notified` created before this call; stores no
    /// permit.
    pub fn notify_waiters(&self) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.state);
            self.generation.fetch_add(1, Ordering::SeqCst);
            st.waiters.drain_into(Some(NOTIFIED_ALL), &mut wakers);
        }
        wakers.wake();
    }

    /// Hands a notification that a dropped waiter had received to the next one.
    fn pass_on(&self, st: &mut State) -> Option<std::task::Waker> {
        if st.waiters.is_empty() {
            st.permit = true;
            None
        } else {
            st.waiters.pop_front(NOTIFIED_ONE)
        }
    }
}

/// The future of [`Notify::notified`].
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let n = rpal_rt::sync::Notify::new();
///     let fut = n.notified(); // registered for notify_waiters from here on
///     n.notify_waiters();
///     fut.await;
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: usize,
    key: Option<usize>,
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let mut st = lock(&this.notify.state);
        match this.key {
            None => {
                // A notify_waiters since creation reaches us (and leaves the permit alone).
                let gen_moved = this.notify.generation.load(Ordering::SeqCst) != this.generation;
                if gen_moved || std::mem::take(&mut st.permit) {
                    this.done = true;
                    return Poll::Ready(());
                }
                this.key = Some(st.waiters.push_back(cx.waker(), 0));
                Poll::Pending
            }
            Some(key) => match st.waiters.state(key) {
                WaitState::Linked(_) => {
                    st.waiters.set_waker(key, cx.waker());
                    Poll::Pending
                }
                WaitState::Woken(_) => {
                    st.waiters.remove(key);
                    this.key = None;
                    this.done = true;
                    Poll::Ready(())
                }
            },
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let waker = {
            let mut st = lock(&self.notify.state);
            match st.waiters.remove(key) {
                WaitState::Woken(NOTIFIED_ONE) => self.notify.pass_on(&mut st),
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("done", &self.done)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    fn poll(f: &mut Pin<Box<Notified<'_>>>) -> Poll<()> {
        let w = noop_waker();
        f.as_mut().poll(&mut Context::from_waker(&w))
    }

    #[test]
    fn permit_is_stored_once() {
        let n = Notify::new();
        n.notify_one();
        n.notify_one();
        assert!(poll(&mut Box::pin(n.notified())).is_ready());
        assert!(poll(&mut Box::pin(n.notified())).is_pending());
    }

    #[test]
    fn dropped_notified_passes_notification_on() {
        let n = Notify::new();
        let mut a = Box::pin(n.notified());
        let mut b = Box::pin(n.notified());
        assert!(poll(&mut a).is_pending());
        assert!(poll(&mut b).is_pending());
        n.notify_one(); // goes to a (FIFO)
        drop(a);
        assert!(poll(&mut b).is_ready());
        // With nobody left, a passed-on notification becomes the permit.
        let mut c = Box::pin(n.notified());
        assert!(poll(&mut c).is_pending());
        n.notify_one();
        drop(c);
        assert!(poll(&mut Box::pin(n.notified())).is_ready());
    }

    #[test]
    fn notify_waiters_reaches_unpolled_and_stores_nothing() {
        let n = Notify::new();
        let mut a = Box::pin(n.notified());
        let mut b = Box::pin(n.notified());
        assert!(poll(&mut b).is_pending());
        n.notify_waiters();
        assert!(poll(&mut a).is_ready());
        assert!(poll(&mut b).is_ready());
        assert!(poll(&mut Box::pin(n.notified())).is_pending());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    #[test]
    fn loom_notify_one_vs_notified_never_lost() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_one());
            crate::loom::block_on(n.notified());
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_notify_dropped_waiter_passes_on() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_one());
            {
                let mut a = Box::pin(n.notified());
                let w = futures::task::noop_waker();
                let _ = a.as_mut().poll(&mut Context::from_waker(&w));
                // `a` may or may not hold the notification; if it was handed one, it must
                // pass it on when dropped (if it completed, it consumed it: re-store).
                if a.done {
                    n.notify_one();
                }
            }
            t.join().unwrap();
            crate::loom::block_on(n.notified());
        });
    }

    #[test]
    fn loom_notify_waiters_vs_registration() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let fut = n.notified();
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_waiters());
            crate::loom::block_on(fut);
            t.join().unwrap();
        });
    }
}
