//! spawn, spawn_local, JoinHandle, yield_now, block_on, Handle, on both flavours.
mod support;

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[test]
fn spawn_and_join_many() {
    for (name, rt) in support::each_flavor() {
        let total = rt.block_on(async {
            let handles: Vec<_> = (0..1000u64)
                .map(|i| rpal_rt::spawn(async move { i }))
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        });
        assert_eq!(total, 999 * 1000 / 2, "{name}");
    }
}

#[test]
fn nested_spawn_chain() {
    fn chain(n: u32) -> rpal_rt::JoinHandle<u32> {
        rpal_rt::spawn(async move {
            if n == 0 {
                0
            } else {
                chain(n - 1).await.unwrap() + 1
            }
        })
    }
    for (name, rt) in support::each_flavor() {
        assert_eq!(
            rt.block_on(async { chain(500).await.unwrap() }),
            500,
            "{name}"
        );
    }
}

#[test]
fn spawn_local_runs_not_send_futures() {
    for (name, rt) in support::each_flavor() {
        let out = rt.block_on(async {
            let counter = Rc::new(std::cell::Cell::new(0));
            let mut hs = Vec::new();
            for _ in 0..10 {
                let c = counter.clone();
                hs.push(rpal_rt::spawn_local(async move {
                    rpal_rt::yield_now().await;
                    c.set(c.get() + 1);
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
            counter.get()
        });
        assert_eq!(out, 10, "{name}");
    }
}

#[test]
fn yield_now_interleaves_tasks() {
    let rt = support::current_thread();
    let order = rt.block_on(async {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut hs = Vec::new();
        for id in 0..2 {
            let log = log.clone();
            hs.push(rpal_rt::spawn_local(async move {
                for step in 0..3 {
                    log.borrow_mut().push((id, step));
                    rpal_rt::yield_now().await;
                }
            }));
        }
        for h in hs {
            h.await.unwrap();
        }
        let v = log.borrow().clone();
        v
    });
    assert_eq!(order, vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2), (1, 2)]);
}

#[test]
fn handle_spawns_from_foreign_threads() {
    for (name, rt) in support::each_flavor() {
        let handle = rt.handle();
        let hits = Arc::new(AtomicUsize::new(0));
        let joins: Vec<_> = (0..4)
            .map(|_| {
                let handle = handle.clone();
                let hits = hits.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| {
                            let hits = hits.clone();
                            handle.spawn(async move {
                                hits.fetch_add(1, Ordering::SeqCst);
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let handles: Vec<_> = joins.into_iter().flat_map(|j| j.join().unwrap()).collect();
        rt.block_on(async {
            for h in handles {
                h.await.unwrap();
            }
        });
        assert_eq!(hits.load(Ordering::SeqCst), 200, "{name}");
    }
}

#[test]
fn wake_from_another_thread() {
    for (name, rt) in support::each_flavor() {
        let got = rt.block_on(async {
            let (tx, rx) = futures::channel::oneshot::channel::<u32>();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(5));
                let _ = tx.send(9);
            });
            rpal_rt::spawn(async move { rx.await.unwrap() })
                .await
                .unwrap()
        });
        assert_eq!(got, 9, "{name}");
    }
}

#[test]
fn block_on_can_be_called_repeatedly() {
    let rt = support::current_thread();
    for i in 0..5 {
        assert_eq!(rt.block_on(async move { i }), i);
    }
    // A task spawned in one block_on can be awaited in the next.
    // Returning the handle un-awaited is the point of this test.
    #[allow(clippy::async_yields_async)]
    let h = rt.block_on(async { rpal_rt::spawn(async { 11 }) });
    assert_eq!(rt.block_on(h).unwrap(), 11);
}

#[test]
#[should_panic(expected = "inside an rpal runtime")]
fn nested_block_on_panics_clearly() {
    let rt = support::current_thread();
    let rt2 = support::current_thread();
    rt.block_on(async move {
        rt2.block_on(async {});
    });
}

#[test]
#[should_panic(expected = "no rpal runtime on this thread")]
fn spawn_outside_runtime_panics_clearly() {
    drop(rpal_rt::spawn(async {}));
}

#[test]
fn join_handle_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<rpal_rt::JoinHandle<u32>>();
    assert_send_sync::<rpal_rt::runtime::Handle>();
    assert_send_sync::<rpal_rt::Runtime>();
}

#[test]
fn dropping_runtime_drops_pending_tasks() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for (name, rt) in support::each_flavor() {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let handles = rt.block_on(async move {
            (0..20)
                .map(|_| {
                    let f = Flag(d.clone());
                    rpal_rt::spawn(async move {
                        let _f = f;
                        std::future::pending::<()>().await;
                    })
                })
                .collect::<Vec<_>>()
        });
        drop(rt);
        assert_eq!(dropped.load(Ordering::SeqCst), 20, "{name}");
        for h in handles {
            assert!(h.is_finished(), "{name}");
        }
    }
}
