//! Isolation with real protection keys: faults in forked children, and PKRU restored exactly on
//! every exit path of a call.
//!
//! These tests need a CPU with PKU. On a host without it each test says so and returns, unless
//! `RPAL_REQUIRE_PKEY=1` (set by the QEMU guest harness, `scripts/pkey-vm/run`) makes a missing
//! key a failure. Nothing here passes silently: the harness proves the guest ran them.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::sync::atomic::{AtomicI32, Ordering};

use rpal_rt::gate::pkey::{availability, current_mask, keys, ProtectionMask};
use rpal_rt::gate::{CallError, Domain, DomainConfig, Isolation};

/// SEGV_PKUERR from <asm-generic/siginfo.h>.
const SEGV_PKUERR: i32 = 4;

/// True when the test may run; prints why not otherwise, fails if pkeys are required.
fn have_pkeys() -> bool {
    let found = availability();
    if found.is_available() {
        return true;
    }
    if std::env::var_os("RPAL_REQUIRE_PKEY").is_some_and(|v| v == "1") {
        panic!("RPAL_REQUIRE_PKEY=1 but {found}");
    }
    // Straight to the stderr handle, not eprintln!: libtest's capture would swallow it.
    let _ = writeln!(
        std::io::stderr(),
        "gate_pkru: host has no pkeys; this test runs in the QEMU guest (scripts/pkey-vm/run)"
    );
    false
}

fn domain(isolation: Isolation) -> Domain {
    let d = Domain::new(DomainConfig::new().isolation(isolation).require_pkey(true)).unwrap();
    assert!(d.protection_key().is_some());
    d
}

/// What the child's SIGSEGV handler saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fault {
    code: i32,
    pkey: u32,
    addr: usize,
}

/// Write end of the pipe, for the child's signal handler.
static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_segv(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t for an SA_SIGINFO handler. On x86_64 the
    // `_sigfault` member starts at offset 16 with `si_addr`; its union follows at 24 and
    // `_addr_pkey._pkey` sits after an 8-byte pad, at byte 32 (include/uapi/asm-generic/siginfo.h).
    let (code, addr, pkey) = unsafe {
        (
            (*info).si_code,
            (*info).si_addr() as usize,
            *(info as *const u8).add(32).cast::<u32>(),
        )
    };
    let mut rec = [0u8; 16];
    rec[..4].copy_from_slice(&code.to_le_bytes());
    rec[4..8].copy_from_slice(&pkey.to_le_bytes());
    rec[8..].copy_from_slice(&(addr as u64).to_le_bytes());
    // SAFETY: write(2) and _exit(2) are async-signal-safe; `rec` lives on the alternate stack.
    unsafe {
        libc::write(
            REPORT_FD.load(Ordering::Relaxed),
            rec.as_ptr().cast(),
            rec.len(),
        );
        libc::_exit(0);
    }
}

/// Runs `body` in a forked child with a SIGSEGV reporter installed; returns the fault it hit,
/// or `None` if `body` returned normally.
fn in_child(body: impl FnOnce()) -> Option<Fault> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only runs `body` (single-threaded after fork; glibc keeps malloc usable)
    // and then _exits; it never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: all of this is the child's own set-up with valid pointers: an ordinary (key 0)
        // alternate signal stack, because the fault may happen on a domain stack the handler
        // could not use, and a SA_SIGINFO|SA_ONSTACK handler.
        unsafe {
            libc::close(fds[0]);
            REPORT_FD.store(fds[1], Ordering::Relaxed);
            let alt = Box::leak(vec![0u8; 64 * 1024].into_boxed_slice());
            let ss = libc::stack_t {
                ss_sp: alt.as_mut_ptr().cast(),
                ss_flags: 0,
                ss_size: alt.len(),
            };
            libc::sigaltstack(&ss, std::ptr::null_mut());
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_segv as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
        }
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_ok();
        // SAFETY: plain process exit from the child.
        unsafe { libc::_exit(if ok { 0 } else { 3 }) };
    }
    // SAFETY: closing our copy of the write end so EOF arrives when the child exits.
    unsafe { libc::close(fds[1]) };
    let mut rec = [0u8; 16];
    let mut got = 0;
    while got < rec.len() {
        // SAFETY: reading into the unfilled tail of `rec`.
        let n = unsafe { libc::read(fds[0], rec[got..].as_mut_ptr().cast(), rec.len() - got) };
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    let mut status = 0;
    // SAFETY: waiting for our own child; then closing our read end.
    unsafe {
        libc::waitpid(pid, &mut status, 0);
        libc::close(fds[0]);
    }
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child body panicked");
    (got == rec.len()).then(|| Fault {
        code: i32::from_le_bytes(rec[..4].try_into().unwrap()),
        pkey: u32::from_le_bytes(rec[4..8].try_into().unwrap()),
        addr: u64::from_le_bytes(rec[8..].try_into().unwrap()) as usize,
    })
}

