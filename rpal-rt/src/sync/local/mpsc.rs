//! A `!Send` bounded multi-producer channel for tasks on one worker; see [`local`](super) for
//! when to use it. Same API as [`sync::mpsc::channel`](crate::sync::mpsc::channel).
//!
//! State and invariants are those of the `Send` channel (`sync/mpsc/chan.rs`): a queue, a count
//! of reserved slots, a FIFO wait list of senders to which freed slots are handed, in a
//! `RefCell` instead of behind a lock.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::sync::waiters::{WaitList, WaitState, WakeList};

pub use crate::sync::mpsc::error::{SendError, TryRecvError, TrySendError};

/// Node value: handed a slot.
const SLOT: usize = 1;
/// Most slots allocated up front.
const PREALLOC_MAX: usize = 1024;

struct State<T> {
    queue: VecDeque<T>,
    cap: usize,
    reserved: usize,
    senders: usize,
    rx_closed: bool,
    rx_waker: Option<Waker>,
    send_waiters: WaitList,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.send_waiters.is_empty() && self.queue.len() + self.reserved < self.cap
    }

    /// A reservation ends unused (see the `Send` channel's `unreserve`).
    fn unreserve(&mut self, wakers: &mut WakeList) {
        self.reserved -= 1;
        self.slot_freed(wakers);
        if self.reserved == 0 && (self.rx_closed || self.senders == 0) {
            wakers.push(self.rx_waker.take());
        }
    }

    fn slot_freed(&mut self, wakers: &mut WakeList) {
        if !self.rx_closed && !self.send_waiters.is_empty() {
            self.reserved += 1;
            wakers.push(self.send_waiters.pop_front(SLOT));
        }
    }
}

type Shared<T> = Rc<RefCell<State<T>>>;

/// Creates a `!Send` bounded channel of `buffer` slots.
///
/// # Panics
/// If `buffer` is 0.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = rpal_rt::sync::local::mpsc::channel(1);
///     rpal_rt::spawn_local(async move {
///         for i in 0..3 {
///             tx.send(std::rc::Rc::new(i)).await.unwrap();
///         }
///     });
///     let mut sum = 0;
///     while let Some(v) = rx.recv().await {
///         sum += *v;
///     }
///     assert_eq!(sum, 3);
/// });
/// ```
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    assert!(buffer > 0, "mpsc bounded channel requires buffer > 0");
    let shared = Rc::new(RefCell::new(State {
        queue: VecDeque::with_capacity(buffer.min(PREALLOC_MAX)),
        cap: buffer,
        reserved: 0,
        senders: 1,
        rx_closed: false,
        rx_waker: None,
        send_waiters: WaitList::new(),
    }));
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Sends into a local channel; cloneable; `!Send`.
///
/// ```compile_fail
/// fn is_send<T: Send>(_: T) {}
/// let (tx, _rx) = rpal_rt::sync::local::mpsc::channel::<u8>(1);
/// is_send(tx);
/// ```
pub struct Sender<T> {
    shared: Shared<T>,
}

/// Receives from a local channel; `!Send`.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::local::mpsc::channel(2);
/// tx.try_send(1).unwrap();
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub struct Receiver<T> {
    shared: Shared<T>,
}

/// A reserved slot of a local channel.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::local::mpsc::channel(1);
/// let p = tx.try_reserve().unwrap();
/// p.send(3);
/// assert_eq!(rx.try_recv(), Ok(3));
/// ```
pub struct Permit<'a, T> {
    shared: &'a Shared<T>,
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl<T> Sender<T> {
    /// Sends, waiting for a slot while the channel is full.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone or closed.
    ///
    /// # Cancel safety
    /// As the `Send` version: a dropped `send` did not send, and a slot it had been handed
    /// passes to the next waiting sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.try_send(value) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(v)) => Err(SendError(v)),
            Err(TrySendError::Full(v)) => match self.reserve().await {
                Ok(p) => {
                    p.send(v);
                    Ok(())
                }
                Err(_) => Err(SendError(v)),
            },
        }
    }

    /// Sends if a slot is free now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`].
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut st = self.shared.borrow_mut();
        if st.rx_closed {
            return Err(TrySendError::Closed(value));
        }
        if !st.has_room() {
            return Err(TrySendError::Full(value));
        }
        st.queue.push_back(value);
        let w = st.rx_waker.take();
        drop(st);
        wake(w);
        Ok(())
    }

    /// Waits for a slot and reserves it.
    ///
    /// # Errors
    /// [`SendError`] if the receiver is gone or closed.
    ///
    /// # Cancel safety
    /// A dropped `reserve` loses its place; a slot it had been handed passes on.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        let mut fut = Reserve {
            shared: &self.shared,
            key: None,
        };
        if poll_fn(|cx| Pin::new(&mut fut).poll(cx)).await {
            Ok(Permit {
                shared: &self.shared,
            })
        } else {
            Err(SendError(()))
        }
    }

    /// Reserves a slot if one is free now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`].
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        let mut st = self.shared.borrow_mut();
        if st.rx_closed {
            Err(TrySendError::Closed(()))
        } else if st.has_room() {
            st.reserved += 1;
            Ok(Permit {
                shared: &self.shared,
            })
        } else {
            Err(TrySendError::Full(()))
        }
    }

    /// True once the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        self.shared.borrow().rx_closed
    }

    /// Free slots now.
    pub fn capacity(&self) -> usize {
        let st = self.shared.borrow();
        st.cap - st.queue.len() - st.reserved
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.borrow_mut().senders += 1;
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.borrow_mut();
        st.senders -= 1;
        let w = if st.senders == 0 {
            st.rx_waker.take()
        } else {
            None
        };
        drop(st);
        wake(w);
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::mpsc::Sender")
            .finish_non_exhaustive()
    }
}

