//! Cancel safety under real races: waiting futures dropped by timeouts while another thread
//! notifies, sends and releases. A lost message, notification or permit shows up as a wrong
//! count or as the (generous) overall deadline expiring.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpal_rt::sync::{mpsc, Notify, Semaphore};
use rpal_rt::time::timeout;

/// How long each waiting future lives before it is dropped.
const SHORT: Duration = Duration::from_micros(20);
/// Overall bound: only a lost wake-up could take this long.
const DEADLINE: Duration = Duration::from_secs(20);

#[test]
fn recv_dropped_by_timeouts_loses_no_message() {
    for (name, rt) in support::each_flavor() {
        let got = rt.block_on(async {
            let (tx, mut rx) = mpsc::channel::<u32>(2);
            let producer = std::thread::spawn(move || {
                for i in 0..2000 {
                    tx.blocking_send(i).unwrap();
                }
            });
            let got = timeout(DEADLINE, async {
                let mut next = 0;
                loop {
                    match timeout(SHORT, rx.recv()).await {
                        Ok(Some(v)) => {
                            assert_eq!(v, next);
                            next += 1;
                        }
                        Ok(None) => break next,
                        Err(_) => {}
                    }
                }
            })
            .await
            .expect("a message was lost");
            producer.join().unwrap();
            got
        });
        assert_eq!(got, 2000, "{name}");
    }
}

#[test]
fn notified_dropped_by_timeouts_loses_no_notification() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let n = Arc::new(Notify::new());
            let seen = Arc::new(AtomicUsize::new(0));
            let (n2, seen2) = (n.clone(), seen.clone());
            let notifier = std::thread::spawn(move || {
                for i in 0..500 {
                    // One notification at a time: the next only after this one was seen.
                    n2.notify_one();
                    while seen2.load(Ordering::Acquire) <= i {
                        std::thread::yield_now();
                    }
                }
            });
            timeout(DEADLINE, async {
                while seen.load(Ordering::Acquire) < 500 {
                    if timeout(SHORT, n.notified()).await.is_ok() {
                        seen.fetch_add(1, Ordering::Release);
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{name}: a notification was lost"));
            notifier.join().unwrap();
        });
    }
}

#[test]
fn acquire_dropped_by_timeouts_loses_no_permit() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let sem = Arc::new(Semaphore::new(2));
            let holders: Vec<_> = (0..4)
                .map(|_| {
                    let sem = sem.clone();
                    std::thread::spawn(move || {
                        for _ in 0..300 {
                            if let Ok(p) = sem.try_acquire() {
                                std::thread::yield_now();
                                drop(p);
                            }
                        }
                    })
                })
                .collect();
            timeout(DEADLINE, async {
                let mut got = 0;
                while got < 300 {
                    if let Ok(Ok(p)) = timeout(SHORT, sem.acquire_many(2)).await {
                        got += 1;
                        drop(p);
                    }
                }
            })
            .await
            .unwrap_or_else(|_| panic!("{name}: a permit was lost"));
            for h in holders {
                h.join().unwrap();
            }
            assert_eq!(sem.available_permits(), 2, "{name}");
        });
    }
}
