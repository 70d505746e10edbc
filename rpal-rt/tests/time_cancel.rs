//! Timer cancellation, reset, and timeout.
mod support;

use std::time::{Duration, Instant};

use rpal_rt::time::{sleep, timeout};

#[test]
fn timeout_elapses_and_completes() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let err = timeout(Duration::from_micros(300), std::future::pending::<()>()).await;
            assert!(err.is_err(), "{name}");
            let ok = timeout(Duration::from_secs(5), async { 3 }).await;
            assert_eq!(ok.unwrap(), 3, "{name}");
        });
    }
}

#[test]
fn dropped_sleeps_never_fire_and_do_not_delay_others() {
    let rt = support::current_thread();
    rt.block_on(async {
        // Thousands of long sleeps created and dropped.
        for _ in 0..5_000 {
            let s = sleep(Duration::from_secs(60));
            let mut s = std::pin::pin!(s);
            let _ = futures::poll!(s.as_mut());
        }
        let t = Instant::now();
        sleep(Duration::from_micros(200)).await;
        assert!(t.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn reset_moves_the_deadline() {
    let rt = support::current_thread();
    rt.block_on(async {
        let start = Instant::now();
        let s = sleep(Duration::from_secs(60));
        let mut s = std::pin::pin!(s);
        let _ = futures::poll!(s.as_mut());
        s.as_mut().reset(start + Duration::from_micros(500));
        s.await;
        assert!(start.elapsed() >= Duration::from_micros(500));
        assert!(start.elapsed() < Duration::from_secs(30));
    });
}

#[test]
fn aborting_a_sleeping_task_cancels_its_timer() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            let h = rpal_rt::spawn(async {
                sleep(Duration::from_secs(3600)).await;
            });
            rpal_rt::yield_now().await;
            h.abort();
            assert!(h.await.unwrap_err().is_cancelled(), "{name}");
        });
    }
}

#[test]
// Handing the registered Sleep back un-awaited is the point of this test.
#[allow(clippy::async_yields_async)]
fn sleep_moved_between_workers_still_fires() {
    let rt = support::thread_per_core(2);
    let handle = rt.handle();
    rt.block_on(async move {
        let s = Box::pin(sleep(Duration::from_millis(2)));
        // Register it on worker 0, then finish it on worker 1.
        let s = handle
            .spawn_on(0, async move {
                let mut s = s;
                let _ = futures::poll!(s.as_mut());
                s
            })
            .await
            .unwrap();
        handle.spawn_on(1, s).await.unwrap();
    });
}
