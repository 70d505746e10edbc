//! Unit tests of the wheel, driven with explicit ticks and recording wakers.

use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

use super::*;

/// Records its id in a shared log when woken.
struct Recorder {
    id: usize,
    log: Arc<Mutex<Vec<usize>>>,
}

impl Wake for Recorder {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.id);
    }
}

fn waker(id: usize, log: &Arc<Mutex<Vec<usize>>>) -> Waker {
    Waker::from(Arc::new(Recorder {
        id,
        log: log.clone(),
    }))
}

/// Advances and wakes, returning the ids woken in order.
fn advance(wheel: &mut Wheel, now: u64, log: &Arc<Mutex<Vec<usize>>>) -> Vec<usize> {
    let mut fired = Vec::new();
    let n = wheel.advance(now, &mut fired);
    assert_eq!(n, fired.len());
    for w in fired {
        w.wake();
    }
    std::mem::take(&mut *log.lock().unwrap())
}

/// Deterministic xorshift64* generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn level_of(wheel: &Wheel, key: TimerKey) -> Option<u8> {
    match wheel.slab[key.index].list {
        ListId::Pending => None,
        ListId::Slot { level, .. } => Some(level),
    }
}

#[test]
fn level_selection() {
    assert_eq!(level_for(0, 1), 0);
    assert_eq!(level_for(0, 63), 0);
    assert_eq!(level_for(0, 64), 1);
    assert_eq!(level_for(63, 64), 1);
    assert_eq!(level_for(64, 127), 0);
    assert_eq!(level_for(0, 64 * 64), 2);
    assert_eq!(level_for(0, 1 << 35), TOP);
    assert_eq!(level_for(0, 1 << 50), TOP);
    let top = SLOT_BITS * TOP as u32;
    assert_eq!(clamp_to_horizon(0, 5 << top), 5 << top);
    assert_eq!(clamp_to_horizon(0, 63 << top), 63 << top);
    assert_eq!(clamp_to_horizon(0, (64 << top) + 1), 63 << top);
    assert_eq!(clamp_to_horizon(10 << top, 200 << top), 73 << top);
}

#[test]
fn random_deadlines_fire_in_order_never_early_none_lost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let whens: Vec<u64> = (0..5_000).map(|_| 1 + rng.below(1 << 22)).collect();
    for (id, &when) in whens.iter().enumerate() {
        wheel.insert(when, Some(waker(id, &log)));
    }
    let mut fired_at = vec![None; whens.len()];
    let mut order = Vec::new();
    let mut prev_now = 0;
    let mut now = 0;
    while wheel.len() > 0 {
        now += 1 + rng.below(5_000);
        for id in advance(&mut wheel, now, &log) {
            assert!(fired_at[id].is_none(), "timer {id} fired twice");
            assert!(whens[id] <= now, "timer {id} fired early");
            assert!(whens[id] > prev_now, "timer {id} fired late");
            fired_at[id] = Some(now);
            order.push(whens[id]);
        }
        prev_now = now;
    }
    assert!(fired_at.iter().all(Option::is_some));
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "fire order differs from deadline order"
    );
}

#[test]
fn cascades_down_from_high_levels() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let when = 3 * 64 * 64 * 64 * 64 + 5 * 64 * 64 + 7;
    let key = wheel.insert(when, Some(waker(1, &log)));
    assert_eq!(level_of(&wheel, key), Some(4));
    assert_eq!(wheel.next_deadline(), Some(when));
    // Reaching the level-4 slot start moves it to level 2, then level 0.
    assert!(advance(&mut wheel, 3 * 64 * 64 * 64 * 64, &log).is_empty());
    assert_eq!(level_of(&wheel, key), Some(2));
    assert!(advance(&mut wheel, when - 7, &log).is_empty());
    assert_eq!(level_of(&wheel, key), Some(0));
    assert!(advance(&mut wheel, when - 1, &log).is_empty());
    assert_eq!(advance(&mut wheel, when, &log), vec![1]);
    assert_eq!(wheel.len(), 0);
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn one_big_jump_fires_everything_due() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    for (id, when) in [70_000u64, 5, 64, 1 << 30, 4_095, 4_096]
        .into_iter()
        .enumerate()
    {
        wheel.insert(when, Some(waker(id, &log)));
    }
    assert_eq!(advance(&mut wheel, 70_000, &log), vec![1, 2, 4, 5, 0]);
    assert_eq!(wheel.len(), 1);
    assert_eq!(wheel.next_deadline(), Some(1 << 30));
}

