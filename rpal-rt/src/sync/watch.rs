//! A single-producer, multi-consumer channel that keeps only the latest value: [`channel`].
//!
//! # State
//! * `value`: behind a reader-writer lock, so `borrow` is shared and cheap;
//! * under one mutex: `version` (bumped by every send, *while the value's write lock is held*, so
//!   a reader holding the read lock sees a version that matches the value), `tx_alive`,
//!   `receivers`, and `waiters` (receivers in `changed()`, all woken by each send and by the
//!   sender's drop) and `closed_waiters` (the sender in `closed()`).
//! * each [`Receiver`] keeps the version it last saw; `changed()` completes when they differ.
//!
//! Lock order: value lock, then the mutex. Do not hold a [`Ref`] across an `.await` or while
//! sending on the same thread: the send waits for the read lock to go.

use std::fmt;
use std::future::poll_fn;
use std::ops::Deref;
use std::task::Poll;

use super::lock;
use super::waiters::{WaitList, WakeList};
use crate::loom::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// Error types of [`watch`](self).
pub mod error {
    use std::fmt;

    /// No receiver exists; the value comes back.
    ///
    /// ```
    /// let (tx, rx) = rpal_rt::sync::watch::channel(0);
    /// drop(rx);
    /// assert_eq!(tx.send(1).unwrap_err().0, 1);
    /// ```
    #[derive(PartialEq, Eq, Clone, Copy)]
    pub struct SendError<T>(pub T);

    impl<T> fmt::Debug for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SendError").finish_non_exhaustive()
        }
    }
    impl<T> fmt::Display for SendError<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl<T> std::error::Error for SendError<T> {}

    /// The sender is gone (and the receiver saw its last value).
    ///
    /// ```
    /// let (tx, rx) = rpal_rt::sync::watch::channel(0);
    /// drop(tx);
    /// assert!(rx.has_changed().is_err());
    /// ```
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub struct RecvError(pub(super) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl std::error::Error for RecvError {}
}

pub use error::{RecvError, SendError};

struct Shared<T> {
    value: RwLock<T>,
    state: Mutex<State>,
}

struct State {
    version: u64,
    tx_alive: bool,
    receivers: usize,
    waiters: WaitList,
    closed_waiters: WaitList,
}

/// Creates a watch channel holding `init`.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = rpal_rt::sync::watch::channel("idle");
///     rpal_rt::spawn(async move {
///         tx.send("busy").unwrap();
///     });
///     rx.changed().await.unwrap();
///     assert_eq!(*rx.borrow_and_update(), "busy");
///     assert!(rx.changed().await.is_err()); // the sender is gone
/// });
/// ```
pub fn channel<T>(init: T) -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        value: RwLock::new(init),
        state: Mutex::new(State {
            version: 0,
            tx_alive: true,
            receivers: 1,
            waiters: WaitList::new(),
            closed_waiters: WaitList::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, seen: 0 },
    )
}

/// Publishes new values.
///
/// # Examples
/// ```
/// let (tx, rx) = rpal_rt::sync::watch::channel(1);
/// tx.send_modify(|v| *v += 1);
/// assert_eq!(*rx.borrow(), 2);
/// assert_eq!(tx.send_replace(5), 2);
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Reads the latest value and waits for changes; cloneable.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::watch::channel(0);
/// assert_eq!(rx.has_changed(), Ok(false));
/// tx.send(1).unwrap();
/// assert_eq!(rx.has_changed(), Ok(true));
/// assert_eq!(*rx.borrow_and_update(), 1);
/// assert_eq!(rx.has_changed(), Ok(false));
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    seen: u64,
}

/// A read borrow of the value; holds the value's read lock.
///
/// # Examples
/// ```
/// let (_tx, rx) = rpal_rt::sync::watch::channel(String::from("hi"));
/// let r = rpal_rt::sync::watch::Ref::has_changed(&rx.borrow());
/// assert!(!r);
/// ```
pub struct Ref<'a, T> {
    guard: RwLockReadGuard<'a, T>,
    changed: bool,
}

