//! A channel for one value: [`channel`], [`Sender`], [`Receiver`] (a future), with tokio's API.
//!
//! # The state word
//! One `AtomicUsize` per channel (`COMPLETE`, `CLOSED`, `RX_WAKER`, `TX_WAKER`), beside
//! three cells: the value, the receiver's waker, the sender's waker. Who may touch which cell:
//! * **value**: the sender, until it sets `COMPLETE` (with `AcqRel`, after writing); from then on
//!   the receiver. `send` sets `COMPLETE` by CAS only while `CLOSED` is clear; if the receiver
//!   closed first, the send fails and the sender takes the value back. A dropped sender sets
//!   `COMPLETE` with the cell empty: the receiver gets `RecvError`.
//! * **receiver's waker**: the receiver, while `RX_WAKER` is clear. It writes the waker, then sets
//!   `RX_WAKER`; to replace it, it first clears `RX_WAKER` by CAS, which fails once `COMPLETE` is
//!   set. The sender, having set `COMPLETE` over a set `RX_WAKER`, reads (wakes) it: the receiver
//!   no longer touches it.
//! * **sender's waker** (for `closed()`): the mirror image, with `TX_WAKER` and `CLOSED`; the
//!   receiver wakes it when it sets `CLOSED` over a set `TX_WAKER`.
//!
//! The one allocation is the `Arc` at creation; sending and receiving take no lock. Use
//! [`local::oneshot`](super::local::oneshot) when both ends stay on one worker.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use crate::loom::cell::UnsafeCell;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Arc;

/// The sender is done: it wrote the value, or dropped without one. Set once, by the sender.
const COMPLETE: usize = 0b0001;
/// The receiver refuses the value (closed or dropped). Set once, by the receiver.
const CLOSED: usize = 0b0010;
/// The receiver's waker cell holds a waker the sender may wake.
const RX_WAKER: usize = 0b0100;
/// The sender's waker cell holds a waker the receiver may wake.
const TX_WAKER: usize = 0b1000;

/// A copy of the state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snapshot(usize);

impl Snapshot {
    fn is(self, bit: usize) -> bool {
        self.0 & bit != 0
    }
}

struct Inner<T> {
    state: AtomicUsize,
    value: UnsafeCell<Option<T>>,
    rx_waker: UnsafeCell<Option<Waker>>,
    tx_waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cells are accessed under the ownership rules of the module doc (one side at a
// time, handed over by the state word with acquire/release ordering); T moves between threads.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: as above; `&Inner` never gives out `&T`.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    fn load(&self) -> Snapshot {
        Snapshot(self.state.load(Ordering::Acquire))
    }

    fn fetch_or(&self, bit: usize) -> Snapshot {
        Snapshot(self.state.fetch_or(bit, Ordering::AcqRel))
    }

    /// Takes the value. Only the receiver calls this, after seeing `COMPLETE`.
    fn take_value(&self) -> Option<T> {
        // SAFETY: `COMPLETE` was observed with Acquire: the sender's write happened before and
        // the cell belongs to the receiver now.
        self.value.with_mut(|v| unsafe { (*v).take() })
    }

    /// Stores `waker` in the cell guarded by `bit`, unless `stop` is set; returns the snapshot
    /// that ended the attempt (`stop` set in it means: not stored, or stored too late).
    fn register(
        &self,
        cell: &UnsafeCell<Option<Waker>>,
        bit: usize,
        stop: usize,
        waker: &Waker,
    ) -> Snapshot {
        let mut cur = self.load();
        if cur.is(stop) {
            return cur;
        }
        if cur.is(bit) {
            // SAFETY: with `bit` set, nobody writes the cell (the other side only reads it, to
            // wake it); reading it here to compare is a read too.
            let same = cell.with(|w| unsafe { (*w).as_ref().is_some_and(|w| w.will_wake(waker)) });
            if same {
                return cur;
            }
            // Take the cell back: clear `bit` unless `stop` appears.
            loop {
                if cur.is(stop) {
                    return cur;
                }
                match self.state.compare_exchange_weak(
                    cur.0,
                    cur.0 & !bit,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(actual) => cur = Snapshot(actual),
                }
            }
        }
        // SAFETY: `bit` is clear, so the other side never reads the cell; we are its only user.
        cell.with_mut(|w| unsafe { *w = Some(waker.clone()) });
        self.fetch_or(bit)
    }

