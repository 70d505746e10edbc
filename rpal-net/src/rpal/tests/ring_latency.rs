//! Not tests: latency measurements, `#[ignore]`d; run in release with `--ignored --nocapture`.

use crate::loom::sync::Arc;
use crate::rpal::error::RingError;
use crate::rpal::ring::{init_ring, Consumer, Producer, RegionLayout};
use crate::rpal::shm::SharedRegion;

/// Not a test: latency of 32-byte messages through the ring, both threads busy-polling and
/// pinned to CPUs 0 and 1, closed loop as in RPAL's benchmark: the sender stamps the TSC into
/// the message, the receiver records `rdtsc - stamp` (one-way, RPAL's method, which includes any
/// TSC skew between the two CPUs) and echoes the message on the other ring; the sender records
/// half the round trip (skew-free) before sending the next. A one-word atomic hand-off measured
/// the same way gives this machine's floor. Run with
/// `cargo test -p rpal-net --lib --release latency_busy_poll -- --ignored --nocapture`.
#[test]
#[ignore = "measurement, prints TSC cycles; run in release"]
#[cfg(target_arch = "x86_64")]
fn latency_busy_poll_32b() {
    use std::arch::x86_64::_rdtsc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const MSGS: usize = 1_000_000;
    const WARMUP: usize = 10_000;
    fn pin(cpu: usize) {
        // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity act on our local.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
    fn tsc() -> u64 {
        // SAFETY: rdtsc has no preconditions on x86_64.
        unsafe { _rdtsc() }
    }
    fn read_exact(c: &mut Consumer, buf: &mut [u8]) {
        let mut got = 0;
        while got < buf.len() {
            match c.read(&mut buf[got..]) {
                Ok(n) => got += n,
                Err(RingError::WouldBlock) => std::hint::spin_loop(),
                Err(e) => panic!("{e}"),
            }
        }
    }
    fn send(p: &mut Producer, buf: &[u8]) {
        assert_eq!(p.write(buf), Ok(buf.len()));
    }

    let l = RegionLayout::new(64 << 10).unwrap();
    let region = Arc::new(SharedRegion::create(l.region_len, None).unwrap());
    for off in l.offsets {
        init_ring(&region, off, l.ring_len, 64 << 10).unwrap();
    }
    let mut tx = Producer::new(&region, l.offsets[0], l.ring_len).unwrap();
    let mut echo_rx = Consumer::new(&region, l.offsets[1], l.ring_len).unwrap();
    let mut rx = Consumer::new(&region, l.offsets[0], l.ring_len).unwrap();
    let mut echo_tx = Producer::new(&region, l.offsets[1], l.ring_len).unwrap();
    let server = std::thread::spawn(move || {
        pin(1);
        let mut one_way = Vec::with_capacity(WARMUP + MSGS);
        let mut msg = [0u8; 32];
        for _ in 0..WARMUP + MSGS {
            read_exact(&mut rx, &mut msg);
            let now = tsc();
            one_way.push(now.wrapping_sub(u64::from_le_bytes(msg[..8].try_into().unwrap())));
            send(&mut echo_tx, &msg);
        }
        one_way.split_off(WARMUP)
    });
    pin(0);
    let mut half_rtt = Vec::with_capacity(WARMUP + MSGS);
    let mut msg = [7u8; 32];
    for _ in 0..WARMUP + MSGS {
        let t0 = tsc();
        msg[..8].copy_from_slice(&t0.to_le_bytes());
        send(&mut tx, &msg);
        read_exact(&mut echo_rx, &mut msg);
        half_rtt.push((tsc() - t0) / 2);
    }
    report(
        "ring 32 B one-way (receiver stamp - sender stamp)",
        server.join().unwrap(),
    );
    report("ring 32 B half round trip", half_rtt.split_off(WARMUP));

    let words = std::sync::Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let w = words.clone();
    let server = std::thread::spawn(move || {
        pin(1);
        let mut one_way = Vec::with_capacity(WARMUP + MSGS);
        let mut last = 0;
        for _ in 0..WARMUP + MSGS {
            let sent = loop {
                let v = w[0].load(Ordering::Acquire);
                if v != last {
                    break v;
                }
                std::hint::spin_loop();
            };
            last = sent;
            one_way.push(tsc().wrapping_sub(sent));
            w[1].store(sent, Ordering::Release);
        }
        one_way.split_off(WARMUP)
    });
    pin(0);
    let mut half_rtt = Vec::with_capacity(WARMUP + MSGS);
    for _ in 0..WARMUP + MSGS {
        let t0 = tsc();
        words[0].store(t0, Ordering::Release);
        while words[1].load(Ordering::Acquire) != t0 {
            std::hint::spin_loop();
        }
        half_rtt.push((tsc() - t0) / 2);
    }
    report("atomic word one-way (floor)", server.join().unwrap());
    report(
        "atomic word half round trip (floor)",
        half_rtt.split_off(WARMUP),
    );
}

#[cfg(target_arch = "x86_64")]
fn report(what: &str, mut d: Vec<u64>) {
    d.sort_unstable();
    let mean = d.iter().map(|&x| x as f64).sum::<f64>() / d.len() as f64;
    let pct = |p: f64| d[((d.len() - 1) as f64 * p) as usize];
    eprintln!(
        "{what}, {} msgs: mean {mean:.0} cycles, p50 {}, p99 {}, p99.9 {}, max {}",
        d.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        d[d.len() - 1]
    );
}
