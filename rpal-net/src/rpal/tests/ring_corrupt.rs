//! Scribbled shared headers: every bad index or flag gives `Corrupt` (sticky), random values
//! between calls of every method never panic or expose bytes outside the data area.

use super::support::*;
use crate::rpal::doorbell::Wake;
use crate::rpal::error::{Field, RingError};
use crate::rpal::ring::layout::RingHeader;
use crate::rpal::ring::{Consumer, Producer};

fn corrupt_what(r: Result<usize, RingError>) -> Option<Field> {
    match r {
        Err(RingError::Corrupt { what, .. }) => Some(what),
        _ => None,
    }
}

#[test]
fn scribbled_indices_are_corrupt_and_sticky() {
    // tail backwards.
    let (r, l, mut p, mut c) = ring0(CAP);
    p.write(&[1; 100]).unwrap();
    c.read(&mut [0; 10]).unwrap();
    assert!(c.is_ready());
    let h = header(&r, l.offsets[0]);
    h.prod
        .0
        .tail
        .store(50, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(corrupt_what(c.read(&mut [0; 200])), Some(Field::Tail));
    // Sticky even after the value is put back.
    h.prod
        .0
        .tail
        .store(100, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(corrupt_what(c.read(&mut [0; 200])), Some(Field::Tail));
    assert!(c.peek().unwrap_err().is_corrupt());
    assert!(c.is_ready());

    // tail more than a ring ahead.
    let (r, l, _p, mut c) = ring0(CAP);
    header(&r, l.offsets[0])
        .prod
        .0
        .tail
        .store(CAP + 1, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(corrupt_what(c.read(&mut [0; 1])), Some(Field::Tail));

    // head past the published tail, and head backwards.
    for bad in [101, 5] {
        let (r, l, mut p, mut c) = ring0(CAP);
        p.write(&[1; 100]).unwrap();
        c.read(&mut [0; 10]).unwrap();
        assert_eq!(p.writable_len(), Ok(CAP as usize - 90));
        header(&r, l.offsets[0])
            .cons
            .0
            .head
            .store(bad, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            corrupt_what(p.writable_len()),
            Some(Field::Head),
            "head {bad}"
        );
        assert_eq!(corrupt_what(p.write(&[0])), Some(Field::Head));
    }

    // Flags other than 0/1, a reset flag, and a tail moving after close.
    let (r, l, mut p, mut c) = ring0(CAP);
    let h = header(&r, l.offsets[0]);
    h.cons
        .0
        .reader_closed
        .store(7, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(corrupt_what(p.writable_len()), Some(Field::ReaderClosed));
    h.prod
        .0
        .writer_closed
        .store(2, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(corrupt_what(c.read(&mut [0; 1])), Some(Field::WriterClosed));

    let (r, l, mut p, mut c) = ring0(CAP);
    let h = header(&r, l.offsets[0]);
    p.write(&[1; 10]).unwrap();
    p.close();
    assert_eq!(c.read(&mut [0; 64]), Ok(10));
    assert_eq!(c.read(&mut [0; 64]), Ok(0));
    h.prod
        .0
        .tail
        .store(20, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(corrupt_what(c.read(&mut [0; 64])), Some(Field::Tail));

    let (r, l, mut p, mut c) = ring0(CAP);
    let h = header(&r, l.offsets[0]);
    p.close();
    assert_eq!(c.read(&mut [0; 64]), Ok(0));
    h.prod
        .0
        .writer_closed
        .store(0, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        corrupt_what(c.read(&mut [0; 64])),
        Some(Field::WriterClosed)
    );

    // A bad header is refused at attach.
    let (r, l, _p, _c) = ring0(CAP);
    let h = header(&r, l.offsets[1]);
    for (what, f) in [
        (
            Field::Magic,
            (|h: &RingHeader| h.id.0.magic.store(1, std::sync::atomic::Ordering::Relaxed))
                as fn(&RingHeader),
        ),
        (Field::Version, |h| {
            h.id.0
                .version
                .store(9, std::sync::atomic::Ordering::Relaxed)
        }),
        (Field::Capacity, |h| {
            h.id.0
                .capacity
                .store(3000, std::sync::atomic::Ordering::Relaxed)
        }),
        (Field::Length, |h| {
            h.id.0
                .capacity
                .store(1 << 20, std::sync::atomic::Ordering::Relaxed)
        }),
    ] {
        h.init(CAP);
        f(h);
        let e = Consumer::new(&r, l.offsets[1], l.ring_len).unwrap_err();
        assert!(
            matches!(e, RingError::Corrupt { what: w, .. } if w == what),
            "{e}"
        );
        let e = Producer::new(&r, l.offsets[1], l.ring_len).unwrap_err();
        assert!(
            matches!(e, RingError::Corrupt { what: w, .. } if w == what),
            "{e}"
        );
    }
    // Out-of-region and misaligned offsets.
    assert!(Consumer::new(&r, l.region_len, l.ring_len).is_err());
    assert!(Consumer::new(&r, 64, l.ring_len).is_err());
    assert!(Consumer::new(&r, usize::MAX - 10, l.ring_len).is_err());
}

/// Every shared word gets random values between calls of every method; nothing may panic or
/// return bytes from outside the data area (checked: every byte of the data area holds the
/// marker 0xAB, so any other byte read came from elsewhere).
#[test]
fn random_scribbles_never_panic() {
    let mut rng = XorShift(0xDEAD_BEEF);
    let mut corrupt = 0;
    for round in 0..3000 {
        let (r, l, mut p, mut c) = ring0(CAP);
        let h = header(&r, l.offsets[0]);
        let mut buf = vec![0u8; 700];
        // Fill the whole data area with the marker, so any byte a scribbled (but in-bounds)
        // tail exposes is still the marker.
        assert_eq!(p.write(&[0xAB; CAP as usize]), Ok(CAP as usize));
        let mut sink = vec![0u8; CAP as usize];
        assert_eq!(c.read(&mut sink), Ok(CAP as usize));
        for step in 0..20 {
            if rng.next().is_multiple_of(4) {
                let v = match rng.next() % 4 {
                    0 => rng.next(),
                    1 => rng.next() % 3,
                    2 => CAP.wrapping_add(rng.next() % 8).wrapping_sub(4),
                    _ => (rng.next() % 8192).wrapping_sub(4096),
                };
                use std::sync::atomic::Ordering::Relaxed;
                match rng.next() % 11 {
                    0 => h.prod.0.tail.store(v, Relaxed),
                    1 => h.cons.0.head.store(v, Relaxed),
                    2 => h.prod.0.writer_closed.store(v as u32, Relaxed),
                    3 => h.cons.0.reader_closed.store(v as u32, Relaxed),
                    4 => h.consumer_waiting.0.word.store(v as u32, Relaxed),
                    5 => h.producer_waiting.0.word.store(v as u32, Relaxed),
                    6 => h.consumer_waiting.0.slot.store(v as u32, Relaxed),
                    7 => h.producer_waiting.0.slot.store(v as u32, Relaxed),
                    8 => h.id.0.capacity.store(v, Relaxed),
                    9 => h.id.0.magic.store(v, Relaxed),
                    _ => h.id.0.version.store(v as u32, Relaxed),
                }
            }
            let n = (rng.next() % 700) as usize;
            let _ = p.write_buffered(&vec![0xAB; n]);
            if step % 3 == 0 {
                p.publish();
            }
            let _ = p.write(&vec![0xAB; n / 2]);
            let _ = p.writable_len();
            let _ = p.is_ready();
            let _ = p.is_peer_closed();
            match c.read(&mut buf[..n]) {
                Ok(k) => assert!(buf[..k].iter().all(|&b| b == 0xAB), "round {round}"),
                Err(e) => corrupt += usize::from(e.is_corrupt()),
            }
            let _ = c.is_ready();
            if let Ok(mut s) = c.peek() {
                let (a, b) = s.as_slices();
                assert!(a.len() + b.len() <= CAP as usize);
                let k = s.len() / 2;
                s.consume(k);
            }
            if let Ok((a, b)) = c.lend() {
                let k = a.len() + b.len();
                c.consume(k.min(3));
            }
            let bells = [p.data_doorbell(Wake::Futex), c.room_doorbell(Wake::Futex)];
            for b in &bells {
                b.notify_if_waiting().unwrap();
            }
        }
        if round % 500 == 0 {
            p.close();
            c.close();
        }
    }
    assert!(corrupt > 0, "the scribbles did hit validation");
}
