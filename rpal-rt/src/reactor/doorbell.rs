//! The eventfd that wakes a parked driver, shared by both drivers and by user-space sources.
//!
//! Owns [`Doorbell`]: a non-blocking, close-on-exec eventfd. Each driver watches it (epoll: a
//! reserved token; io_uring: a multishot poll with a reserved tag). `ring` adds 1 to the counter
//! from any thread, or any process the fd was passed to; the driver `drain`s it after waking.
//!
//! Invariant: the fd is open for the life of the `Doorbell` and never blocks (`EFD_NONBLOCK`), so
//! `ring` and `drain` are each one syscall that cannot hang.
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd: `ring` from any thread (or any process holding the fd) wakes the driver.
#[derive(Debug)]
pub(crate) struct Doorbell {
    /// The eventfd, opened `EFD_NONBLOCK | EFD_CLOEXEC`.
    fd: OwnedFd,
}

impl Doorbell {
    /// Opens a fresh eventfd with a zero counter.
    ///
    /// # Errors
    /// `eventfd(2)` failed (fd limit reached).
    pub(crate) fn new() -> io::Result<Doorbell> {
        // SAFETY: eventfd takes no pointers; the flags are valid constants.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh fd returned by eventfd, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Doorbell { fd })
    }

    /// Wakes the driver parked on this doorbell (one eventfd write; never blocks).
    ///
    /// A full counter (`EAGAIN`) means the bell is already rung, which is all a ring promises.
    pub(crate) fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: the fd is a valid eventfd for the life of `self`; the buffer is 8 readable
        // bytes, the size eventfd requires.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Resets the counter to zero; returns true if it was rung since the last drain.
    pub(crate) fn drain(&self) -> bool {
        let mut count: u64 = 0;
        // SAFETY: the fd is a valid eventfd; the buffer is 8 writable bytes, the size eventfd
        // requires. Non-blocking: an unrung bell returns EAGAIN.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
        n == 8 && count > 0
    }
}

impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Doorbell {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn ring_then_drain() {
        let d = Doorbell::new().unwrap();
        assert!(!d.drain(), "fresh bell is silent");
        d.ring();
        d.ring();
        assert!(d.drain());
        assert!(!d.drain(), "drain resets the counter");
    }
}
