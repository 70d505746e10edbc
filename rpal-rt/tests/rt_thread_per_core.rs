//! Thread-per-core: tasks stay on their worker, spawns from block_on spread, Handle::spawn_on.
mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("?").to_owned()
}

#[test]
fn spawns_from_block_on_spread_over_workers() {
    let rt = support::thread_per_core(2);
    let names = rt.block_on(async {
        let hs: Vec<_> = (0..16)
            .map(|_| rpal_rt::spawn(async { thread_name() }))
            .collect();
        let mut names = HashSet::new();
        for h in hs {
            names.insert(h.await.unwrap());
        }
        names
    });
    assert_eq!(
        names,
        HashSet::from(["rpal-worker-0".to_owned(), "rpal-worker-1".to_owned()])
    );
}

#[test]
fn a_task_never_migrates_and_children_stay_local() {
    let rt = support::thread_per_core(2);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.block_on(async move {
        rpal_rt::spawn(async move {
            let home = thread_name();
            for _ in 0..50 {
                rpal_rt::yield_now().await;
                s.lock().unwrap().push(thread_name() == home);
            }
            let child = rpal_rt::spawn(async { thread_name() }).await.unwrap();
            s.lock().unwrap().push(child == home);
        })
        .await
        .unwrap();
    });
    assert!(seen.lock().unwrap().iter().all(|same| *same));
}

#[test]
fn spawn_on_targets_a_worker() {
    let rt = support::thread_per_core(2);
    let h = rt.handle();
    let names = rt.block_on(async move {
        let a = h.spawn_on(0, async { thread_name() }).await.unwrap();
        let b = h.spawn_on(1, async { thread_name() }).await.unwrap();
        (a, b)
    });
    assert_eq!(
        names,
        ("rpal-worker-0".to_owned(), "rpal-worker-1".to_owned())
    );
}

#[test]
fn cross_worker_wakeups_under_load() {
    // Ping-pong between tasks on different workers through channels: every wake crosses threads.
    let rt = support::thread_per_core(2);
    let h = rt.handle();
    let rounds = rt.block_on(async move {
        let (tx_a, mut rx_a) = futures::channel::mpsc::channel::<u32>(1);
        let (mut tx_b, mut rx_b) = futures::channel::mpsc::channel::<u32>(1);
        use futures::{SinkExt, StreamExt};
        let mut tx_a2 = tx_a.clone();
        let pong = h.spawn_on(1, async move {
            while let Some(v) = rx_a.next().await {
                if tx_b.send(v + 1).await.is_err() {
                    break;
                }
            }
        });
        let ping = h.spawn_on(0, async move {
            let mut v = 0;
            for _ in 0..2000 {
                tx_a2.send(v).await.unwrap();
                v = rx_b.next().await.unwrap();
            }
            v
        });
        let v = ping.await.unwrap();
        drop(tx_a);
        pong.abort();
        v
    });
    assert_eq!(rounds, 2000);
}

#[test]
fn runtime_reports_workers_and_driver() {
    let rt = support::thread_per_core(3);
    assert_eq!(rt.worker_count(), 3);
    let kind = rt.driver_kind();
    if let Ok(forced) = std::env::var("RPAL_DRIVER") {
        assert_eq!(format!("{kind:?}").to_lowercase(), forced);
    }
}
