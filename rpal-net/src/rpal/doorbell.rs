//! The park handshake between a ring endpoint that has nothing to do and the peer that will give it
//! something, independent of any reactor.
//!
//! Exports [`Doorbell`] (one parking word in shared memory plus how to wake its sleeper),
//! [`Wake`], [`WaitOutcome`] and [`DoorbellStats`].
//!
//! # Words and owners
//!
//! Each ring has two parking words (see [`layout`](crate::rpal::ring::layout)):
//! `consumer_waiting` (the consumer waits for data, the producer rings) and `producer_waiting` (the
//! producer waits for room, the consumer rings). A word is 0 ("running") or 1 ("parked"):
//!
//! | state | who may write | transition |
//! |---|---|---|
//! | 0 | the waiter | 0 -> 1 in [`Doorbell::prepare_wait`] |
//! | 1 | the notifier, or the waiter | 1 -> 0 by the notifier's swap in [`Doorbell::notify_if_waiting`] (then it wakes), or by the waiter in [`Doorbell::cancel_wait`] / a successful re-check |
//!
//! The word is also the futex word: a waiter sleeps with `FUTEX_WAIT(word, 1)`, which the kernel
//! refuses (EAGAIN) if the notifier already cleared it, so a clear that lands before the sleep is
//! never missed. The futex calls omit `FUTEX_PRIVATE_FLAG` because the word is shared between
//! processes. With [`Wake::EventFd`] the waiter sleeps in its own reactor instead, on the eventfd
//! whose other end the notifier holds.
//!
//! # Why no wake-up is lost (the Dekker argument)
//!
//! Waiter (say the consumer): (W1) store `waiting = 1`; (W2) `fence(SeqCst)`; (W3) re-check the
//! ring (load `tail`); sleep only if it is still empty.
//! Notifier (the producer): (N1) publish (store `tail`, Release); (N2) `fence(SeqCst)`; (N3) load
//! `waiting`; if it is 1, swap it to 0 and wake.
//!
//! The two SeqCst fences are totally ordered. If W2 comes first, N3 (after N2) must see W1's store
//! (or a later one), so the notifier wakes the waiter. If N2 comes first, W3 (after W2) must see
//! N1's store, so the waiter finds data and does not sleep. Either way the waiter either sees the
//! data or is woken; both may happen (a spurious wake-up, harmless). A plain load in N3 keeps the
//! notifier's fast path read-only: while nobody parks, the word's line stays shared in both
//! caches and ringing costs one fence and one cache hit, no syscall. The loom model in
//! `rpal/tests/loom_doorbell.rs` checks this, with a model futex that really sleeps.
//!
//! # Worker slots: ringing only a sleeping worker
//!
//! When the peer process sent its worker-state table at the handshake
//! (`rpal_rt::io::worker_state`), a waiter running on an rpal worker publishes differently: its
//! worker publishes WAIT in its table slot, fences, then
//! [`arm`](crate::rpal::ring::RingProbe::arm_data)s the line (stores its slot index into the
//! parking line's `slot` and sets `word = 1`, unless already so) and leaves it armed across
//! parks while the task waits. The notifier then rings only if `word` is 1 **and** the slot says
//! WAIT: while the worker runs (RUNNING or CALL) it will poll this ring before parking, so no
//! syscall is needed, however many messages arrive.
//!
//! The argument is the same Dekker pair with more stores on the waiter's side. Worker: (W1) store
//! WAIT in its table slot and the arm stores (`slot`, `word = 1`, possibly made at an earlier
//! park);
//! (W2) `fence(SeqCst)`; (W3) re-check every waiting ring. Notifier: (N1) publish; (N2) `fence`;
//! (N3) load `word`, then `slot`, then the table slot. If W2 precedes N2, N3 sees all of W1's
//! stores and rings; otherwise W3 sees N1's data and the worker does not park. A wake-up claims
//! `word` (swap to 0) as before, so the waiter's worker re-arms it at its next park, before W2.
//! Without a table, or with `slot == NO_SLOT`, the notifier decides on `word` alone (and the
//! waiter sets `word` only at park time, the classic handshake above). The loom model
//! `loom_doorbell_worker_slot_no_lost_wakeup` checks the slot variant.
//!
//! A peer can write any value into a word; a non-zero value is taken as "parked", so the worst a
//! faulty peer causes is a spurious wake-up of its own side, or a missed wake-up of itself. A
//! `slot` out of the table's range is ignored (the notifier rings on `word` alone); the table
//! itself is read-only here and sealed against resizing, so a peer cannot fault our reads.
//!
//! Both sides of a word must agree on the wake mechanism (futex or eventfd), chosen at the
//! handshake.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::time::Duration;