fn poke(addr: usize) {
    // SAFETY: the address is inside a live arena mapping; whether PKRU allows the write is what
    // the tests probe (a denied write raises SIGSEGV, caught by the child's handler).
    unsafe { std::ptr::write_volatile(addr as *mut u8, 0x5a) };
}

#[test]
fn ordinary_code_cannot_touch_a_domain_arena() {
    if !have_pkeys() {
        return;
    }
    let a = domain(Isolation::Exclusive);
    let target = a.arena_range().0 + 100;
    let key = a.protection_key().unwrap().index();
    let fault = in_child(move || poke(target)).expect("a write outside any call must fault");
    assert_eq!(
        fault,
        Fault {
            code: SEGV_PKUERR,
            pkey: key,
            addr: target
        }
    );
}

#[test]
fn code_running_in_domain_a_cannot_write_domain_b_arena() {
    if !have_pkeys() {
        return;
    }
    // Set up before the fork, so the parent knows the key and address the child will hit.
    let a = domain(Isolation::Exclusive);
    let b = domain(Isolation::Exclusive);
    let target = b.arena_range().0 + 64;
    let b_key = b.protection_key().unwrap().index();
    let evil = a.register("evil", move |_, _| poke(target));
    let fault = in_child(move || {
        let _ = evil.call(b"");
        panic!("the write into B's arena did not fault");
    })
    .expect("a write into another domain's arena must fault");
    assert_eq!(
        fault,
        Fault {
            code: SEGV_PKUERR,
            pkey: b_key,
            addr: target
        }
    );
    // The parent is unaffected and B works.
    let ok = b.register("ok", |req, resp| resp.write(req).unwrap());
    assert_eq!(ok.call(b"still fine").unwrap(), b"still fine");
}

#[test]
fn exclusive_callee_cannot_write_its_callers_arena() {
    if !have_pkeys() {
        return;
    }
    let a = domain(Isolation::Exclusive);
    let b = domain(Isolation::Exclusive);
    let a_target = a.arena_range().0 + 256;
    let a_key = a.protection_key().unwrap().index();
    let b_svc = b.register("b", move |_, _| poke(a_target));
    let a_svc = a.register("a", move |_, _| {
        poke(a_target); // A may write its own arena
        let _ = b_svc.call(b"");
    });
    let fault = in_child(move || {
        let _ = a_svc.call(b"");
        panic!("no fault");
    })
    .expect("B must not reach A's arena");
    assert_eq!(
        fault,
        Fault {
            code: SEGV_PKUERR,
            pkey: a_key,
            addr: a_target
        }
    );
}

#[test]
fn inherit_callee_may_write_its_callers_arena() {
    if !have_pkeys() {
        return;
    }
    let a = domain(Isolation::Exclusive);
    let b = domain(Isolation::Inherit);
    let a_target = a.arena_range().0 + 256;
    let b_svc = b.register("b", move |_, resp| {
        poke(a_target);
        resp.write(b"wrote").unwrap();
    });
    let a_svc = a.register("a", move |_, resp| {
        resp.write(&b_svc.call(b"").unwrap()).unwrap();
    });
    // In a child too, so that a wrong fault is reported instead of killing the test binary.
    assert_eq!(
        in_child(move || assert_eq!(a_svc.call(b"").unwrap(), b"wrote")),
        None
    );
}

