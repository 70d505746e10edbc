//! Multi-producer, single-consumer channels: bounded ([`channel`]) and unbounded
//! ([`unbounded_channel`]), with tokio's API.
//!
//! The shared state and its invariants are in `chan.rs`: one lock around a `VecDeque` (its
//! capacity allocated up front for bounded channels, up to 1024 slots), a reservation count, and
//! a slab wait list of senders waiting for room. A send that finds room and a receive that finds
//! a message allocate nothing and take the lock once.
//!
//! Use [`local::mpsc`](super::local::mpsc) for a channel whose both ends stay on one worker.

mod bounded;
mod chan;
pub mod error;
mod unbounded;

pub use bounded::{channel, OwnedPermit, Permit, Receiver, Sender};
pub use error::{SendError, TryRecvError, TrySendError};
pub use unbounded::{unbounded_channel, UnboundedReceiver, UnboundedSender};

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use futures::task::noop_waker;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    #[test]
    fn fifo_senders_and_cancelled_sender_passes_its_slot_on() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, mut rx) = channel(1);
        tx.try_send(0).unwrap();
        let mut a = Box::pin(tx.send(1));
        let mut b = Box::pin(tx.send(2));
        assert!(a.as_mut().poll(&mut cx).is_pending());
        assert!(b.as_mut().poll(&mut cx).is_pending());
        // A newcomer may not jump the queue.
        assert!(matches!(tx.try_send(9), Err(TrySendError::Full(9))));
        assert_eq!(rx.try_recv(), Ok(0)); // slot handed to `a`
        drop(a); // `a` never ran: its slot passes to `b`
        assert!(b.as_mut().poll(&mut cx).is_ready());
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn close_fails_waiting_senders_but_permits_still_deliver() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, mut rx) = channel::<u8>(2);
        let permit = tx.try_reserve().unwrap();
        tx.try_send(1).unwrap();
        let mut waiting = Box::pin(tx.send(3));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        rx.close();
        assert!(matches!(
            waiting.as_mut().poll(&mut cx),
            Poll::Ready(Err(SendError(3)))
        ));
        assert!(tx.is_closed());
        permit.send(2);
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    #[test]
    fn recv_ends_when_senders_drop_and_closed_fires() {
        let w = noop_waker();
        let mut cx = Context::from_waker(&w);
        let (tx, mut rx) = unbounded_channel::<u8>();
        let tx2 = tx.clone();
        tx.send(5).unwrap();
        drop(tx);
        {
            let mut closed = pin!(tx2.closed());
            assert!(closed.as_mut().poll(&mut cx).is_pending());
            assert_eq!(rx.try_recv(), Ok(5));
            rx.close();
            assert!(closed.as_mut().poll(&mut cx).is_ready());
        }
        drop(tx2);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::thread;
    use std::future::Future;

    #[test]
    fn loom_mpsc_bounded_two_messages_through_one_slot() {
        loom::model(|| {
            let (tx, mut rx) = channel::<u8>(1);
            let t = thread::spawn(move || {
                crate::loom::block_on(async {
                    tx.send(1).await.unwrap();
                    tx.send(2).await.unwrap();
                })
            });
            let got = crate::loom::block_on(async {
                let a = rx.recv().await;
                let b = rx.recv().await;
                let c = rx.recv().await;
                (a, b, c)
            });
            assert_eq!(got, (Some(1), Some(2), None));
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_mpsc_close_vs_waiting_sender() {
        loom::model(|| {
            let (tx, mut rx) = channel::<u8>(1);
            tx.try_send(0).unwrap();
            let t = thread::spawn(move || crate::loom::block_on(tx.send(1)).is_ok());
            rx.close();
            let mut n = 0;
            while let Some(_) = crate::loom::block_on(rx.recv()) {
                n += 1;
            }
            let sent = t.join().unwrap();
            // A message counted as sent was received; a failed one was not.
            assert_eq!(n, 1 + sent as usize);
        });
    }

    #[test]
    fn loom_mpsc_cancelled_waiting_sender_hands_its_slot_on() {
        loom::model(|| {
            let (tx, mut rx) = channel::<u8>(1);
            tx.try_send(0).unwrap();
            let tx2 = tx.clone();
            // `b` waits for a slot on another thread; `a` queues here and is dropped,
            // possibly after being handed the slot the receiver frees.
            let t = thread::spawn(move || crate::loom::block_on(tx2.send(2)).unwrap());
            {
                let mut a = Box::pin(tx.send(1));
                let w = futures::task::noop_waker();
                let r = a.as_mut().poll(&mut std::task::Context::from_waker(&w));
                assert!(r.is_pending() || matches!(r, std::task::Poll::Ready(Ok(()))));
                let first = crate::loom::block_on(rx.recv());
                assert_eq!(first, Some(0));
                if r.is_ready() {
                    assert_eq!(crate::loom::block_on(rx.recv()), Some(1));
                }
            }
            drop(tx);
            // Whatever `a` was handed went to `b`: its message arrives, then the end.
            let mut rest = vec![];
            while let Some(v) = crate::loom::block_on(rx.recv()) {
                rest.push(v);
            }
            t.join().unwrap();
            assert!(rest == [2] || rest == [1, 2] || rest == [2, 1], "{rest:?}");
        });
    }

    #[test]
    fn loom_mpsc_unbounded_two_senders() {
        loom::model(|| {
            let (tx, mut rx) = unbounded_channel::<u8>();
            let tx2 = tx.clone();
            let t = thread::spawn(move || tx2.send(2).unwrap());
            tx.send(1).unwrap();
            drop(tx);
            let mut sum = 0;
            crate::loom::block_on(async {
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
            });
            assert_eq!(sum, 3);
            t.join().unwrap();
        });
    }
}
