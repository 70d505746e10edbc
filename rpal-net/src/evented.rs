//! A non-blocking fd plus its reactor registration, created lazily on the worker that first
//! polls it (so a socket accepted on one worker and handed to a task on another gets its events
//! on the worker that uses it).

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use rpal_rt::io::{Interest, Registration};

/// A non-blocking I/O object `T` driven by the reactor.
///
/// # Invariant
/// `reg` is declared before `io`, so it drops (deregisters) before the fd closes.
#[derive(Debug)]
pub(crate) struct Evented<T: AsRawFd> {
    reg: OnceLock<Registration>,
    io: T,
}

impl<T: AsRawFd> Evented<T> {
    /// Wraps `io`, which must already be in non-blocking mode.
    pub(crate) fn new(io: T) -> Evented<T> {
        Evented {
            reg: OnceLock::new(),
            io,
        }
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    fn registration(&self) -> io::Result<&Registration> {
        if let Some(r) = self.reg.get() {
            return Ok(r);
        }
        let r = Registration::new(self.io.as_raw_fd(), Interest::BOTH)?;
        // If another thread won the race its registration is kept and ours deregisters on drop.
        let _ = self.reg.set(r);
        self.reg
            .get()
            .ok_or_else(|| io::Error::other("socket registration vanished"))
    }

    /// Runs the non-blocking operation `f` until it stops returning `WouldBlock`.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        // Try first: data is often already there, and this avoids registering idle sockets.
        match f(&self.io) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            other => return Poll::Ready(other),
        }
        let reg = match self.registration() {
            Ok(r) => r,
            Err(e) => return Poll::Ready(Err(e)),
        };
        reg.poll_io(cx, interest, || f(&self.io))
    }
}

impl<T: AsRawFd> Evented<T>
where
    for<'a> &'a T: Read + Write,
{
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Interest::READABLE, |mut io| io.read(buf))
    }

    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Interest::WRITABLE, |mut io| io.write(buf))
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Interest::WRITABLE, |mut io| io.write_vectored(bufs))
    }
}
