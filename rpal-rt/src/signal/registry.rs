//! The process-wide part of signal handling: the `sigaction` handler, per-signal delivery
//! counters, and a pool of wake-up pipes, one per live listener.
//!
//! The handler and the statics here use `std` atomics and a `std` mutex, not the `crate::loom`
//! facade: a signal handler needs real atomics, statics need const constructors, and loom
//! cannot model signal delivery anyway.
//!
//! # Protocol
//! * Handler (any thread, any time): `DELIVERIES[sig] += 1` (SeqCst), then write one byte to
//!   every pipe of the pool (a full pipe is fine: it is readable already).
//! * Listener: drain its own pipe to `WouldBlock`, then load `DELIVERIES[sig]` and compare it
//!   with the count it last reported. A byte that lands after the drain wakes it again; a byte
//!   drained before the load was written after the increment, so the load sees it.
//!
//! # Why one pipe per listener
//! With one shared pipe, a listener on one worker could drain it before another worker's epoll
//! harvested its edge-triggered event; epoll re-checks readiness when it harvests, so that
//! worker would never wake. Each listener owns its pipe, so only it drains it. Pool pipes are
//! never closed (so the handler can never write into an fd that was closed and reused); a
//! dropped listener returns its pipe to the pool.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

/// One more than the highest signal number on Linux (`SIGRTMAX` is 64).
pub(super) const NSIG: usize = 65;

/// Most listeners alive at once (each holds one pool pipe, two fds, kept for the process).
pub(super) const MAX_LISTENERS: usize = 256;

/// Bytes read from a pipe per `read(2)` while draining.
const DRAIN_CHUNK: usize = 64;

/// Deliveries per signal, counted by the handler.
static DELIVERIES: [AtomicU64; NSIG] = [const { AtomicU64::new(0) }; NSIG];

/// Write ends of the pool pipes for the handler; -1 for a slot not created yet.
static WRITE_FDS: [AtomicI32; MAX_LISTENERS] = [const { AtomicI32::new(-1) }; MAX_LISTENERS];

/// Signals the kernel does not let us catch, or that mean a fault in this process.
const FORBIDDEN: [i32; 6] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGSEGV,
    libc::SIGBUS,
];

/// A pool pipe: both ends live for the rest of the process.
struct PoolPipe {
    read: OwnedFd,
    _write: OwnedFd,
    in_use: bool,
}

struct Pool {
    pipes: Vec<PoolPipe>,
    installed: [bool; NSIG],
}

static POOL: Mutex<Pool> = Mutex::new(Pool {
    pipes: Vec::new(),
    installed: [false; NSIG],
});

fn pool() -> MutexGuard<'static, Pool> {
    // Every update of the pool is a single assignment, so a panic elsewhere cannot leave it
    // inconsistent.
    POOL.lock().unwrap_or_else(|p| p.into_inner())
}

extern "C" fn on_signal(sig: libc::c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot, valid for the thread's life;
    // saving and restoring it keeps the interrupted code's errno intact.
    let saved = unsafe { *libc::__errno_location() };
    if let Some(count) = usize::try_from(sig).ok().and_then(|s| DELIVERIES.get(s)) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    let byte = sig as u8;
    for slot in &WRITE_FDS {
        let fd = slot.load(Ordering::SeqCst);
        if fd < 0 {
            break; // slots fill in order
        }
        // SAFETY: `write` is async-signal-safe; `fd` is a pool pipe's write end, never closed;
        // the buffer is one valid byte on this stack.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = saved };
}

/// Deliveries of `sig` so far.
pub(super) fn deliveries(sig: usize) -> u64 {
    DELIVERIES[sig].load(Ordering::SeqCst)
}

/// Installs the handler for `sig` once; returns its index.
///
/// # Errors
/// `InvalidInput` for a signal that cannot or must not be caught, or as `sigaction(2)`.
pub(super) fn install(sig: i32) -> io::Result<usize> {
    let idx = usize::try_from(sig)
        .ok()
        .filter(|&s| s > 0 && s < NSIG && !FORBIDDEN.contains(&sig))
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "signal {sig} cannot be listened for \
                     (valid: 1..=64 except KILL, STOP, ILL, FPE, SEGV, BUS)"
                ),
            )
        })?;
    let mut pool = pool();
    if pool.installed[idx] {
        return Ok(idx);
    }
    // SAFETY: an all-zero `sigaction` is a valid value (empty mask, no flags, SIG_DFL).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    sa.sa_flags = libc::SA_RESTART;
    // SAFETY: `sa.sa_mask` is a valid sigset_t owned by `sa`.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: `sa` is fully initialised and its handler only does async-signal-safe work; a
    // null old-action pointer is allowed.
    let rc = unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    pool.installed[idx] = true;
    Ok(idx)
}

/// A pool pipe lent to one listener; returned on drop.
#[derive(Debug)]
pub(super) struct WakePipe {
    slot: usize,
    /// The pipe's read end, owned by the pool (never closed).
    fd: BorrowedFd<'static>,
}

impl WakePipe {
    /// Takes a free pool pipe (creating one if needed) and drains it.
    ///
    /// # Errors
    /// `Other` with more than [`MAX_LISTENERS`] live listeners; otherwise as `pipe2(2)`.
    pub(super) fn acquire() -> io::Result<WakePipe> {
        let mut pool = pool();
        let slot = match pool.pipes.iter().position(|p| !p.in_use) {
            Some(slot) => slot,
            None => {
                let slot = pool.pipes.len();
                if slot >= MAX_LISTENERS {
                    return Err(io::Error::other(format!(
                        "more than {MAX_LISTENERS} signal listeners alive at once; drop some"
                    )));
                }
                let (read, write) = rustix::pipe::pipe_with(
                    rustix::pipe::PipeFlags::NONBLOCK | rustix::pipe::PipeFlags::CLOEXEC,
                )?;
                WRITE_FDS[slot].store(write.as_raw_fd(), Ordering::SeqCst);
                pool.pipes.push(PoolPipe {
                    read,
                    _write: write,
                    in_use: false,
                });
                slot
            }
        };
        pool.pipes[slot].in_use = true;
        // SAFETY: pool pipes are never closed or removed (the pool is a static that only
        // grows), so the read end stays valid for 'static.
        let fd = unsafe { BorrowedFd::borrow_raw(pool.pipes[slot].read.as_raw_fd()) };
        let pipe = WakePipe { slot, fd };
        pipe.drain();
        Ok(pipe)
    }

    /// Reads the pipe until it would block (its bytes carry no information).
    pub(super) fn drain(&self) {
        let mut buf = [0u8; DRAIN_CHUNK];
        loop {
            match rustix::io::read(self.fd, &mut buf) {
                Ok(0) => break,
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => break, // WouldBlock: drained
            }
        }
    }
}

impl AsFd for WakePipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd
    }
}

impl Drop for WakePipe {
    fn drop(&mut self) {
        pool().pipes[self.slot].in_use = false;
    }
}
