//! Ring memory under a protection key: the transport works with write windows, and a stray
//! application write into ring memory faults with SEGV_PKUERR instead of corrupting the peer.
//!
//! Needs real protection keys: on a host without them each test says so and returns, unless
//! `RPAL_REQUIRE_PKEY=1` (set inside the QEMU guest of `scripts/pkey-vm/run`), where a missing
//! key is a failure.

use std::io::Write as _;
use std::sync::atomic::{AtomicI32, Ordering};

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use rpal_net::unix::UnixAddr;
use rpal_net::{RpalListener, RpalStream};
use rpal_rt::gate::pkey::availability;

const SEGV_PKUERR: i32 = 4;

fn have_pkeys() -> bool {
    let found = availability();
    if found.is_available() {
        return true;
    }
    if std::env::var_os("RPAL_REQUIRE_PKEY").is_some_and(|v| v == "1") {
        panic!("RPAL_REQUIRE_PKEY=1 but {found}");
    }
    let _ = writeln!(
        std::io::stderr(),
        "rpal_pkey: host has no pkeys; this test runs in the QEMU guest (scripts/pkey-vm/run)"
    );
    false
}

static REPORT_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_segv(_sig: i32, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(
            REPORT_FD.load(Ordering::Relaxed),
            (&code as *const i32).cast(),
            4,
        );
        libc::_exit(0);
    }
}

/// Runs `body` in a forked child with a SIGSEGV reporter; returns the fault's si_code, if any.
fn in_child(body: impl FnOnce()) -> Option<i32> {
    let mut fds = [0i32; 2];
    // SAFETY: room for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child runs `body` on its own fresh runtime and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        // SAFETY: installing a handler with valid pointers in the child.
        unsafe {
            libc::close(fds[0]);
            REPORT_FD.store(fds[1], Ordering::Relaxed);
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_segv as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGSEGV, &sa, std::ptr::null_mut());
        }
        let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).is_ok();
        // SAFETY: plain exit from the child.
        unsafe { libc::_exit(if ok { 0 } else { 3 }) };
    }
    // SAFETY: our copy of the write end; reading the report; reaping the child.
    unsafe {
        libc::close(fds[1]);
        let mut code = 0i32;
        let n = libc::read(fds[0], (&mut code as *mut i32).cast(), 4);
        let mut status = 0;
        libc::waitpid(pid, &mut status, 0);
        libc::close(fds[0]);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "child failed: {status:#x}"
        );
        (n == 4).then_some(code)
    }
}

/// Connects a pair over shared memory on a fresh current-thread runtime and runs `f` on the
/// server end after the client sent `msg`.
fn with_pair(tag: &str, msg: &'static [u8], f: impl FnOnce(&mut RpalStream) + Send + 'static) {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    let name = format!("rpal-pkey-{tag}-{}", std::process::id());
    rt.block_on(async move {
        let l = RpalListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
        let client = rpal_rt::spawn(async move {
            let mut c = RpalStream::connect(UnixAddr::Abstract(name.as_bytes()))
                .await
                .unwrap();
            c.write_all(msg).await.unwrap();
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).await.unwrap();
            assert_eq!(back, msg);
        });
        let (mut s, _) = l.accept().await.unwrap();
        assert!(s.is_shared_memory());
        let lent_ok = s.fill_buf().await.map(|b| !b.is_empty()).unwrap();
        assert!(lent_ok);
        f(&mut s);
        let mut buf = vec![0u8; msg.len()];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
        client.await.unwrap();
    });
}

#[test]
fn transport_works_under_the_ring_key() {
    if !have_pkeys() {
        return;
    }
    // A normal round trip: every store the transport makes is inside a write window.
    let fault = in_child(|| with_pair("ok", b"protected ring round trip", |_| {}));
    assert_eq!(
        fault, None,
        "the transport itself faulted: a write window is missing"
    );
}

#[test]
fn stray_write_into_lent_bytes_faults() {
    if !have_pkeys() {
        return;
    }
    let fault = in_child(|| {
        with_pair("stray", b"do not scribble on me", |s| {
            // The bytes were lent (and read) by with_pair; scribble on them in place.
            let p = match futures::executor::block_on(s.fill_buf()) {
                Ok(lent) => lent.as_ptr() as *mut u8,
                Err(e) => panic!("fill_buf: {e}"),
            };
            // SAFETY: deliberately wrong: writing into ring memory outside the transport. The
            // protection key must turn this into SIGSEGV (SEGV_PKUERR) before it lands.
            unsafe { p.write_volatile(b'X') };
            panic!("the stray write into ring memory did not fault");
        })
    });
    assert_eq!(fault, Some(SEGV_PKUERR));
}