#[test]
fn pkru_inside_calls_and_restored_on_every_path() {
    if !have_pkeys() {
        return;
    }
    let a = domain(Isolation::Exclusive);
    let b = domain(Isolation::Exclusive);
    let inh = domain(Isolation::Inherit);
    let small = Domain::new(
        DomainConfig::new()
            .max_stacks(1)
            .arena_size(4096)
            .require_pkey(true),
    )
    .unwrap();

    // A caller with an unusual PKRU: an extra key read-only, so restoring "the default" would
    // be caught.
    let spare = keys(1).pop().expect("a spare key");
    let before = current_mask().or_read_only(&spare);
    rpal_rt::gate::pkey::allow(before);
    assert_eq!(current_mask(), before);

    let ka = a.protection_key().unwrap().index();
    let kb = b.protection_key().unwrap().index();
    let b_rights = Rc::new(Cell::new(0u32));
    let b_seen = b_rights.clone();
    let b_svc = b.register("b", move |req, resp| {
        b_seen.set(current_mask().bits());
        if req == b"panic" {
            panic!("b panics");
        }
        resp.write(b"b").unwrap();
    });
    let a_rights = Rc::new(Cell::new((0u32, 0u32)));
    let a_seen = a_rights.clone();
    let b_for_a = b_svc.clone();
    let a_svc = a.register("a", move |req, resp| {
        let mine = current_mask().bits();
        let r = b_for_a.call(req);
        a_seen.set((mine, current_mask().bits()));
        match r {
            Ok(v) => resp.write(&v).unwrap(),
            Err(e) => resp.write(e.to_string().as_bytes()).unwrap(),
        }
    });
    let inh_rights = Rc::new(Cell::new(0u32));
    let inh_seen = inh_rights.clone();
    let inh_svc = inh.register("inh", move |_, _| inh_seen.set(current_mask().bits()));

    let only = |key: u32| ProtectionMask::zero().bits() & !(0b11 << (2 * key));

    // Normal return.
    assert_eq!(b_svc.call(b"").unwrap(), b"b");
    assert_eq!(
        b_rights.get(),
        only(kb),
        "B runs with key 0 + its own key only"
    );
    assert_eq!(current_mask(), before);

    // Nested A -> B.
    assert_eq!(a_svc.call(b"").unwrap(), b"b");
    assert_eq!(
        a_rights.get(),
        (only(ka), only(ka)),
        "A's rights intact around its call"
    );
    assert_eq!(b_rights.get(), only(kb), "B called from A: A's key denied");
    assert_eq!(current_mask(), before);

    // Panic at the top level and nested.
    assert!(matches!(b_svc.call(b"panic"), Err(CallError::Panicked(_))));
    assert_eq!(current_mask(), before);
    let out = a_svc.call(b"panic").unwrap();
    assert!(String::from_utf8(out).unwrap().contains("b panics"));
    assert_eq!(a_rights.get(), (only(ka), only(ka)));
    assert_eq!(current_mask(), before);

    // Inherit: the caller's rights plus the callee's key.
    let kinh = inh.protection_key().unwrap();
    inh_svc.call(b"").unwrap();
    assert_eq!(inh_rights.get(), before.or(kinh).bits());
    assert_eq!(current_mask(), before);

    // Errors before and after the switch point.
    let big = small.register("big", |_, _| {});
    assert!(matches!(
        big.call(&[0; 8192]),
        Err(CallError::RequestTooLarge { .. })
    ));
    assert_eq!(current_mask(), before);
    let again = big.clone();
    let nested_err = small.register("nest", move |_, resp| {
        let r = again.call(b"");
        resp.write(&[matches!(r, Err(CallError::StacksExhausted)) as u8])
            .unwrap();
    });
    assert_eq!(nested_err.call(b"").unwrap(), [1]);
    assert_eq!(current_mask(), before);

    rpal_rt::gate::pkey::allow(before.without(&spare));
}

/// Address of a local in A's handler frame, handed to B.
fn stack_probe(tag_a_stacks: bool) -> (Option<Fault>, u32) {
    let a = Domain::new(
        DomainConfig::new()
            .tag_stacks(tag_a_stacks)
            .require_pkey(true),
    )
    .unwrap();
    let b = domain(Isolation::Exclusive);
    let a_key = a.protection_key().unwrap().index();
    let b_svc = b.register("b", |req, resp| {
        let addr = usize::from_le_bytes(req.try_into().unwrap());
        // SAFETY: `addr` points at a live local of the caller's frame (A's handler is blocked
        // in this call); whether PKRU allows the read is what the test probes.
        let v = unsafe { std::ptr::read_volatile(addr as *const u64) };
        resp.write(&v.to_le_bytes()).unwrap();
    });
    let a_svc = a.register("a", move |_, resp| {
        let local = std::hint::black_box(0x1234_5678_u64);
        let addr = &local as *const u64 as usize;
        let r = b_svc.call(&addr.to_le_bytes()).unwrap();
        resp.write(&r).unwrap();
    });
    let fault = in_child(move || {
        let r = a_svc.call(b"").unwrap();
        assert_eq!(r, 0x1234_5678_u64.to_le_bytes());
    });
    (fault, a_key)
}

#[test]
fn exclusive_callee_cannot_read_its_callers_tagged_stack() {
    if !have_pkeys() {
        return;
    }
    let (fault, a_key) = stack_probe(true);
    let fault = fault.expect("B must not read A's stack");
    assert_eq!((fault.code, fault.pkey), (SEGV_PKUERR, a_key));
    let (fault, _) = stack_probe(false);
    assert_eq!(fault, None, "untagged stacks are readable");
}

#[test]
fn caller_cannot_touch_the_arena_of_a_suspended_async_call() {
    use std::future::Future;
    use std::task::Context;
    if !have_pkeys() {
        return;
    }
    let a = domain(Isolation::Exclusive);
    let before = current_mask();
    let svc = a.register("parked", |_, _| {
        rpal_rt::gate::wait(std::future::pending::<()>());
    });
    let mut call = Box::pin(svc.call_async(&[7; 64]));
    let waker = futures::task::noop_waker();
    assert!(call
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    assert_eq!(
        current_mask(),
        before,
        "caller's rights while the call is suspended"
    );
    // The suspended call's request sits at the start of the arena.
    let target = a.arena_range().0;
    let key = a.protection_key().unwrap().index();
    let fault =
        in_child(move || poke(target)).expect("touching a suspended call's arena must fault");
    assert_eq!(
        fault,
        Fault {
            code: SEGV_PKUERR,
            pkey: key,
            addr: target
        }
    );
    drop(call);
    assert_eq!(current_mask(), before);
    assert_eq!(a.stats().arena_used, 0);
}
