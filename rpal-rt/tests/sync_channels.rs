//! oneshot, broadcast, watch and the local channels on both runtime flavours.

mod support;

use std::time::Duration;

use rpal_rt::sync::{broadcast, local, oneshot, watch};

#[test]
fn oneshot_across_threads_and_closed() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, rx) = oneshot::channel();
            std::thread::spawn(move || tx.send(7u8).unwrap());
            assert_eq!(rx.await, Ok(7), "{name}");

            let (mut tx, rx) = oneshot::channel::<u8>();
            let h = rpal_rt::spawn(async move {
                tx.closed().await;
                tx.is_closed()
            });
            rpal_rt::time::sleep(Duration::from_millis(1)).await;
            drop(rx);
            assert!(h.await.unwrap());

            let (tx, rx) = oneshot::channel::<u8>();
            drop(tx);
            assert!(rx.await.is_err());
        });
    }
}

#[test]
fn broadcast_every_receiver_sees_every_value() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            // Capacity above the message count: no receiver can lag however late it runs.
            let (tx, rx) = broadcast::channel::<u32>(128);
            let rxs: Vec<_> = (0..3).map(|_| tx.subscribe()).collect();
            drop(rx);
            let tasks: Vec<_> = rxs
                .into_iter()
                .map(|mut rx| {
                    rpal_rt::spawn(async move {
                        let mut sum = 0;
                        loop {
                            match rx.recv().await {
                                Ok(v) => sum += v,
                                Err(broadcast::RecvError::Closed) => break sum,
                                Err(broadcast::RecvError::Lagged(_)) => panic!("lagged"),
                            }
                        }
                    })
                })
                .collect();
            for i in 0..100 {
                tx.send(i).unwrap();
                if i % 8 == 0 {
                    rpal_rt::yield_now().await;
                    rpal_rt::time::sleep(Duration::from_micros(50)).await;
                }
            }
            drop(tx);
            for t in tasks {
                assert_eq!(t.await.unwrap(), 4950, "{name}");
            }
        });
    }
}

#[test]
fn watch_receivers_see_the_latest_value() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            let h = rpal_rt::spawn(async move {
                let mut last = 0;
                while rx.changed().await.is_ok() {
                    let v = *rx.borrow_and_update();
                    assert!(v >= last);
                    last = v;
                }
                last
            });
            for i in 1..=50 {
                tx.send_replace(i);
                if i % 10 == 0 {
                    rpal_rt::time::sleep(Duration::from_micros(100)).await;
                }
            }
            drop(tx);
            assert_eq!(h.await.unwrap(), 50, "{name}");
        });
    }
}

#[test]
fn local_channels_between_local_tasks() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, mut rx) = local::mpsc::channel::<std::rc::Rc<u32>>(2);
            let (done_tx, done_rx) = local::oneshot::channel();
            rpal_rt::spawn_local(async move {
                let mut sum = 0;
                while let Some(v) = rx.recv().await {
                    sum += *v;
                }
                done_tx.send(sum).unwrap();
            });
            for i in 0..100 {
                tx.send(std::rc::Rc::new(i)).await.unwrap();
            }
            drop(tx);
            assert_eq!(done_rx.await, Ok(4950), "{name}");
        });
    }
}

#[test]
fn watch_wait_for_and_send_if_modified() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let (tx, mut rx) = watch::channel(0u32);
            let h = rpal_rt::spawn(async move { *rx.wait_for(|v| *v >= 3).await.unwrap() });
            for i in 1..=3 {
                rpal_rt::time::sleep(Duration::from_micros(100)).await;
                assert!(tx.send_if_modified(|v| {
                    *v = i;
                    true
                }));
            }
            assert!(!tx.send_if_modified(|_| false));
            assert_eq!(h.await.unwrap(), 3, "{name}");
        });
    }
}
