//! Loom: the park handshake loses no wake-up. The sleeper really sleeps (the futex is modelled by
//! a loom mutex and condvar, the kernel's bucket lock and wait queue), so a lost wake-up is a
//! deadlock loom reports.

use super::heap::pair;
use crate::loom::model;
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::Arc;
use crate::rpal::doorbell::{WaitOutcome, Wake};
use crate::rpal::error::RingError;
use loom::thread;

/// Iterations of the reader's wait loop allowed before the model counts it as stuck: the
/// handshake needs at most two (one spurious return, then data).
const MAX_ROUNDS: usize = 3;

#[test]
fn loom_doorbell_data_no_lost_wakeup() {
    model(|| {
        let (mut p, mut c) = pair(2);
        let ring_bell = p.data_doorbell(Wake::Futex);
        let wait_bell = c.data_doorbell(Wake::Futex);
        let slept = Arc::new(AtomicBool::new(false));
        let t = thread::spawn(move || {
            assert_eq!(p.write(&[42]), Ok(1));
            ring_bell.notify_if_waiting().unwrap();
            ring_bell.stats()
        });
        let mut buf = [0u8; 1];
        let mut rounds = 0;
        let got = loop {
            match c.read(&mut buf) {
                Ok(n) => break n,
                Err(RingError::WouldBlock) => {}
                Err(e) => panic!("{e}"),
            }
            rounds += 1;
            assert!(rounds <= MAX_ROUNDS, "reader stuck");
            if !wait_bell.prepare_wait(|| c.is_ready()) {
                slept.store(true, Ordering::Relaxed);
                let o = wait_bell.futex_wait(None).unwrap();
                assert!(matches!(o, WaitOutcome::Woken | WaitOutcome::NotParked));
            }
        };
        assert_eq!((got, buf[0]), (1, 42));
        let notifier = t.join().unwrap();
        // Either the reader saw the data in a re-check, or it was told to sleep and then the
        // notifier rang (exactly once: one parked word, one swap).
        if slept.load(Ordering::Relaxed) {
            assert_eq!(notifier.rings, 1);
        }
        assert!(notifier.rings <= 1);
    });
}

#[test]
fn loom_doorbell_room_no_lost_wakeup() {
    model(|| {
        let (mut p, mut c) = pair(2);
        assert_eq!(p.write(&[1, 2]), Ok(2)); // full
        let ring_bell = c.room_doorbell(Wake::Futex);
        let wait_bell = p.room_doorbell(Wake::Futex);
        let t = thread::spawn(move || {
            let mut b = [0u8; 1];
            assert_eq!(c.read(&mut b), Ok(1));
            ring_bell.notify_if_waiting().unwrap();
            c
        });
        let mut rounds = 0;
        loop {
            match p.write(&[3]) {
                Ok(n) => {
                    assert_eq!(n, 1);
                    break;
                }
                Err(RingError::WouldBlock) => {}
                Err(e) => panic!("{e}"),
            }
            rounds += 1;
            assert!(rounds <= MAX_ROUNDS, "writer stuck");
            if !wait_bell.prepare_wait(|| p.is_ready()) {
                wait_bell.futex_wait(None).unwrap();
            }
        }
        let _c = t.join().unwrap();
    });
}

#[test]
fn loom_doorbell_close_wakes_reader() {
    model(|| {
        let (mut p, mut c) = pair(2);
        let ring_bell = p.data_doorbell(Wake::Futex);
        let wait_bell = c.data_doorbell(Wake::Futex);
        let t = thread::spawn(move || {
            p.close();
            ring_bell.notify_if_waiting().unwrap();
        });
        let mut buf = [0u8; 1];
        let mut rounds = 0;
        loop {
            match c.read(&mut buf) {
                Ok(n) => {
                    assert_eq!(n, 0, "end of stream");
                    break;
                }
                Err(RingError::WouldBlock) => {}
                Err(e) => panic!("{e}"),
            }
            rounds += 1;
            assert!(rounds <= MAX_ROUNDS, "reader stuck");
            if !wait_bell.prepare_wait(|| c.is_ready()) {
                wait_bell.futex_wait(None).unwrap();
            }
        }
        t.join().unwrap();
    });
}

