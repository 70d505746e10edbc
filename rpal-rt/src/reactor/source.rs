//! User-space event sources polled (no syscall) before a worker parks.
//!
//! Interface used by the worker loop (executor/worker.rs):
//! * `SourceRegistry::new()` once per worker;
//! * `poll()` on every scheduler tick and before parking: polls every registered source, true if
//!   any woke a task;
//! * `prepare_park()` just before parking: each source publishes "waiting" and re-checks; true means
//!   work arrived, do not park;
//! * `after_park()` after the park returns: sources retract "waiting".
#![allow(dead_code)]

/// The per-worker set of registered [`crate::io::UserSource`]s. Cheap to clone (an `Arc`).
#[derive(Clone, Debug, Default)]
pub(crate) struct SourceRegistry {}

impl SourceRegistry {
    pub(crate) fn new() -> SourceRegistry {
        SourceRegistry {}
    }
    pub(crate) fn poll(&self) -> bool {
        false
    }
    pub(crate) fn prepare_park(&self) -> bool {
        false
    }
    pub(crate) fn after_park(&self) {}
}
