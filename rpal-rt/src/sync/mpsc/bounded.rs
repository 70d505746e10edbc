//! The bounded flavour: [`Sender`], [`Receiver`], [`Permit`].

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::chan::{self, Chan};
use super::error::{SendError, TryRecvError, TrySendError};
use crate::loom::sync::Arc;

/// Creates a bounded channel holding at most `buffer` messages. Senders wait while it is full.
///
/// # Panics
/// If `buffer` is 0.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = rpal_rt::sync::mpsc::channel(1);
///     rpal_rt::spawn(async move {
///         for i in 0..3 {
///             tx.send(i).await.unwrap(); // waits while the one slot is taken
///         }
///     });
///     let mut got = vec![];
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
pub fn channel<T>(buffer: usize) -> (Sender<T>, Receiver<T>) {
    assert!(buffer > 0, "mpsc bounded channel requires buffer > 0");
    let chan = chan::new(buffer);
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Sends into a bounded channel; cloneable.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::mpsc::channel(2);
/// let tx2 = tx.clone();
/// tx.try_send(1).unwrap();
/// tx2.try_send(2).unwrap();
/// assert!(tx.try_send(3).is_err()); // full
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives from a bounded channel.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::mpsc::channel::<u8>(4);
/// drop(tx);
/// assert_eq!(rx.try_recv(), Err(rpal_rt::sync::mpsc::error::TryRecvError::Disconnected));
/// ```
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

/// One reserved slot of a bounded channel: [`send`](Permit::send) cannot fail or wait.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = rpal_rt::sync::mpsc::channel(1);
///     let permit = tx.reserve().await.unwrap();
///     assert!(tx.try_send(0).is_err()); // the slot is taken by the permit
///     permit.send(7);
///     assert_eq!(rx.recv().await, Some(7));
/// });
/// ```
pub struct Permit<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Sender<T> {
    /// Sends, waiting for a slot while the channel is full.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone or closed.
    ///
    /// # Cancel safety
    /// If the future is dropped before it completes, the message was not sent (and is dropped
    /// with the future); the sender's place in the queue of waiting senders is lost, and a slot
    /// it had just been handed passes to the next waiting sender.
    pub async fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.chan.try_send(value) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(v)) => Err(SendError(v)),
            Err(TrySendError::Full(v)) => match self.reserve().await {
                Ok(p) => {
                    p.send(v);
                    Ok(())
                }
                Err(SendError(())) => Err(SendError(v)),
            },
        }
    }

    /// Sends if a slot is free now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan.try_send(value)
    }

    /// Sends from outside any runtime, blocking the thread while the channel is full.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    ///
    /// # Panics
    /// Never by itself, but blocking a runtime worker stalls every task on it: call this only
    /// from plain threads (or `spawn_blocking`).
    pub fn blocking_send(&self, value: T) -> Result<(), SendError<T>> {
        futures::executor::block_on(self.send(value))
    }

    /// Waits for a slot and reserves it.
    ///
    /// # Errors
    /// [`SendError`] if the receiver is gone or closed.
    ///
    /// # Cancel safety
    /// Cancel safe in the sense tokio gives: a dropped `reserve` loses its place in the queue;
    /// a slot it had been handed passes to the next waiting sender.
    pub async fn reserve(&self) -> Result<Permit<'_, T>, SendError<()>> {
        let mut fut = Reserve {
            chan: &self.chan,
            key: None,
        };
        if poll_fn(|cx| Pin::new(&mut fut).poll(cx)).await {
            Ok(Permit { chan: &self.chan })
        } else {
            Err(SendError(()))
        }
    }

    /// Reserves a slot if one is free now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`] (carrying `()`).
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        match self.chan.try_reserve() {
            Ok(()) => Ok(Permit { chan: &self.chan }),
            Err(true) => Err(TrySendError::Closed(())),
            Err(false) => Err(TrySendError::Full(())),
        }
    }

    /// [`reserve`](Self::reserve) that consumes the sender, for permits that outlive a borrow
    /// (moved into a task, say); [`OwnedPermit::send`] gives the sender back.
    ///
    /// # Errors
    /// [`SendError`] carrying the sender if the receiver is gone or closed.
    ///
    /// # Cancel safety
    /// As [`reserve`](Self::reserve) (the sender is dropped with the future).
    pub async fn reserve_owned(self) -> Result<OwnedPermit<T>, SendError<Self>> {
        let mut fut = Reserve {
            chan: &self.chan,
            key: None,
        };
        let ok = poll_fn(|cx| Pin::new(&mut fut).poll(cx)).await;
        drop(fut);
        if ok {
            Ok(OwnedPermit { sender: Some(self) })
        } else {
            Err(SendError(self))
        }
    }

    /// [`try_reserve`](Self::try_reserve) that consumes the sender.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], carrying the sender.
    pub fn try_reserve_owned(self) -> Result<OwnedPermit<T>, TrySendError<Self>> {
        match self.chan.try_reserve() {
            Ok(()) => Ok(OwnedPermit { sender: Some(self) }),
            Err(true) => Err(TrySendError::Closed(self)),
            Err(false) => Err(TrySendError::Full(self)),
        }
    }

    /// Completes when the receiver is dropped or closed.
    ///
    /// # Cancel safety
    /// Cancel safe.
    pub async fn closed(&self) {
        let mut fut = Closed {
            chan: &self.chan,
            key: None,
        };
        poll_fn(|cx| Pin::new(&mut fut).poll(cx)).await;
    }

    /// True once the receiver is dropped or closed.
    pub fn is_closed(&self) -> bool {
        self.chan.is_closed()
    }

    /// Free slots now.
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// The buffer size given to [`channel`].
    pub fn max_capacity(&self) -> usize {
        self.chan.max_capacity()
    }

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> Receiver<T> {
    /// Receives the next message; `None` once every sender is gone (or the receiver closed)
    /// and the buffer is drained.
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes, no message was taken.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.chan.poll_recv(cx)).await
    }

    /// Receives up to `limit` messages into `buffer`, waiting only while none is buffered;
    /// returns how many were added (0 only when the channel has ended, or `limit` is 0).
    ///
    /// # Cancel safety
    /// Cancel safe: if the future is dropped before it completes, no message was taken.
    pub async fn recv_many(&mut self, buffer: &mut Vec<T>, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        poll_fn(|cx| self.chan.poll_recv_many(cx, buffer, limit)).await
    }

    /// Polls for the next message (for hand-written futures and streams).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.chan.poll_recv(cx)
    }

    /// Takes a message if one is buffered.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] or [`TryRecvError::Disconnected`].
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.chan.try_recv()
    }

    /// Receives from outside any runtime, blocking the thread (not on a worker: see
    /// [`Sender::blocking_send`]).
    pub fn blocking_recv(&mut self) -> Option<T> {
        futures::executor::block_on(self.recv())
    }

    /// Closes the channel for senders; buffered messages (and those of permits already taken)
    /// can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// True if no more messages can be sent (closed, or every sender gone).
    pub fn is_closed(&self) -> bool {
        self.chan.rx_is_closed()
    }

    /// True if no message is buffered.
    pub fn is_empty(&self) -> bool {
        self.chan.len() == 0
    }

    /// Buffered messages.
    pub fn len(&self) -> usize {
        self.chan.len()
    }

    /// Free slots now.
    pub fn capacity(&self) -> usize {
        self.chan.capacity()
    }

    /// The buffer size given to [`channel`].
    pub fn max_capacity(&self) -> usize {
        self.chan.max_capacity()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T> Permit<'_, T> {
    /// Sends into the reserved slot.
    pub fn send(self, value: T) {
        self.chan.send_reserved(value);
        std::mem::forget(self);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        self.chan.release_reserved();
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// A reserved slot that owns its [`Sender`].
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = rpal_rt::sync::mpsc::channel(1);
///     let permit = tx.reserve_owned().await.unwrap();
///     let tx = permit.send(1); // the sender comes back
///     drop(tx);
///     assert_eq!(rx.recv().await, Some(1));
///     assert_eq!(rx.recv().await, None);
/// });
/// ```
pub struct OwnedPermit<T> {
    /// `Some` until `send` or `release` hands the sender back.
    sender: Option<Sender<T>>,
}

impl<T> OwnedPermit<T> {
    /// Sends into the reserved slot and returns the sender.
    pub fn send(mut self, value: T) -> Sender<T> {
        match self.sender.take() {
            Some(sender) => {
                sender.chan.send_reserved(value);
                sender
            }
            // `sender` is only taken by consuming methods: unreachable.
            None => unreachable!("OwnedPermit used after it was consumed"),
        }
    }

    /// Gives the slot back unused and returns the sender.
    pub fn release(mut self) -> Sender<T> {
        match self.sender.take() {
            Some(sender) => {
                sender.chan.release_reserved();
                sender
            }
            None => unreachable!("OwnedPermit used after it was consumed"),
        }
    }
}

impl<T> Drop for OwnedPermit<T> {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            sender.chan.release_reserved();
        }
    }
}

impl<T> fmt::Debug for OwnedPermit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedPermit").finish_non_exhaustive()
    }
}

/// Waits for a slot; owns a wait-list node while queued.
struct Reserve<'a, T> {
    chan: &'a Chan<T>,
    key: Option<usize>,
}

impl<T> Future for Reserve<'_, T> {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        this.chan.poll_reserve(&mut this.key, cx)
    }
}

impl<T> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.chan.cancel_reserve(k);
        }
    }
}

/// Waits for the receiver to close.
pub(super) struct Closed<'a, T> {
    pub(super) chan: &'a Chan<T>,
    pub(super) key: Option<usize>,
}

impl<T> Future for Closed<'_, T> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.chan.poll_closed(&mut this.key, cx)
    }
}

impl<T> Drop for Closed<'_, T> {
    fn drop(&mut self) {
        if let Some(k) = self.key.take() {
            self.chan.cancel_closed(k);
        }
    }
}
