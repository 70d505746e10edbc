//! User-space event sources polled (no syscall) before a worker parks.
//!
//! Interface used by the worker loop (executor/worker.rs):
//! * `SourceRegistry::new()` once per worker;
//! * `poll()` on every scheduler tick and before parking: polls every registered source, true if
//!   any woke a task;
//! * `prepare_park()` just before parking: each source publishes "waiting" and re-checks; true means
//!   work arrived, do not park (the registry has then already called `after_park` on the sources
//!   it prepared, so the caller need not, though calling it is harmless);
//! * `after_park()` after the park returns: sources retract "waiting".
//!
//! `register`/`unregister` work from any thread. The three calls above run on the owning worker
//! only and never hold a lock while calling into a source (a source may unregister itself, or
//! another source, from inside `poll`).
//!
//! # Invariants
//!
//! * `generation` is bumped (under the slab lock) by every register/unregister. The owner keeps a
//!   snapshot `Vec` of the sources, rebuilt only when the generation moved, so a steady-state
//!   `poll` allocates nothing and takes no lock (one atomic load plus the uncontended
//!   snapshot-slot lock that lets the owner move the `Vec` out and back).
//! * A source unregistered while a snapshot is being walked is skipped from then on: before each
//!   call the owner checks the generation, and if it moved, that the source is still registered.
use std::fmt;

use slab::Slab;

use crate::io::UserSource;
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::{Arc, Mutex, MutexGuard};

/// Sources arrive as `std` `Arc`s from the public API (loom's `Arc` cannot hold `dyn` values).
type SourceArc = std::sync::Arc<dyn UserSource>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Entry = (usize, SourceArc);

/// The owner's snapshot of the registered sources.
struct Snapshot {
    /// The generation `sources` was built at (`u64::MAX`: never built).
    generation: u64,
    sources: Vec<Entry>,
}

struct Inner {
    sources: Mutex<Slab<SourceArc>>,
    /// Bumped by every change of `sources`, under its lock.
    generation: AtomicU64,
    /// Number of registered sources, so a worker with none skips every walk without a lock.
    count: AtomicU64,
    /// Taken (moved out) by the owner while it walks it; put back after. `None` only during a
    /// walk, so a nested walk (a source calling back into the registry) finds nothing to do.
    snapshot: Mutex<Option<Snapshot>>,
}

/// The per-worker set of registered [`crate::io::UserSource`]s. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub(crate) struct SourceRegistry {
    inner: Arc<Inner>,
}

impl fmt::Debug for SourceRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SourceRegistry")
            .field("sources", &lock(&self.inner.sources).len())
            .field("generation", &self.inner.generation.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for SourceRegistry {
    fn default() -> Self {
        SourceRegistry::new()
    }
}

/// Returns the snapshot to its slot when a walk ends, panics included.
struct PutBack<'a> {
    slot: &'a Mutex<Option<Snapshot>>,
    snap: Snapshot,
}

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        let snap = std::mem::replace(
            &mut self.snap,
            Snapshot {
                generation: u64::MAX,
                sources: Vec::new(),
            },
        );
        *lock(self.slot) = Some(snap);
    }
}

/// Which hook a walk calls.
#[derive(Clone, Copy)]
enum Hook {
    Poll,
    WantsSpin,
    Prepare,
    After,
}

impl SourceRegistry {
    pub(crate) fn new() -> SourceRegistry {
        SourceRegistry {
            inner: Arc::new(Inner {
                sources: Mutex::new(Slab::new()),
                generation: AtomicU64::new(0),
                count: AtomicU64::new(0),
                snapshot: Mutex::new(Some(Snapshot {
                    generation: u64::MAX,
                    sources: Vec::new(),
                })),
            }),
        }
    }

