//! Signals under both drivers (CI sets RPAL_DRIVER) and both flavours, raised with
//! `kill(getpid())`. Each test uses its own signal: tests run in parallel in one process.

mod support;

use std::future::Future;
use std::time::Duration;

use rpal_rt::signal::unix::{signal, SignalKind};
use support::each_flavor;

/// Generous bound so a hang fails instead of blocking CI.
const LIMIT: Duration = Duration::from_secs(20);

fn raise(sig: i32) {
    // SAFETY: kill(2) on our own pid with a signal whose handler is installed by the test.
    let rc = unsafe { libc::kill(libc::getpid(), sig) };
    assert_eq!(rc, 0);
}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    rpal_rt::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no signal within {LIMIT:?}"))
}

#[test]
fn one_listener_sees_each_delivery() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut s = signal(SignalKind::user_defined1()).unwrap();
            for _ in 0..3 {
                raise(libc::SIGUSR1);
                assert_eq!(within(name, s.recv()).await, Some(()));
            }
        });
    }
}

/// A listener parked in the reactor (no delivery yet) is woken by a signal raised later from
/// another task.
#[test]
fn parked_listener_is_woken() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut s = signal(SignalKind::hangup()).unwrap();
            let waiter = rpal_rt::spawn(async move { s.recv().await });
            rpal_rt::time::sleep(Duration::from_millis(20)).await;
            raise(libc::SIGHUP);
            assert_eq!(within(name, waiter).await.unwrap(), Some(()));
        });
    }
}

/// Several listeners of one signal, spread over tasks (and workers), each see the delivery.
#[test]
fn every_listener_sees_the_delivery() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut waiters = Vec::new();
            let (tx, mut rx) = futures::channel::mpsc::unbounded::<()>();
            for _ in 0..4 {
                let mut s = signal(SignalKind::user_defined2()).unwrap();
                let tx = tx.clone();
                waiters.push(rpal_rt::spawn(async move {
                    tx.unbounded_send(()).unwrap();
                    s.recv().await
                }));
            }
            for _ in 0..4 {
                futures::StreamExt::next(&mut rx).await.unwrap();
            }
            raise(libc::SIGUSR2);
            for w in waiters {
                assert_eq!(within(name, w).await.unwrap(), Some(()), "{name}");
            }
        });
    }
}

/// Deliveries before a listener exists are not reported to it.
#[test]
fn new_listener_does_not_see_earlier_deliveries() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mut first = signal(SignalKind::window_change()).unwrap();
        raise(libc::SIGWINCH);
        assert_eq!(within("first", first.recv()).await, Some(()));
        let mut late = signal(SignalKind::window_change()).unwrap();
        let waited = rpal_rt::time::timeout(Duration::from_millis(50), late.recv()).await;
        assert!(waited.is_err(), "a late listener saw an old delivery");
        raise(libc::SIGWINCH);
        assert_eq!(within("late", late.recv()).await, Some(()));
    });
}

#[test]
fn ctrl_c_resolves_on_sigint() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mut fut = Box::pin(rpal_rt::signal::ctrl_c());
        // The first poll installs the handler; only then is SIGINT safe to raise.
        assert!(futures::poll!(fut.as_mut()).is_pending());
        raise(libc::SIGINT);
        within("ctrl_c", fut).await.unwrap();
    });
}

#[test]
fn uncatchable_signals_are_refused() {
    for sig in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, 65] {
        let err = signal(SignalKind::from_raw(sig)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "signal {sig}");
    }
}
