//! The user-space source hook: a shared-memory flag set from another thread wakes a task on a
//! parked worker through the worker's doorbell, and while the worker is busy no doorbell rings.
mod support;

use std::future::poll_fn;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use rpal_rt::io::{register_source, UserSource, WorkerDoorbell};

/// A one-slot mailbox in "shared memory": a value, a ready flag, the consumer's waiting flag.
#[derive(Default)]
struct Mailbox {
    value: AtomicUsize,
    ready: AtomicBool,
    waiting: AtomicBool,
    waker: Mutex<Option<Waker>>,
    rings: AtomicUsize,
    polls: AtomicUsize,
}

impl UserSource for Mailbox {
    fn poll(&self) -> bool {
        self.polls.fetch_add(1, Ordering::Relaxed);
        if self.ready.load(Ordering::Acquire) {
            if let Some(w) = self.waker.lock().unwrap().take() {
                w.wake();
                return true;
            }
        }
        false
    }
    fn prepare_park(&self) -> bool {
        self.waiting.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        self.poll()
    }
    fn after_park(&self) {
        self.waiting.store(false, Ordering::Relaxed);
    }
}

impl Mailbox {
    /// Producer side (another thread): publish, fence, ring only if the consumer waits.
    fn send(&self, v: usize, bell: &WorkerDoorbell) {
        self.value.store(v, Ordering::Relaxed);
        self.ready.store(true, Ordering::Release);
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::Relaxed) {
            self.rings.fetch_add(1, Ordering::Relaxed);
            bell.ring();
        }
    }

    async fn recv(&self) -> usize {
        poll_fn(|cx| {
            if self.ready.swap(false, Ordering::Acquire) {
                return Poll::Ready(self.value.load(Ordering::Relaxed));
            }
            *self.waker.lock().unwrap() = Some(cx.waker().clone());
            // Re-check after publishing the waker: the source's poll may have run in between.
            if self.ready.swap(false, Ordering::Acquire) {
                return Poll::Ready(self.value.load(Ordering::Relaxed));
            }
            Poll::Pending
        })
        .await
    }
}

#[test]
fn flag_from_another_thread_wakes_a_parked_worker() {
    for (name, rt) in support::each_flavor() {
        let got = rt.block_on(async {
            rpal_rt::spawn(async {
                let mb = Arc::new(Mailbox::default());
                let _reg = register_source(mb.clone()).unwrap();
                let bell = WorkerDoorbell::current().unwrap();
                let mut got = Vec::new();
                for i in 0..50 {
                    let (mb2, bell2) = (mb.clone(), bell.clone());
                    // The producer waits long enough that the worker has parked.
                    let t = std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(1));
                        mb2.send(i, &bell2);
                    });
                    got.push(mb.recv().await);
                    t.join().unwrap();
                }
                assert!(
                    mb.polls.load(Ordering::Relaxed) > 0,
                    "the worker polled the source"
                );
                assert!(
                    mb.rings.load(Ordering::Relaxed) > 0,
                    "a parked worker was rung"
                );
                got
            })
            .await
            .unwrap()
        });
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "{name}");
    }
}

#[test]
fn a_busy_worker_sees_the_flag_without_a_doorbell() {
    let rt = support::current_thread();
    let (rings, got) = rt.block_on(async {
        let mb = Arc::new(Mailbox::default());
        let _reg = register_source(mb.clone()).unwrap();
        let bell = WorkerDoorbell::current().unwrap();
        // Keep the worker busy with a spinning task so it never parks.
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let spinner = rpal_rt::spawn(async move {
            while !s2.load(Ordering::Relaxed) {
                rpal_rt::yield_now().await;
            }
        });
        let (mb2, bell2) = (mb.clone(), bell.clone());
        let t = std::thread::spawn(move || mb2.send(42, &bell2));
        let got = mb.recv().await;
        t.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        spinner.await.unwrap();
        (mb.rings.load(Ordering::Relaxed), got)
    });
    assert_eq!(got, 42);
    assert_eq!(
        rings, 0,
        "a worker that never parked must not have been rung"
    );
}

#[test]
fn dropping_the_registration_stops_polling() {
    let rt = support::current_thread();
    rt.block_on(async {
        let mb = Arc::new(Mailbox::default());
        let reg = register_source(mb.clone()).unwrap();
        rpal_rt::yield_now().await;
        rpal_rt::time::sleep(Duration::from_millis(1)).await;
        drop(reg);
        let before = mb.polls.load(Ordering::Relaxed);
        for _ in 0..10 {
            rpal_rt::yield_now().await;
        }
        rpal_rt::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(mb.polls.load(Ordering::Relaxed), before);
    });
}

#[test]
fn register_source_outside_a_runtime_is_an_error() {
    let err = register_source(Arc::new(Mailbox::default())).unwrap_err();
    assert!(err.to_string().contains("no rpal runtime"), "{err}");
}
