//! Mutex, RwLock, Semaphore, Notify, Barrier and OnceCell on both runtime flavours.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpal_rt::sync::{Barrier, Mutex, Notify, OnceCell, RwLock, Semaphore};

#[test]
fn mutex_held_across_await_excludes() {
    for (name, rt) in support::each_flavor() {
        let v = rt.block_on(async {
            let m = Arc::new(Mutex::new(0u32));
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let m = m.clone();
                    rpal_rt::spawn(async move {
                        for _ in 0..50 {
                            let mut g = m.lock().await;
                            let before = *g;
                            rpal_rt::yield_now().await;
                            *g = before + 1;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            let v = *m.lock().await;
            v
        });
        assert_eq!(v, 400, "{name}");
    }
}

#[test]
fn rwlock_writer_waits_for_readers() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let l = Arc::new(RwLock::new(1));
            let r = l.read().await;
            let l2 = l.clone();
            let w = rpal_rt::spawn(async move { *l2.write().await = 2 });
            rpal_rt::time::sleep(Duration::from_millis(1)).await;
            assert_eq!(*r, 1, "{name}");
            drop(r);
            w.await.unwrap();
            assert_eq!(*l.read().await, 2);
        });
    }
}

#[test]
fn semaphore_bounds_concurrency_and_cancel_keeps_permits() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let sem = Arc::new(Semaphore::new(3));
            let inside = Arc::new(AtomicUsize::new(0));
            let peak = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..12)
                .map(|_| {
                    let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                    rpal_rt::spawn(async move {
                        let _p = sem.acquire_owned().await.unwrap();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        rpal_rt::time::sleep(Duration::from_micros(200)).await;
                        inside.fetch_sub(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            assert!(peak.load(Ordering::SeqCst) <= 3, "{name}");
            // A timed-out acquire gives nothing away.
            let all = sem.acquire_many(3).await.unwrap();
            let r = rpal_rt::time::timeout(Duration::from_millis(1), sem.acquire()).await;
            assert!(r.is_err());
            drop(all);
            assert_eq!(sem.available_permits(), 3, "{name}");
            sem.close();
            assert!(sem.acquire().await.is_err());
        });
    }
}

#[test]
fn notify_one_from_another_thread_and_notify_waiters() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let n = Arc::new(Notify::new());
            let n2 = n.clone();
            let t = std::thread::spawn(move || n2.notify_one());
            n.notified().await;
            t.join().unwrap();

            // Each task creates its `Notified` before saying it is ready: notify_waiters must
            // reach it even if it has not been polled yet.
            let woken = Arc::new(AtomicUsize::new(0));
            let (ready_tx, mut ready_rx) = rpal_rt::sync::mpsc::unbounded_channel();
            let tasks: Vec<_> = (0..5)
                .map(|_| {
                    let (n, woken, ready) = (n.clone(), woken.clone(), ready_tx.clone());
                    rpal_rt::spawn(async move {
                        let fut = n.notified();
                        ready.send(()).unwrap();
                        fut.await;
                        woken.fetch_add(1, Ordering::SeqCst);
                    })
                })
                .collect();
            for _ in 0..5 {
                ready_rx.recv().await.unwrap();
            }
            n.notify_waiters();
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(woken.load(Ordering::SeqCst), 5, "{name}");
        });
    }
}

#[test]
fn barrier_opens_for_each_generation() {
    for (name, rt) in support::each_flavor() {
        let leaders = rt.block_on(async {
            let b = Arc::new(Barrier::new(4));
            let tasks: Vec<_> = (0..8)
                .map(|_| {
                    let b = b.clone();
                    rpal_rt::spawn(async move { b.wait().await.is_leader() as usize })
                })
                .collect();
            let mut leaders = 0;
            for t in tasks {
                leaders += t.await.unwrap();
            }
            leaders
        });
        assert_eq!(leaders, 2, "{name}");
    }
}

#[test]
fn once_cell_initialises_once() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let cell = Arc::new(OnceCell::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let tasks: Vec<_> = (0..6)
                .map(|i| {
                    let (cell, runs) = (cell.clone(), runs.clone());
                    rpal_rt::spawn(async move {
                        *cell
                            .get_or_init(|| async move {
                                runs.fetch_add(1, Ordering::SeqCst);
                                rpal_rt::time::sleep(Duration::from_micros(100)).await;
                                i
                            })
                            .await
                    })
                })
                .collect();
            let mut vals = vec![];
            for t in tasks {
                vals.push(t.await.unwrap());
            }
            assert_eq!(runs.load(Ordering::SeqCst), 1, "{name}");
            assert!(vals.iter().all(|v| *v == vals[0]));
            assert_eq!(cell.get(), Some(&vals[0]));
        });
    }
}
