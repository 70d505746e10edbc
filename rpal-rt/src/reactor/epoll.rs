//! The epoll driver: edge-triggered readiness, nanosecond waits through `epoll_pwait2`.
//!
//! Owns [`EpollDriver`] (the events buffer and the optional timerfd; only the owning worker
//! parks) and [`EpollShared`] (the epoll fd, the doorbell and the fd table; register and
//! deregister from any thread, since `epoll_ctl` is thread-safe).
//!
//! # Tokens
//!
//! `epoll_event.data` is the registry token (generation << 32 | slab key, see `registry.rs`), or
//! one of the reserved tokens below. An event whose token is no longer registered (collected by
//! `epoll_wait` just before another thread's `EPOLL_CTL_DEL`) is dropped.
//!
//! # Timeouts
//!
//! `None` waits forever, `Some(ZERO)` polls. Other timeouts use `epoll_pwait2` (a `timespec`,
//! Linux 5.11+). On `ENOSYS` the process switches, once, to `epoll_wait` with a millisecond
//! timeout when the timeout is a whole number of milliseconds, and otherwise to a timerfd that is
//! registered in the set, armed before the wait and disarmed after it (disarming also clears its
//! expiry count, so it never reports a stale expiry).
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool as StdAtomicBool, Ordering as StdOrdering};
use std::time::Duration;

use super::registry::{driver_gone, ready_from_events, IoRegistry};
use super::{Doorbell, ScheduledIo};
use crate::io::Interest;
use crate::loom::sync::{Arc, Mutex, MutexGuard};

/// Token of the doorbell eventfd.
const DOORBELL_TOKEN: u64 = u64::MAX;
/// Token of the fallback timerfd.
const TIMER_TOKEN: u64 = u64::MAX - 1;
/// Events collected per `epoll_wait`; the buffer is allocated once per driver.
const EVENTS_CAPACITY: usize = 1024;

/// Set once `epoll_pwait2` returned `ENOSYS` in this process (process-wide, plain std atomic: a
/// fact about the kernel, not a synchronisation point).
static NO_PWAIT2: StdAtomicBool = StdAtomicBool::new(false);

#[derive(Debug, Default)]
struct State {
    ios: IoRegistry,
    /// The driver is gone: registrations fail.
    closed: bool,
}

/// Shared half of the epoll driver.
#[derive(Debug)]
pub(crate) struct EpollShared {
    epfd: OwnedFd,
    doorbell: Doorbell,
    state: Mutex<State>,
}

/// The epoll driver, owned by one worker.
pub(crate) struct EpollDriver {
    shared: Arc<EpollShared>,
    /// Reused across parks.
    events: Box<[libc::epoll_event]>,
    /// Use `epoll_pwait2` for timed waits (false after `ENOSYS`, or forced by tests).
    pwait2: bool,
    /// The fallback timerfd, created and registered on first need.
    timer: Option<OwnedFd>,
}

impl std::fmt::Debug for EpollDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollDriver")
            .field("shared", &self.shared)
            .field("pwait2", &self.pwait2)
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call; bad fds are reported as
    // errors by the kernel.
    cvt(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }).map(drop)
}

/// epoll bits for `interest`: edge-triggered, with peer hang-up.
fn epoll_mask(interest: Interest) -> u32 {
    let mut m = libc::EPOLLRDHUP | libc::EPOLLET;
    if interest.is_readable() {
        m |= libc::EPOLLIN;
    }
    if interest.is_writable() {
        m |= libc::EPOLLOUT;
    }
    m as u32
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos().into(),
    }
}