    /// Adds `source`; returns its key for [`SourceRegistry::unregister`]. Any thread.
    pub(crate) fn register(&self, source: SourceArc) -> usize {
        let mut s = lock(&self.inner.sources);
        let key = s.insert(source);
        self.inner.generation.fetch_add(1, Ordering::Release);
        self.inner.count.fetch_add(1, Ordering::Release);
        key
    }

    /// Removes the source under `key`; returns it (dropped by the caller, outside the lock).
    pub(crate) fn unregister(&self, key: usize) -> Option<SourceArc> {
        let mut s = lock(&self.inner.sources);
        let removed = s.try_remove(key);
        if removed.is_some() {
            self.inner.generation.fetch_add(1, Ordering::Release);
            let left = self.inner.count.fetch_sub(1, Ordering::Release) - 1;
            drop(s);
            if left == 0 {
                // Walks stop once the count is zero, so the snapshot would keep its references
                // forever: release them now (dropped after the lock, a Drop may re-enter).
                let stale = lock(&self.inner.snapshot)
                    .as_mut()
                    .map(|snap| std::mem::take(&mut snap.sources));
                drop(stale);
            }
        }
        removed
    }

    #[cfg(test)]
    /// Number of registered sources.
    pub(crate) fn len(&self) -> usize {
        lock(&self.inner.sources).len()
    }

    /// Polls every source; true if any woke something.
    pub(crate) fn poll(&self) -> bool {
        self.walk(Hook::Poll)
    }

    /// Asks every source to publish "waiting" and re-check; true means do not park.
    pub(crate) fn prepare_park(&self) -> bool {
        self.walk(Hook::Prepare)
    }

    /// Tells every source the worker is awake again.
    pub(crate) fn after_park(&self) {
        self.walk(Hook::After);
    }

    /// True if any source has a task waiting for data it expects soon (see
    /// `UserSource::wants_spin`): the idle worker then spins on `poll` before parking.
    pub(crate) fn wants_spin(&self) -> bool {
        self.walk(Hook::WantsSpin)
    }

    /// Moves the snapshot out (rebuilding it if the registry changed), calls `hook` on each
    /// source without any lock held, and puts the snapshot back.
    fn walk(&self, hook: Hook) -> bool {
        if self.inner.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let Some(snap) = lock(&self.inner.snapshot).take() else {
            return false; // nested walk
        };
        // Puts the snapshot back even if a source panics.
        let mut guard = PutBack {
            slot: &self.inner.snapshot,
            snap,
        };
        self.walk_snapshot(&mut guard.snap, hook)
    }

    fn walk_snapshot(&self, snap: &mut Snapshot, hook: Hook) -> bool {
        if snap.generation != self.inner.generation.load(Ordering::Acquire) {
            // Drop the old references before locking: a source's Drop may call the registry.
            snap.sources.clear();
            let s = lock(&self.inner.sources);
            snap.sources.extend(s.iter().map(|(k, v)| (k, v.clone())));
            snap.generation = self.inner.generation.load(Ordering::Acquire);
        }
        let mut any = false;
        let mut prepared = 0;
        for (i, (key, source)) in snap.sources.iter().enumerate() {
            if !self.still_registered(snap.generation, *key, source) {
                continue;
            }
            match hook {
                Hook::Poll => any |= source.poll(),
                Hook::WantsSpin => {
                    if source.wants_spin() {
                        any = true;
                        break;
                    }
                }
                Hook::After => source.after_park(),
                Hook::Prepare => {
                    prepared = i + 1;
                    if source.prepare_park() {
                        any = true;
                        break;
                    }
                }
            }
        }
        if any && matches!(hook, Hook::Prepare) {
            // Not parking: retract "waiting" on everything prepared so far.
            for (key, source) in &snap.sources[..prepared] {
                if self.still_registered(snap.generation, *key, source) {
                    source.after_park();
                }
            }
        }
        any
    }

