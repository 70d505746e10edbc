//! Per-fd readiness word and the reader/writer wakers.
//!
//! Owns [`ScheduledIo`] (one per registered fd, shared by the driver that sets readiness and the
//! task that consumes it), [`Direction`] and [`ReadyEvent`].
//!
//! # The readiness word and its tick
//!
//! `readiness` is one `AtomicUsize`:
//!
//! ```text
//!  bit 63 .............. 16 | 15 ... 6 | 5        | 4 .. 0
//!  tick (wrapping counter)  | unused   | SHUTDOWN | ERROR WRITE_CLOSED READ_CLOSED WRITABLE READABLE
//! ```
//!
//! * The driver (`set_readiness`) ORs new bits in **and increments the tick** in one CAS.
//! * A task reads the word (`poll_ready`) and gets a [`ReadyEvent`] carrying the bits it saw and
//!   the tick at that moment, then tries its syscall.
//! * On `WouldBlock` the task calls `clear_readiness(event)`: the bits are cleared **only if the
//!   tick is still the one the task saw**. If the driver delivered an event in between (tick moved),
//!   the clear is skipped, so the new event cannot be erased and the task retries at once.
//! * `READ_CLOSED` and `WRITE_CLOSED` are final: `clear_readiness` never clears them (a closed
//!   direction never becomes "would block" again). `ERROR` is cleared like readable/writable so a
//!   consumed `SO_ERROR` followed by `WouldBlock` cannot spin.
//! * `SHUTDOWN` (deregistered, or the driver is gone) is final and makes every poll ready with
//!   [`ReadyEvent::is_shutdown`].
//!
//! # Wakers
//!
//! One reader slot and one writer slot (a `Mutex<Option<Waker>>` each). A poller stores its waker
//! *then* re-reads the word, and the driver sets the word *then* takes the waker, so a wake-up
//! cannot fall between the two: either the poller sees the bits or the driver sees the waker.
//! A second task polling the same direction replaces the first one's waker (one waiter per
//! direction, as for a socket half).
use std::task::{Context, Poll, Waker};

use crate::io::Ready;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::{Mutex, MutexGuard};

/// Which side of an fd a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Readable (and read-closed, error).
    Read,
    /// Writable (and write-closed, error).
    Write,
}

impl Direction {
    /// The readiness bits that end a wait in this direction.
    fn mask(self) -> usize {
        match self {
            Direction::Read => Ready::READABLE.bits() | Ready::READ_CLOSED.bits() | ERROR_BITS,
            Direction::Write => Ready::WRITABLE.bits() | Ready::WRITE_CLOSED.bits() | ERROR_BITS,
        }
    }
}

/// Mask of the readiness bits (`Ready`) in the word.
const READY_MASK: usize = 0b1_1111;
/// `Ready::ERROR` as a word bit.
const ERROR_BITS: usize = 0b1_0000;
/// Bits `clear_readiness` may clear: everything but the final closed states.
const CLEARABLE: usize = 0b0_0011 | ERROR_BITS;
/// The fd was deregistered or its driver dropped; final.
const SHUTDOWN: usize = 1 << 5;
/// The tick starts at this bit.
const TICK_SHIFT: u32 = 16;
/// One tick.
const TICK_ONE: usize = 1 << TICK_SHIFT;

/// What a task observed when its readiness poll succeeded; hand it back to
/// [`ScheduledIo::clear_readiness`] after a `WouldBlock`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ReadyEvent {
    /// The readiness bits seen (only those of the polled direction).
    pub(crate) ready: Ready,
    /// The tick of the word when it was read.
    tick: usize,
    /// True when the registration is shut down (deregistered or driver gone).
    shutdown: bool,
}

impl ReadyEvent {
    /// True when the fd was deregistered or its driver is gone: no readiness will come again.
    pub(crate) fn is_shutdown(&self) -> bool {
        self.shutdown
    }
}

