//! The low-level I/O surface that socket types (rpal-net) build on.
//!
//! * [`Registration`]: a file descriptor registered with the current worker's reactor, with
//!   `poll_read_ready`/`poll_write_ready` and [`Registration::poll_io`] to run a non-blocking
//!   syscall until it stops returning `WouldBlock`.
//! * [`Interest`] and [`Ready`]: readiness sets; [`ReadyEvent`]: one observation of readiness.
//! * [`UserSource`] and [`register_source`]: user-space event sources (shared-memory rings) that
//!   the worker polls, without a syscall, before it parks; [`WorkerDoorbell`] wakes a parked worker.
//! * [`worker_state`]: each worker's RUNNING / WAIT / CALL word in a table a peer process can
//!   map read-only, so it rings a worker only when that worker sleeps.
//! * [`uring`]: socket operations as io_uring completion operations (`RECV`, `SEND`, `ACCEPT`)
//!   for tasks on an io_uring worker, with owned buffers and cancel-on-drop.
//! * [`util`]: `copy`, `copy_bidirectional`, `split`, `BufReader`/`BufWriter` on the futures-io
//!   traits.
//!
//! Readiness is edge-style: a [`ReadyEvent`] stays set until the caller reports `WouldBlock` by
//! [`Registration::clear_readiness`] (or lets [`Registration::poll_io`] do it). A clear only
//! takes effect if no new readiness arrived since the event was observed, so no wake-up is lost.
use std::fmt;
use std::io;
use std::ops::BitOr;

use crate::reactor;

/// Which readiness a [`Registration`] watches.
///
/// # Examples
/// ```
/// use rpal_rt::io::Interest;
///
/// assert!(Interest::BOTH.is_readable() && Interest::BOTH.is_writable());
/// assert!(Interest::READABLE.is_readable() && !Interest::READABLE.is_writable());
/// assert_eq!(format!("{:?}", Interest::WRITABLE), "WRITABLE");
/// ```
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

/// A set of readiness states reported by the reactor.
///
/// # Examples
///
/// ```
/// use rpal_rt::io::Ready;
/// let r = Ready::READABLE | Ready::READ_CLOSED;
/// assert!(r.is_readable() && r.is_read_closed() && !r.is_writable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ready(u8);

impl Ready {
    /// Nothing.
    pub const EMPTY: Ready = Ready(0);
    /// A read would not block.
    pub const READABLE: Ready = Ready(0b0_0001);
    /// A write would not block.
    pub const WRITABLE: Ready = Ready(0b0_0010);
    /// The peer closed its write side (reads return end-of-file once drained). Final.
    pub const READ_CLOSED: Ready = Ready(0b0_0100);
    /// The write side is closed (writes fail). Final.
    pub const WRITE_CLOSED: Ready = Ready(0b0_1000);
    /// An error is pending on the fd (the next syscall reports it).
    pub const ERROR: Ready = Ready(0b1_0000);

    pub(crate) const fn from_bits(bits: usize) -> Ready {
        Ready((bits & 0b1_1111) as u8)
    }
    pub(crate) const fn bits(self) -> usize {
        self.0 as usize
    }
    /// True if no state is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True if readable.
    pub fn is_readable(self) -> bool {
        self.0 & Self::READABLE.0 != 0
    }
    /// True if writable.
    pub fn is_writable(self) -> bool {
        self.0 & Self::WRITABLE.0 != 0
    }
    /// True if the read side is closed.
    pub fn is_read_closed(self) -> bool {
        self.0 & Self::READ_CLOSED.0 != 0
    }
    /// True if the write side is closed.
    pub fn is_write_closed(self) -> bool {
        self.0 & Self::WRITE_CLOSED.0 != 0
    }
    /// True if an error is pending.
    pub fn is_error(self) -> bool {
        self.0 & Self::ERROR.0 != 0
    }
}

impl BitOr for Ready {
    type Output = Ready;
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Ready::READABLE, "READABLE"),
            (Ready::WRITABLE, "WRITABLE"),
            (Ready::READ_CLOSED, "READ_CLOSED"),
            (Ready::WRITE_CLOSED, "WRITE_CLOSED"),
            (Ready::ERROR, "ERROR"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.0 & bit.0 != 0 {
                f.write_str(if first { "" } else { " | " })?;
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("EMPTY")?;
        }
        Ok(())
    }
}

/// One observation of a [`Registration`]'s readiness: give it back to
/// [`Registration::clear_readiness`] when the syscall it allowed returned `WouldBlock`.
///
/// # Examples
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// use rpal_rt::io::{Interest, Registration};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     let reg = Registration::new(a.as_raw_fd(), Interest::READABLE).unwrap();
///     b.write_all(b"x").unwrap();
///     let ev = reg.readable().await.unwrap();
///     assert!(ev.ready().is_readable());
///     // Had the read returned WouldBlock, the event would go back: reg.clear_readiness(ev).
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadyEvent {
    inner: reactor::ReadyEvent,
}

impl ReadyEvent {
    /// The readiness observed (only the states of the direction polled).
    pub fn ready(&self) -> Ready {
        self.inner.ready
    }
}

mod registration;
mod source;
// taskx: copy, copy_bidirectional, split, BufReader/BufWriter on the futures-io traits.
pub mod uring;
pub mod util;
pub mod worker_state;

pub use registration::Registration;
pub use source::{register_source, SourceRegistration, UserSource, WorkerDoorbell};

/// Turns a reactor observation into the public event, or the error of a dead registration.
fn ready_to_result(ev: reactor::ReadyEvent) -> io::Result<ReadyEvent> {
    if ev.is_shutdown() {
        Err(io::Error::other(
            "fd deregistered or its rpal worker shut down: no more readiness will be reported",
        ))
    } else {
        Ok(ReadyEvent { inner: ev })
    }
}

/// A process-unique id of the worker running the current thread (never reused), or `None`
/// outside an rpal runtime. Lets a library keep per-worker state, such as one [`UserSource`] per
/// worker.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// assert!(rpal_rt::io::current_worker_id().is_none());
/// let id = rt.block_on(async { rpal_rt::io::current_worker_id() });
/// assert!(id.is_some());
/// ```
pub fn current_worker_id() -> Option<u64> {
    crate::runtime::context::with(|cx| cx.map(|cx| cx.worker.id))
}
