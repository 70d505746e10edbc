//! rpal-rt: an async runtime for Linux built for fast local IPC.
//!
//! * a thread-per-core executor (each worker owns its run queue, reactor and timer wheel; no work
//!   stealing) and a single-thread flavour;
//! * a reactor with two drivers, io_uring and epoll, picked at start (`RPAL_DRIVER=uring|epoll`
//!   forces one);
//! * sub-millisecond timers on a hierarchical wheel;
//! * user-space event sources: polled without a syscall before a worker parks, able to wake a
//!   parked worker through its doorbell.
//!
//! # Examples
//!
//! ```
//! let rt = rpal_rt::Runtime::new_current_thread().unwrap();
//! let answer = rt.block_on(async {
//!     let task = rpal_rt::spawn(async { 6 * 7 });
//!     rpal_rt::time::sleep(std::time::Duration::from_micros(200)).await;
//!     task.await.unwrap()
//! });
//! assert_eq!(answer, 42);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod blocking;
mod executor;
pub mod fs;
pub mod gate;
pub mod io;
mod loom;
mod macros;
pub mod metrics;
pub mod process;
pub(crate) mod reactor;
pub mod runtime;
pub mod signal;
pub mod sync;
pub mod task;
pub mod time;

#[cfg(test)]
mod tests;

pub use blocking::spawn_blocking;
pub use rpal_macros::{main, test};
pub use runtime::{Builder, Runtime};
pub use task::{spawn, spawn_local, yield_now, JoinError, JoinHandle};

// `select!`, `join!`, `try_join!` and `task_local!` are `#[macro_export]`ed at the crate root;
// their expansions call into this (not a public API).
#[doc(hidden)]
pub use macros::support as __macro_support;
