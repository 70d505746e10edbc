//! A channel for one value: [`channel`], [`Sender`], [`Receiver`] (a future), with tokio's API.
//!
//! # State (under one lock, in one `Arc`)
//! * `value`: set once by `send`, taken once by the receiver;
//! * `tx_done`: the sender sent or was dropped: the receiver's wait is over;
//! * `rx_closed`: the receiver closed or was dropped: `send` fails and `closed()` completes;
//! * `rx_waker` / `tx_waker`: the waiting side's waker, taken by the side that ends the wait.
//!
//! The one allocation is the `Arc` at creation; sending and receiving allocate nothing. Use
//! [`local::oneshot`](super::local::oneshot) when both ends stay on one worker.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::lock;
use crate::loom::sync::{Arc, Mutex};

/// Creates a one-value channel.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, rx) = rpal_rt::sync::oneshot::channel();
///     rpal_rt::spawn(async move { tx.send(42).unwrap() });
///     assert_eq!(rx.await, Ok(42));
/// });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Arc::new(Mutex::new(Inner {
        value: None,
        tx_done: false,
        rx_closed: false,
        rx_waker: None,
        tx_waker: None,
    }));
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

struct Inner<T> {
    value: Option<T>,
    tx_done: bool,
    rx_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// Error types of [`oneshot`](self).
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(crate) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl std::error::Error for RecvError {}

    /// [`Receiver::try_recv`](super::Receiver::try_recv) found no value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TryRecvError {
        /// Not sent yet.
        Empty,
        /// The sender was dropped without sending, or the value was already taken.
        Closed,
    }

    impl fmt::Display for TryRecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::Empty => f.write_str("channel empty"),
                Self::Closed => f.write_str("channel closed"),
            }
        }
    }
    impl std::error::Error for TryRecvError {}
}

pub use error::{RecvError, TryRecvError};

/// Sends the one value.
///
/// # Examples
/// ```
/// let (tx, rx) = rpal_rt::sync::oneshot::channel::<u8>();
/// drop(rx);
/// assert!(tx.is_closed());
/// assert_eq!(tx.send(1), Err(1));
/// ```
pub struct Sender<T> {
    inner: Option<Arc<Mutex<Inner<T>>>>,
}

/// Receives the one value; `.await` it.
///
/// # Examples
/// ```
/// use rpal_rt::sync::oneshot::{self, error::TryRecvError};
/// let (tx, mut rx) = oneshot::channel();
/// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
/// tx.send("v").unwrap();
/// assert_eq!(rx.try_recv(), Ok("v"));
/// ```
pub struct Receiver<T> {
    inner: Option<Arc<Mutex<Inner<T>>>>,
}

impl<T> Sender<T> {
    /// Sends the value.
    ///
    /// # Errors
    /// The value back if the receiver is gone or closed.
    pub fn send(mut self, value: T) -> Result<(), T> {
        let Some(inner) = self.inner.take() else {
            return Err(value);
        };
        let mut st = lock(&inner);
        if st.rx_closed {
            return Err(value);
        }
        st.value = Some(value);
        st.tx_done = true;
        let w = st.rx_waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// True once the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            Some(i) => lock(i).rx_closed,
            None => true,
        }
    }

    /// Completes when the receiver is dropped or closed.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn closed(&mut self) {
        poll_fn(|cx| self.poll_closed(cx)).await;
    }

    /// Polls for the receiver's end.
    pub fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(inner) = &self.inner else {
            return Poll::Ready(());
        };
        let mut st = lock(inner);
        if st.rx_closed {
            return Poll::Ready(());
        }
        match &st.tx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.tx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let w = {
                let mut st = lock(&inner);
                st.tx_done = true;
                st.rx_waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] before the send; [`TryRecvError::Closed`] if the sender dropped
    /// without sending or the value was already taken.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let mut st = lock(inner);
        if let Some(v) = st.value.take() {
            drop(st);
            self.inner = None;
            return Ok(v);
        }
        if st.tx_done {
            Err(TryRecvError::Closed)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Blocks the thread until the value comes (never on a runtime worker).
    ///
    /// # Errors
    /// [`RecvError`] if the sender dropped without sending.
    pub fn blocking_recv(self) -> Result<T, RecvError> {
        futures::executor::block_on(self)
    }

    /// Refuses the value from now on: a later `send` fails, `Sender::closed` completes. A value
    /// sent before can still be received.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            let w = {
                let mut st = lock(inner);
                st.rx_closed = true;
                st.tx_waker.take()
            };
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// True once the value was received or can no longer come.
    pub fn is_terminated(&self) -> bool {
        self.inner.is_none()
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    /// # Cancel safety
    /// Dropping the receiver before it completes drops a value already sent.
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(inner) = &self.inner else {
            return Poll::Ready(Err(RecvError(())));
        };
        let mut st = lock(inner);
        if let Some(v) = st.value.take() {
            drop(st);
            self.inner = None;
            return Poll::Ready(Ok(v));
        }
        if st.tx_done {
            drop(st);
            self.inner = None;
            return Poll::Ready(Err(RecvError(())));
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let (w, v) = {
                let mut st = lock(&inner);
                st.rx_closed = true;
                (st.tx_waker.take(), st.value.take())
            };
            drop(v);
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn dropped_sender_is_an_error_and_closed_fires() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, mut rx) = channel::<u8>();
        drop(tx);
        assert_eq!(
            Pin::new(&mut rx).poll(&mut cx),
            Poll::Ready(Err(RecvError(())))
        );
        let (mut tx, mut rx) = channel::<u8>();
        assert!(tx.poll_closed(&mut cx).is_pending());
        rx.close();
        assert!(tx.poll_closed(&mut cx).is_ready());
        assert_eq!(tx.send(3), Err(3));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::thread;

    #[test]
    fn loom_oneshot_send_vs_recv() {
        loom::model(|| {
            let (tx, rx) = channel::<u8>();
            let t = thread::spawn(move || tx.send(7).unwrap());
            assert_eq!(crate::loom::block_on(rx), Ok(7));
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_oneshot_send_vs_receiver_drop() {
        loom::model(|| {
            let (tx, rx) = channel::<Arc<u8>>();
            let v = Arc::new(1);
            let v2 = v.clone();
            let t = thread::spawn(move || tx.send(v2).is_ok());
            drop(rx);
            let _ = t.join().unwrap();
            // Whether or not the send won, the value was dropped exactly once.
            assert_eq!(Arc::strong_count(&v), 1);
        });
    }

    #[test]
    fn loom_oneshot_closed_vs_receiver_drop() {
        loom::model(|| {
            let (mut tx, rx) = channel::<u8>();
            let t = thread::spawn(move || drop(rx));
            crate::loom::block_on(tx.closed());
            t.join().unwrap();
        });
    }
}
