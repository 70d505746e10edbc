//! Loom: the ring's indices. Every byte the consumer reads must happen-after its write (checked
//! by the per-byte shadow cells), arrive in order, and the producer must never overwrite bytes the
//! consumer has not released.

use super::heap::pair;
use crate::loom::model;
use crate::rpal::error::RingError;
use loom::thread;

/// Capacity of the modelled ring: small, so writes wrap and fill it.
const CAP: u64 = 2;
/// Bytes streamed per model: more than the capacity, so the producer must wait for room.
const LEN: u8 = 3;

#[test]
fn loom_ring_copy_stream_in_order() {
    model(|| {
        let (mut p, mut c) = pair(CAP);
        let t = thread::spawn(move || {
            let mut next = 0u8;
            while next < LEN {
                match p.write(&[next, next + 1][..usize::from((LEN - next).min(2))]) {
                    Ok(n) => next += n as u8,
                    Err(RingError::WouldBlock) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            p.close();
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 2];
        loop {
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(RingError::WouldBlock) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, (0..LEN).collect::<Vec<_>>());
        t.join().unwrap();
    });
}

#[test]
fn loom_ring_lend_and_release() {
    model(|| {
        let (mut p, mut c) = pair(CAP);
        let t = thread::spawn(move || {
            let mut next = 0u8;
            while next < LEN {
                match p.write(&[next]) {
                    Ok(_) => next += 1,
                    Err(RingError::WouldBlock) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
            p.close();
        });
        let mut got = Vec::new();
        loop {
            match c.peek() {
                Ok(s) if s.is_empty() => break,
                Ok(mut s) => {
                    // Consume one byte per guard so release interleaves with writes.
                    got.push(s.first()[0]);
                    s.consume(1);
                }
                Err(RingError::WouldBlock) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(got, (0..LEN).collect::<Vec<_>>());
        t.join().unwrap();
    });
}
