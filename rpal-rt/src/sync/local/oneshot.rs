//! A `!Send` one-value channel for tasks on one worker; see [`local`](super) for when to use it.
//! Same API as [`sync::oneshot`](crate::sync::oneshot).

use std::cell::RefCell;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub use crate::sync::oneshot::error::{RecvError, TryRecvError};

struct Inner<T> {
    value: Option<T>,
    tx_done: bool,
    rx_closed: bool,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
}

/// Creates a `!Send` one-value channel.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, rx) = rpal_rt::sync::local::oneshot::channel();
///     rpal_rt::spawn_local(async move { tx.send(std::rc::Rc::new(5)).unwrap() });
///     assert_eq!(*rx.await.unwrap(), 5);
/// });
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
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

/// Sends the one value (`!Send`).
///
/// ```compile_fail
/// fn is_send<T: Send>(_: T) {}
/// let (tx, _rx) = rpal_rt::sync::local::oneshot::channel::<u8>();
/// is_send(tx);
/// ```
pub struct Sender<T> {
    inner: Option<Rc<RefCell<Inner<T>>>>,
}

/// Receives the one value; `.await` it (`!Send`).
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::local::oneshot::channel();
/// tx.send(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub struct Receiver<T> {
    inner: Option<Rc<RefCell<Inner<T>>>>,
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
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
        let mut st = inner.borrow_mut();
        if st.rx_closed {
            return Err(value);
        }
        st.value = Some(value);
        st.tx_done = true;
        let w = st.rx_waker.take();
        drop(st);
        wake(w);
        Ok(())
    }

    /// True once the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            Some(i) => i.borrow().rx_closed,
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
        let mut st = inner.borrow_mut();
        if st.rx_closed {
            return Poll::Ready(());
        }
        st.tx_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let w = {
                let mut st = inner.borrow_mut();
                st.tx_done = true;
                st.rx_waker.take()
            };
            wake(w);
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::oneshot::Sender")
            .finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Closed`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let Some(inner) = &self.inner else {
            return Err(TryRecvError::Closed);
        };
        let mut st = inner.borrow_mut();
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

    /// Refuses the value from now on.
    pub fn close(&mut self) {
        if let Some(inner) = &self.inner {
            let w = {
                let mut st = inner.borrow_mut();
                st.rx_closed = true;
                st.tx_waker.take()
            };
            wake(w);
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.try_recv() {
            Ok(v) => Poll::Ready(Ok(v)),
            Err(TryRecvError::Closed) => {
                self.inner = None;
                Poll::Ready(Err(RecvError(())))
            }
            Err(TryRecvError::Empty) => {
                if let Some(inner) = &self.inner {
                    inner.borrow_mut().rx_waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let (w, v) = {
                let mut st = inner.borrow_mut();
                st.rx_closed = true;
                (st.tx_waker.take(), st.value.take())
            };
            drop(v);
            wake(w);
        }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::oneshot::Receiver")
            .finish_non_exhaustive()
    }
}
