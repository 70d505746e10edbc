//! Timers: [`sleep`], [`sleep_until`], [`timeout`], [`timeout_at`], [`interval`],
//! [`interval_at`], on a per-worker hierarchical timer wheel with sub-millisecond resolution.
//!
//! # Resolution and lateness
//! Every worker owns one wheel ticking every 10 µs by default (`Builder` can change it; see
//! `clock::DEFAULT_TICK` for why 10 µs). A timer never fires before its deadline: deadlines are
//! rounded *up* to a tick and fire once the clock, rounded *down*, reaches that tick. A worker
//! with nothing else to do parks exactly (to the nanosecond) until the tick its earliest timer
//! fires at, so the timer fires at most one tick plus the kernel's wake-up latency late; the
//! goal is under 100 µs on an idle worker.
//!
//! # Ownership
//! * [`Sleep`] (and [`Timeout`], [`Interval`], built on it) registers lazily, on its first poll,
//!   in the wheel of the worker polling it; it moves its timer if later polled on another worker,
//!   and cancels it when dropped. It is `Send + Sync + Unpin`.
//! * `TimeHandle` (crate-private, `handle.rs`) is the shared, clonable handle to one worker's
//!   wheel: an `Arc<Mutex<..>>` any thread may insert into or cancel from, with the park/unpark
//!   bookkeeping that wakes the owning worker when an earlier timer arrives.
//! * The wheel itself (`wheel/`) is a plain data structure in ticks; its module doc states what a
//!   slot holds and when an entry moves level.
//!
//! # Interface used by the worker loop (executor/worker.rs)
//! * `TimeHandle::new(tick, io)` once per worker (`io` unparks the worker when a timer is
//!   inserted from another thread with a deadline earlier than the worker's current park);
//! * `process(now)` fires every timer due at `now` (wakers are called outside the wheel lock);
//! * `park_timeout(now)` just before parking: the time until the next deadline (`None`: no timer),
//!   and records that the worker parks until then;
//! * `unparked()` after the park returns.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use rpal_rt::time::{sleep, timeout};
//!
//! rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
//!     sleep(Duration::from_micros(100)).await;
//!     let slow = sleep(Duration::from_secs(10));
//!     assert!(timeout(Duration::from_micros(500), slow).await.is_err());
//! });
//! ```

mod clock;
pub mod error;
mod handle;
mod interval;
mod sleep;
mod timeout;
mod wheel;

#[cfg(all(test, not(loom)))]
mod tests;

pub use std::time::{Duration, Instant};

pub use interval::{interval, interval_at, Interval, MissedTickBehavior};
pub use sleep::{sleep, sleep_until, Sleep};
pub use timeout::{timeout, timeout_at, Timeout};

pub(crate) use clock::DEFAULT_TICK;
pub(crate) use handle::TimeHandle;
