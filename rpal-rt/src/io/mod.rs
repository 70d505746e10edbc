//! The low-level I/O surface that socket types (rpal-net) build on.
//!
//! * [`Registration`]: a file descriptor registered with the current worker's reactor, with
//!   `poll_read_ready`/`poll_write_ready` and [`Registration::poll_io`] to run a non-blocking
//!   syscall until it stops returning `WouldBlock`.
//! * [`Interest`] and [`Ready`]: readiness sets.
//! * [`UserSource`] and [`register_source`]: user-space event sources (shared-memory rings) that
//!   the worker polls, without a syscall, before it parks; [`WorkerDoorbell`] wakes a parked worker.
#![allow(dead_code)]

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Which readiness a [`Registration`] watches.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Readable.
    pub const READABLE: Interest = Interest(0b01);
    /// Writable.
    pub const WRITABLE: Interest = Interest(0b10);
    /// Both.
    pub const BOTH: Interest = Interest(0b11);

    /// True if this includes readable.
    pub fn is_readable(self) -> bool {
        self.0 & 0b01 != 0
    }
    /// True if this includes writable.
    pub fn is_writable(self) -> bool {
        self.0 & 0b10 != 0
    }
}

impl fmt::Debug for Interest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.is_readable(), self.is_writable()) {
            (true, true) => f.write_str("READABLE | WRITABLE"),
            (true, false) => f.write_str("READABLE"),
            (false, true) => f.write_str("WRITABLE"),
            (false, false) => f.write_str("(none)"),
        }
    }
}

/// A file descriptor registered with the reactor of the worker that created it.
///
/// The fd stays owned by the caller: drop the `Registration` before closing it.
#[derive(Debug)]
pub struct Registration {}

impl Registration {
    /// Registers `fd` (which must be non-blocking) with the current worker's reactor.
    ///
    /// # Errors
    /// Outside an rpal runtime, or when the driver refuses the fd.
    pub fn new(_fd: RawFd, _interest: Interest) -> io::Result<Registration> {
        todo!("reactor helper")
    }

    /// Runs `f` (a non-blocking syscall) until it returns something other than `WouldBlock`,
    /// waiting for `interest` readiness in between. `interest` is READABLE or WRITABLE.
    pub fn poll_io<R>(
        &self,
        _cx: &mut Context<'_>,
        _interest: Interest,
        _f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        todo!("reactor helper")
    }
}

/// A user-space event source polled by its worker before the worker parks.
pub trait UserSource: Send + Sync + 'static {
    /// Checks for work without a syscall; wakes the tasks that have work. Returns true if it
    /// woke anything.
    fn poll(&self) -> bool;
}

/// The doorbell of a worker: ringing it wakes the worker if it is parked.
#[derive(Clone, Debug)]
pub struct WorkerDoorbell {}

/// Returns the handle that keeps `source` registered with the current worker; dropping it
/// unregisters the source.
///
/// # Errors
/// Outside an rpal runtime.
pub fn register_source(_source: Arc<dyn UserSource>) -> io::Result<SourceRegistration> {
    todo!("reactor helper")
}

/// Keeps a [`UserSource`] registered; unregisters on drop.
#[derive(Debug)]
pub struct SourceRegistration {}