impl<T> Ref<'_, T> {
    /// True if the borrowed value was new to the receiver that borrowed it.
    pub fn has_changed(&self) -> bool {
        self.changed
    }
}

impl<T> Deref for Ref<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for Ref<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T> Sender<T> {
    /// Stores a new value and wakes every receiver waiting in `changed()`.
    ///
    /// # Errors
    /// [`SendError`] with the value, and nothing stored, if no receiver exists.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        if lock(&self.shared.state).receivers == 0 {
            return Err(SendError(value));
        }
        self.send_replace(value);
        Ok(())
    }

    /// Stores a new value even without receivers; returns the old one.
    pub fn send_replace(&self, value: T) -> T {
        let mut value = value;
        self.send_modify(|v| std::mem::swap(v, &mut value));
        value
    }

    /// Modifies the value in place and notifies the receivers.
    ///
    /// # Panics
    /// If `f` panics, the panic propagates; receivers are not notified.
    pub fn send_modify<F: FnOnce(&mut T)>(&self, f: F) {
        self.send_if_modified(|v| {
            f(v);
            true
        });
    }

    /// Modifies the value in place; notifies the receivers only if `f` returns true. Returns
    /// what `f` returned.
    ///
    /// # Panics
    /// If `f` panics, the panic propagates; receivers are not notified.
    pub fn send_if_modified<F: FnOnce(&mut T) -> bool>(&self, f: F) -> bool {
        let mut wakers = WakeList::new();
        let modified = {
            let mut v = self
                .shared
                .value
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let modified = f(&mut v);
            if modified {
                let mut st = lock(&self.shared.state);
                st.version += 1;
                st.waiters.drain_into(Some(1), &mut wakers);
            }
            modified
        };
        wakers.wake();
        modified
    }

    /// The current value.
    pub fn borrow(&self) -> Ref<'_, T> {
        Ref {
            guard: read(&self.shared.value),
            changed: false,
        }
    }

    /// A new receiver that has seen the current value.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            seen: st.version,
        }
    }

    /// How many receivers exist.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.state).receivers
    }

    /// True if no receiver exists.
    pub fn is_closed(&self) -> bool {
        self.receiver_count() == 0
    }

    /// Completes when every receiver is gone.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn closed(&self) {
        let mut key: Option<usize> = None;
        let guard = Unqueue {
            state: &self.shared.state,
            key: &mut key,
            closed_list: true,
        };
        poll_fn(|cx| {
            let mut st = lock(guard.state);
            if let Some(k) = guard.key.take() {
                st.closed_waiters.remove(k);
            }
            if st.receivers == 0 {
                return Poll::Ready(());
            }
            *guard.key = Some(st.closed_waiters.push_back(cx.waker(), 0));
            Poll::Pending
        })
        .await;
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.shared.state);
            st.tx_alive = false;
            st.waiters.drain_into(Some(0), &mut wakers);
        }
        wakers.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// The current value, without marking it seen.
    pub fn borrow(&self) -> Ref<'_, T> {
        let guard = read(&self.shared.value);
        let changed = lock(&self.shared.state).version != self.seen;
        Ref { guard, changed }
    }

    /// The current value, marking it seen.
    pub fn borrow_and_update(&mut self) -> Ref<'_, T> {
        let guard = read(&self.shared.value);
        let version = lock(&self.shared.state).version;
        let changed = version != self.seen;
        self.seen = version;
        Ref { guard, changed }
    }

    /// True if a value this receiver has not seen was sent.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone.
    pub fn has_changed(&self) -> Result<bool, RecvError> {
        let st = lock(&self.shared.state);
        if !st.tx_alive {
            return Err(RecvError(()));
        }
        Ok(st.version != self.seen)
    }

    /// Marks the current value seen.
    pub fn mark_unchanged(&mut self) {
        self.seen = lock(&self.shared.state).version;
    }

    /// Waits for a value this receiver has not seen, and marks it seen.
    ///
    /// # Errors
    /// [`RecvError`] once the sender is gone and the last value was seen.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `changed` marks nothing seen.
    pub async fn changed(&mut self) -> Result<(), RecvError> {
        let mut key: Option<usize> = None;
        let guard = Unqueue {
            state: &self.shared.state,
            key: &mut key,
            closed_list: false,
        };
        let seen = &mut self.seen;
        poll_fn(|cx| {
            let mut st = lock(guard.state);
            if let Some(k) = guard.key.take() {
                st.waiters.remove(k);
            }
            if st.version != *seen {
                *seen = st.version;
                return Poll::Ready(Ok(()));
            }
            if !st.tx_alive {
                return Poll::Ready(Err(RecvError(())));
            }
            *guard.key = Some(st.waiters.push_back(cx.waker(), 0));
            Poll::Pending
        })
        .await
    }

    /// Waits until the value satisfies `f` (checking the current value first) and returns it,
    /// marked seen.
    ///
    /// # Errors
    /// [`RecvError`] if the sender is gone before a value satisfied `f`.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn wait_for(
        &mut self,
        mut f: impl FnMut(&T) -> bool,
    ) -> Result<Ref<'_, T>, RecvError> {
        loop {
            {
                let r = self.borrow_and_update();
                if f(&r) {
                    break;
                }
            }
            self.changed().await?;
        }
        Ok(self.borrow())
    }

    /// True if both receivers watch the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.state).receivers += 1;
        Self {
            shared: self.shared.clone(),
            seen: self.seen,
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.shared.state);
            st.receivers -= 1;
            if st.receivers == 0 {
                st.closed_waiters.drain_into(Some(0), &mut wakers);
            }
        }
        wakers.wake();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("watch::Receiver")
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// Removes a pending wait's node when its future is dropped.
struct Unqueue<'a, 'k> {
    state: &'a Mutex<State>,
    key: &'k mut Option<usize>,
    closed_list: bool,
}

