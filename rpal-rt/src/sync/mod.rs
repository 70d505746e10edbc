//! Synchronisation for tasks: channels, locks and signals with the names, methods and semantics
//! of `tokio::sync`, so a port changes only import paths.
//!
//! | type | module |
//! |---|---|
//! | bounded / unbounded multi-producer channel | [`mpsc`] |
//! | single value | [`oneshot`] |
//! | every receiver sees every value (bounded, lagging receivers told) | [`broadcast`] |
//! | latest value, change notification | [`watch`] |
//! | [`Mutex`], [`RwLock`], [`Semaphore`], [`Notify`], [`Barrier`], [`OnceCell`] | here |
//! | `!Send` channels without atomics for one worker | [`local`] |
//!
//! Plus [`AdaptiveSpin`], the workers' spin-before-park policy.
//!
//! # Design
//! Every primitive keeps its state under one short lock (an uncontended lock is one
//! compare-and-swap and one swap), with a `WaitList` (`waiters.rs`) of parked futures in a slab: no
//! allocation per wait once the slab is warm, and none at all for an operation that does not
//! wait (a channel send/recv pair that finds room and a message allocates nothing). Wakers are
//! collected under the lock and woken after it is released.
//!
//! # Cancel safety
//! Each waiting method documents it (`# Cancel safety`). The mechanism is shared: a notifier
//! never frees a waiter's node, it leaves what it handed over (permits, a slot, a notification)
//! in the node; a future dropped after being chosen finds it there and passes it on.
#![allow(clippy::module_name_repetitions)]

mod barrier;
pub mod broadcast;
pub mod local;
pub mod mpsc;
mod mutex;
mod notify;
mod once_cell;
pub mod oneshot;
mod rwlock;
mod semaphore;
mod spin;
mod waiters;
pub mod watch;

pub use barrier::{Barrier, BarrierWaitResult};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
pub use spin::{AdaptiveSpin, SPIN_CHECK_EVERY, SPIN_MAX, SPIN_MIN, SPIN_START};

/// Locks a std/loom mutex, ignoring poisoning: every critical section in `sync` leaves the state
/// consistent before anything that can panic (user `Drop`s run after the lock is released).
fn lock<T>(m: &crate::loom::sync::Mutex<T>) -> crate::loom::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Compile-time checks: the `Send` primitives are `Send + Sync` where tokio's are, and the
/// futures of their waiting methods are `Send`.
#[allow(dead_code)]
fn _assert_send_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: &T) {}
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    send_sync(&tx);
    send_sync(&rx);
    send(&tx.send(1));
    send(&tx.reserve());
    send(&tx.closed());
    send(&rx.recv());
    let (utx, urx) = mpsc::unbounded_channel::<u8>();
    send_sync(&utx);
    send_sync(&urx);
    let (otx, orx) = oneshot::channel::<u8>();
    send_sync(&otx);
    send_sync(&orx);
    let (btx, mut brx) = broadcast::channel::<u8>(1);
    send_sync(&btx);
    send(&brx.recv());
    let (wtx, mut wrx) = watch::channel(0u8);
    send_sync(&wtx);
    send(&wrx.changed());
    let m = Mutex::new(0u8);
    send_sync(&m);
    send(&m.lock());
    let l = RwLock::new(0u8);
    send_sync(&l);
    send(&l.write());
    let s = Semaphore::new(1);
    send_sync(&s);
    send(&s.acquire());
    let n = Notify::new();
    send_sync(&n);
    send(&n.notified());
    let b = Barrier::new(1);
    send(&b.wait());
    let c = OnceCell::<u8>::new();
    send_sync(&c);
}
