//! `select!`, `join!` and `try_join!`: every syntax form, fairness, and cancellation of the
//! losing branches.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::channel::{mpsc, oneshot};
use futures::StreamExt;

/// A future that never completes and sets its flag when dropped.
struct Pending(Arc<AtomicBool>);
impl Future for Pending {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Pending
    }
}
impl Drop for Pending {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

fn flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

#[test]
fn first_ready_wins_and_losers_are_dropped_before_the_handler() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let (a, b) = (flag(), flag());
            let (pa, pb) = (Pending(a.clone()), Pending(b.clone()));
            let out = rpal_rt::select! {
                v = pa => v,
                v = async { rpal_rt::yield_now().await; 7u32 } => {
                    assert!(a.load(SeqCst) && b.load(SeqCst), "losers still alive in the handler");
                    v + 1
                }
                v = pb => v,
            };
            assert_eq!(out, 8);
        });
    }
}

#[test]
fn biased_polls_in_order() {
    let rt = support::current_thread();
    rt.block_on(async {
        for _ in 0..50 {
            let got = rpal_rt::select! {
                biased;
                a = async { 1 } => a,
                b = async { 2 } => b,
            };
            assert_eq!(got, 1);
        }
    });
}

#[test]
fn unbiased_start_is_random() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mut counts = [0u32; 3];
        for _ in 0..300 {
            let i: usize = rpal_rt::select! {
                a = async { 0 } => a,
                b = async { 1 } => b,
                c = async { 2 } => c,
            };
            counts[i] += 1;
        }
        assert!(counts.iter().all(|&c| c > 30), "unfair: {counts:?}");
    });
}

#[test]
fn preconditions_disable_branches() {
    let rt = support::current_thread();
    rt.block_on(async {
        let polled = flag();
        let p = Pending(polled.clone());
        let got = rpal_rt::select! {
            v = async { 1 }, if false => v,
            v = p, if 1 + 1 == 3 => v,
            v = async { 2 }, if true => v,
        };
        assert_eq!(got, 2);
        // The disabled branch's future was still evaluated, and dropped.
        assert!(polled.load(SeqCst));
    });
}

#[test]
fn pattern_mismatch_disables_the_branch_and_else_runs() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let (tx, mut rx) = mpsc::unbounded::<u32>();
            for i in 0..3 {
                tx.unbounded_send(i).unwrap();
            }
            drop(tx);
            let (_keep, mut never) = mpsc::unbounded::<u32>();
            let mut seen = Vec::new();
            loop {
                rpal_rt::select! {
                    Some(v) = rx.next() => seen.push(v),
                    Some(v) = never.next(), if seen.len() > 100 => seen.push(v + 100),
                    else => break,
                }
            }
            assert_eq!(seen, [0, 1, 2]);
        });
    }
}

#[test]
fn mismatch_lets_a_later_branch_win() {
    let rt = support::current_thread();
    rt.block_on(async {
        let got = rpal_rt::select! {
            biased;
            Some(v) = async { None::<u32> } => v,
            Ok(v) = async { rpal_rt::yield_now().await; Ok::<u32, ()>(5) } => v + 10,
        };
        assert_eq!(got, 15);
    });
}

#[test]
fn all_disabled_without_else_panics() {
    let rt = support::current_thread();
    rt.block_on(async {
        let h = rpal_rt::spawn(async {
            rpal_rt::select! {
                Some(v) = async { None::<u8> } => v,
            }
        });
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.to_string().contains("disabled"), "{err}");
    });
}

#[test]
fn handlers_can_break_continue_return_and_await() {
    let rt = support::current_thread();
    let out = rt.block_on(async {
        async fn inner() -> Result<u32, &'static str> {
            let mut n = 0;
            loop {
                n += 1;
                rpal_rt::select! {
                    _ = async {} , if n < 3 => continue,
                    _ = rpal_rt::yield_now(), if n == 3 => {
                        rpal_rt::time::sleep(Duration::from_micros(10)).await;
                        let r: Result<u32, &'static str> = Ok(n);
                        return r;
                    }
                    else => Err("unreachable")?,
                }
            }
        }
        inner().await
    });
    assert_eq!(out, Ok(3));
}

