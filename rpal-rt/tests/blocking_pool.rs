//! spawn_blocking: results, panics, the thread bound, shutdown.
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rpal_rt::runtime::Builder;

#[test]
fn returns_results_and_panics() {
    let rt = support::current_thread();
    rt.block_on(async {
        assert_eq!(rpal_rt::spawn_blocking(|| 4).await.unwrap(), 4);
        let err = rpal_rt::spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
    });
}

#[test]
fn thread_bound_is_respected_under_a_flood() {
    let rt = Builder::new_current_thread()
        .max_blocking_threads(3)
        .build()
        .unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        let hs: Vec<_> = (0..40)
            .map(|_| {
                let running = running.clone();
                let peak = peak.clone();
                rpal_rt::spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in hs {
            h.await.unwrap();
        }
    });
    assert!(
        peak.load(Ordering::SeqCst) <= 3,
        "peak {}",
        peak.load(Ordering::SeqCst)
    );
    assert!(peak.load(Ordering::SeqCst) >= 1);
}

#[test]
fn workers_keep_running_while_blocking_work_runs() {
    let rt = support::thread_per_core(2);
    rt.block_on(async {
        let slow = rpal_rt::spawn_blocking(|| std::thread::sleep(Duration::from_millis(50)));
        // Meanwhile, async tasks complete.
        for i in 0..100 {
            assert_eq!(rpal_rt::spawn(async move { i }).await.unwrap(), i);
        }
        slow.await.unwrap();
    });
}

#[test]
fn queued_work_is_cancelled_at_shutdown() {
    let rt = Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let s = started.clone();
            rt.spawn_blocking(move || {
                s.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(30));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(5));
    drop(rt);
    let rt2 = support::current_thread();
    let cancelled = rt2.block_on(async {
        let mut cancelled = 0;
        for h in handles {
            if let Err(e) = h.await {
                assert!(e.is_cancelled());
                cancelled += 1;
            }
        }
        cancelled
    });
    assert!(
        cancelled >= 3,
        "queued work must be cancelled, got {cancelled}"
    );
    assert!(started.load(Ordering::SeqCst) <= 2);
}
