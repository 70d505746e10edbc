//! Timers: `sleep`, `sleep_until`, `timeout`, `interval`, on a per-worker hierarchical wheel.
//!
//! Interface used by the worker loop (executor/worker.rs):
//! * `TimeHandle::new(tick, io)` once per worker (`io` unparks the worker when a timer is
//!   inserted from another thread with a deadline earlier than the worker's current park);
//! * `process(now)` fires every timer due at `now` (wakers are called outside the wheel lock);
//! * `park_timeout(now)` just before parking: the time until the next deadline (`None`: no timer),
//!   and records that the worker parks until then;
//! * `unparked()` after the park returns.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use crate::reactor;

/// Shared handle to one worker's timer wheel. Cheap to clone, `Send + Sync`.
#[derive(Clone, Debug)]
pub(crate) struct TimeHandle {}

impl TimeHandle {
    pub(crate) fn new(_tick: Duration, _io: reactor::Handle) -> TimeHandle {
        TimeHandle {}
    }
    pub(crate) fn process(&self, _now: Instant) -> usize {
        0
    }
    pub(crate) fn park_timeout(&self, _now: Instant) -> Option<Duration> {
        None
    }
    pub(crate) fn unparked(&self) {}
}
