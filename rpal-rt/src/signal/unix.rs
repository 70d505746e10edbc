//! Unix signals: [`signal`], [`Signal`], [`SignalKind`] (Tokio's `tokio::signal::unix` shape).

use std::future::poll_fn;
use std::os::fd::{AsFd, AsRawFd};
use std::task::{Context, Poll};

use super::registry::{self, WakePipe};
use crate::io::{Interest, Registration};

/// Which signal to listen for.
///
/// # Examples
/// ```
/// use rpal_rt::signal::unix::SignalKind;
/// assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::user_defined1());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// Any signal by number (`libc::SIG*`).
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal number.
    pub const fn as_raw_value(&self) -> i32 {
        self.0
    }

    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// `SIGCHLD`.
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGHUP`.
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGINT` (Ctrl-C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGIO`.
    pub const fn io() -> SignalKind {
        SignalKind(libc::SIGIO)
    }

    /// `SIGPIPE`.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// `SIGQUIT`.
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGTERM`.
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGWINCH`.
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

/// Starts listening for `kind`: installs the process-wide handler on first use (from then on
/// the signal's default action is not taken), and returns a listener that sees deliveries from
/// now on. Any number of listeners per signal, on any workers, each see every delivery.
///
/// # Errors
/// `InvalidInput` for `SIGKILL`, `SIGSTOP`, `SIGILL`, `SIGFPE`, `SIGSEGV`, `SIGBUS` or a number
/// outside 1..=64; otherwise as `pipe(2)`/`sigaction(2)`.
///
/// # Examples
/// ```
/// use rpal_rt::signal::unix::{signal, SignalKind};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
///     // SAFETY: sending a signal to ourselves, for which a handler is installed.
///     unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) };
///     assert_eq!(usr1.recv().await, Some(()));
/// });
/// ```
pub fn signal(kind: SignalKind) -> std::io::Result<Signal> {
    let sig = registry::install(kind.0)?;
    let pipe = WakePipe::acquire()?;
    // Deliveries counted before now are not this listener's.
    let seen = registry::deliveries(sig);
    Ok(Signal {
        sig,
        seen,
        reg: None,
        pipe,
    })
}

/// A listener for one signal, from [`signal`]. Deliveries between two [`recv`](Signal::recv)
/// calls coalesce into one.
///
/// # Examples
/// See [`signal`].
#[derive(Debug)]
pub struct Signal {
    sig: usize,
    /// The delivery count this listener has reported.
    seen: u64,
    /// Registration of the pipe with the reactor of the worker that first waited.
    ///
    /// # Invariant
    /// Declared before `pipe`, so it deregisters before the pipe goes back to the pool.
    reg: Option<Registration>,
    pipe: WakePipe,
}

impl Signal {
    /// Waits for the next delivery. `None` means the listener can wait no more (its worker's
    /// reactor shut down, or registering with it failed).
    pub async fn recv(&mut self) -> Option<()> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery; see [`recv`](Signal::recv).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        loop {
            let ev = match &self.reg {
                Some(reg) => match reg.poll_read_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(ev)) => Some(ev),
                    Poll::Ready(Err(_)) => return Poll::Ready(None),
                },
                None => None,
            };
            self.pipe.drain();
            let count = registry::deliveries(self.sig);
            if count != self.seen {
                self.seen = count;
                return Poll::Ready(Some(()));
            }
            match (ev, &self.reg) {
                // The pipe was drained to `WouldBlock` after `ev` was observed.
                (Some(ev), Some(reg)) => reg.clear_readiness(ev),
                _ => match Registration::new(self.pipe.as_fd().as_raw_fd(), Interest::READABLE) {
                    Ok(reg) => self.reg = Some(reg),
                    Err(_) => return Poll::Ready(None),
                },
            }
        }
    }
}
