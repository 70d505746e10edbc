//! The shared state of one mpsc channel, bounded or not, and the operations both flavours use.
//!
//! # State (under one lock)
//! * `queue`: messages in order; `reserved`: slots held by [`Permit`](super::Permit)s or handed to
//!   a queued sender that has not yet run. A slot is free when `queue.len() + reserved < cap`
//!   (`cap == usize::MAX` for the unbounded flavour).
//! * `send_waiters`: senders waiting for a slot, FIFO. While any is queued, a newcomer does not
//!   take a free slot (it queues), and every freed slot is handed to the queue front
//!   (`reserved += 1`, node value [`SLOT`]) instead of being freed, so order is first come first
//!   served and a slot can never be stolen from a woken sender. A dropped sender future that had
//!   been handed a slot frees it the same way (to the next one), so none is lost.
//! * `rx_closed`: the receiver closed or dropped; queued senders are woken with value 0 (fail).
//!   Slots already reserved may still be used (as in tokio); the receiver drains them.
//! * `senders`: live sender handles; at 0 the receiver is woken to see the end.
//! * `rx_waker`: the receiver's waker, taken (not cloned) by the push that wakes it.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

use crossbeam_utils::CachePadded;

use super::super::lock;
use super::super::waiters::{WaitList, WaitState, WakeList};
use super::error::{TryRecvError, TrySendError};
use crate::loom::sync::{Arc, Mutex};

/// Node value: the waiter was handed a reserved slot.
pub(super) const SLOT: usize = 1;
/// Node value: the waiter was woken because the channel closed.
pub(super) const CLOSED: usize = 0;
/// Most slots a bounded channel allocates up front (it grows on demand beyond this).
const PREALLOC_MAX: usize = 1024;

pub(super) struct Chan<T> {
    /// The one hot word (the lock) and the state it guards, padded to 128 bytes so two
    /// channels allocated side by side (a request and a reply channel, say) never share a
    /// cache line pair: each is written by both of its ends on every message.
    state: CachePadded<Mutex<State<T>>>,
}

struct State<T> {
    queue: VecDeque<T>,
    cap: usize,
    reserved: usize,
    senders: usize,
    rx_closed: bool,
    rx_waker: Option<Waker>,
    send_waiters: WaitList,
    closed_waiters: WaitList,
}

impl<T> State<T> {
    fn has_room(&self) -> bool {
        self.send_waiters.is_empty() && self.queue.len() + self.reserved < self.cap
    }

    /// A slot just became free (a message left or a reservation was dropped): hand it to the
    /// first queued sender, if any.
    fn slot_freed(&mut self, wakers: &mut WakeList) {
        if !self.rx_closed && !self.send_waiters.is_empty() {
            self.reserved += 1;
            wakers.push(self.send_waiters.pop_front(SLOT));
        }
    }

    /// A reservation ends unused: free its slot; if the channel is closed and this was the
    /// last reservation, the receiver's wait for it is over.
    fn unreserve(&mut self, wakers: &mut WakeList) {
        self.reserved -= 1;
        self.slot_freed(wakers);
        if self.reserved == 0 && (self.rx_closed || self.senders == 0) {
            wakers.push(self.rx_waker.take());
        }
    }

    fn push(&mut self, value: T) -> Option<Waker> {
        self.queue.push_back(value);
        self.rx_waker.take()
    }
}

pub(super) fn new<T>(cap: usize) -> Arc<Chan<T>> {
    Arc::new(Chan {
        state: CachePadded::new(Mutex::new(State {
            queue: VecDeque::with_capacity(cap.min(PREALLOC_MAX)),
            cap,
            reserved: 0,
            senders: 1,
            rx_closed: false,
            rx_waker: None,
            send_waiters: WaitList::new(),
            closed_waiters: WaitList::new(),
        })),
    })
}

fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl<T> Chan<T> {
    // ----- sender side -----

    /// Pushes if a slot is free now.
    pub(super) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut st = lock(&self.state);
        if st.rx_closed {
            return Err(TrySendError::Closed(value));
        }
        if !st.has_room() {
            return Err(TrySendError::Full(value));
        }
        let w = st.push(value);
        drop(st);
        wake(w);
        Ok(())
    }

    /// Reserves a slot now if one is free. `Err(true)`: closed; `Err(false)`: full.
    pub(super) fn try_reserve(&self) -> Result<(), bool> {
        let mut st = lock(&self.state);
        if st.rx_closed {
            Err(true)
        } else if st.has_room() {
            st.reserved += 1;
            Ok(())
        } else {
            Err(false)
        }
    }

    /// One poll of a reservation. `key` is the caller's wait-list key. `Ready(true)`: a slot is
    /// reserved for the caller; `Ready(false)`: the channel is closed.
    pub(super) fn poll_reserve(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<bool> {
        let mut st = lock(&self.state);
        match *key {
            None => {
                if st.rx_closed {
                    return Poll::Ready(false);
                }
                if st.has_room() {
                    st.reserved += 1;
                    return Poll::Ready(true);
                }
                *key = Some(st.send_waiters.push_back(cx.waker(), 0));
                Poll::Pending
            }
            Some(k) => match st.send_waiters.state(k) {
                WaitState::Linked(_) => {
                    st.send_waiters.set_waker(k, cx.waker());
                    Poll::Pending
                }
                WaitState::Woken(v) => {
                    st.send_waiters.remove(k);
                    *key = None;
                    Poll::Ready(v == SLOT)
                }
            },
        }
    }

    /// A reservation future is dropped while queued or after being handed a slot.
    pub(super) fn cancel_reserve(&self, key: usize) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.state);
            if st.send_waiters.remove(key) == WaitState::Woken(SLOT) {
                st.unreserve(&mut wakers);
            }
        }
        wakers.wake();
    }

    /// Uses a reserved slot.
    pub(super) fn send_reserved(&self, value: T) {
        let mut st = lock(&self.state);
        st.reserved -= 1;
        let w = st.push(value);
        drop(st);
        wake(w);
    }

    /// Gives back an unused reserved slot.
    pub(super) fn release_reserved(&self) {
        let mut wakers = WakeList::new();
        {
            lock(&self.state).unreserve(&mut wakers);
        }
        wakers.wake();
    }

    pub(super) fn add_sender(&self) {
        lock(&self.state).senders += 1;
    }

    pub(super) fn drop_sender(&self) {
        let mut st = lock(&self.state);
        st.senders -= 1;
        let w = if st.senders == 0 {
            st.rx_waker.take()
        } else {
            None
        };
        drop(st);
        wake(w);
    }

    pub(super) fn is_closed(&self) -> bool {
        lock(&self.state).rx_closed
    }

    /// Free slots now (`usize::MAX`-based for unbounded).
    pub(super) fn capacity(&self) -> usize {
        let st = lock(&self.state);
        st.cap - st.queue.len() - st.reserved
    }

    /// One poll of `Sender::closed`.
    pub(super) fn poll_closed(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = lock(&self.state);
        if let Some(k) = *key {
            if let WaitState::Woken(_) = st.closed_waiters.state(k) {
                st.closed_waiters.remove(k);
                *key = None;
                return Poll::Ready(());
            }
            st.closed_waiters.set_waker(k, cx.waker());
            return Poll::Pending;
        }
        if st.rx_closed {
            return Poll::Ready(());
        }
        *key = Some(st.closed_waiters.push_back(cx.waker(), 0));
        Poll::Pending
    }

    pub(super) fn cancel_closed(&self, key: usize) {
        lock(&self.state).closed_waiters.remove(key);
    }

    // ----- receiver side -----

    pub(super) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut st = lock(&self.state);
        if let Some(v) = st.queue.pop_front() {
            let mut wakers = WakeList::new();
            st.slot_freed(&mut wakers);
            drop(st);
            wakers.wake();
            return Poll::Ready(Some(v));
        }
        if (st.senders == 0 || st.rx_closed) && st.reserved == 0 {
            return Poll::Ready(None);
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Moves up to `limit` (> 0) buffered messages into `out`, handing each freed slot on.
    pub(super) fn poll_recv_many(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let mut st = lock(&self.state);
        let n = st.queue.len().min(limit);
        if n > 0 {
            let mut wakers = WakeList::new();
            out.extend(st.queue.drain(..n));
            for _ in 0..n {
                st.slot_freed(&mut wakers);
            }
            drop(st);
            wakers.wake();
            return Poll::Ready(n);
        }
        if (st.senders == 0 || st.rx_closed) && st.reserved == 0 {
            return Poll::Ready(0);
        }
        match &st.rx_waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.rx_waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    pub(super) fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = lock(&self.state);
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

    /// Closes the receiving side: senders fail from now on, queued ones are woken.
    pub(super) fn close(&self) {
        let mut wakers = WakeList::new();
        {
            let mut st = lock(&self.state);
            if st.rx_closed {
                return;
            }
            st.rx_closed = true;
            st.send_waiters.drain_into(Some(CLOSED), &mut wakers);
            st.closed_waiters.drain_into(Some(CLOSED), &mut wakers);
        }
        wakers.wake();
    }

    /// The receiver is dropped: close, then drop the buffered messages outside the lock.
    pub(super) fn drop_receiver(&self) {
        self.close();
        let rest = std::mem::take(&mut lock(&self.state).queue);
        drop(rest);
    }

    pub(super) fn len(&self) -> usize {
        lock(&self.state).queue.len()
    }

    pub(super) fn rx_is_closed(&self) -> bool {
        let st = lock(&self.state);
        st.rx_closed || st.senders == 0
    }

    pub(super) fn max_capacity(&self) -> usize {
        lock(&self.state).cap
    }
}
