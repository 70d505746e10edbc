//! User-space event sources and the worker doorbell: the public half of `reactor/source.rs`.
//!
//! # The park handshake (Dekker)
//!
//! A worker about to sleep and a producer about to publish race. Each side writes its own flag,
//! issues a full fence, then reads the other side's flag, so at least one of them sees the other:
//!
//! | worker ([`UserSource::prepare_park`])     | producer (another thread or process)          |
//! |-------------------------------------------|-----------------------------------------------|
//! | 1. store `waiting = true`                 | 1. publish the data (ring tail, flag, ...)    |
//! | 2. `fence(SeqCst)`                        | 2. `fence(SeqCst)`                            |
//! | 3. re-check for data: found → return true | 3. load `waiting`: true → [`WorkerDoorbell::ring`] |
//!
//! If the worker's re-check misses the data, the producer's load is ordered after the worker's
//! store and sees `waiting`, so it rings; the ring makes the worker's park return (or not start).
//! [`UserSource::after_park`] stores `waiting = false` so producers stop ringing while the worker
//! runs.
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use crate::reactor::{self, source::SourceRegistry};
use crate::runtime::context;

/// A user-space event source polled by its worker before the worker parks.
///
/// # Examples
///
/// A flag set by another thread:
///
/// ```
/// use std::sync::atomic::{fence, AtomicBool, Ordering};
/// use rpal_rt::io::{UserSource, WorkerDoorbell};
///
/// struct Flag { set: AtomicBool, waiting: AtomicBool }
///
/// impl UserSource for Flag {
///     fn poll(&self) -> bool {
///         // A real source wakes the tasks waiting for its data here.
///         self.set.swap(false, Ordering::Acquire)
///     }
///     fn prepare_park(&self) -> bool {
///         self.waiting.store(true, Ordering::Relaxed);
///         fence(Ordering::SeqCst);
///         self.set.load(Ordering::Relaxed)
///     }
///     fn after_park(&self) {
///         self.waiting.store(false, Ordering::Relaxed);
///     }
/// }
///
/// // The producer side.
/// fn produce(flag: &Flag, bell: &WorkerDoorbell) {
///     flag.set.store(true, Ordering::Release);
///     fence(Ordering::SeqCst);
///     if flag.waiting.load(Ordering::Relaxed) {
///         bell.ring();
///     }
/// }
/// # let _ = produce;
/// ```
pub trait UserSource: Send + Sync + 'static {
    /// Checks for work without a syscall; wakes the tasks that have work. Returns true if it
    /// woke anything.
    fn poll(&self) -> bool;

    /// Called just before the worker parks: publish "waiting" in shared memory, issue a full
    /// fence (`fence(SeqCst)`), then re-check for work. Return true if work arrived: the worker
    /// does not park. See the module-level handshake; the producer must publish its data, fence,
    /// read the waiting flag, and ring the [`WorkerDoorbell`] if it is set.
    ///
    /// The default publishes nothing and returns false: such a source is only seen when
    /// something else wakes the worker.
    fn prepare_park(&self) -> bool {
        false
    }

    /// True while a task waits on this source for data expected soon (a peer that is busy
    /// sending). An idle worker then keeps polling its sources for a bounded, adaptive time
    /// (up to `sync::AdaptiveSpin`'s budget) before it parks, so a reply that arrives within
    /// microseconds costs no syscall on either side. The default is false.
    fn wants_spin(&self) -> bool {
        false
    }

    /// Called after the park returns (and when `prepare_park` of this or another source said
    /// "do not park"): retract "waiting". Must be idempotent.
    fn after_park(&self) {}
}

/// The doorbell of a worker: ringing it wakes the worker if it is parked. Clonable, `Send + Sync`.
///
/// # Examples
///
/// ```no_run
/// # fn f() -> std::io::Result<()> {
/// let bell = rpal_rt::io::WorkerDoorbell::current()?;
/// std::thread::spawn(move || bell.ring());
/// # Ok(()) }
/// # let _ = f;
/// ```
#[derive(Clone, Debug)]
pub struct WorkerDoorbell {
    handle: reactor::Handle,
}

impl WorkerDoorbell {
    /// The doorbell of the worker running the caller.
    ///
    /// # Errors
    /// Outside an rpal runtime.
    pub fn current() -> io::Result<WorkerDoorbell> {
        Ok(WorkerDoorbell {
            handle: context::io_handle()?,
        })
    }

    /// Wakes the worker's current or next park (one `write(2)` on an eventfd; never blocks).
    pub fn ring(&self) {
        self.handle.unpark();
    }

    /// The eventfd behind the doorbell, valid while any clone of this `WorkerDoorbell` lives.
    /// Another process holding a copy (e.g. passed with `SCM_RIGHTS`) rings it by writing an
    /// 8-byte native-endian `1`.
    pub fn as_raw_fd(&self) -> RawFd {
        self.handle.doorbell().as_raw_fd()
    }
}

impl AsFd for WorkerDoorbell {
    /// The eventfd behind the doorbell (see [`WorkerDoorbell::as_raw_fd`]); `try_clone_to_owned`
    /// gives a copy to pass to another process.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.handle.doorbell().as_fd()
    }
}

/// Registers `source` with the current worker; it is polled before each park until the returned
/// handle is dropped.
///
/// # Errors
/// Outside an rpal runtime.
pub fn register_source(source: Arc<dyn UserSource>) -> io::Result<SourceRegistration> {
    let registry = context::sources().ok_or_else(context::no_runtime_error)?;
    let key = registry.register(source);
    Ok(SourceRegistration { registry, key })
}

/// Keeps a [`UserSource`] registered; unregisters on drop (from any thread).
#[derive(Debug)]
pub struct SourceRegistration {
    registry: SourceRegistry,
    key: usize,
}

impl Drop for SourceRegistration {
    fn drop(&mut self) {
        // The source (if this was the last reference) is dropped here, outside the registry lock.
        drop(self.registry.unregister(self.key));
    }
}