impl EpollDriver {
    /// Creates the epoll set and registers the doorbell in it.
    ///
    /// # Errors
    /// `epoll_create1` or `eventfd` failed (fd limit).
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: no pointers; a valid flag.
        let raw = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `raw` is a fresh fd owned by nobody else.
        let epfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let doorbell = Doorbell::new()?;
        ctl(
            epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            doorbell.as_raw_fd(),
            (libc::EPOLLIN | libc::EPOLLET) as u32,
            DOORBELL_TOKEN,
        )?;
        let empty = libc::epoll_event { events: 0, u64: 0 };
        Ok(EpollDriver {
            shared: Arc::new(EpollShared {
                epfd,
                doorbell,
                state: Mutex::new(State::default()),
            }),
            events: vec![empty; EVENTS_CAPACITY].into_boxed_slice(),
            pwait2: !NO_PWAIT2.load(StdOrdering::Relaxed),
            timer: None,
        })
    }

    pub(crate) fn shared(&self) -> Arc<EpollShared> {
        self.shared.clone()
    }

    /// Makes this driver use the `ENOSYS` fallbacks for timed waits (tests of the timerfd path).
    #[cfg(test)]
    pub(crate) fn force_no_pwait2(&mut self) {
        self.pwait2 = false;
    }

    /// Waits up to `timeout`, then dispatches the events collected.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let n = self.wait(timeout)?;
        for i in 0..n {
            let ev = self.events[i];
            let (token, bits) = (ev.u64, ev.events);
            match token {
                DOORBELL_TOKEN => {
                    self.shared.doorbell.drain();
                }
                TIMER_TOKEN => {} // disarmed (and its count reset) by `wait_timerfd`
                token => {
                    let io = lock(&self.shared.state)
                        .ios
                        .get(token)
                        .map(|e| e.io.clone());
                    if let Some(io) = io {
                        io.set_readiness(ready_from_events(bits));
                    }
                }
            }
        }
        Ok(())
    }

    /// One wait; returns the number of events in `self.events`. `EINTR` counts as no event.
    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        let res = match timeout {
            None => self.epoll_wait(-1),
            Some(d) if d.is_zero() => self.epoll_wait(0),
            Some(d) if self.pwait2 => match self.epoll_pwait2(d) {
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                    NO_PWAIT2.store(true, StdOrdering::Relaxed);
                    self.pwait2 = false;
                    self.wait_fallback(d)
                }
                r => r,
            },
            Some(d) => self.wait_fallback(d),
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            r => r,
        }
    }

    fn epoll_wait(&mut self, ms: libc::c_int) -> io::Result<usize> {
        // SAFETY: the buffer holds `events.len()` epoll_events and is exclusively borrowed.
        let n = unsafe {
            libc::epoll_wait(
                self.shared.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                ms,
            )
        };
        cvt(n).map(|n| n as usize)
    }

    fn epoll_pwait2(&mut self, d: Duration) -> io::Result<usize> {
        let ts = timespec(d);
        // SAFETY: epoll_pwait2(epfd, events, maxevents, timeout, sigmask, sigsetsize): the buffer
        // holds `events.len()` entries and is exclusively borrowed; `ts` lives across the call; a
        // null sigmask leaves the signal mask alone.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.shared.epfd.as_raw_fd(),
                self.events.as_mut_ptr(),
                self.events.len() as libc::c_int,
                &ts as *const libc::timespec,
                std::ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Timed wait without `epoll_pwait2`.
    fn wait_fallback(&mut self, d: Duration) -> io::Result<usize> {
        let below_ms = d.subsec_nanos() % 1_000_000;
        if below_ms == 0 {
            let ms = libc::c_int::try_from(d.as_millis()).unwrap_or(libc::c_int::MAX);
            return self.epoll_wait(ms);
        }
        let tfd = self.timer()?;
        set_timer(tfd, d)?;
        let res = self.epoll_wait(-1);
        set_timer(tfd, Duration::ZERO)?;
        res
    }

    /// The fallback timerfd, created and added to the set (level-triggered) on first use.
    fn timer(&mut self) -> io::Result<RawFd> {
        if let Some(t) = &self.timer {
            return Ok(t.as_raw_fd());
        }
        let flags = libc::TFD_NONBLOCK | libc::TFD_CLOEXEC;
        // SAFETY: no pointers; valid clock id and flags.
        let raw = cvt(unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, flags) })?;
        // SAFETY: `raw` is a fresh fd owned by nobody else.
        let t = unsafe { OwnedFd::from_raw_fd(raw) };
        ctl(
            self.shared.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            raw,
            libc::EPOLLIN as u32,
            TIMER_TOKEN,
        )?;
        self.timer = Some(t);
        Ok(raw)
    }
}

/// Arms `tfd` to fire once after `d`, or disarms it (and resets its count) when `d` is zero.
fn set_timer(tfd: RawFd, d: Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: timespec(Duration::ZERO),
        it_value: timespec(d),
    };
    // SAFETY: `spec` is valid for the call; a null old_value is allowed.
    cvt(unsafe { libc::timerfd_settime(tfd, 0, &spec, std::ptr::null_mut()) }).map(drop)
}

impl Drop for EpollDriver {
    fn drop(&mut self) {
        let ios: Vec<Arc<ScheduledIo>> = {
            let mut state = lock(&self.shared.state);
            state.closed = true;
            state.ios.drain().map(|e| e.io).collect()
        };
        // The epoll set itself closes with the last handle; nobody waits on it any more.
        for io in ios {
            io.shutdown();
        }
    }
}

impl EpollShared {
    pub(crate) fn doorbell(&self) -> &Doorbell {
        &self.doorbell
    }

    pub(crate) fn register(&self, fd: RawFd, interest: Interest) -> io::Result<Arc<ScheduledIo>> {
        let mask = epoll_mask(interest);
        let mut state = lock(&self.state);
        if state.closed {
            return Err(driver_gone());
        }
        let io = state.ios.insert(fd, mask)?;
        if let Err(e) = ctl(
            self.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            mask,
            io.token(),
        ) {
            state.ios.remove(io.token());
            return Err(e);
        }
        Ok(io)
    }

    pub(crate) fn deregister(&self, io: &Arc<ScheduledIo>, fd: RawFd) -> io::Result<()> {
        let removed = lock(&self.state).ios.remove(io.token()).is_some();
        io.shutdown();
        if !removed {
            return Ok(()); // already deregistered, or the driver is gone
        }
        match ctl(self.epfd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
            r => r,
        }
    }

    #[cfg(test)]
    /// Number of registered fds (tests).
    pub(crate) fn registered(&self) -> usize {
        lock(&self.state).ios.len()
    }
}
