//! Tests of the public futures (`Sleep`, `Timeout`, `Interval`) against a wheel driven by hand:
//! a test-only context stands in for the runtime, and `process` is called with chosen instants.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::handle::test_context;
use super::*;

const TICK: Duration = Duration::from_micros(10);
const HOUR: Duration = Duration::from_secs(3_600);

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Counter>, Waker) {
    let c = Arc::new(Counter(AtomicUsize::new(0)));
    (c.clone(), Waker::from(c))
}

/// Installs a fresh wheel as this thread's current one; cleared on drop.
struct Worker {
    handle: TimeHandle,
}

impl Worker {
    fn install() -> Worker {
        let handle = TimeHandle::for_test(Instant::now(), TICK, || {});
        test_context::set(Some(handle.clone()));
        Worker { handle }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        test_context::clear();
    }
}

fn poll<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn sleep_registers_lazily_and_fires_at_its_deadline() {
    let w = Worker::install();
    let (count, waker) = counting_waker();
    let mut s = sleep(HOUR);
    assert_eq!(w.handle.len(), 0, "no timer before the first poll");
    assert!(!s.is_elapsed());
    assert!(poll(&mut s, &waker).is_pending());
    assert_eq!(w.handle.len(), 1);
    assert!(poll(&mut s, &waker).is_pending());
    assert_eq!(w.handle.len(), 1, "re-polling does not add timers");
    w.handle.process(s.deadline() - Duration::from_micros(1));
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    assert!(!s.is_elapsed());
    w.handle.process(s.deadline() + TICK);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(s.is_elapsed());
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
    assert_eq!(w.handle.len(), 0);
}

#[test]
fn past_deadline_is_ready_without_a_timer() {
    let w = Worker::install();
    let (_, waker) = counting_waker();
    let mut s = sleep_until(Instant::now());
    assert!(s.is_elapsed());
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
    assert_eq!(w.handle.len(), 0);
}

#[test]
fn drop_cancels() {
    let w = Worker::install();
    let (count, waker) = counting_waker();
    let mut s = sleep(HOUR);
    assert!(poll(&mut s, &waker).is_pending());
    let deadline = s.deadline();
    drop(s);
    assert_eq!(w.handle.len(), 0);
    assert_eq!(w.handle.process(deadline + HOUR), 0);
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
}

#[test]
fn reset_earlier_later_and_after_completion() {
    let w = Worker::install();
    let (count, waker) = counting_waker();
    let mut s = pin!(sleep(HOUR));
    assert!(poll(&mut s, &waker).is_pending());
    let soon = Instant::now() + Duration::from_millis(5);
    s.as_mut().reset(soon);
    assert_eq!(s.deadline(), soon);
    assert_eq!(w.handle.len(), 1, "reset moves the timer in place");
    w.handle.process(soon + TICK);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
    // Reset after completion: pending again, re-registers on the next poll.
    let later = Instant::now() + HOUR;
    s.as_mut().reset(later);
    assert!(!s.is_elapsed());
    assert_eq!(w.handle.len(), 0);
    assert!(poll(&mut s, &waker).is_pending());
    assert_eq!(w.handle.len(), 1);
    w.handle.process(soon + Duration::from_secs(60));
    assert!(poll(&mut s, &waker).is_pending());
    w.handle.process(later + TICK);
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
}

#[test]
fn moves_to_the_worker_that_polls_it() {
    let a = Worker::install();
    let (count, waker) = counting_waker();
    let mut s = sleep(HOUR);
    assert!(poll(&mut s, &waker).is_pending());
    assert_eq!(a.handle.len(), 1);
    let b = Worker::install();
    assert!(poll(&mut s, &waker).is_pending());
    assert_eq!(a.handle.len(), 0);
    assert_eq!(b.handle.len(), 1);
    b.handle.process(s.deadline() + TICK);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
    drop(b);
    drop(a);
}

#[test]
fn registered_sleep_keeps_its_wheel_outside_a_runtime() {
    let w = Worker::install();
    let (_, waker) = counting_waker();
    let mut s = sleep(HOUR);
    assert!(poll(&mut s, &waker).is_pending());
    test_context::set(None);
    assert!(poll(&mut s, &waker).is_pending());
    w.handle.process(s.deadline() + TICK);
    assert_eq!(poll(&mut s, &waker), Poll::Ready(()));
}

#[test]
fn polled_outside_a_runtime_panics_with_a_clear_message() {
    test_context::set(None);
    let (_, waker) = counting_waker();
    let mut s = sleep(HOUR);
    let err = catch_unwind(AssertUnwindSafe(|| poll(&mut s, &waker))).unwrap_err();
    test_context::clear();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        msg.starts_with("rpal_rt::time::sleep polled outside an rpal runtime"),
        "{msg}"
    );
}

#[test]
fn timeout_polls_the_future_first() {
    let w = Worker::install();
    let (_, waker) = counting_waker();
    let mut t = timeout(HOUR, std::future::ready(5));
    assert_eq!(poll(&mut t, &waker), Poll::Ready(Ok(5)));
    // Ready future wins even when the deadline has passed.
    let mut t = timeout_at(Instant::now(), std::future::ready(6));
    assert_eq!(poll(&mut t, &waker), Poll::Ready(Ok(6)));
    assert_eq!(w.handle.len(), 0, "no timer when the future was ready");
}

#[test]
fn timeout_elapses() {
    let w = Worker::install();
    let (count, waker) = counting_waker();
    let mut t = Box::pin(timeout(
        Duration::from_millis(3),
        std::future::pending::<()>(),
    ));
    assert!(t
        .as_mut()
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    w.handle.process(t.deadline() + TICK);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    let out = t.as_mut().poll(&mut Context::from_waker(&waker));
    assert_eq!(out, Poll::Ready(Err(error::Elapsed::new())));
    let _inner: &std::future::Pending<()> = t.get_ref();
}

#[test]
fn interval_first_tick_is_immediate_then_every_period() {
    let w = Worker::install();
    let (count, waker) = counting_waker();
    let start = Instant::now();
    let mut ticks = interval_at(start, HOUR);
    let mut cx = Context::from_waker(&waker);
    assert_eq!(ticks.poll_tick(&mut cx), Poll::Ready(start));
    assert!(ticks.poll_tick(&mut cx).is_pending());
    w.handle.process(start + HOUR - Duration::from_micros(1));
    assert!(ticks.poll_tick(&mut cx).is_pending());
    w.handle.process(start + HOUR + TICK);
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert_eq!(ticks.poll_tick(&mut cx), Poll::Ready(start + HOUR));
    assert!(ticks.poll_tick(&mut cx).is_pending());
    ticks.reset();
    assert!(ticks.poll_tick(&mut cx).is_pending());
    assert_eq!(w.handle.len(), 1);
}

#[test]
fn futures_are_send_sync_and_sleep_is_unpin() {
    fn send_sync<T: Send + Sync>() {}
    fn unpin<T: Unpin>() {}
    send_sync::<Sleep>();
    send_sync::<Timeout<std::future::Ready<u8>>>();
    send_sync::<Interval>();
    unpin::<Sleep>();
    unpin::<Interval>();
}
