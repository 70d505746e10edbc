//! [`Barrier`]: `n` tasks wait until all have arrived; one of them is told it is the leader.
//!
//! State under one lock: how many arrived in the current generation and the queued waiters. The
//! `n`-th arrival starts a new generation, wakes every queued waiter and returns as leader.

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::lock;
use super::waiters::{WaitList, WaitState, WakeList};
use crate::loom::sync::Mutex;

/// A barrier for `n` tasks, reusable: after every `n` arrivals it opens and resets.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use rpal_rt::sync::Barrier;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let b = Arc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = b.clone();
///             rpal_rt::spawn(async move { b.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         leaders += t.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    n: usize,
    state: Mutex<State>,
}

struct State {
    arrived: usize,
    waiters: WaitList,
}

/// What [`Barrier::wait`] returns.
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let b = rpal_rt::sync::Barrier::new(1);
/// assert!(rt.block_on(b.wait()).is_leader());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct BarrierWaitResult(bool);

impl BarrierWaitResult {
    /// True for exactly one task per opening: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").field("n", &self.n).finish()
    }
}

impl Barrier {
    /// A barrier that opens after `n` arrivals (`n == 0` behaves as 1).
    pub fn new(n: usize) -> Self {
        Self {
            n: n.max(1),
            state: Mutex::new(State {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// Arrives and waits until `n` tasks have.
    ///
    /// # Cancel safety
    /// The arrival counts from the first poll on; dropping the future afterwards does not take
    /// it back (the barrier may open without this task), as with tokio's `Barrier`.
    pub async fn wait(&self) -> BarrierWaitResult {
        let mut arrival = Arrival {
            barrier: self,
            key: None,
        };
        poll_fn(|cx| Pin::new(&mut arrival).poll(cx)).await
    }
}

struct Arrival<'a> {
    barrier: &'a Barrier,
    key: Option<usize>,
}

impl Future for Arrival<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        let mut st = lock(&this.barrier.state);
        match this.key {
            None => {
                st.arrived += 1;
                if st.arrived == this.barrier.n {
                    st.arrived = 0;
                    let mut wakers = WakeList::new();
                    st.waiters.drain_into(Some(1), &mut wakers);
                    drop(st);
                    wakers.wake();
                    return Poll::Ready(BarrierWaitResult(true));
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
                    Poll::Ready(BarrierWaitResult(false))
                }
            },
        }
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            lock(&self.barrier.state).waiters.remove(key);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn last_arrival_leads_and_a_dropped_waiter_stays_counted() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let b = Barrier::new(3);
        let mut a = Box::pin(b.wait());
        assert!(a.as_mut().poll(&mut cx).is_pending());
        let mut dropped = Box::pin(b.wait());
        assert!(dropped.as_mut().poll(&mut cx).is_pending());
        drop(dropped); // its arrival still counts
        let mut last = Box::pin(b.wait());
        match last.as_mut().poll(&mut cx) {
            Poll::Ready(r) => assert!(r.is_leader()),
            Poll::Pending => panic!("third arrival must open the barrier"),
        }
        match a.as_mut().poll(&mut cx) {
            Poll::Ready(r) => assert!(!r.is_leader()),
            Poll::Pending => panic!("the barrier opened"),
        }
        // The next generation starts empty.
        let mut next = Box::pin(b.wait());
        assert!(next.as_mut().poll(&mut cx).is_pending());
    }
}
