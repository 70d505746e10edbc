//! A multi-producer, multi-consumer channel where every receiver sees every value: [`channel`].
//!
//! # State (under one lock)
//! * `buf`: the last `capacity` values with `tail`, the sequence number the next value gets; the
//!   oldest buffered value has sequence `tail - buf.len()`;
//! * each [`Receiver`] holds `next`, the sequence it reads next. If `next` fell out of the
//!   buffer, its next `recv` reports [`RecvError::Lagged`] with the number missed and jumps to
//!   the oldest value still held;
//! * `waiters`: receivers waiting for `tail` to move, all woken by each send (or by the last
//!   sender's drop);
//! * `senders`, `receivers`: handle counts.
//!
//! Values stay in the buffer until overwritten (not until every receiver saw them).

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::task::Poll;

use super::lock;
use super::waiters::{WaitList, WakeList};
use crate::loom::sync::{Arc, Mutex};

/// Error types of [`broadcast`](self).
pub mod error {
    use std::fmt;

    /// No receiver exists; the value comes back.
    /// ```
    /// let (tx, rx) = rpal_rt::sync::broadcast::channel(1);
    /// drop(rx);
    /// assert_eq!(tx.send(5).unwrap_err().0, 5);
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

    /// [`Receiver::recv`](super::Receiver::recv) failed.
    /// ```
    /// use rpal_rt::sync::broadcast::{channel, error::RecvError};
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// let (tx, mut rx) = channel::<u8>(1);
    /// drop(tx);
    /// assert_eq!(rt.block_on(rx.recv()), Err(RecvError::Closed));
    /// ```
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum RecvError {
        /// Every sender is gone and this receiver saw every value.
        Closed,
        /// This receiver fell behind; this many values were overwritten before it read them.
        Lagged(u64),
    }

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Closed => f.write_str("channel closed"),
                Self::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }
    impl std::error::Error for RecvError {}

    /// [`Receiver::try_recv`](super::Receiver::try_recv) failed.
    /// ```
    /// use rpal_rt::sync::broadcast::{channel, error::TryRecvError};
    /// let (_tx, mut rx) = channel::<u8>(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// ```
    #[derive(Debug, PartialEq, Eq, Clone, Copy)]
    pub enum TryRecvError {
        /// No new value now.
        Empty,
        /// Every sender is gone and this receiver saw every value.
        Closed,
        /// This receiver fell behind by this many values.
        Lagged(u64),
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Empty => f.write_str("channel empty"),
                Self::Closed => f.write_str("channel closed"),
                Self::Lagged(n) => write!(f, "channel lagged by {n}"),
            }
        }
    }
    impl std::error::Error for TryRecvError {}
}

pub use error::{RecvError, SendError, TryRecvError};

struct Shared<T> {
    capacity: usize,
    state: Mutex<State<T>>,
}

struct State<T> {
    buf: VecDeque<T>,
    tail: u64,
    senders: usize,
    receivers: usize,
    waiters: WaitList,
}

/// Creates a broadcast channel keeping the last `capacity` values.
///
/// # Panics
/// If `capacity` is 0.
///
/// # Examples
/// ```
/// use rpal_rt::sync::broadcast::{self, error::RecvError};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut a) = broadcast::channel(2);
///     let mut b = tx.subscribe();
///     for i in 0..3 {
///         tx.send(i).unwrap();
///     }
///     assert_eq!(a.recv().await, Err(RecvError::Lagged(1))); // 0 was overwritten
///     assert_eq!(a.recv().await, Ok(1));
///     assert_eq!(b.try_recv(), Err(broadcast::error::TryRecvError::Lagged(1)));
///     drop(tx);
///     assert_eq!(a.recv().await, Ok(2));
///     assert_eq!(a.recv().await, Err(RecvError::Closed));
/// });
/// ```
pub fn channel<T: Clone>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "broadcast channel capacity must be > 0");
    let shared = Arc::new(Shared {
        capacity,
        state: Mutex::new(State {
            buf: VecDeque::with_capacity(capacity),
            tail: 0,
            senders: 1,
            receivers: 1,
            waiters: WaitList::new(),
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared, next: 0 },
    )
}

/// Sends to every receiver; cloneable.
///
/// # Examples
/// ```
/// let (tx, rx) = rpal_rt::sync::broadcast::channel::<u8>(4);
/// assert_eq!(tx.send(1).unwrap(), 1); // one receiver
/// drop(rx);
/// assert!(tx.send(2).is_err());
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// Receives every value sent after it subscribed.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::broadcast::channel(4);
/// tx.send("a").unwrap();
/// assert_eq!(rx.try_recv(), Ok("a"));
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    next: u64,
}