use crate::loom::sync::atomic::{fence, AtomicU32, Ordering};
use crate::loom::sync::Arc;
use crate::rpal::ring::layout::{Parking, NO_SLOT};
use crate::rpal::ring::Keep;

/// A peer's worker-state table as the notifier reads it: rpal-rt's read-only mapping, or a
/// heap model under loom.
#[cfg(not(loom))]
pub(crate) type StateTable = rpal_rt::io::worker_state::PeerTable;
#[cfg(loom)]
pub(crate) type StateTable = crate::rpal::tests::loom_states::ModelTable;

/// The table value of a worker parked (or about to park) in its reactor.
const WORKER_WAIT: u32 = rpal_rt::io::worker_state::WAIT;

/// Parking word value: the waiter is running (or was already notified).
const RUNNING: u32 = 0;
/// Parking word value: the waiter is (about to be) asleep and must be woken. Also the value the
/// futex wait compares against.
const PARKED: u32 = 1;

/// How the notifier wakes a sleeping waiter.
#[derive(Debug)]
pub enum Wake {
    /// `FUTEX_WAKE` on the shared word; the waiter sleeps in [`Doorbell::futex_wait`] (or an
    /// io_uring futex wait on the same word).
    Futex,
    /// Write 1 to this eventfd, which the waiter's reactor watches.
    EventFd(OwnedFd),
}

/// Result of [`Doorbell::futex_wait`]. In every case the caller re-checks the ring and, if there
/// is still nothing to do, prepares and waits again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// Woken (by the notifier, or spuriously).
    Woken,
    /// The word was no longer 1 when the kernel checked (EAGAIN): already notified.
    NotParked,
    /// A signal interrupted the sleep (EINTR).
    Interrupted,
    /// The timeout elapsed (ETIMEDOUT); the word may still be 1.
    TimedOut,
}

/// Counters of one doorbell, kept locally (not in shared memory), so tests and benches can show
/// that a busy stream makes no syscalls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DoorbellStats {
    /// Calls to [`Doorbell::notify_if_waiting`].
    pub notify_checks: u64,
    /// Wake-ups sent (one futex-wake or eventfd-write syscall each).
    pub rings: u64,
    /// Notifications skipped because the waiter's worker was running (it polls the ring
    /// before it parks), read from the peer's worker-state table.
    pub worker_busy: u64,
    /// Calls to [`Doorbell::prepare_wait`].
    pub waits_prepared: u64,
    /// Of those, how many found work in the re-check (no sleep).
    pub waits_skipped: u64,
    /// `FUTEX_WAIT` syscalls made by [`Doorbell::futex_wait`].
    pub futex_waits: u64,
}

/// One parking word in shared memory and the way to wake whoever sleeps on it.
///
/// Used by one side as the waiter ([`prepare_wait`](Self::prepare_wait),
/// [`futex_wait`](Self::futex_wait), [`cancel_wait`](Self::cancel_wait)) and by the other side as
/// the notifier ([`notify_if_waiting`](Self::notify_if_waiting)). Get one from
/// [`Producer::data_doorbell`](crate::rpal::ring::Producer::data_doorbell) and friends. Not
/// `Sync`: each endpoint owns its doorbells.
pub struct Doorbell {
    /// # Invariant
    /// Points to a parking line in a ring header that stays mapped while `_keep` lives (or, for
    /// `Keep::Caller`, as long as the ring's creator promised).
    park: NonNull<Parking>,
    wake: Wake,
    stats: Cell<DoorbellStats>,
    /// The waiter's process's worker-state table, when its process sent one.
    peer_states: Option<Arc<StateTable>>,
    _keep: Keep,
}

// SAFETY: the word is an atomic in shared memory kept mapped by `_keep`; the counters are a Cell
// owned by whichever thread holds the doorbell (it is Send but not Sync).
unsafe impl Send for Doorbell {}

impl fmt::Debug for Doorbell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doorbell")
            .field("park", &self.park)
            .field("peer_states", &self.peer_states.is_some())
            .field("wake", &self.wake)
            .field("stats", &self.stats.get())
            .finish()
    }
}