#[test]
fn past_deadlines_fire_on_next_advance() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    advance(&mut wheel, 1_000, &log);
    let key = wheel.insert(10, Some(waker(7, &log)));
    wheel.insert(1_000, Some(waker(8, &log)));
    assert_eq!(wheel.slab[key.index].list, ListId::Pending);
    assert_eq!(wheel.next_deadline(), Some(1_000));
    // Even an advance with an older `now` fires them: they were due when inserted.
    assert_eq!(advance(&mut wheel, 999, &log), vec![7, 8]);
    assert_eq!(wheel.elapsed(), 1_000);
}

#[test]
fn cancel_before_fire_and_after_fire() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let a = wheel.insert(100, Some(waker(1, &log)));
    let b = wheel.insert(100, Some(waker(2, &log)));
    let c = wheel.insert(5_000, Some(waker(3, &log)));
    assert!(matches!(wheel.cancel(a), Some(Some(_))));
    assert!(wheel.cancel(a).is_none(), "second cancel is a no-op");
    assert!(wheel.cancel(c).is_some());
    assert_eq!(advance(&mut wheel, 10_000, &log), vec![2]);
    // Fired already: cancel after fire is a no-op.
    assert!(wheel.cancel(b).is_none());
    assert_eq!(wheel.len(), 0);
    assert_eq!(wheel.next_deadline(), None);
}

#[test]
fn cancel_unlinks_from_the_middle_of_a_slot() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let keys: Vec<_> = (0..5)
        .map(|id| wheel.insert(40, Some(waker(id, &log))))
        .collect();
    wheel.cancel(keys[2]);
    wheel.cancel(keys[0]);
    wheel.cancel(keys[4]);
    assert_eq!(advance(&mut wheel, 40, &log), vec![1, 3]);
}

#[test]
fn stale_keys_never_touch_a_reused_slot() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let old = wheel.insert(10, Some(waker(1, &log)));
    assert!(wheel.cancel(old).is_some());
    let new = wheel.insert(20, Some(waker(2, &log)));
    assert_eq!(old.index, new.index, "slab reuses the slot");
    assert_ne!(old.generation, new.generation);
    assert!(wheel.cancel(old).is_none());
    assert!(!wheel.reset(old, 5));
    assert!(!wheel.is_live(old));
    let w = waker(9, &log);
    assert!(matches!(wheel.poll(old, &w), PollTimer::Fired));
    assert!(wheel.is_live(new));
    assert_eq!(advance(&mut wheel, 20, &log), vec![2]);
}

#[test]
fn reset_earlier_and_later() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let a = wheel.insert(1_000_000, Some(waker(1, &log)));
    let b = wheel.insert(50, Some(waker(2, &log)));
    assert!(wheel.reset(a, 30));
    assert!(wheel.reset(b, 200_000));
    assert_eq!(wheel.next_deadline(), Some(30));
    assert!(advance(&mut wheel, 29, &log).is_empty());
    assert_eq!(advance(&mut wheel, 30, &log), vec![1]);
    assert!(advance(&mut wheel, 199_999, &log).is_empty());
    // Reset into the past: pending, fires on the next advance.
    assert!(wheel.reset(b, 10));
    assert_eq!(advance(&mut wheel, 199_999, &log), vec![2]);
    assert!(!wheel.reset(b, 300_000), "reset after fire is refused");
}

#[test]
fn poll_stores_the_latest_waker() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let key = wheel.insert(10, None);
    let w1 = waker(1, &log);
    assert!(matches!(wheel.poll(key, &w1), PollTimer::Pending(None)));
    assert!(matches!(wheel.poll(key, &w1), PollTimer::Pending(None)));
    let w2 = waker(2, &log);
    assert!(matches!(wheel.poll(key, &w2), PollTimer::Pending(Some(_))));
    assert_eq!(advance(&mut wheel, 10, &log), vec![2]);
    assert!(matches!(wheel.poll(key, &w2), PollTimer::Fired));
}

#[test]
fn hundred_thousand_timers_fire_exactly_once() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let mut rng = Rng(42);
    const N: usize = 100_000;
    let whens: Vec<u64> = (0..N).map(|_| rng.below(20_000_000)).collect();
    for (id, &when) in whens.iter().enumerate() {
        wheel.insert(when, Some(waker(id, &log)));
    }
    let mut count = vec![0u8; N];
    let mut now = 0;
    let mut total = 0;
    while wheel.len() > 0 {
        now += rng.below(100_000);
        for id in advance(&mut wheel, now, &log) {
            assert!(whens[id] <= now);
            count[id] += 1;
            total += 1;
        }
    }
    assert_eq!(total, N);
    assert!(count.iter().all(|&c| c == 1));
}

