//! Async (Pending) handlers: a handler that waits suspends its coroutine, the call returns
//! Pending to the caller's task, the reactor resumes it; PKRU is the caller's while suspended
//! and after; dropping a pending call unwinds the handler cleanly.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use rpal_rt::gate::pkey::current_mask;
use rpal_rt::gate::{wait, CallError, Domain, DomainConfig};

fn domain() -> Domain {
    Domain::new(DomainConfig::new().stack_size(64 * 1024).max_stacks(8)).unwrap()
}

/// A future that is ready once `set` is called; remembers the last waker.
#[derive(Clone, Default)]
struct Gate {
    open: Rc<Cell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
}

impl Gate {
    fn opened(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(move |cx| {
            if self.open.get() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }
    fn set(&self) {
        self.open.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

#[test]
fn pending_handler_is_resumed_by_the_reactor() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let d = domain();
        let before = current_mask();
        let key_allowed = Rc::new(Cell::new(None));
        let seen_key = key_allowed.clone();
        let svc = d.register("slow", move |req, resp| {
            let seen = current_mask();
            wait(rpal_rt::time::sleep(Duration::from_millis(2)));
            assert_eq!(current_mask(), seen, "run rights re-applied on resume");
            seen_key.set(Some(current_mask()));
            resp.write(b"slept:").unwrap();
            resp.write(req).unwrap();
        });
        let mut pendings = 0;
        let mut call = pin!(svc.call_async(b"zz"));
        let out = poll_fn(|cx| {
            let r = call.as_mut().poll(cx);
            if r.is_pending() {
                pendings += 1;
                assert_eq!(current_mask(), before, "caller's rights while suspended");
                if let Some(key) = d.protection_key() {
                    assert!(
                        !current_mask().allows(key),
                        "callee key denied while suspended"
                    );
                }
            }
            r
        })
        .await
        .unwrap();
        assert_eq!(out, b"slept:zz");
        if let (Some(key), Some(inside)) = (d.protection_key(), key_allowed.get()) {
            assert!(
                inside.allows_write(key),
                "handler runs with its key after resume"
            );
        }
        assert!(pendings >= 1, "the call returned Pending at least once");
        assert_eq!(current_mask(), before);
        let s = d.stats();
        assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (1, 1, 0));
    });
}

#[test]
fn handler_woken_by_another_task() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let d = domain();
        let gate = Gate::default();
        let g = gate.clone();
        let svc = d.register("gated", move |_, resp| {
            wait(g.opened());
            resp.write(b"open").unwrap();
        });
        let opener = rpal_rt::spawn_local(async move {
            rpal_rt::task::yield_now().await;
            gate.set();
        });
        assert_eq!(svc.call_async(b"").await.unwrap(), b"open");
        opener.await.unwrap();
    });
}

#[test]
fn interleaved_calls_into_one_domain_finish_out_of_order() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let d = domain();
        let gates: Vec<Gate> = (0..3).map(|_| Gate::default()).collect();
        let gs = gates.clone();
        let svc = d.register("nth", move |req, resp| {
            let n = usize::from(req[0]);
            let copy = req.to_vec();
            wait(gs[n].opened());
            assert_eq!(req, &copy[..], "request intact across the suspension");
            resp.write(req).unwrap();
        });
        let mut handles = Vec::new();
        for n in 0..3u8 {
            let svc = svc.clone();
            handles.push(rpal_rt::spawn_local(async move {
                svc.call_async(&[n; 300]).await.unwrap()
            }));
        }
        // Until all three handlers are suspended in `wait`.
        while gates.iter().any(|g| g.waker.borrow().is_none()) {
            rpal_rt::task::yield_now().await;
        }
        assert!(d.stats().arena_used > 0);
        assert_eq!(d.stats().live_stacks, 3);
        // Finish the oldest first: its region is below the others (a hole until they go).
        for n in [0usize, 2, 1] {
            gates[n].set();
        }
        for (n, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), vec![n as u8; 300]);
        }
        let s = d.stats();
        assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (3, 3, 0));
    });
}

#[test]
fn dropping_a_pending_call_unwinds_the_handler() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let d = domain();
        let before = current_mask();
        let dropped = Rc::new(Cell::new(false));
        let flag = dropped.clone();
        struct OnDrop(Rc<Cell<bool>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let svc = d.register("forever", move |_, _| {
            let _guard = OnDrop(flag.clone());
            wait(std::future::pending::<()>());
            unreachable!();
        });
        {
            let mut call = pin!(svc.call_async(b"abc"));
            let first = poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            assert_eq!(current_mask(), before);
            assert!(!dropped.get());
        }
        assert!(dropped.get(), "the handler's destructors ran");
        assert_eq!(current_mask(), before);
        let s = d.stats();
        assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (1, 1, 0));
        // The domain still serves calls.
        let echo = d.register("echo", |req, resp| resp.write(req).unwrap());
        assert_eq!(echo.call_async(b"ok").await.unwrap(), b"ok");
    });
}

#[test]
fn nested_async_calls_across_domains() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let a = domain();
        let b = domain();
        let before = current_mask();
        let inner = b.register("b", |req, resp| {
            wait(rpal_rt::time::sleep(Duration::from_millis(1)));
            resp.write(b"b(").unwrap();
            resp.write(req).unwrap();
            resp.write(b")").unwrap();
        });
        let outer = a.register("a", move |req, resp| {
            let seen = current_mask();
            let r = wait(inner.call_async(req)).unwrap();
            assert_eq!(
                current_mask(),
                seen,
                "A's rights after its async call into B"
            );
            resp.write(b"a(").unwrap();
            resp.write(&r).unwrap();
            resp.write(b")").unwrap();
        });
        assert_eq!(outer.call_async(b"x").await.unwrap(), b"a(b(x))");
        assert_eq!(current_mask(), before);
    });
}

#[test]
fn waiting_in_a_synchronous_call_is_a_reported_panic() {
    let d = domain();
    let before = current_mask();
    let svc = d.register("waits", |_, _| wait(std::future::ready(())));
    // Refused even for a future that is ready at once, so the rule does not depend on timing.
    match svc.call(b"") {
        Err(CallError::Panicked(msg)) => assert!(msg.contains("synchronously"), "{msg}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(current_mask(), before);
    assert_eq!(d.stats().arena_used, 0);
}

#[test]
fn a_call_dropped_before_its_first_poll_gives_everything_back() {
    let d = domain();
    let before = current_mask();
    let svc = d.register("never-run", |_, _| unreachable!("not polled"));
    let call = svc.call_async(&[1; 500]);
    assert!(d.stats().arena_used >= 500);
    drop(call);
    assert_eq!(current_mask(), before);
    let s = d.stats();
    assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (1, 1, 0));
}

#[test]
fn stack_exhaustion_is_reported_by_the_first_poll() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let d = Domain::new(DomainConfig::new().max_stacks(1)).unwrap();
        let svc = d.register("park", |_, resp| {
            wait(rpal_rt::time::sleep(Duration::from_millis(1)));
            resp.write(b"done").unwrap();
        });
        let first = svc.call_async(b"");
        let second = svc.call_async(b"");
        assert!(matches!(second.await, Err(CallError::StacksExhausted)));
        assert_eq!(first.await.unwrap(), b"done");
    });
}