    /// True if `source` under `key` is still registered (cheap when nothing changed since `at`).
    fn still_registered(&self, at: u64, key: usize, source: &SourceArc) -> bool {
        if self.inner.generation.load(Ordering::Acquire) == at {
            return true;
        }
        lock(&self.inner.sources)
            .get(key)
            .is_some_and(|s| SourceArc::ptr_eq(s, source))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};
    use std::sync::Mutex as StdMutex;

    #[derive(Default)]
    struct Counting {
        polls: AtomicUsize,
        prepares: AtomicUsize,
        afters: AtomicUsize,
        has_work: AtomicBool,
    }
    impl UserSource for Counting {
        fn poll(&self) -> bool {
            self.polls.fetch_add(1, Ordering::SeqCst);
            self.has_work.load(Ordering::SeqCst)
        }
        fn prepare_park(&self) -> bool {
            self.prepares.fetch_add(1, Ordering::SeqCst);
            self.has_work.load(Ordering::SeqCst)
        }
        fn after_park(&self) {
            self.afters.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn register_poll_unregister() {
        let reg = SourceRegistry::new();
        assert!(!reg.poll());
        let a = Arc::new(Counting::default());
        let key = reg.register(a.clone());
        assert!(!reg.poll());
        a.has_work.store(true, Ordering::SeqCst);
        assert!(reg.poll());
        assert_eq!(a.polls.load(Ordering::SeqCst), 2);
        assert!(reg.prepare_park(), "work present: do not park");
        assert_eq!(
            a.afters.load(Ordering::SeqCst),
            1,
            "prepare retracted on early exit"
        );
        a.has_work.store(false, Ordering::SeqCst);
        assert!(!reg.prepare_park());
        reg.after_park();
        assert_eq!(a.afters.load(Ordering::SeqCst), 2);
        assert!(reg.unregister(key).is_some());
        assert!(!reg.poll());
        assert_eq!(
            a.polls.load(Ordering::SeqCst),
            2,
            "unregistered source is not polled"
        );
        assert_eq!(Arc::strong_count(&a), 1, "snapshot released the source");
    }

    /// Unregisters itself and a sibling from inside `poll`.
    struct SelfRemoving {
        reg: SourceRegistry,
        keys: StdMutex<Vec<usize>>,
        polls: AtomicUsize,
    }
    impl UserSource for SelfRemoving {
        fn poll(&self) -> bool {
            self.polls.fetch_add(1, Ordering::SeqCst);
            for k in self.keys.lock().unwrap().drain(..) {
                drop(self.reg.unregister(k));
            }
            true
        }
    }

    #[test]
    fn unregister_from_inside_poll() {
        let reg = SourceRegistry::new();
        let s = Arc::new(SelfRemoving {
            reg: reg.clone(),
            keys: StdMutex::new(Vec::new()),
            polls: AtomicUsize::new(0),
        });
        let sibling = Arc::new(Counting::default());
        let k1 = reg.register(s.clone());
        let k2 = reg.register(sibling.clone());
        s.keys.lock().unwrap().extend([k1, k2]);
        assert!(reg.poll());
        assert_eq!(s.polls.load(Ordering::SeqCst), 1);
        assert_eq!(
            sibling.polls.load(Ordering::SeqCst),
            0,
            "sibling removed mid-walk is skipped"
        );
        assert_eq!(reg.len(), 0);
        assert!(!reg.poll());
        assert_eq!(s.polls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn register_from_other_thread() {
        let reg = SourceRegistry::new();
        let a = Arc::new(Counting::default());
        let r2 = reg.clone();
        let a2 = a.clone();
        let key = std::thread::spawn(move || r2.register(a2)).join().unwrap();
        reg.poll();
        assert_eq!(a.polls.load(Ordering::SeqCst), 1);
        let r3 = reg.clone();
        std::thread::spawn(move || drop(r3.unregister(key)))
            .join()
            .unwrap();
        reg.poll();
        assert_eq!(a.polls.load(Ordering::SeqCst), 1);
    }
}
