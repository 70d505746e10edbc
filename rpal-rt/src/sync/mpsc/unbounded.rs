//! The unbounded flavour: [`UnboundedSender`], [`UnboundedReceiver`].

use std::fmt;
use std::future::poll_fn;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::bounded::Closed;
use super::chan::{self, Chan};
use super::error::{SendError, TryRecvError, TrySendError};
use crate::loom::sync::Arc;

/// Creates a channel without a bound: sending never waits (memory is the limit).
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (tx, mut rx) = rpal_rt::sync::mpsc::unbounded_channel();
///     for i in 0..100 {
///         tx.send(i).unwrap();
///     }
///     drop(tx);
///     let mut n = 0;
///     while rx.recv().await.is_some() {
///         n += 1;
///     }
///     assert_eq!(n, 100);
/// });
/// ```
pub fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let chan = chan::new(usize::MAX);
    (
        UnboundedSender { chan: chan.clone() },
        UnboundedReceiver { chan },
    )
}

/// Sends into an unbounded channel; cloneable; `send` is synchronous.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::mpsc::unbounded_channel();
/// tx.send("hi").unwrap();
/// assert_eq!(rx.try_recv(), Ok("hi"));
/// drop(rx);
/// assert!(tx.send("gone").is_err());
/// ```
pub struct UnboundedSender<T> {
    chan: Arc<Chan<T>>,
}

/// Receives from an unbounded channel.
///
/// # Examples
/// ```
/// let (tx, mut rx) = rpal_rt::sync::mpsc::unbounded_channel::<u8>();
/// assert!(rx.try_recv().is_err());
/// tx.send(1).unwrap();
/// assert_eq!(rx.len(), 1);
/// ```
pub struct UnboundedReceiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> UnboundedSender<T> {
    /// Sends without waiting.
    ///
    /// # Errors
    /// [`SendError`] with the value if the receiver is gone or closed.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        match self.chan.try_send(value) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(v) | TrySendError::Full(v)) => Err(SendError(v)),
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

    /// True if both senders feed the same channel.
    pub fn same_channel(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.chan, &other.chan)
    }
}

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        self.chan.add_sender();
        Self {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for UnboundedSender<T> {
    fn drop(&mut self) {
        self.chan.drop_sender();
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedSender").finish_non_exhaustive()
    }
}

impl<T> UnboundedReceiver<T> {
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

    /// Polls for the next message.
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

    /// Receives from outside any runtime, blocking the thread (never on a worker).
    pub fn blocking_recv(&mut self) -> Option<T> {
        futures::executor::block_on(self.recv())
    }

    /// Closes the channel for senders; buffered messages can still be received.
    pub fn close(&mut self) {
        self.chan.close();
    }

    /// True if no more messages can be sent.
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
}

impl<T> Drop for UnboundedReceiver<T> {
    fn drop(&mut self) {
        self.chan.drop_receiver();
    }
}

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnboundedReceiver").finish_non_exhaustive()
    }
}
