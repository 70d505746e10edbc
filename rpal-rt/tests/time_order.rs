//! Timers through the real executor and reactor: ordering, never early, many timers.
mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rpal_rt::time::{sleep, sleep_until};

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    for (name, rt) in support::each_flavor() {
        let log = rt.block_on(async {
            let start = Instant::now();
            let log = Arc::new(Mutex::new(Vec::new()));
            let mut hs = Vec::new();
            // Deadlines 0.2 ms apart, spawned in scrambled order.
            for i in [7u64, 3, 9, 0, 5, 1, 8, 2, 6, 4] {
                let log = log.clone();
                hs.push(rpal_rt::spawn_local(async move {
                    let deadline = start + Duration::from_micros(200 * (i + 1));
                    sleep_until(deadline).await;
                    let now = Instant::now();
                    assert!(now >= deadline, "timer {i} fired early");
                    log.lock().unwrap().push(i);
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
            let v = log.lock().unwrap().clone();
            v
        });
        assert_eq!(log, (0..10).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn ten_thousand_timers_all_fire_once() {
    for (name, rt) in support::each_flavor() {
        let fired = rt.block_on(async {
            let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let hs: Vec<_> = (0..10_000u64)
                .map(|i| {
                    let count = count.clone();
                    rpal_rt::spawn(async move {
                        sleep(Duration::from_micros(i % 5_000)).await;
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    })
                })
                .collect();
            for h in hs {
                h.await.unwrap();
            }
            count.load(std::sync::atomic::Ordering::Relaxed)
        });
        assert_eq!(fired, 10_000, "{name}");
    }
}

#[test]
fn sub_millisecond_sleep_waits_at_least_its_duration() {
    for (name, rt) in support::each_flavor() {
        rt.block_on(async {
            for us in [50u64, 100, 250, 500, 900] {
                let t = Instant::now();
                sleep(Duration::from_micros(us)).await;
                let took = t.elapsed();
                assert!(
                    took >= Duration::from_micros(us),
                    "{name}: {us} us took {took:?}"
                );
                // Generous bound: only catches a wheel that rounds to milliseconds or loses
                // the timer; the lateness figure itself is measured by benches/rt_micro.
                assert!(
                    took < Duration::from_millis(250),
                    "{name}: {us} us took {took:?}"
                );
            }
        });
    }
}

#[test]
fn interval_ticks_in_order() {
    let rt = support::current_thread();
    rt.block_on(async {
        let start = Instant::now();
        let mut iv = rpal_rt::time::interval(Duration::from_micros(300));
        let mut ticks = Vec::new();
        for _ in 0..5 {
            ticks.push(iv.tick().await);
        }
        for w in ticks.windows(2) {
            assert_eq!(w[1] - w[0], Duration::from_micros(300));
        }
        assert!(start.elapsed() >= Duration::from_micros(1200));
    });
}