impl Doorbell {
    /// # Safety
    ///
    /// `word` must stay valid while `keep` lives (or as the ring's creator promised for
    /// `Keep::Caller`).
    pub(crate) unsafe fn from_raw(park: NonNull<Parking>, wake: Wake, keep: Keep) -> Self {
        Doorbell {
            park,
            wake,
            stats: Cell::new(DoorbellStats::default()),
            peer_states: None,
            _keep: keep,
        }
    }

    /// Notifier side: read the waiter's worker state from `table` (its process's worker-state
    /// table) and ring only while that worker waits. See "Worker slots" in the module docs.
    pub(crate) fn with_peer_states(mut self, table: Arc<StateTable>) -> Self {
        self.peer_states = Some(table);
        self
    }

    fn parking(&self) -> &Parking {
        crate::rpal::protect::ensure_readable();
        // SAFETY: field invariant: mapped while self lives; atomics accept any bytes.
        unsafe { self.park.as_ref() }
    }

    fn word(&self) -> &AtomicU32 {
        &self.parking().word
    }

    /// The state of the worker the waiter armed its line with, if the peer sent its table and
    /// the line names a slot in range.
    #[cfg(not(loom))]
    pub(crate) fn waiter_worker_state(&self) -> Option<rpal_rt::io::worker_state::WorkerState> {
        let table = self.peer_states.as_ref()?;
        table.state(self.parking().slot.load(Ordering::Relaxed))
    }

    /// True if the waiter named a worker slot that is not in WAIT (it will poll the ring
    /// before it parks). False without a table, without a slot, or with a slot out of range.
    fn waiter_worker_busy(&self) -> bool {
        let Some(table) = &self.peer_states else {
            return false;
        };
        let slot = self.parking().slot.load(Ordering::Relaxed);
        if slot == NO_SLOT {
            return false;
        }
        match table.word(slot) {
            Some(w) => w.load(Ordering::Relaxed) != WORKER_WAIT,
            None => false,
        }
    }

    fn count(&self, f: impl FnOnce(&mut DoorbellStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }

    /// The counters so far.
    pub fn stats(&self) -> DoorbellStats {
        self.stats.get()
    }

    /// How this doorbell wakes its sleeper.
    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// Notifier side: call after publishing (data, freed space or a close flag). If the peer
    /// parked on the word, clears it and wakes the peer.
    ///
    /// Returns true if a wake-up was sent (one syscall); false on the fast path (no syscall).
    ///
    /// # Errors
    ///
    /// The error of the eventfd write (other than EAGAIN, a saturated counter, which already
    /// wakes the reader).
    pub fn notify_if_waiting(&self) -> io::Result<bool> {
        // N2: orders the caller's publish (N1) before the load of the word (N3); pairs with the
        // waiter's fence in prepare_wait.
        fence(Ordering::SeqCst);
        self.count(|s| s.notify_checks += 1);
        // N3, read-only fast path.
        if self.word().load(Ordering::Relaxed) == RUNNING {
            return Ok(false);
        }
        // Still read-only: the waiter's worker runs and will see the data before it parks.
        if self.waiter_worker_busy() {
            self.count(|s| s.worker_busy += 1);
            return Ok(false);
        }
        // Claim the wake-up: only one notifier per word, but the waiter may be cancelling.
        let claimed = {
            let _w = crate::rpal::protect::write_window();
            self.word().swap(RUNNING, Ordering::AcqRel) != RUNNING
        };
        if !claimed {
            return Ok(false);
        }
        self.count(|s| s.rings += 1);
        match &self.wake {
            Wake::Futex => futex::wake(self.word())?,
            Wake::EventFd(fd) => eventfd_write(fd)?,
        }
        Ok(true)
    }

    /// Waiter side: publishes "parked", then runs `recheck` (which must reload the ring, e.g.
    /// [`Consumer::is_ready`](crate::rpal::ring::Consumer::is_ready)).
    ///
    /// Returns true if the re-check found work: the word is reset and the caller must not sleep.
    /// Returns false if the caller must sleep (on [`futex_wait`](Self::futex_wait) or its
    /// reactor); the notifier will clear the word and wake it once there is work.
    pub fn prepare_wait(&self, recheck: impl FnOnce() -> bool) -> bool {
        self.count(|s| s.waits_prepared += 1);
        // W1
        let _w = crate::rpal::protect::write_window();
        self.word().store(PARKED, Ordering::Relaxed);
        // W2: orders W1 before the re-check's loads (W3); pairs with the notifier's fence.
        fence(Ordering::SeqCst);
        if recheck() {
            self.word().store(RUNNING, Ordering::Relaxed);
            self.count(|s| s.waits_skipped += 1);
            return true;
        }
        false
    }

    /// Waiter side: withdraws a [`prepare_wait`](Self::prepare_wait) after deciding not to sleep
    /// after all (timeout, cancelled future, woken for another reason). A notification racing
    /// with this becomes a spurious wake-up.
    pub fn cancel_wait(&self) {
        let _w = crate::rpal::protect::write_window();
        self.word().store(RUNNING, Ordering::Relaxed);
    }

    /// True while the word still says "parked" (nobody has notified since `prepare_wait`).
    pub fn is_parked(&self) -> bool {
        self.word().load(Ordering::Acquire) != RUNNING
    }

    /// Waiter side: sleeps in the kernel until notified, after [`prepare_wait`](Self::prepare_wait)
    /// returned false. Returns at once if the word was already cleared.
    ///
    /// # Errors
    ///
    /// None expected: EAGAIN, EINTR and ETIMEDOUT are [`WaitOutcome`]s; any other errno is a bug
    /// (asserted in debug builds) and returned as is in release builds.
    pub fn futex_wait(&self, timeout: Option<Duration>) -> io::Result<WaitOutcome> {
        self.count(|s| s.futex_waits += 1);
        futex::wait(self.word(), PARKED, timeout)
    }
}

/// Writes 1 to an eventfd; EAGAIN (counter saturated) already means "readable", so it is success.
fn eventfd_write(fd: &OwnedFd) -> io::Result<()> {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local to an fd we own.
    let n = unsafe { libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    if n == 8 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EAGAIN) {
        return Ok(());
    }
    Err(e)
}

/// The kernel futex on a shared (not process-private) word.
#[cfg(not(loom))]
mod futex {
    use super::WaitOutcome;
    use crate::loom::sync::atomic::AtomicU32;
    use std::io;
    use std::time::Duration;

