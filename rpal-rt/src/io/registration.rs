//! [`Registration`]: an fd watched by the reactor of the worker that registered it.
//!
//! Invariant: the `ScheduledIo` belongs to `handle`'s driver and `fd` stays open until `Drop`
//! has deregistered it (the caller's duty, stated on [`Registration::new`]).
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::task::{ready, Context, Poll};

use super::{ready_to_result, Interest, ReadyEvent};
use crate::loom::sync::Arc;
use crate::reactor::{self, Direction, ScheduledIo};
use crate::runtime::context;

/// A file descriptor registered with the reactor of the worker that created it.
///
/// The fd stays owned by the caller: drop the `Registration` before closing it. One task may wait
/// for read readiness and one for write readiness at a time (a second waiter on the same
/// direction replaces the first one's waker).
///
/// # Examples
///
/// Reading a non-blocking socket inside a task:
///
/// ```no_run
/// use std::io::Read;
/// use std::os::fd::AsRawFd;
/// use rpal_rt::io::{Interest, Registration};
///
/// async fn read_some(sock: &std::os::unix::net::UnixStream, buf: &mut [u8]) -> std::io::Result<usize> {
///     sock.set_nonblocking(true)?;
///     let reg = Registration::new(sock.as_raw_fd(), Interest::READABLE)?;
///     std::future::poll_fn(|cx| reg.poll_io(cx, Interest::READABLE, || (&*sock).read(buf))).await
/// }
/// # let _ = read_some;
/// ```
#[derive(Debug)]
pub struct Registration {
    handle: reactor::Handle,
    io: Arc<ScheduledIo>,
    fd: RawFd,
}

fn direction(interest: Interest) -> Direction {
    if interest.is_readable() {
        Direction::Read
    } else {
        Direction::Write
    }
}

impl Registration {
    /// Registers `fd` (which must be non-blocking) with the current worker's reactor for
    /// `interest`. Readiness present at registration is reported.
    ///
    /// # Errors
    /// Outside an rpal runtime, or when the driver refuses the fd (epoll: a regular file, an
    /// fd already registered).
    pub fn new(fd: RawFd, interest: Interest) -> io::Result<Registration> {
        let reg = Registration::with_handle(context::io_handle()?, fd, interest)?;
        // taskx metrics: counted on the worker that registers (its own thread).
        context::with(|cx| cx.map(|cx| cx.worker.metrics.io_registered()));
        Ok(reg)
    }

    /// Registers `fd` with the reactor behind `handle`.
    pub(crate) fn with_handle(
        handle: reactor::Handle,
        fd: RawFd,
        interest: Interest,
    ) -> io::Result<Registration> {
        let io = handle.register(fd, interest)?;
        Ok(Registration { handle, io, fd })
    }

    /// The registered fd.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd
    }

    /// Ready when the fd is readable, read-closed or in error; otherwise arranges for the task of
    /// `cx` to be woken.
    ///
    /// # Errors
    /// The registration is dead (its worker shut down).
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready_coop(cx, Direction::Read)
    }

    /// taskx: a ready poll takes one unit of the task's cooperative budget (`task::coop`);
    /// with the budget spent, the task is woken and `Pending` returned.
    fn poll_ready_coop(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        let mut unit = ready!(crate::task::coop::poll_proceed(cx));
        let res = self.io.poll_ready(cx, dir).map(ready_to_result);
        if res.is_ready() {
            unit.made_progress();
        }
        res
    }

    /// Ready when the fd is writable, write-closed or in error; otherwise arranges for the task
    /// of `cx` to be woken.
    ///
    /// # Errors
    /// The registration is dead (its worker shut down).
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready_coop(cx, Direction::Write)
    }

    /// Reports that the syscall `event` allowed returned `WouldBlock`: forgets that readiness
    /// unless newer readiness arrived since `event` was observed. Closed states are never
    /// cleared.
    pub fn clear_readiness(&self, event: ReadyEvent) {
        self.io.clear_readiness(event.inner);
    }

    /// Runs `f` (a non-blocking syscall) until it returns something other than `WouldBlock`,
    /// waiting for `interest` readiness in between. `interest` is READABLE or WRITABLE (BOTH
    /// waits for readable).
    ///
    /// # Errors
    /// What `f` returns (other than `WouldBlock`), or a dead registration.
    pub fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let dir = direction(interest);
        loop {
            let ev = ready!(self.poll_ready_coop(cx, dir))?;
            match f() {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.clear_readiness(ev),
                res => return Poll::Ready(res),
            }
        }
    }

    /// Waits until the fd is readable (or read-closed, or in error).
    ///
    /// # Errors
    /// The registration is dead (its worker shut down).
    pub async fn readable(&self) -> io::Result<ReadyEvent> {
        poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the fd is writable (or write-closed, or in error).
    ///
    /// # Errors
    /// The registration is dead (its worker shut down).
    pub async fn writable(&self) -> io::Result<ReadyEvent> {
        poll_fn(|cx| self.poll_write_ready(cx)).await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // The only failure is the kernel refusing EPOLL_CTL_DEL on an fd the caller already
        // closed, against the documented contract; nothing useful can be done about it here.
        let _ = self.handle.deregister(&self.io, self.fd);
    }
}
