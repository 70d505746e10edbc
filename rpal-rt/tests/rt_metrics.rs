//! Runtime metrics: every counter moves when its event happens, on both flavours.

mod support;

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use rpal_rt::io::{Interest, Registration};
use rpal_rt::runtime::Flavor;

#[test]
fn counters_follow_the_work() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        let before = rt.metrics();
        assert_eq!(before.num_workers(), rt.worker_count());
        assert_eq!(before.driver(), rt.driver_kind());
        assert_eq!(before.poll_count(), 0);

        rt.block_on(async {
            // Everything inside one task so it happens on a worker (the block_on thread of a
            // thread-per-core runtime has its own, unreported, core).
            rpal_rt::spawn(async {
                for _ in 0..10 {
                    rpal_rt::spawn(async {}).await.unwrap();
                }
                rpal_rt::yield_now().await; // a local schedule
                rpal_rt::time::sleep(Duration::from_millis(1)).await; // a timer fire and a park
                let (a, _b) = UnixStream::pair().unwrap();
                a.set_nonblocking(true).unwrap();
                let _reg = Registration::new(a.as_raw_fd(), Interest::READABLE).unwrap();
                // A wake-up from another thread.
                let (tx, rx) = futures::channel::oneshot::channel::<()>();
                let t = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(1));
                    tx.send(()).unwrap();
                });
                rx.await.unwrap();
                t.join().unwrap();
            })
            .await
            .unwrap();
        });

        let m = rt.metrics();
        eprintln!("{m:#?}");
        assert!(m.spawned_tasks_count() >= 11, "{m:?}");
        assert!(m.poll_count() >= 11, "{m:?}");
        assert!(m.timer_fire_count() >= 1, "{m:?}");
        assert!(m.park_count() >= 1, "{m:?}");
        assert!(m.io_registration_count() >= 1, "{m:?}");
        assert!(m.remote_schedule_count() >= 1, "{m:?}");
        let local: u64 = m.workers().iter().map(|w| w.local_schedule_count()).sum();
        assert!(local >= 1, "{m:?}");
        for (i, w) in m.workers().iter().enumerate() {
            assert_eq!(w.index(), i);
        }
        let expected = if flavor == "current_thread" {
            Flavor::CurrentThread
        } else {
            Flavor::ThreadPerCore
        };
        assert_eq!(m.flavor(), expected);
        assert!(m.worker(m.num_workers()).is_none());
    }
}

#[test]
fn counters_only_grow() {
    let rt = support::thread_per_core(2);
    let mut last = 0;
    for _ in 0..5 {
        rt.block_on(async {
            let hs: Vec<_> = (0..20).map(|_| rpal_rt::spawn(async {})).collect();
            for h in hs {
                h.await.unwrap();
            }
        });
        let polls = rt.metrics().poll_count();
        assert!(polls >= last + 20);
        last = polls;
    }
}
