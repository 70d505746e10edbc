//! loom: the worker's park handshake with the inject queue never loses a wake-up.
//!
//! Models `executor::worker::run` (store `parked`, re-check the queue, sleep) against
//! `WorkerShared::push_remote` (push, then read `parked`, ring once), over one park and over two
//! parks in a row (the `notified` claim of an earlier park).

use crate::executor::remote::Inject;
use crate::loom::model;
use crate::loom::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};
use crate::loom::sync::Arc;

struct Worker {
    inject: Inject<u32>,
    parked: AtomicBool,
    notified: AtomicBool,
    rang: AtomicBool,
}

#[test]
fn loom_remote_push_never_lost() {
    model(|| {
        let w = Arc::new(Worker {
            inject: Inject::new(),
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
            rang: AtomicBool::new(false),
        });
        let w2 = w.clone();
        let pusher = crate::loom::thread::spawn(move || {
            w2.inject.push(7).unwrap();
            fence(SeqCst);
            if w2.parked.load(SeqCst) && !w2.notified.swap(true, SeqCst) {
                w2.rang.store(true, SeqCst);
            }
        });
        // Worker side: publish parked, then re-check.
        w.parked.store(true, SeqCst);
        fence(SeqCst);
        let sleeps = w.inject.is_empty();
        pusher.join().unwrap();
        if sleeps {
            assert!(
                w.rang.load(SeqCst),
                "worker slept on a queued task without a doorbell"
            );
        }
        let mut got = std::collections::VecDeque::new();
        w.inject.drain_into(&mut got);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![7]);
    });
}

#[test]
fn loom_push_after_close_is_refused() {
    model(|| {
        let inject = Arc::new(Inject::<u32>::new());
        let i2 = inject.clone();
        let pusher = crate::loom::thread::spawn(move || i2.push(1));
        let drained = inject.close();
        let pushed = pusher.join().unwrap();
        // Either the task was drained by close, or the push was refused: never lost.
        assert_eq!(drained.len() + usize::from(pushed.is_err()), 1);
    });
}

/// Two parks in a row against two remote pushers, with the doorbell and the `notified` claim
/// modelled as in `executor::worker::run`: each park clears `notified`, publishes `parked`,
/// fences and re-checks the queue. The first park and the loop turn after it do not block
/// (each drains the doorbell, as the reactor's zero-timeout poll does); the second park blocks
/// if the queue looked empty. A pusher that saw the first park's `parked` may claim `notified`
/// and ring after that park ended, and a loop turn may drain that ring: the stale claim must not
/// make the second park's pusher skip its ring. (Clearing `notified` after a park instead of
/// before the next one fails this model: the hang found by looping `time_order`.)
#[test]
fn loom_two_parks_stale_claim_never_loses_a_wakeup() {
    use crate::loom::sync::atomic::AtomicUsize;

    struct Shared {
        inject: Inject<u32>,
        parked: AtomicBool,
        notified: AtomicBool,
        /// Rings not yet drained (an eventfd counter).
        bell: AtomicUsize,
    }
    fn push(w: &Shared, task: u32) {
        w.inject.push(task).unwrap();
        fence(SeqCst);
        if w.parked.load(SeqCst) && !w.notified.swap(true, SeqCst) {
            w.bell.fetch_add(1, SeqCst);
        }
    }
    /// Publishes a park; true if the queue looked empty (the worker sleeps).
    fn publish_park(w: &Shared) -> bool {
        w.notified.store(false, SeqCst);
        w.parked.store(true, SeqCst);
        fence(SeqCst);
        w.inject.is_empty()
    }

    crate::loom::model_bounded(3, || {
        let w = Arc::new(Shared {
            inject: Inject::new(),
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
            bell: AtomicUsize::new(0),
        });
        let pushers: Vec<_> = [1, 2]
            .into_iter()
            .map(|task| {
                let w = w.clone();
                crate::loom::thread::spawn(move || push(&w, task))
            })
            .collect();
        let mut got = std::collections::VecDeque::new();
        // First park, not blocking: it drains the doorbell whatever rang it.
        publish_park(&w);
        w.bell.swap(0, SeqCst);
        w.parked.store(false, SeqCst);
        w.inject.drain_into(&mut got);
        // A loop turn: the zero-timeout reactor poll drains the doorbell again.
        w.bell.swap(0, SeqCst);
        w.inject.drain_into(&mut got);
        // Second park: blocks if the queue looked empty, until a ring.
        let sleeps = publish_park(&w);
        for p in pushers {
            p.join().unwrap();
        }
        if sleeps {
            let queued = !w.inject.is_empty();
            assert!(
                !queued || w.bell.load(SeqCst) > 0,
                "second park sleeps with a queued task and no ring pending"
            );
        }
        w.parked.store(false, SeqCst);
        w.inject.drain_into(&mut got);
        let mut all: Vec<u32> = got.into_iter().collect();
        all.sort_unstable();
        assert_eq!(all, vec![1, 2]);
    });
}