    /// Wakes the waker in `cell` (the caller saw its `bit` set when it set its own stop bit).
    /// Only reads the cell: its owner may still be reading it to compare wakers, and stops
    /// touching it once it sees the stop bit. The waker is dropped with the channel.
    fn wake(&self, cell: &UnsafeCell<Option<Waker>>) {
        // SAFETY: the owner wrote the cell before setting `bit` (we acquired that) and, with our
        // stop bit set, never writes it again; concurrent accesses are reads only.
        cell.with(|w| unsafe {
            if let Some(w) = &*w {
                w.wake_by_ref();
            }
        });
    }
}

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
    let inner = Arc::new(Inner {
        state: AtomicUsize::new(0),
        value: UnsafeCell::new(None),
        rx_waker: UnsafeCell::new(None),
        tx_waker: UnsafeCell::new(None),
    });
    (
        Sender {
            inner: Some(inner.clone()),
        },
        Receiver { inner: Some(inner) },
    )
}

/// Error types of [`oneshot`](self).
pub mod error {
    use std::fmt;

    /// The sender was dropped without sending.
    ///
    /// ```
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// let (tx, rx) = rpal_rt::sync::oneshot::channel::<u8>();
    /// drop(tx);
    /// assert!(rt.block_on(rx).is_err());
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct RecvError(pub(crate) ());

    impl fmt::Display for RecvError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("channel closed")
        }
    }
    impl std::error::Error for RecvError {}

    /// [`Receiver::try_recv`](super::Receiver::try_recv) found no value.
    ///
    /// ```
    /// use rpal_rt::sync::oneshot::{channel, error::TryRecvError};
    /// let (tx, mut rx) = channel::<u8>();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
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
    inner: Option<Arc<Inner<T>>>,
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
    inner: Option<Arc<Inner<T>>>,
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
        // SAFETY: `COMPLETE` is clear (only this consumed sender sets it): the cell is ours.
        inner.value.with_mut(|v| unsafe { *v = Some(value) });
        let mut cur = inner.load();
        loop {
            if cur.is(CLOSED) {
                // The receiver will never read: take the value back.
                // SAFETY: `COMPLETE` is still clear: the cell is still ours.
                let v = inner.value.with_mut(|v| unsafe { (*v).take() });
                return match v {
                    Some(v) => Err(v),
                    None => Ok(()),
                };
            }
            match inner.state.compare_exchange_weak(
                cur.0,
                cur.0 | COMPLETE,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = Snapshot(actual),
            }
        }
        if cur.is(RX_WAKER) {
            inner.wake(&inner.rx_waker);
        }
        Ok(())
    }

    /// True once the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        match &self.inner {
            Some(i) => i.load().is(CLOSED),
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
        let s = inner.register(&inner.tx_waker, TX_WAKER, CLOSED, cx.waker());
        if s.is(CLOSED) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let prev = inner.fetch_or(COMPLETE);
            if prev.is(RX_WAKER) && !prev.is(CLOSED) {
                inner.wake(&inner.rx_waker);
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
        if !inner.load().is(COMPLETE) {
            return Err(TryRecvError::Empty);
        }
        let v = inner.take_value();
        self.inner = None;
        v.ok_or(TryRecvError::Closed)
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
            let prev = inner.fetch_or(CLOSED);
            if prev.is(TX_WAKER) && !prev.is(COMPLETE) {
                inner.wake(&inner.tx_waker);
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
        let s = inner.register(&inner.rx_waker, RX_WAKER, COMPLETE, cx.waker());
        if !s.is(COMPLETE) {
            return Poll::Pending;
        }
        let v = inner.take_value();
        self.inner = None;
        Poll::Ready(v.ok_or(RecvError(())))
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            let prev = inner.fetch_or(CLOSED);
            if prev.is(TX_WAKER) && !prev.is(COMPLETE) {
                inner.wake(&inner.tx_waker);
            }
            if prev.is(COMPLETE) {
                drop(inner.take_value());
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
    fn loom_oneshot_waker_replaced_while_sending() {
        loom::model(|| {
            let (tx, mut rx) = channel::<u8>();
            let t = thread::spawn(move || tx.send(1).unwrap());
            let w = futures::task::noop_waker();
            let first = Pin::new(&mut rx).poll(&mut Context::from_waker(&w));
            let got = match first {
                Poll::Ready(v) => v,
                // The second poll comes with another waker: the replacement path.
                Poll::Pending => crate::loom::block_on(rx),
            };
            assert_eq!(got, Ok(1));
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_oneshot_closed_waker_replaced_while_closing() {
        loom::model(|| {
            let (mut tx, mut rx) = channel::<u8>();
            let t = thread::spawn(move || rx.close());
            let w = futures::task::noop_waker();
            if tx.poll_closed(&mut Context::from_waker(&w)).is_pending() {
                crate::loom::block_on(tx.closed());
            }
            assert!(tx.send(1).is_err());
            t.join().unwrap();
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
