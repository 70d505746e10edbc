//! Call gate behaviour that holds with or without protection keys: data integrity, nested calls,
//! panics, stack exhaustion and reuse, and PKRU restored on every path.

use std::cell::RefCell;
use std::rc::Rc;

use rpal_rt::gate::pkey::{availability, current_mask};
use rpal_rt::gate::{CallError, Domain, DomainConfig};

fn domain() -> Domain {
    Domain::new(DomainConfig::new().stack_size(32 * 1024).max_stacks(4)).unwrap()
}

#[test]
fn detection_is_reported_and_consistent() {
    let found = availability();
    eprintln!("gate_call: {found}");
    assert_eq!(found, availability(), "cached");
    let d = domain();
    assert_eq!(d.protection_key().is_some(), found.is_available());
    if std::env::var_os("RPAL_REQUIRE_PKEY").is_some_and(|v| v == "1") {
        assert!(found.is_available(), "RPAL_REQUIRE_PKEY=1 but {found}");
    }
}

#[test]
fn call_returns_handler_output_intact() {
    let d = domain();
    let before = current_mask();
    let svc = d.register("checksum+reverse", |req, resp| {
        let sum: u32 = req.iter().map(|&b| u32::from(b)).sum();
        resp.write(&sum.to_le_bytes()).unwrap();
        let rev: Vec<u8> = req.iter().rev().copied().collect();
        resp.write(&rev).unwrap();
    });
    for len in [0usize, 1, 15, 16, 17, 4096, 60_000] {
        let req: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let resp = svc.call(&req).unwrap();
        let sum: u32 = req.iter().map(|&b| u32::from(b)).sum();
        assert_eq!(&resp[..4], &sum.to_le_bytes());
        assert!(resp[4..].iter().eq(req.iter().rev()), "len {len}");
        assert_eq!(current_mask(), before);
    }
    assert_eq!(d.stats().arena_used, 0, "arena reset after each call");
    assert_eq!(
        d.service("checksum+reverse").unwrap().call(b"ab").unwrap()[4..],
        *b"ba"
    );
}

#[test]
fn call_into_reuses_the_output_vec_and_clears_it() {
    let d = domain();
    let echo = d.register("echo", |req, resp| resp.write(req).unwrap());
    let mut out = b"stale stale stale".to_vec();
    echo.call_into(b"new", &mut out).unwrap();
    assert_eq!(out, b"new");
}

#[test]
fn nested_calls_across_domains() {
    let a = domain();
    let b = domain();
    let c = domain();
    let before = current_mask();
    let inner = c.register("c", |req, resp| {
        resp.write(b"c(").unwrap();
        resp.write(req).unwrap();
        resp.write(b")").unwrap();
    });
    let middle = b.register("b", move |req, resp| {
        let seen = current_mask();
        let r = inner.call(req).unwrap();
        assert_eq!(
            current_mask(),
            seen,
            "B's rights restored after its call into C"
        );
        resp.write(b"b(").unwrap();
        resp.write(&r).unwrap();
        resp.write(b")").unwrap();
    });
    let outer = a.register("a", move |req, resp| {
        let r = middle.call(req).unwrap();
        resp.write(b"a(").unwrap();
        resp.write(&r).unwrap();
        resp.write(b")").unwrap();
    });
    for _ in 0..3 {
        assert_eq!(outer.call(b"x").unwrap(), b"a(b(c(x)))");
        assert_eq!(current_mask(), before);
    }
    for d in [&a, &b, &c] {
        let s = d.stats();
        assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (1, 1, 0));
    }
}

#[test]
fn reentrant_call_into_the_same_domain_keeps_the_outer_buffers() {
    let d = domain();
    let leaf = d.register("leaf", |req, resp| {
        resp.write(&[req[0] + 1; 100]).unwrap();
    });
    let root = d.register("root", move |req, resp| {
        let copy = req.to_vec();
        let r = leaf.call(&[1]).unwrap();
        assert_eq!(req, &copy[..], "outer request untouched by the nested call");
        assert_eq!(r, vec![2; 100]);
        resp.write(req).unwrap();
    });
    assert_eq!(root.call(&[9; 1000]).unwrap(), vec![9; 1000]);
    assert_eq!(d.stats().live_stacks, 2);
}