    /// `FUTEX_WAIT(word, expected, timeout)`: sleeps while `*word == expected`.
    pub(super) fn wait(
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> io::Result<WaitOutcome> {
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `word` is a live, aligned u32 (shared memory, so no FUTEX_PRIVATE_FLAG); the
        // timespec, if any, outlives the call; the unused arguments are ignored by FUTEX_WAIT.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                ts_ptr,
                std::ptr::null::<u32>(),
                0u32,
            )
        };
        if r == 0 {
            return Ok(WaitOutcome::Woken);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EAGAIN) => Ok(WaitOutcome::NotParked),
            Some(libc::EINTR) => Ok(WaitOutcome::Interrupted),
            Some(libc::ETIMEDOUT) => Ok(WaitOutcome::TimedOut),
            _ => {
                debug_assert!(false, "FUTEX_WAIT failed unexpectedly: {e}");
                Err(e)
            }
        }
    }

    /// `FUTEX_WAKE(word, 1)`: one sleeper per word.
    pub(super) fn wake(word: &AtomicU32) -> io::Result<()> {
        // SAFETY: as in `wait`; FUTEX_WAKE reads no memory besides the word's address.
        let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, 1i32) };
        if r >= 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        debug_assert!(false, "FUTEX_WAKE failed unexpectedly: {e}");
        Err(e)
    }
}

/// Loom twin of the kernel futex: one model mutex stands for the kernel's hash-bucket lock, so
/// "check the word, then sleep" is atomic with respect to "clear the word, then wake", exactly
/// as in the kernel; a lost wake-up shows up as a loom deadlock.
#[cfg(loom)]
mod futex {
    use super::WaitOutcome;
    use crate::loom::sync::atomic::{AtomicU32, Ordering};
    use crate::loom::sync::{Condvar, Mutex};
    use std::io;
    use std::time::Duration;

    loom::lazy_static! {
        static ref BUCKET: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    pub(super) fn wait(
        word: &AtomicU32,
        expected: u32,
        _timeout: Option<Duration>,
    ) -> io::Result<WaitOutcome> {
        let (lock, cv) = &*BUCKET;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        if word.load(Ordering::Relaxed) != expected {
            return Ok(WaitOutcome::NotParked);
        }
        drop(cv.wait(guard).unwrap_or_else(|p| p.into_inner()));
        Ok(WaitOutcome::Woken)
    }

    pub(super) fn wake(_word: &AtomicU32) -> io::Result<()> {
        let (lock, cv) = &*BUCKET;
        let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        cv.notify_all();
        Ok(())
    }
}
