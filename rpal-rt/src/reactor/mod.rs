//! The reactor: waits for I/O readiness and for the worker's doorbell, through one of two drivers.
//!
//! Owns: [`Driver`] (held by the worker thread that parks on it), [`Handle`] (clonable, `Send +
//! Sync`: register/deregister file descriptors, unpark), [`ScheduledIo`] (per-fd readiness word and
//! wakers), the driver choice ([`DriverKind`], probed at start, `RPAL_DRIVER` overrides), and the
//! registry of user-space sources polled before a park.
//!
//! Both drivers are always compiled and dispatched through one enum in this file.
//!
//! # Contract (call order)
//! * `Driver::new` on the worker thread; `Driver::handle` as often as needed. A driver may move
//!   to another thread: io_uring cancels the polls of a thread that exits, and the driver re-arms
//!   them on its next park (one extra round of CQEs).
//! * `Handle::register` from any thread; the returned `ScheduledIo` reports readiness from the next
//!   `park` of the owning driver on (readiness present at registration is reported too).
//! * `Driver::park(timeout)` only on the owning thread: submits pending work, waits until an event,
//!   an `unpark`, or the timeout (`Some(ZERO)` polls), then sets readiness bits and wakes wakers.
//! * `Handle::unpark` from any thread: the current or next `park` returns promptly. It always
//!   costs one `write(2)`; callers keep their own "parked" flag to skip needless rings.
//! * `Handle::deregister` before the fd is closed. On io_uring the poll's hold on the file is
//!   released by the owner's next `park` (immediately if it is parked), so a busy worker must
//!   still call `park(Some(ZERO))` regularly to reap I/O and retire deregistrations.
//! * Dropping the `Driver` shuts every registration down (waiters get an error) and makes later
//!   `register` calls on its handles fail.
//!
//! Files: `detect.rs` (choice), `doorbell.rs` (eventfd), `registry.rs` (fd table and token
//! scheme shared by both drivers), `scheduled_io.rs` (readiness word and tick protocol),
//! `epoll.rs`, `uring.rs` (the drivers), `uring_op.rs` (completion operations a task submits on
//! an io_uring worker: op table, `Op` future, cancellation), `uring_bufs.rs` (the provided-buffer
//! ring of multishot receives), `source.rs` (user-space sources), `tests.rs` (every
//! driver test, run once per driver).

mod detect;
mod doorbell;
mod epoll;
mod registry;
mod scheduled_io;
pub(crate) mod source;
#[cfg(all(test, not(loom)))]
mod tests;
mod uring;
pub(crate) mod uring_bufs;
pub(crate) mod uring_op;

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

pub use detect::DriverKind;
pub(crate) use doorbell::Doorbell;
#[allow(unused_imports)]
pub(crate) use scheduled_io::{Direction, ReadyEvent, ScheduledIo};

use crate::io::Interest;
use crate::loom::sync::Arc;

/// The driver a worker parks on. Owned by one thread.
#[derive(Debug)]
pub(crate) struct Driver {
    inner: DriverInner,
}

#[derive(Debug)]
enum DriverInner {
    /// Boxed: the ring is several hundred bytes; one indirection per park is nothing.
    Uring(Box<uring::UringDriver>),
    Epoll(epoll::EpollDriver),
}

/// Shared half of a driver: registration and unpark from any thread.
#[derive(Clone, Debug)]
pub(crate) struct Handle {
    inner: HandleInner,
}

#[derive(Clone, Debug)]
enum HandleInner {
    Uring(Arc<uring::UringShared>),
    Epoll(Arc<epoll::EpollShared>),
}

impl Driver {
    /// Builds the driver of `kind`, or of the probed kind when `None` (see [`DriverKind::detect`]).
    pub(crate) fn new(kind: Option<DriverKind>) -> io::Result<Driver> {
        let kind = match kind {
            Some(k) => k,
            None => DriverKind::detect()?,
        };
        let inner = match kind {
            DriverKind::Uring => DriverInner::Uring(Box::new(uring::UringDriver::new()?)),
            DriverKind::Epoll => DriverInner::Epoll(epoll::EpollDriver::new()?),
        };
        Ok(Driver { inner })
    }

    /// Which driver this is.
    pub(crate) fn kind(&self) -> DriverKind {
        match &self.inner {
            DriverInner::Uring(_) => DriverKind::Uring,
            DriverInner::Epoll(_) => DriverKind::Epoll,
        }
    }

    /// The shared handle of this driver.
    pub(crate) fn handle(&self) -> Handle {
        let inner = match &self.inner {
            DriverInner::Uring(d) => HandleInner::Uring(d.shared()),
            DriverInner::Epoll(d) => HandleInner::Epoll(d.shared()),
        };
        Handle { inner }
    }

    /// Waits for events up to `timeout` (`None`: until an event or unpark; `Some(ZERO)`: poll)
    /// and dispatches them to the registered wakers. Sub-millisecond timeouts are honoured.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match &mut self.inner {
            DriverInner::Uring(d) => d.park(timeout),
            DriverInner::Epoll(d) => d.park(timeout),
        }
    }
}

impl Handle {
    /// Wakes the owning driver's current or next `park`. Async-signal-safe in spirit: one write(2).
    pub(crate) fn unpark(&self) {
        match &self.inner {
            HandleInner::Uring(s) => s.doorbell().ring(),
            HandleInner::Epoll(s) => s.doorbell().ring(),
        }
    }

    /// The doorbell (eventfd) that wakes the owning driver.
    pub(crate) fn doorbell(&self) -> &Doorbell {
        match &self.inner {
            HandleInner::Uring(s) => s.doorbell(),
            HandleInner::Epoll(s) => s.doorbell(),
        }
    }

    /// Which driver this handle belongs to.
    pub(crate) fn kind(&self) -> DriverKind {
        match &self.inner {
            HandleInner::Uring(_) => DriverKind::Uring,
            HandleInner::Epoll(_) => DriverKind::Epoll,
        }
    }

    /// The io_uring half of this handle, for completion operations (`None` on epoll).
    pub(crate) fn uring(&self) -> Option<&Arc<uring::UringShared>> {
        match &self.inner {
            HandleInner::Uring(s) => Some(s),
            HandleInner::Epoll(_) => None,
        }
    }

    /// Starts watching `fd` for `interest`. Callable from any thread.
    pub(crate) fn register(&self, fd: RawFd, interest: Interest) -> io::Result<Arc<ScheduledIo>> {
        match &self.inner {
            HandleInner::Uring(s) => s.register(fd, interest),
            HandleInner::Epoll(s) => s.register(fd, interest),
        }
    }

    /// Stops watching `fd`; must be called before `fd` is closed. Wakes any waiter with an error.
    pub(crate) fn deregister(&self, io: &Arc<ScheduledIo>, fd: RawFd) -> io::Result<()> {
        match &self.inner {
            HandleInner::Uring(s) => s.deregister(io, fd),
            HandleInner::Epoll(s) => s.deregister(io, fd),
        }
    }
}
