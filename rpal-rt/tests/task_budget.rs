//! The cooperative budget: a task that is always ready cannot starve its worker.

mod support;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use rpal_rt::io::{Interest, Registration};
use rpal_rt::task;

/// Iterations after which a busy loop gives up: far more than a budget, so reaching it means
/// the worker was starved (the test then fails instead of hanging).
const STARVED: u64 = 20_000_000;

/// A busy task, a timer and a counting task all spawned from one task, so they share one worker
/// on both flavours. `busy` is polled in a loop until `stop` is set.
fn starvation_case<F, Fut>(rt: &rpal_rt::Runtime, busy: F)
where
    F: FnOnce(Arc<AtomicBool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = u64> + 'static,
{
    let outcome = rt.block_on(async {
        rpal_rt::spawn(async move {
            let stop = Arc::new(AtomicBool::new(false));
            let other = Arc::new(AtomicU64::new(0));
            let busy = rpal_rt::spawn_local(busy(stop.clone()));
            let counter = {
                let (stop, other) = (stop.clone(), other.clone());
                rpal_rt::spawn(async move {
                    while !stop.load(SeqCst) {
                        other.fetch_add(1, SeqCst);
                        rpal_rt::yield_now().await;
                    }
                })
            };
            let timer = {
                let stop = stop.clone();
                rpal_rt::spawn(async move {
                    rpal_rt::time::sleep(Duration::from_millis(2)).await;
                    stop.store(true, SeqCst);
                })
            };
            let iterations = busy.await.unwrap();
            timer.await.unwrap();
            counter.await.unwrap();
            (iterations, other.load(SeqCst))
        })
        .await
        .unwrap()
    });
    let (iterations, other) = outcome;
    assert!(iterations < STARVED, "the busy task starved its worker");
    assert!(other > 0, "the other task never ran");
}

#[test]
fn always_ready_registration_does_not_starve_timer_or_tasks() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        starvation_case(&rt, |stop| async move {
            // The peer is gone: the socket is readable (EOF) forever.
            let (a, b) = UnixStream::pair().unwrap();
            drop(b);
            a.set_nonblocking(true).unwrap();
            let reg = Registration::new(a.as_raw_fd(), Interest::READABLE).unwrap();
            let mut n = 0u64;
            let mut buf = [0u8; 16];
            while !stop.load(SeqCst) && n < STARVED {
                let read = std::future::poll_fn(|cx| {
                    reg.poll_io(cx, Interest::READABLE, || (&a).read(&mut buf))
                })
                .await
                .unwrap();
                assert_eq!(read, 0);
                n += 1;
            }
            n
        });
    }
}

#[test]
fn consume_budget_loop_does_not_starve() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        starvation_case(&rt, |stop| async move {
            let mut n = 0u64;
            while !stop.load(SeqCst) && n < STARVED {
                task::consume_budget().await;
                n += 1;
            }
            n
        });
    }
}

#[test]
fn elapsed_sleeps_consume_budget() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        starvation_case(&rt, |stop| async move {
            let mut n = 0u64;
            while !stop.load(SeqCst) && n < STARVED {
                rpal_rt::time::sleep(Duration::ZERO).await;
                n += 1;
            }
            n
        });
    }
}

/// Returns how often a local sibling task ran while `work` ran (nothing else can run it).
async fn sibling_runs_during<F: std::future::Future>(work: F) -> u64 {
    let count = Rc::new(std::cell::Cell::new(0u64));
    let stop = Rc::new(std::cell::Cell::new(false));
    let sibling = {
        let (count, stop) = (count.clone(), stop.clone());
        rpal_rt::spawn_local(async move {
            while !stop.get() {
                count.set(count.get() + 1);
                rpal_rt::yield_now().await;
            }
        })
    };
    rpal_rt::yield_now().await; // let it start
    let before = count.get();
    work.await;
    let ran = count.get() - before;
    stop.set(true);
    sibling.await.unwrap();
    ran
}

async fn spend(units: u32) {
    for _ in 0..units {
        task::consume_budget().await;
    }
}

#[test]
fn unconstrained_never_yields_and_the_budget_does() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let ran = sibling_runs_during(task::unconstrained(spend(2_000))).await;
            assert_eq!(ran, 0, "unconstrained code yielded for budget");
            let ran = sibling_runs_during(spend(2_000)).await;
            assert!(
                ran >= 2_000 / 256,
                "a budgeted loop yielded only {ran} times"
            );
        });
    }
}

#[test]
fn budget_is_fresh_for_every_poll() {
    // 100 units per poll, then a real yield: never more than one poll per batch would be
    // needed, so no budget-forced yield may happen in between.
    let rt = support::current_thread();
    rt.block_on(async {
        let ran = sibling_runs_during(async {
            for _ in 0..50 {
                spend(100).await;
                rpal_rt::yield_now().await;
            }
        })
        .await;
        assert_eq!(ran, 50, "the budget carried over from one poll to the next");
    });
}

#[test]
fn timeout_fires_around_a_loop_that_spends_the_budget() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let busy = async {
                loop {
                    task::consume_budget().await;
                }
            };
            let res = rpal_rt::time::timeout(Duration::from_millis(2), busy).await;
            assert!(res.is_err());
        });
    }
}
