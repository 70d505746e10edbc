//! mpsc channels on both runtime flavours: ordering, back-pressure, close, cancel safety,
//! senders on other threads.

mod support;

use std::time::Duration;

use rpal_rt::sync::mpsc;

#[test]
fn bounded_many_senders_deliver_everything_in_per_sender_order() {
    for (name, rt) in support::each_flavor() {
        let got = rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<(u32, u32)>(4);
            for s in 0..4 {
                let tx = tx.clone();
                rpal_rt::spawn(async move {
                    for i in 0..500 {
                        tx.send((s, i)).await.unwrap();
                    }
                });
            }
            drop(tx);
            let mut expected = [0u32; 4];
            let mut n = 0;
            while let Some((s, i)) = rx.recv().await {
                assert_eq!(expected[s as usize], i, "{name}: order");
                expected[s as usize] = i + 1;
                n += 1;
            }
            n
        });
        assert_eq!(got, 2000, "{name}");
    }
}

#[test]
fn senders_on_plain_threads_wake_the_receiver() {
    for (name, rt) in support::each_flavor() {
        let sum = rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u64>(2);
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        for i in 0..1000 {
                            tx.blocking_send(i).unwrap();
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut sum = 0;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            for t in threads {
                t.join().unwrap();
            }
            sum
        });
        assert_eq!(sum, 2 * 999 * 1000 / 2, "{name}");
    }
}

#[test]
fn cancelled_send_does_not_lose_the_slot() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u8>(1);
            tx.send(0).await.unwrap();
            // A send that times out while the channel is full must hand its place on.
            let r = rpal_rt::time::timeout(Duration::from_millis(2), tx.send(1)).await;
            assert!(r.is_err(), "{name}: channel was full");
            assert_eq!(rx.recv().await, Some(0));
            tx.send(2).await.unwrap();
            assert_eq!(rx.recv().await, Some(2), "{name}");
        });
    }
}

#[test]
fn receiver_drop_fails_senders_and_closed_completes() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, rx) = mpsc::channel::<u8>(1);
            tx.send(1).await.unwrap();
            let tx2 = tx.clone();
            let blocked = rpal_rt::spawn(async move { tx2.send(2).await.is_err() });
            let tx3 = tx.clone();
            let closed = rpal_rt::spawn(async move { tx3.closed().await });
            rpal_rt::time::sleep(Duration::from_millis(1)).await;
            drop(rx);
            assert!(blocked.await.unwrap(), "{name}");
            closed.await.unwrap();
            assert!(tx.is_closed());
            assert!(tx.send(3).await.is_err());
        });
    }
}

#[test]
fn unbounded_and_reserve() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (utx, mut urx) = mpsc::unbounded_channel();
            let h = rpal_rt::spawn(async move {
                let mut v = vec![];
                while let Some(x) = urx.recv().await {
                    v.push(x);
                }
                v
            });
            for i in 0..10_000 {
                utx.send(i).unwrap();
            }
            drop(utx);
            assert_eq!(h.await.unwrap().len(), 10_000, "{name}");

            let (tx, mut rx) = mpsc::channel(1);
            let p = tx.reserve().await.unwrap();
            assert!(matches!(tx.try_send(1), Err(mpsc::TrySendError::Full(1))));
            drop(p);
            let p = tx.reserve().await.unwrap();
            p.send(5);
            assert_eq!(rx.recv().await, Some(5));
        });
    }
}

#[test]
fn recv_many_and_owned_permits() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(8);
            let tx2 = tx.clone();
            let h = rpal_rt::spawn(async move {
                let mut tx = tx2;
                for i in 0..100 {
                    let permit = tx.reserve_owned().await.unwrap();
                    tx = permit.send(i);
                }
            });
            drop(tx);
            let mut got = Vec::new();
            while rx.recv_many(&mut got, 5).await > 0 {}
            h.await.unwrap();
            assert_eq!(got, (0..100).collect::<Vec<_>>(), "{name}");
        });
    }
}