/// The worker-slot variant (doorbell.rs, "Worker slots"): the waiter's line is armed with its
/// worker's slot when its task starts waiting; the worker publishes WAIT, fences, re-arms and
/// fences, re-checks, and sleeps on the line's word. The notifier reads the word, the slot and
/// the table. Whatever the interleaving (the worker may still be RUNNING when the notifier
/// looks), the waiter sees the data or is woken.
#[test]
fn loom_doorbell_worker_slot_no_lost_wakeup() {
    use crate::loom::sync::atomic::fence;
    use crate::rpal::tests::loom_states::ModelTable;
    const WAIT: u32 = rpal_rt::io::worker_state::WAIT;
    const RUNNING: u32 = rpal_rt::io::worker_state::RUNNING;
    model(|| {
        let (mut p, mut c) = pair(2);
        let table = Arc::new(ModelTable::new(1));
        let ring_bell = p.data_doorbell(Wake::Futex).with_peer_states(table.clone());
        let wait_bell = c.data_doorbell(Wake::Futex);
        let probe = c.probe();
        // The task found the ring empty and waits: arm with slot 1 (no fence).
        probe.arm_data(1);
        let t = thread::spawn(move || {
            assert_eq!(p.write(&[7]), Ok(1));
            ring_bell.notify_if_waiting().unwrap();
        });
        let mut buf = [0u8; 1];
        let mut rounds = 0;
        loop {
            match c.read(&mut buf) {
                Ok(n) => {
                    assert_eq!((n, buf[0]), (1, 7));
                    break;
                }
                Err(RingError::WouldBlock) => {}
                Err(e) => panic!("{e}"),
            }
            rounds += 1;
            assert!(rounds <= MAX_ROUNDS, "reader stuck");
            // The worker parks: WAIT, fence; the source re-arms (a ring consumed the word),
            // fences, re-checks.
            let w = table.word(1).unwrap();
            w.store(WAIT, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            probe.arm_data(1);
            fence(Ordering::SeqCst);
            if !probe.has_data() {
                wait_bell.futex_wait(None).unwrap();
            }
            w.store(RUNNING, Ordering::Release);
        }
        t.join().unwrap();
    });
}

/// Negative control: the same handshake without the two SeqCst fences loses a wake-up, and loom
/// finds it (the sleeper deadlocks). This shows the models above can fail.
#[test]
#[should_panic(expected = "deadlock")]
fn loom_doorbell_negative_control_without_fences() {
    use crate::loom::sync::atomic::{AtomicU32, AtomicU64};
    use crate::loom::sync::{Condvar, Mutex};
    model(|| {
        let data = Arc::new(AtomicU64::new(0));
        let waiting = Arc::new(AtomicU32::new(0));
        let bucket = Arc::new((Mutex::new(()), Condvar::new()));
        let (d, w, b) = (data.clone(), waiting.clone(), bucket.clone());
        let t = thread::spawn(move || {
            d.store(1, Ordering::Release);
            // Missing: fence(SeqCst).
            if w.load(Ordering::Relaxed) != 0 && w.swap(0, Ordering::AcqRel) != 0 {
                let _g = b.0.lock().unwrap();
                b.1.notify_all();
            }
        });
        waiting.store(1, Ordering::Relaxed);
        // Missing: fence(SeqCst).
        if data.load(Ordering::Acquire) == 0 {
            let g = bucket.0.lock().unwrap();
            if waiting.load(Ordering::Relaxed) == 1 {
                drop(bucket.1.wait(g).unwrap());
            }
        }
        t.join().unwrap();
    });
}