/// Readiness state of one registered fd.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    /// The driver token (slab key and generation, see `registry.rs`). Fixed at creation.
    token: u64,
    /// Readiness bits, `SHUTDOWN`, and the tick (layout in the module doc).
    readiness: AtomicUsize,
    /// Waker of the task waiting to read. Taken by `set_readiness` when a read bit arrives.
    reader: Mutex<Option<Waker>>,
    /// Waker of the task waiting to write. Taken by `set_readiness` when a write bit arrives.
    writer: Mutex<Option<Waker>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ScheduledIo {
    /// A new, not-ready state for the registration identified by `token`.
    pub(crate) fn new(token: u64) -> ScheduledIo {
        ScheduledIo {
            token,
            readiness: AtomicUsize::new(0),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
        }
    }

    /// The driver token of this registration.
    pub(crate) fn token(&self) -> u64 {
        self.token
    }

    #[cfg(test)]
    /// The readiness bits currently set (test and debug aid).
    pub(crate) fn readiness(&self) -> Ready {
        Ready::from_bits(self.readiness.load(Ordering::Acquire) & READY_MASK)
    }

    fn event(word: usize, dir: Direction) -> Option<ReadyEvent> {
        let shutdown = word & SHUTDOWN != 0;
        let bits = word & dir.mask();
        (shutdown || bits != 0).then_some(ReadyEvent {
            ready: Ready::from_bits(bits),
            tick: word >> TICK_SHIFT,
            shutdown,
        })
    }

    /// Ready when `dir` has readiness (or the registration is shut down); otherwise stores the
    /// waker of `cx` to be woken by the next `set_readiness` for `dir`.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<ReadyEvent> {
        if let Some(ev) = Self::event(self.readiness.load(Ordering::Acquire), dir) {
            return Poll::Ready(ev);
        }
        {
            let mut slot = lock(match dir {
                Direction::Read => &self.reader,
                Direction::Write => &self.writer,
            });
            match &mut *slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                other => *other = Some(cx.waker().clone()),
            }
        }
        // Re-check after publishing the waker: `set_readiness` stores the bits before it takes
        // the waker, so either we see the bits now or it sees our waker.
        match Self::event(self.readiness.load(Ordering::Acquire), dir) {
            Some(ev) => Poll::Ready(ev),
            None => Poll::Pending,
        }
    }

    /// Clears the bits of `ev` if no readiness arrived since `ev` was observed (same tick).
    /// Closed states are never cleared.
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent) {
        let clear = ev.ready.bits() & CLEARABLE;
        let mut cur = self.readiness.load(Ordering::Acquire);
        loop {
            if cur >> TICK_SHIFT != ev.tick {
                return; // a newer event arrived: keep it
            }
            let new = cur & !clear;
            if new == cur {
                return;
            }
            match self.readiness.compare_exchange_weak(
                cur,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Adds `ready` (bumping the tick) and wakes the reader and/or writer it concerns.
    pub(crate) fn set_readiness(&self, ready: Ready) {
        let bits = ready.bits() & READY_MASK;
        let mut cur = self.readiness.load(Ordering::Acquire);
        loop {
            let new = (cur | bits).wrapping_add(TICK_ONE);
            match self.readiness.compare_exchange_weak(
                cur,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => cur = actual,
            }
        }
        self.wake(bits);
    }

    /// Marks the registration dead and wakes every waiter; their next poll returns an event with
    /// `is_shutdown`. Idempotent.
    pub(crate) fn shutdown(&self) {
        self.readiness.fetch_or(SHUTDOWN, Ordering::AcqRel);
        self.wake(Direction::Read.mask() | Direction::Write.mask());
    }

    fn wake(&self, bits: usize) {
        if bits & Direction::Read.mask() != 0 {
            let w = lock(&self.reader).take();
            if let Some(w) = w {
                w.wake();
            }
        }
        if bits & Direction::Write.mask() != 0 {
            let w = lock(&self.writer).take();
            if let Some(w) = w {
                w.wake();
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize as StdCount;
    use std::sync::Arc;
    use std::task::Wake;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct CountWaker(StdCount);
    impl Wake for CountWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<CountWaker>, Waker) {
        let c = Arc::new(CountWaker::default());
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn pending_then_woken_by_matching_direction() {
        let io = ScheduledIo::new(1);
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
        io.set_readiness(Ready::WRITABLE);
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            0,
            "writable must not wake the reader"
        );
        io.set_readiness(Ready::READABLE);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match io.poll_ready(&mut cx, Direction::Read) {
            Poll::Ready(ev) => assert!(ev.ready.is_readable() && !ev.ready.is_writable()),
            Poll::Pending => panic!("readable expected"),
        }
    }

    #[test]
    fn clear_is_skipped_when_tick_moved() {
        let io = ScheduledIo::new(1);
        let (_c, w) = waker();
        let mut cx = Context::from_waker(&w);
        io.set_readiness(Ready::READABLE);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!()
        };
        // An event arrives between the observation and the WouldBlock.
        io.set_readiness(Ready::READABLE);
        io.clear_readiness(ev);
        assert!(
            io.readiness().is_readable(),
            "newer event must survive the clear"
        );
        let Poll::Ready(ev2) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!()
        };
        io.clear_readiness(ev2);
        assert!(!io.readiness().is_readable());
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
    }

    #[test]
    fn closed_is_final_and_shutdown_wakes_all() {
        let io = ScheduledIo::new(1);
        let (_c, w) = waker();
        let mut cx = Context::from_waker(&w);
        io.set_readiness(Ready::READ_CLOSED);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!()
        };
        io.clear_readiness(ev);
        assert!(io.readiness().is_read_closed());

        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        assert!(io.poll_ready(&mut cx, Direction::Write).is_pending());
        io.shutdown();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Write) else {
            panic!()
        };
        assert!(ev.is_shutdown());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::Arc;
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A readiness set concurrently with a poll is never lost: either the poll sees it or the
    /// waker is woken.
    #[test]
    fn no_lost_wakeup() {
        crate::loom::model(|| {
            let io = Arc::new(ScheduledIo::new(1));
            let io2 = io.clone();
            let t = loom::thread::spawn(move || io2.set_readiness(Ready::READABLE));
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let w = Waker::from(flag.clone());
            let mut cx = Context::from_waker(&w);
            let ready = io.poll_ready(&mut cx, Direction::Read).is_ready();
            t.join().unwrap();
            assert!(ready || flag.0.load(Ordering::SeqCst));
        });
    }

    /// A `clear_readiness` racing a newer `set_readiness` never erases the newer event.
    #[test]
    fn clear_never_erases_a_newer_event() {
        crate::loom::model(|| {
            let io = Arc::new(ScheduledIo::new(1));
            io.set_readiness(Ready::READABLE);
            let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
            let w = Waker::from(flag);
            let mut cx = Context::from_waker(&w);
            let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
                panic!("readable was set")
            };
            let io2 = io.clone();
            let t = loom::thread::spawn(move || io2.set_readiness(Ready::READABLE));
            io.clear_readiness(ev); // the syscall said WouldBlock
            t.join().unwrap();
            assert!(
                io.readiness().is_readable(),
                "event after the observation was lost"
            );
        });
    }
}
