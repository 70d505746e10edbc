//! The one place that names `std::sync` or `loom`: concurrency code imports from here so the same
//! code runs under loom's model checker with `RUSTFLAGS="--cfg loom"`.
#![allow(unused_imports, dead_code)]

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use std::sync::{RwLock, RwLockReadGuard};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};
    pub(crate) use loom::sync::{RwLock, RwLockReadGuard};
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

/// Runs `f` once as a plain test, or under every interleaving loom explores when `cfg(loom)`.
#[cfg(test)]
pub(crate) fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    #[cfg(loom)]
    loom::model(f);
    #[cfg(not(loom))]
    f();
}

#[cfg(all(test, not(loom)))]
pub(crate) mod thread {
    pub(crate) use std::thread::spawn;
}

#[cfg(all(test, loom))]
pub(crate) mod thread {
    pub(crate) use loom::thread::spawn;
}
