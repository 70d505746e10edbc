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

/// As [`model`], exploring only interleavings with at most `preemptions` forced thread switches
/// under loom (for models whose full space takes minutes; bugs rarely need more than 2-3).
#[cfg(test)]
pub(crate) fn model_bounded<F: Fn() + Sync + Send + 'static>(preemptions: usize, f: F) {
    #[cfg(loom)]
    {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(preemptions);
        b.check(f);
    }
    #[cfg(not(loom))]
    {
        let _ = preemptions;
        f();
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod thread {
    pub(crate) use std::thread::spawn;
}

#[cfg(all(test, loom))]
pub(crate) mod thread {
    pub(crate) use loom::thread::spawn;
}

/// Drives a future to completion on the current loom thread (loom's own `block_on` needs its
/// `futures` feature): the waker sets a flag under a loom mutex and signals a loom condvar, so
/// loom sees every wake-up edge.
#[cfg(all(test, loom))]
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};

    struct Signal {
        woken: sync::Mutex<bool>,
        cv: sync::Condvar,
    }
    impl Wake for Signal {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            *self.woken.lock().unwrap() = true;
            self.cv.notify_one();
        }
    }

    let signal = std::sync::Arc::new(Signal {
        woken: sync::Mutex::new(false),
        cv: sync::Condvar::new(),
    });
    let waker = Waker::from(signal.clone());
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        let mut woken = signal.woken.lock().unwrap();
        while !*woken {
            woken = signal.cv.wait(woken).unwrap();
        }
        *woken = false;
    }
}

/// `UnsafeCell` with loom's closure API (`with`, `with_mut`), so loom can check every access.
#[cfg(not(loom))]
pub(crate) mod cell {
    /// A plain `std::cell::UnsafeCell` behind loom's API.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        /// Shared access through a raw pointer.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Exclusive access through a raw pointer.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
pub(crate) mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}