impl Drop for Unqueue<'_, '_> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            let mut st = lock(self.state);
            if self.closed_list {
                st.closed_waiters.remove(k);
            } else {
                st.waiters.remove(k);
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;
    use std::future::Future;
    use std::pin::pin;
    use std::task::Context;

    #[test]
    fn changed_sees_each_new_version_then_the_end() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, mut rx) = channel(0);
        {
            let mut c = pin!(rx.changed());
            assert!(c.as_mut().poll(&mut cx).is_pending());
            tx.send(1).unwrap();
            tx.send(2).unwrap(); // coalesced: only the latest is seen
            assert_eq!(c.as_mut().poll(&mut cx), Poll::Ready(Ok(())));
        }
        assert_eq!(*rx.borrow(), 2);
        assert!(!rx.borrow().has_changed());
        tx.send(3).unwrap();
        drop(tx);
        // An unseen value is reported before the end.
        assert_eq!(pin!(rx.changed()).poll(&mut cx), Poll::Ready(Ok(())));
        assert!(pin!(rx.changed()).poll(&mut cx).is_ready_and_err());
    }

    trait ReadyErr {
        fn is_ready_and_err(&self) -> bool;
    }
    impl<E> ReadyErr for Poll<Result<(), E>> {
        fn is_ready_and_err(&self) -> bool {
            matches!(self, Poll::Ready(Err(_)))
        }
    }

    #[test]
    fn send_without_receivers_fails_and_closed_completes() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, rx) = channel(0);
        let rx2 = rx.clone();
        {
            let mut closed = pin!(tx.closed());
            assert!(closed.as_mut().poll(&mut cx).is_pending());
            drop(rx);
            assert!(closed.as_mut().poll(&mut cx).is_pending());
            drop(rx2);
            assert!(closed.as_mut().poll(&mut cx).is_ready());
        }
        assert_eq!(tx.send(5), Err(SendError(5)));
        assert_eq!(tx.send_replace(6), 0);
        assert_eq!(*tx.borrow(), 6);
    }
}
