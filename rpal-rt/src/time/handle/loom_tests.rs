//! Loom models: cancel racing fire, insert racing park.

use std::task::{Wake, Waker};
use std::time::{Duration, Instant};

use super::TimeHandle;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use crate::loom::sync::Arc;

struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn cancel_vs_fire() {
    loom::model(|| {
        let t0 = Instant::now();
        let h = TimeHandle::for_test(t0, Duration::from_micros(10), || {});
        let counter = std::sync::Arc::new(Counter(AtomicUsize::new(0)));
        let key = h.insert(t0 + Duration::from_micros(10), Waker::from(counter.clone()));
        let h2 = h.clone();
        let canceller = loom::thread::spawn(move || h2.cancel(key));
        let fired = h.process(t0 + Duration::from_micros(10));
        let cancelled = canceller.join().unwrap();
        assert_eq!(usize::from(cancelled) + fired, 1);
        assert_eq!(counter.0.load(Ordering::SeqCst), fired);
    });
}

#[test]
fn insert_vs_park_never_loses_the_unpark() {
    loom::model(|| {
        let t0 = Instant::now();
        let unparks = Arc::new(AtomicUsize::new(0));
        let u = unparks.clone();
        let h = TimeHandle::for_test(t0, Duration::from_micros(10), move || {
            u.fetch_add(1, Ordering::SeqCst);
        });
        let counter = std::sync::Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter);
        let h2 = h.clone();
        let inserter = loom::thread::spawn(move || {
            h2.insert(t0 + Duration::from_micros(50), waker);
        });
        // The owner computes its timeout, "parks", then wakes.
        let timeout = h.park_timeout(t0);
        inserter.join().unwrap();
        // Either the owner saw the timer in its timeout, or the inserter unparked it.
        assert!(timeout.is_some() || unparks.load(Ordering::SeqCst) == 1);
        h.unparked();
    });
}
