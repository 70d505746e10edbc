//! Helpers shared by the integration tests: runtimes of each flavour on the driver chosen by
//! `RPAL_DRIVER` (CI runs the whole suite once per driver).
#![allow(dead_code, unreachable_pub)]

use rpal_rt::runtime::Builder;
use rpal_rt::Runtime;

/// A current-thread runtime.
pub fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .build()
        .expect("build current-thread runtime")
}

/// A thread-per-core runtime with `n` workers.
pub fn thread_per_core(n: usize) -> Runtime {
    Builder::new_thread_per_core()
        .worker_threads(n)
        .build()
        .expect("build thread-per-core runtime")
}

/// Both flavours, named, for tests that must hold on each.
pub fn each_flavor() -> Vec<(&'static str, Runtime)> {
    vec![
        ("current_thread", current_thread()),
        ("thread_per_core", thread_per_core(2)),
    ]
}
