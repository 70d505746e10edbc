//! The per-worker receiver state (RUNNING / WAIT / CALL) as a peer sees it, and the doorbell
//! rule built on it: a writer rings a reader's eventfd only while the reader's worker is in WAIT.
//!
//! The server runs on its own thread and runtime; its worker serves two streams. While the
//! worker is busy on stream B (a task that spins, or a call-gate handler that runs), the client
//! writes on stream A, whose reader waits on that same worker: no doorbell is rung, the
//! writer counts the skips, and `peer_worker_state` reads RUNNING (or CALL). Once the worker
//! parks, the state reads WAIT and the next message rings exactly once.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{RpalListener, RpalStream};
use rpal_rt::gate::{Domain, DomainConfig};
use rpal_rt::io::worker_state::WorkerState;
use support::{within, SockPath};

/// Spins (without yielding) until `flag` is set, at most 20 s.
fn spin_until(flag: &AtomicBool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !flag.load(Ordering::Acquire) && Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// Polls `f` until it is true (at most 10 s), yielding between tries.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for: {what}");
        rpal_rt::time::sleep(Duration::from_micros(200)).await;
    }
}

#[derive(Default)]
struct Flags {
    busy: AtomicBool,
    stop_busy: AtomicBool,
    in_call: AtomicBool,
    stop_call: AtomicBool,
}

#[test]
fn a_busy_or_calling_worker_is_not_rung_and_a_waiting_one_is() {
    let path = SockPath::new("worker-state");
    let listener = RpalListener::bind(path.path()).unwrap();
    let flags = Arc::new(Flags::default());
    let f = flags.clone();
    let server = std::thread::spawn(move || {
        support::current_thread().block_on(async move {
            let domain = Domain::new(DomainConfig::new()).unwrap();
            let fl = f.clone();
            let svc = domain.register("spin-in-call", move |_req, resp| {
                fl.in_call.store(true, Ordering::Release);
                spin_until(&fl.stop_call);
                resp.write(b"called").unwrap();
            });
            let (mut a, _) = listener.accept().await.unwrap();
            let (mut b, _) = listener.accept().await.unwrap();
            assert!(a.is_shared_memory() && b.is_shared_memory());
            // Stream A: echo, one byte at a time, until end of stream.
            let echo = rpal_rt::spawn_local(async move {
                let mut byte = [0u8; 1];
                let mut n = 0u64;
                while a.read(&mut byte).await.unwrap() == 1 {
                    a.write_all(&byte).await.unwrap();
                    n += 1;
                }
                n
            });
            // Stream B: commands that occupy the worker.
            let mut cmd = [0u8; 1];
            while b.read(&mut cmd).await.unwrap() == 1 {
                match cmd[0] {
                    b's' => {
                        f.busy.store(true, Ordering::Release);
                        spin_until(&f.stop_busy);
                        f.busy.store(false, Ordering::Release);
                    }
                    b'c' => {
                        let out = svc.call(b"").unwrap();
                        assert_eq!(out, b"called");
                    }
                    other => panic!("unknown command {other}"),
                }
                b.write_all(&cmd).await.unwrap();
            }
            echo.await.unwrap()
        })
    });

    let pings = support::current_thread().block_on(async {
        let mut a = within("connect A", RpalStream::connect(path.path()))
            .await
            .unwrap();
        let mut b = within("connect B", RpalStream::connect(path.path()))
            .await
            .unwrap();
        assert!(a.is_shared_memory());
        let mut one = [0u8; 1];

        // Idle server: its worker parks, and A's reader waits on it: a write rings it once. A
        // timer of the server's (its listener's handshake deadline, say) can wake that worker
        // between our look and our write; it then finds the byte itself (no ring, or a skip),
        // so try again until one write found it parked.
        let mut pings = 0;
        loop {
            pings += 1;
            assert!(pings <= 20, "the parked server worker was never rung");
            eventually("server worker in WAIT", || {
                a.peer_worker_state() == Some(WorkerState::Wait)
            })
            .await;
            let before = a.stats();
            a.write_all(b"1").await.unwrap();
            within("echo 1", a.read_exact(&mut one)).await.unwrap();
            let rung = a.stats().doorbells_sent - before.doorbells_sent;
            assert!(rung <= 1, "one wake-up per park, not {rung}");
            if rung == 1 {
                break;
            }
        }

        // Busy worker (a task spinning on stream B): A's messages ring nothing. First let the
        // server park once more while A's reader waits: a waiting end's line is armed with its
        // worker's slot when that worker parks (and stays armed while the end waits).
        eventually("server worker in WAIT with A's reader armed", || {
            a.peer_worker_state() == Some(WorkerState::Wait)
        })
        .await;
        b.write_all(b"s").await.unwrap();
        eventually("server busy", || flags.busy.load(Ordering::Acquire)).await;
        eventually("the busy worker reads RUNNING", || {
            a.peer_worker_state() == Some(WorkerState::Running)
        })
        .await;
        let before = a.stats();
        for _ in 0..50 {
            a.write_all(b"x").await.unwrap();
        }
        let during = a.stats();
        assert_eq!(
            during.doorbells_sent, before.doorbells_sent,
            "no ring while RUNNING"
        );
        assert!(during.doorbells_skipped_busy > before.doorbells_skipped_busy);
        flags.stop_busy.store(true, Ordering::Release);
        within("busy done", b.read_exact(&mut one)).await.unwrap();
        let mut echoed = [0u8; 50];
        within("50 echoes", a.read_exact(&mut echoed))
            .await
            .unwrap();
        assert_eq!(echoed, [b'x'; 50]);

        // Worker inside a call-gate handler: CALL, and still no ring.
        eventually("server worker in WAIT again", || {
            a.peer_worker_state() == Some(WorkerState::Wait)
        })
        .await;
        b.write_all(b"c").await.unwrap();
        eventually("server in the call", || {
            flags.in_call.load(Ordering::Acquire)
        })
        .await;
        assert_eq!(a.peer_worker_state(), Some(WorkerState::Call));
        let before = a.stats();
        for _ in 0..10 {
            a.write_all(b"y").await.unwrap();
        }
        let during = a.stats();
        assert_eq!(
            during.doorbells_sent, before.doorbells_sent,
            "no ring while in CALL"
        );
        flags.stop_call.store(true, Ordering::Release);
        within("call done", b.read_exact(&mut one)).await.unwrap();
        let mut echoed = [0u8; 10];
        within("10 echoes", a.read_exact(&mut echoed))
            .await
            .unwrap();
        assert_eq!(echoed, [b'y'; 10]);

        drop(a);
        drop(b);
        pings
    });
    let echoed = server.join().unwrap();
    assert_eq!(echoed, 60 + pings);
}

/// A stream that fell back to the plain socket (the server turned shared memory off) has no
/// peer worker state, and works.
#[test]
fn the_worker_state_is_none_on_a_plain_stream() {
    support::current_thread().block_on(async {
        let path = SockPath::new("worker-state-plain");
        let cfg = rpal_net::RpalConfig::default().shared_memory(false);
        let l = RpalListener::bind_with(path.path(), cfg).unwrap();
        let server = rpal_rt::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            support::echo(s).await.unwrap()
        });
        let mut s = within("connect", RpalStream::connect(path.path()))
            .await
            .unwrap();
        assert!(!s.is_shared_memory());
        assert_eq!(s.peer_worker_state(), None);
        s.write_all(b"plain").await.unwrap();
        let mut back = [0u8; 5];
        within("echo", s.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, b"plain");
        drop(s);
        within("server", server).await.unwrap();
    });
}