#[test]
fn a_pinned_future_survives_across_loop_iterations() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let (tx, rx) = oneshot::channel::<u32>();
            let mut rx = std::pin::pin!(rx);
            let mut ticks = 0;
            let mut tx = Some(tx);
            let got = loop {
                rpal_rt::select! {
                    v = &mut rx => break v.unwrap(),
                    _ = rpal_rt::time::sleep(Duration::from_micros(100)) => {
                        ticks += 1;
                        if ticks == 3 {
                            if let Some(tx) = tx.take() {
                                tx.send(42).unwrap();
                            }
                        }
                    }
                }
            };
            assert_eq!(got, 42);
            assert!(ticks >= 3);
        });
    }
}

#[test]
fn many_branches_and_block_handlers_without_commas() {
    let rt = support::current_thread();
    rt.block_on(async {
        let got = rpal_rt::select! {
            biased;
            _ = std::future::pending::<()>() => { 0 }
            _ = std::future::pending::<()>() => { 1 }
            _ = std::future::pending::<()>() => { 2 }
            _ = std::future::pending::<()>() => { 3 }
            _ = std::future::pending::<()>() => { 4 }
            _ = std::future::pending::<()>() => { 5 }
            _ = std::future::pending::<()>() => { 6 }
            _ = std::future::pending::<()>() => { 7 }
            _ = std::future::pending::<()>() => { 8 }
            _ = std::future::pending::<()>() => { 9 }
            _ = std::future::pending::<()>() => { 10 }
            x = async { 11 } => { x }
        };
        assert_eq!(got, 11);
    });
}

#[test]
fn join_runs_concurrently_and_keeps_order() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            // Each side needs the other's message: only concurrent polling finishes.
            let (tx1, rx1) = oneshot::channel::<u8>();
            let (tx2, rx2) = oneshot::channel::<u8>();
            let (a, b, c) = rpal_rt::join!(
                async move {
                    tx1.send(1).unwrap();
                    rx2.await.unwrap()
                },
                async move {
                    let v = rx1.await.unwrap();
                    tx2.send(v + 1).unwrap();
                    "b"
                },
                async { 3.5 },
            );
            assert_eq!((a, b, c), (2, "b", 3.5));
            let () = rpal_rt::join!();
            let (one,) = rpal_rt::join!(async { 1 });
            assert_eq!(one, 1);
        });
    }
}

#[test]
fn join_polls_every_branch_to_completion() {
    let rt = support::current_thread();
    rt.block_on(async {
        let polls = AtomicUsize::new(0);
        let counter = || async {
            for _ in 0..10 {
                polls.fetch_add(1, SeqCst);
                rpal_rt::yield_now().await;
            }
        };
        let ((), (), ()) = rpal_rt::join!(counter(), counter(), counter());
        assert_eq!(polls.load(SeqCst), 30);
    });
}

#[test]
fn try_join_returns_all_or_the_first_error() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("{flavor}");
        rt.block_on(async {
            let ok: Result<(u8, &str), String> = rpal_rt::try_join!(async { Ok(1) }, async {
                rpal_rt::yield_now().await;
                Ok("x")
            });
            assert_eq!(ok, Ok((1, "x")));

            let dropped = flag();
            let p = Pending(dropped.clone());
            let err: Result<(u32, u32), &str> =
                rpal_rt::try_join!(async move { Ok(p.await) }, async {
                    rpal_rt::yield_now().await;
                    Err("failed")
                },);
            assert_eq!(err, Err("failed"));
            assert!(dropped.load(SeqCst), "the other future was not cancelled");
            let empty: Result<(), ()> = rpal_rt::try_join!();
            assert_eq!(empty, Ok(()));
        });
    }
}