impl<T> Sender<T> {
    /// Sends to every current receiver; returns how many there are.
    ///
    /// # Errors
    /// [`SendError`] with the value if there is no receiver.
    pub fn send(&self, value: T) -> Result<usize, SendError<T>> {
        let mut wakers = WakeList::new();
        let (n, old) = {
            let mut st = lock(&self.shared.state);
            if st.receivers == 0 {
                return Err(SendError(value));
            }
            let old = if st.buf.len() == self.shared.capacity {
                st.buf.pop_front()
            } else {
                None
            };
            st.buf.push_back(value);
            st.tail += 1;
            st.waiters.drain_into(Some(1), &mut wakers);
            (st.receivers, old)
        };
        drop(old);
        wakers.wake();
        Ok(n)
    }

    /// A new receiver that sees values sent from now on.
    pub fn subscribe(&self) -> Receiver<T> {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        Receiver {
            shared: self.shared.clone(),
            next: st.tail,
        }
    }

    /// How many receivers exist.
    pub fn receiver_count(&self) -> usize {
        lock(&self.shared.state).receivers
    }

    /// Values currently buffered.
    pub fn len(&self) -> usize {
        lock(&self.shared.state).buf.len()
    }

    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.shared.state).senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.shared.state);
            st.senders -= 1;
            if st.senders == 0 {
                st.waiters.drain_into(Some(0), &mut wakers);
            }
        }
        wakers.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Sender").finish_non_exhaustive()
    }
}

impl<T: Clone> Receiver<T> {
    /// Receives the next value.
    ///
    /// # Errors
    /// [`RecvError::Lagged`] if values were overwritten before this receiver read them (the next
    /// call returns the oldest one still held); [`RecvError::Closed`] when every sender is gone
    /// and everything was read.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `recv` took no value.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        let mut key = None;
        let guard = KeyGuard {
            shared: &self.shared,
            key: &mut key,
        };
        let next = &mut self.next;
        poll_fn(|cx| {
            let mut st = lock(&guard.shared.state);
            // Leave the queue (woken or not) and look again; requeue below if still empty.
            if let Some(k) = guard.key.take() {
                st.waiters.remove(k);
            }
            match take(&st, next) {
                Err(TryRecvError::Empty) => {
                    *guard.key = Some(st.waiters.push_back(cx.waker(), 0));
                    Poll::Pending
                }
                Err(TryRecvError::Closed) => Poll::Ready(Err(RecvError::Closed)),
                Err(TryRecvError::Lagged(n)) => Poll::Ready(Err(RecvError::Lagged(n))),
                Ok(v) => Poll::Ready(Ok(v)),
            }
        })
        .await
    }

    /// Receives a value if one is ready.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`], [`TryRecvError::Lagged`] or [`TryRecvError::Closed`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let st = lock(&self.shared.state);
        take(&st, &mut self.next)
    }

    /// A new receiver on the same channel that sees values sent from now on.
    pub fn resubscribe(&self) -> Self {
        let mut st = lock(&self.shared.state);
        st.receivers += 1;
        Self {
            shared: self.shared.clone(),
            next: st.tail,
        }
    }
}

impl<T> Receiver<T> {
    /// Values this receiver has not read yet (at most the capacity).
    pub fn len(&self) -> usize {
        let st = lock(&self.shared.state);
        (st.tail - self.next.max(st.tail - st.buf.len() as u64)) as usize
    }

    /// True if there is nothing new to read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Reads the value at `*next` (or reports lag / end), advancing `next`.
fn take<T: Clone>(st: &State<T>, next: &mut u64) -> Result<T, TryRecvError> {
    let oldest = st.tail - st.buf.len() as u64;
    if *next < oldest {
        let missed = oldest - *next;
        *next = oldest;
        return Err(TryRecvError::Lagged(missed));
    }
    if *next == st.tail {
        return Err(if st.senders == 0 {
            TryRecvError::Closed
        } else {
            TryRecvError::Empty
        });
    }
    let v = st.buf[(*next - oldest) as usize].clone();
    *next += 1;
    Ok(v)
}

/// Removes a pending `recv`'s wait-list node when the future is dropped.
struct KeyGuard<'a, 'k, T> {
    shared: &'a Shared<T>,
    key: &'k mut Option<usize>,
}

impl<T> Drop for KeyGuard<'_, '_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            lock(&self.shared.state).waiters.remove(k);
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        lock(&self.shared.state).receivers -= 1;
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("broadcast::Receiver")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lag_then_catch_up() {
        let (tx, mut rx) = channel(2);
        for i in 0..5 {
            tx.send(i).unwrap();
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Lagged(3)));
        assert_eq!(rx.try_recv(), Ok(3));
        assert_eq!(rx.try_recv(), Ok(4));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        let mut late = tx.subscribe();
        assert_eq!(late.try_recv(), Err(TryRecvError::Empty));
        drop(tx);
        assert_eq!(late.try_recv(), Err(TryRecvError::Closed));
    }
}
