//! `#[rpal_rt::main]` and `#[rpal_rt::test]`.
//!
//! * `macros_ui`: snapshot tests. The programs in `ui/pass` must compile and run; the ones in
//!   `ui/fail` must fail with the errors in their `.stderr` files. Regenerate the snapshots with
//!   `TRYBUILD=overwrite cargo test -p rpal-rt --test macros_ui` and read every changed message
//!   before committing it.
//! * the other tests are written with `#[rpal_rt::test]` itself, so the expansion is checked as a
//!   real test (in `ui/pass`, compiled as binaries, `#[test]` functions are left out).

use std::sync::atomic::{AtomicUsize, Ordering};

#[test]
fn macros_ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

#[rpal_rt::test]
async fn current_thread_by_default() {
    assert_eq!(std::future::ready(6).await * 7, 42);
}

#[rpal_rt::test]
async fn result_and_question_mark() -> Result<(), std::num::ParseIntError> {
    let n: u32 = "42".parse()?;
    assert_eq!(n, 42);
    Ok(())
}

#[rpal_rt::test]
#[should_panic(expected = "panic inside the runtime")]
async fn panics_reach_the_harness() {
    panic!("panic inside the runtime");
}

#[rpal_rt::test(flavor = "thread_per_core", worker_threads = 2)]
async fn thread_per_core_with_two_workers() {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    RUNS.fetch_add(1, Ordering::Relaxed);
    assert_eq!(RUNS.load(Ordering::Relaxed), 1);
}

#[rpal_rt::test(flavor = "multi_thread", driver = "epoll", crate = "rpal_rt")]
async fn every_argument() {
    let owned = String::from("moved into the body");
    assert_eq!(async move { owned }.await, "moved into the body");
}