impl<T> Permit<'_, T> {
    /// Sends into the reserved slot.
    pub fn send(self, value: T) {
        let w = {
            let mut st = self.shared.borrow_mut();
            st.reserved -= 1;
            st.queue.push_back(value);
            st.rx_waker.take()
        };
        std::mem::forget(self);
        wake(w);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        let mut wakers = WakeList::new();
        {
            self.shared.borrow_mut().unreserve(&mut wakers);
        }
        wakers.wake();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::mpsc::Permit")
            .finish_non_exhaustive()
    }
}

struct Reserve<'a, T> {
    shared: &'a Shared<T>,
    key: Option<usize>,
}

impl<T> Future for Reserve<'_, T> {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        let mut st = this.shared.borrow_mut();
        match this.key {
            None => {
                if st.rx_closed {
                    return Poll::Ready(false);
                }
                if st.has_room() {
                    st.reserved += 1;
                    return Poll::Ready(true);
                }
                this.key = Some(st.send_waiters.push_back(cx.waker(), 0));
                Poll::Pending
            }
            Some(k) => match st.send_waiters.state(k) {
                WaitState::Linked(_) => {
                    st.send_waiters.set_waker(k, cx.waker());
                    Poll::Pending
                }
                WaitState::Woken(v) => {
                    st.send_waiters.remove(k);
                    this.key = None;
                    Poll::Ready(v == SLOT)
                }
            },
        }
    }
}

impl<T> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            let mut wakers = WakeList::new();
            {
                let mut st = self.shared.borrow_mut();
                if st.send_waiters.remove(k) == WaitState::Woken(SLOT) {
                    st.unreserve(&mut wakers);
                }
            }
            wakers.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Receives the next message; `None` once every sender is gone (or closed) and drained.
    ///
    /// # Cancel safety
    /// Cancel safe: a dropped `recv` took no message.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match self.try_recv() {
            Ok(v) => Poll::Ready(Some(v)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                let mut st = self.shared.borrow_mut();
                match &st.rx_waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.rx_waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// Takes a message if one is buffered.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut st = self.shared.borrow_mut();
        if let Some(v) = st.queue.pop_front() {
            let mut wakers = WakeList::new();
            st.slot_freed(&mut wakers);
            drop(st);
            wakers.wake();
            return Ok(v);
        }
        if (st.senders == 0 || st.rx_closed) && st.reserved == 0 {
            Err(TryRecvError::Disconnected)
        } else {
            Err(TryRecvError::Empty)
        }
    }

    /// Closes the channel for senders; buffered messages can still be received.
    pub fn close(&mut self) {
        let mut wakers = WakeList::new();
        {
            let mut st = self.shared.borrow_mut();
            st.rx_closed = true;
            st.send_waiters.drain_into(Some(0), &mut wakers);
        }
        wakers.wake();
    }

    /// Buffered messages.
    pub fn len(&self) -> usize {
        self.shared.borrow().queue.len()
    }

    /// True if nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        let rest = std::mem::take(&mut self.shared.borrow_mut().queue);
        drop(rest);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("local::mpsc::Receiver")
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn cancelled_waiting_sender_passes_slot_on() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let mut a = Box::pin(tx.send(1));
        let mut b = Box::pin(tx.send(2));
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        assert_eq!(rx.try_recv(), Ok(0));
        drop(a);
        assert!(b.as_mut().poll(&mut cx).is_ready());
        assert_eq!(rx.try_recv(), Ok(2));
        drop(b);
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }
}