#[test]
fn no_allocation_after_warm_up() {
    let mut wheel = Wheel::new();
    let mut fired = Vec::new();
    let mut warm_capacity = None;
    for round in 0..3u64 {
        let base = wheel.elapsed();
        for i in 0..1_000 {
            wheel.insert(base + 1 + (i * 7919 + round) % 100_000, None);
        }
        let cap = wheel.slab.capacity();
        assert_eq!(
            *warm_capacity.get_or_insert(cap),
            cap,
            "the slab reuses freed entries"
        );
        assert_eq!(wheel.advance(base + 100_001, &mut fired), 1_000);
    }
}

#[test]
fn far_future_beyond_horizon() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let horizon = 1u64 << (SLOT_BITS * NUM_LEVELS as u32);
    let when = 5 * horizon + 12_345;
    let key = wheel.insert(when, Some(waker(1, &log)));
    let near = wheel.insert(100, Some(waker(2, &log)));
    assert_eq!(level_of(&wheel, key), Some(TOP as u8));
    assert_eq!(wheel.next_deadline(), Some(100));
    assert_eq!(advance(&mut wheel, 100, &log), vec![2]);
    assert!(!wheel.is_live(near));
    // The parking slot is 63 top-level slots ahead; the lower bound points at its start.
    let top_slot = 1u64 << (SLOT_BITS * TOP as u32);
    assert_eq!(wheel.next_deadline(), Some(63 * top_slot));
    // Walk forward the way an idle worker does: park until the next deadline, advance.
    let mut wakeups = 0;
    loop {
        let next = wheel.next_deadline().unwrap();
        assert!(next <= when);
        let got = advance(&mut wheel, next, &log);
        wakeups += 1;
        if !got.is_empty() {
            assert_eq!(got, vec![1]);
            assert_eq!(next, when);
            break;
        }
        assert!(wheel.is_live(key), "fired early");
        assert!(wakeups < 100);
    }
    // A few re-placements across the horizon, then the cascade down, then the fire.
    assert!(wakeups <= 10, "{wakeups} wake-ups");
}

#[test]
fn far_future_survives_one_huge_jump_short_of_it() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let when = 1u64 << 50;
    wheel.insert(when, Some(waker(1, &log)));
    assert!(advance(&mut wheel, when - 1, &log).is_empty());
    assert_eq!(wheel.next_deadline(), Some(when));
    assert_eq!(advance(&mut wheel, when, &log), vec![1]);
}

#[test]
fn next_deadline_after_idle_advance_with_wrapped_slots() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    // Elapsed moves into slot 60 of level 1 without processing anything.
    assert!(advance(&mut wheel, 60 * 64 + 3, &log).is_empty());
    // Lands in the next level-1 window, slot 2 (wrapped).
    let when = 64 * 64 + 2 * 64 + 9;
    wheel.insert(when, Some(waker(1, &log)));
    wheel.insert(61 * 64 + 1, Some(waker(2, &log)));
    assert_eq!(wheel.next_deadline(), Some(61 * 64 + 1));
    assert_eq!(advance(&mut wheel, 61 * 64 + 1, &log), vec![2]);
    assert_eq!(wheel.next_deadline(), Some(when));
    assert!(advance(&mut wheel, when - 1, &log).is_empty());
    assert_eq!(advance(&mut wheel, when, &log), vec![1]);
}

#[test]
fn inserts_during_a_run_are_never_early_or_lost() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut wheel = Wheel::new();
    let mut rng = Rng(7);
    let mut whens = Vec::new();
    let mut fired = Vec::new();
    let mut now: u64 = 0;
    for _ in 0..2_000 {
        for _ in 0..rng.below(8) {
            let id = whens.len();
            let bits = rng.below(30) + 1;
            let when = now.saturating_sub(50) + rng.below(1 << bits);
            whens.push(when);
            fired.push(false);
            wheel.insert(when, Some(waker(id, &log)));
        }
        now += rng.below(3_000);
        for id in advance(&mut wheel, now, &log) {
            assert!(whens[id] <= now);
            assert!(!fired[id]);
            fired[id] = true;
        }
    }
    for id in advance(&mut wheel, u64::MAX >> 2, &log) {
        assert!(!fired[id]);
        fired[id] = true;
    }
    assert!(fired.iter().all(|&f| f));
}
