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
        self.poll_io_with(cx, interest, |io| f(io).map(|r| (r, false)))
    }

    /// Like `poll_io`, but `f` also says whether it drained the socket (a short read or write),
    /// in which case the readiness it consumed is cleared without another syscall.
    fn poll_io_with<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut(&T) -> io::Result<(R, bool)>,
    ) -> Poll<io::Result<R>> {
        let reg = match self.reg.get() {
            Some(reg) => reg,
            None => {
                // Not registered yet: try first, so sockets that never wait never register.
                match f(&self.io) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return Poll::Ready(other.map(|(r, _)| r)),
                }
                match self.registration() {
                    Ok(r) => r,
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        };
        loop {
            let ev = if interest.is_readable() {
                reg.poll_read_ready(cx)
            } else {
                reg.poll_write_ready(cx)
            };
            let ev = match ev {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            match f(&self.io) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear_readiness(ev),
                Ok((r, drained)) => {
                    if drained {
                        reg.clear_readiness(ev);
                    }
                    return Poll::Ready(Ok(r));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<T: AsRawFd> Evented<T>
where
    for<'a> &'a T: Read + Write,
{
    /// Reads; a read shorter than `buf` (but not EOF) drained the stream socket, so its
    /// readiness is cleared without a second, failing `read`.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_io_with(cx, Interest::READABLE, |mut io| {
            io.read(buf).map(|n| (n, n > 0 && n < len))
        })
    }

    /// Writes; a write shorter than `buf` filled the send buffer, so writability is cleared.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let len = buf.len();
        self.poll_io_with(cx, Interest::WRITABLE, |mut io| {
            io.write(buf).map(|n| (n, n < len))
        })
    }

    pub(crate) fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_io(cx, Interest::WRITABLE, |mut io| io.write_vectored(bufs))
    }
}