#[test]
fn handler_panic_is_an_error_and_the_domain_still_works() {
    let d = domain();
    let before = current_mask();
    let svc = d.register("moody", |req, resp| {
        if req == b"panic" {
            panic!("asked to panic");
        }
        resp.write(b"fine").unwrap();
    });
    match svc.call(b"panic") {
        Err(CallError::Panicked(msg)) => assert!(msg.contains("asked to panic"), "{msg}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(current_mask(), before);
    assert_eq!(svc.call(b"hello").unwrap(), b"fine");
    let s = d.stats();
    assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (1, 1, 0));
}

#[test]
fn panic_in_a_nested_callee_is_reported_to_its_caller_only() {
    let a = domain();
    let b = domain();
    let before = current_mask();
    let bad = b.register("bad", |_, _| panic!("inner"));
    let good = a.register("good", move |_, resp| {
        let seen = current_mask();
        let err = bad.call(b"").unwrap_err();
        assert_eq!(current_mask(), seen);
        resp.write(err.to_string().as_bytes()).unwrap();
    });
    let out = good.call(b"").unwrap();
    assert!(String::from_utf8(out).unwrap().contains("inner"));
    assert_eq!(current_mask(), before);
}

#[test]
fn stack_exhaustion_is_an_error_not_a_block() {
    let d = Domain::new(DomainConfig::new().max_stacks(1)).unwrap();
    let before = current_mask();
    let leaf = d.register("leaf", |_, resp| resp.write(b"leaf").unwrap());
    let result = Rc::new(RefCell::new(None));
    let seen = result.clone();
    let root = d.register("root", move |_, resp| {
        let inner_mask = current_mask();
        *seen.borrow_mut() = Some(leaf.call(b""));
        assert_eq!(current_mask(), inner_mask);
        resp.write(b"root").unwrap();
    });
    assert_eq!(root.call(b"").unwrap(), b"root");
    assert!(matches!(
        result.borrow_mut().take(),
        Some(Err(CallError::StacksExhausted))
    ));
    assert_eq!(current_mask(), before);
    // The stack came back: the domain serves calls again.
    assert_eq!(d.service("leaf").unwrap().call(b"").unwrap(), b"leaf");
    assert_eq!(d.stats().live_stacks, 1);
}

#[test]
fn request_too_large_is_an_error() {
    let d = Domain::new(DomainConfig::new().arena_size(8192)).unwrap();
    let before = current_mask();
    let svc = d.register("any", |_, _| {});
    let err = svc.call(&vec![0; 10_000]).unwrap_err();
    assert!(
        matches!(err, CallError::RequestTooLarge { len: 10_000, .. }),
        "{err:?}"
    );
    assert_eq!(current_mask(), before);
    assert_eq!(d.stats().arena_used, 0);
    assert!(svc.call(&[0; 100]).is_ok());
}

#[test]
fn response_overflow_is_reported_to_the_handler() {
    let d = Domain::new(DomainConfig::new().max_response(64)).unwrap();
    let svc = d.register("big", |_, resp| {
        assert_eq!(resp.capacity(), 64);
        resp.write(&[1; 60]).unwrap();
        assert!(resp.write(&[1; 5]).is_err());
        assert_eq!(resp.len(), 60);
    });
    assert_eq!(svc.call(b"").unwrap().len(), 60);
}

#[test]
fn many_calls_reuse_stacks() {
    let d = domain();
    let svc = d.register("count", |req, resp| resp.write(&[req.len() as u8]).unwrap());
    for i in 0..10_000usize {
        let req = vec![0u8; i % 200];
        assert_eq!(svc.call(&req).unwrap(), [(i % 200) as u8]);
    }
    let s = d.stats();
    assert_eq!((s.live_stacks, s.idle_stacks, s.arena_used), (1, 1, 0));
}

#[test]
fn domains_drop_cleanly_with_services_outliving_the_handle() {
    let svc = {
        let d = domain();
        d.register("late", |_, resp| resp.write(b"ok").unwrap())
    };
    assert_eq!(svc.call(b"").unwrap(), b"ok");
    drop(svc);
    // Keys are given back when domains go: far more domains than the 15 keys, one at a time.
    for _ in 0..40 {
        let d = domain();
        assert_eq!(d.protection_key().is_some(), availability().is_available());
    }
}
