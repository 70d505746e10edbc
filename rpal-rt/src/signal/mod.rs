//! Asynchronous signal handling with Tokio's API shape: [`ctrl_c`] and
//! [`unix::signal`]`(`[`unix::SignalKind`]`)` giving a [`unix::Signal`] stream.
//!
//! # How a signal reaches a task
//! The first listener of a signal installs a `sigaction` handler for it (process-wide, for the
//! rest of the process: the default action, such as terminating on `SIGINT`, is not taken
//! again). The handler, async-signal-safe, counts the delivery in a per-signal atomic and
//! writes one byte to each listener's wake-up pipe; each [`unix::Signal`] registers its own
//! pipe with the reactor of the worker that polls it, so every listener on every worker wakes,
//! on both drivers. A woken listener drains its pipe and compares the count with the one it
//! last reported: several deliveries between two `recv` calls coalesce into one, as in Tokio.
//! At most 256 listeners may be alive at once (`registry.rs` explains the pipe pool).
//!
//! # Examples
//! ```no_run
//! #[rpal_rt::main]
//! async fn main() {
//!     rpal_rt::signal::ctrl_c().await.unwrap();
//!     println!("interrupted, shutting down");
//! }
//! ```

mod registry;
pub mod unix;

use std::io;

/// Waits for the next `SIGINT` (Ctrl-C in a terminal).
///
/// The handler is installed when the returned future is first polled; from then on `SIGINT`
/// no longer terminates the process.
///
/// # Errors
/// The handler could not be installed, or the reactor the listener waits on shut down.
///
/// # Examples
/// See the [module example](self).
pub async fn ctrl_c() -> io::Result<()> {
    let mut sig = unix::signal(unix::SignalKind::interrupt())?;
    match sig.recv().await {
        Some(()) => Ok(()),
        None => Err(io::Error::other(
            "ctrl_c: the signal listener stopped (its worker's reactor shut down)",
        )),
    }
}
