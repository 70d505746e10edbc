//! JoinSet: completion order, abort, detach, drop, cancel safety, on both flavours.

mod support;

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use rpal_rt::task::JoinSet;

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

async fn yield_until(flag: &AtomicBool) {
    for _ in 0..100_000 {
        if flag.load(SeqCst) {
            return;
        }
        rpal_rt::time::sleep(Duration::from_micros(50)).await;
    }
    panic!("flag never set");
}

#[test]
fn outputs_arrive_in_completion_order() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let mut set = JoinSet::new();
            assert!(set.is_empty());
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                "slow"
            });
            set.spawn(async { "fast" });
            assert_eq!(set.len(), 2);
            assert_eq!(set.join_next().await.unwrap().unwrap(), "fast");
            tx.send(()).unwrap();
            assert_eq!(set.join_next().await.unwrap().unwrap(), "slow");
            assert!(set.join_next().await.is_none());
            assert!(set.is_empty());
        });
    }
}

#[test]
fn abort_all_cancels_and_keeps_the_entries() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let mut set = JoinSet::new();
            for _ in 0..5 {
                set.spawn(std::future::pending::<()>());
            }
            set.abort_all();
            assert_eq!(set.len(), 5);
            let mut cancelled = 0;
            while let Some(res) = set.join_next().await {
                assert!(res.unwrap_err().is_cancelled());
                cancelled += 1;
            }
            assert_eq!(cancelled, 5);
        });
    }
}

#[test]
fn abort_handle_from_spawn_cancels_one() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mut set = JoinSet::new();
        let stuck = set.spawn(std::future::pending::<u8>());
        set.spawn(async { 9u8 });
        stuck.abort();
        let mut outs = Vec::new();
        while let Some(res) = set.join_next().await {
            outs.push(res.map_err(|e| e.is_cancelled()));
        }
        outs.sort();
        assert_eq!(outs, [Ok(9), Err(true)]);
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let dropped = Arc::new(AtomicBool::new(false));
            let mut set = JoinSet::new();
            let flag = DropFlag(dropped.clone());
            set.spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await
            });
            rpal_rt::yield_now().await;
            drop(set);
            yield_until(&dropped).await;
        });
    }
}

#[test]
fn detach_all_lets_tasks_run_on() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let finished = Arc::new(AtomicBool::new(false));
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            let mut set = JoinSet::new();
            let f = finished.clone();
            set.spawn(async move {
                rx.await.unwrap();
                f.store(true, SeqCst);
            });
            set.detach_all();
            assert!(set.is_empty());
            drop(set);
            tx.send(()).unwrap();
            yield_until(&finished).await;
        });
    }
}

#[test]
fn spawn_local_and_panics() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let shared = Rc::new(21);
            let mut set = JoinSet::new();
            let s = shared.clone();
            set.spawn_local(async move { *s * 2 });
            set.spawn_local(async { panic!("boom") });
            let mut ok = 0;
            let mut panicked = 0;
            while let Some(res) = set.join_next().await {
                match res {
                    Ok(v) => {
                        assert_eq!(v, 42);
                        ok += 1;
                    }
                    Err(e) => {
                        assert!(e.is_panic());
                        panicked += 1;
                    }
                }
            }
            assert_eq!((ok, panicked), (1, 1));
        });
    }
}

#[test]
fn try_join_next_does_not_wait() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mut set = JoinSet::new();
        assert!(set.try_join_next().is_none());
        set.spawn(async { 1 });
        assert!(set.try_join_next().is_none(), "the task has not run yet");
        rpal_rt::yield_now().await;
        assert_eq!(set.try_join_next().unwrap().unwrap(), 1);
    });
}

#[test]
fn join_next_is_cancel_safe_in_select() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let mut set = JoinSet::new();
            let (tx, rx) = futures::channel::oneshot::channel::<()>();
            set.spawn(async move {
                rx.await.unwrap();
                7
            });
            let mut timeouts = 0;
            let mut tx = Some(tx);
            let got = loop {
                rpal_rt::select! {
                    res = set.join_next() => break res.unwrap().unwrap(),
                    _ = rpal_rt::time::sleep(Duration::from_micros(200)) => {
                        timeouts += 1;
                        if let Some(tx) = tx.take() {
                            tx.send(()).unwrap();
                        }
                    }
                }
            };
            assert_eq!(got, 7);
            assert!(timeouts >= 1);
            assert!(set.is_empty());
        });
    }
}

#[test]
fn join_all_shutdown_and_from_iter() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let set: JoinSet<usize> = (0..10usize).map(|i| async move { i }).collect();
            let mut all = set.join_all().await;
            all.sort();
            assert_eq!(all, (0..10).collect::<Vec<_>>());

            let polls = Arc::new(AtomicUsize::new(0));
            let mut set = JoinSet::new();
            for _ in 0..3 {
                let p = polls.clone();
                set.spawn(async move {
                    p.fetch_add(1, SeqCst);
                    std::future::pending::<()>().await
                });
            }
            set.shutdown().await;
            assert!(set.is_empty());
        });
    }
}

#[test]
fn spawn_blocking_member() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mut set = JoinSet::new();
        set.spawn_blocking(|| 5);
        assert_eq!(set.join_next().await.unwrap().unwrap(), 5);
    });
}
