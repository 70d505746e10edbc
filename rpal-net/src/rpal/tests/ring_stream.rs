//! The ring over a real memfd: sizes across wrap-around, the lend API, full/empty/close,
//! scribbled headers, two threads streaming 100 MB, and a child process on the other end.

use std::time::Duration;

use crate::loom::sync::Arc;
use crate::rpal::doorbell::{Doorbell, WaitOutcome, Wake};
use crate::rpal::error::{Field, RingError};
use crate::rpal::ring::layout::RingHeader;
use crate::rpal::ring::{init_ring, Consumer, Producer, RegionLayout};
use crate::rpal::shm::SharedRegion;

/// Ring capacity of most tests: the smallest allowed, so data wraps often.
const CAP: u64 = 4096;

/// A deterministic xorshift64* byte source.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// FNV-1a over a stream, fed piecewise.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Sum(u64);
impl Sum {
    fn new() -> Self {
        Sum(0xcbf2_9ce4_8422_2325)
    }
    fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// A region with both rings initialised, and ring 0's two endpoints.
fn ring0(cap: u64) -> (Arc<SharedRegion>, RegionLayout, Producer, Consumer) {
    let l = RegionLayout::new(cap).unwrap();
    let region = Arc::new(SharedRegion::create(l.region_len, None).unwrap());
    for off in l.offsets {
        init_ring(&region, off, l.ring_len, cap).unwrap();
    }
    let p = Producer::new(&region, l.offsets[0], l.ring_len).unwrap();
    let c = Consumer::new(&region, l.offsets[0], l.ring_len).unwrap();
    (region, l, p, c)
}

fn header(region: &SharedRegion, off: usize) -> &RingHeader {
    // SAFETY: an initialised, aligned ring header inside the live region.
    unsafe { region.as_ptr().add(off).cast::<RingHeader>().as_ref() }
}

#[test]
fn sizes_across_wrap_with_checksums() {
    let (_r, _l, mut p, mut c) = ring0(CAP);
    let mut rng = XorShift(7);
    let (mut sent, mut recvd) = (Sum::new(), Sum::new());
    let mut out = vec![0u8; CAP as usize];
    let mut total = 0usize;
    for size in (1..=CAP as usize)
        .step_by(37)
        .chain([CAP as usize, 1, 4095, 2, 4094])
    {
        let mut buf = vec![0u8; size];
        rng.fill(&mut buf);
        // Odd sizes land the start anywhere; write in two pieces, the first unpublished.
        let half = size / 2;
        assert_eq!(p.write_buffered(&buf[..half]), Ok(half));
        assert_eq!(p.unpublished_len(), half);
        assert!(half == 0 || c.read(&mut out) == Err(RingError::WouldBlock));
        assert_eq!(p.write(&buf[half..]), Ok(size - half));
        sent.add(&buf);
        // Read with a buffer of another size, so reads split differently from writes.
        let mut left = size;
        while left > 0 {
            let want = left.min(1 + size % 613);
            let n = c.read(&mut out[..want]).unwrap();
            recvd.add(&out[..n]);
            left -= n;
        }
        assert_eq!(sent, recvd);
        total += size;
    }
    assert!(total > 4 * CAP as usize, "exercised the wrap many times");
    assert_eq!(c.read(&mut out), Err(RingError::WouldBlock));
}

/// A peer may start the indices anywhere: streaming across the 2^64 wrap must work.
#[test]
fn indices_wrap_around_u64() {
    let l = RegionLayout::new(CAP).unwrap();
    let region = Arc::new(SharedRegion::create(l.region_len, None).unwrap());
    init_ring(&region, 0, l.ring_len, CAP).unwrap();
    let h = header(&region, 0);
    let start = u64::MAX - 5000;
    h.prod
        .0
        .tail
        .store(start, std::sync::atomic::Ordering::Relaxed);
    h.cons
        .0
        .head
        .store(start, std::sync::atomic::Ordering::Relaxed);
    let mut p = Producer::new(&region, 0, l.ring_len).unwrap();
    let mut c = Consumer::new(&region, 0, l.ring_len).unwrap();
    let mut rng = XorShift(3);
    let (mut sent, mut recvd) = (Sum::new(), Sum::new());
    let mut buf = vec![0u8; 3000];
    let mut out = vec![0u8; 1700];
    for _ in 0..20 {
        rng.fill(&mut buf);
        let n = p.write(&buf).unwrap();
        sent.add(&buf[..n]);
        let mut left = n;
        while left > 0 {
            let k = c.read(&mut out).unwrap();
            recvd.add(&out[..k]);
            left -= k;
        }
        let mut s = c.peek().map(|s| s.len()).unwrap_or(0);
        assert_eq!(s, 0);
        s += p.writable_len().unwrap();
        assert_eq!(s, CAP as usize);
    }
    assert_eq!(sent, recvd);
    assert!(
        h.prod.0.tail.load(std::sync::atomic::Ordering::Relaxed) < start,
        "wrapped"
    );
}

#[test]
fn full_empty_close() {
    let (_r, _l, mut p, mut c) = ring0(CAP);
    let mut b = [0u8; 16];
    assert_eq!(c.read(&mut b), Err(RingError::WouldBlock));
    assert!(!c.is_ready());
    assert_eq!(c.read(&mut []), Ok(0));
    assert_eq!(p.writable_len(), Ok(CAP as usize));
    let big = vec![9u8; CAP as usize + 100];
    assert_eq!(p.write(&big), Ok(CAP as usize));
    assert_eq!(p.write(&big), Err(RingError::WouldBlock));
    assert!(!p.is_ready());
    assert_eq!(p.writable_len(), Ok(0));
    assert!(c.is_ready());
    assert_eq!(c.read(&mut b), Ok(16));
    assert!(p.is_ready());
    assert_eq!(p.write(&big), Ok(16));
    // Drain, then end of stream after close.
    p.close();
    p.close();
    assert_eq!(p.write(b"x"), Err(RingError::Closed));
    let mut n = 0;
    loop {
        match c.read(&mut b) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(n, CAP as usize);
    assert_eq!(c.read(&mut b), Ok(0));
    assert!(c.is_ready());
    assert!(c.peek().unwrap().is_empty());
}

#[test]
fn reader_close_is_broken_pipe() {
    let (_r, _l, mut p, mut c) = ring0(CAP);
    assert_eq!(p.write(&[1; 100]), Ok(100));
    c.close();
    assert_eq!(c.read(&mut [0; 4]), Err(RingError::Closed));
    assert!(p.is_peer_closed());
    // Reported at the latest when the ring looks full; writable_len reloads at once.
    assert_eq!(p.writable_len(), Err(RingError::PeerClosed));
    let mut res = Ok(0);
    for _ in 0..=CAP {
        res = p.write(&[2; 64]);
        if res.is_err() {
            break;
        }
    }
    assert_eq!(res, Err(RingError::PeerClosed));
    let e = std::io::Error::from(RingError::PeerClosed);
    assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe);
}

#[test]
fn lend_across_wrap() {
    let (_r, _l, mut p, mut c) = ring0(CAP);
    // Move the indices to 100 bytes before the end.
    let pad = vec![0u8; CAP as usize - 100];
    assert_eq!(p.write(&pad), Ok(pad.len()));
    let mut sink = vec![0u8; pad.len()];
    assert_eq!(c.read(&mut sink), Ok(pad.len()));
    let data: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    assert_eq!(p.write(&data), Ok(300));
    {
        let mut s = c.peek().unwrap();
        assert_eq!(s.len(), 300);
        let (a, b) = s.as_slices();
        assert_eq!((a.len(), b.len()), (100, 200));
        assert_eq!([a, b].concat(), data);
        s.consume(150);
        // The rest starts past the wrap: one contiguous piece again.
        let (a, b) = s.as_slices();
        assert_eq!((a.len(), b.len()), (150, 0));
        assert_eq!(s.first(), &data[150..]);
        // Not released until the guard drops: no room yet.
        assert_eq!(s.len(), 150);
    }
    assert_eq!(p.writable_len(), Ok(CAP as usize - 150));
    // A guard dropped without consume releases nothing.
    drop(c.peek().unwrap());
    let (a, b) = c.lend().unwrap();
    assert_eq!((a.len(), b.len()), (150, 0));
    assert_eq!(a, &data[150..]);
    c.consume(150);
    assert_eq!(c.lend(), Err(RingError::WouldBlock));
    assert_eq!(p.writable_len(), Ok(CAP as usize));
}

#[test]
#[should_panic(expected = "beyond")]
fn consume_too_much_panics() {
    let (_r, _l, mut p, mut c) = ring0(CAP);
    p.write(&[1, 2, 3]).unwrap();
    let _ = c.lend().unwrap();
    c.consume(4);
}

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
                match rng.next() % 9 {
                    0 => h.prod.0.tail.store(v, Relaxed),
                    1 => h.cons.0.head.store(v, Relaxed),
                    2 => h.prod.0.writer_closed.store(v as u32, Relaxed),
                    3 => h.cons.0.reader_closed.store(v as u32, Relaxed),
                    4 => h.consumer_waiting.0.store(v as u32, Relaxed),
                    5 => h.producer_waiting.0.store(v as u32, Relaxed),
                    6 => h.id.0.capacity.store(v, Relaxed),
                    7 => h.id.0.magic.store(v, Relaxed),
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

/// Writes all of `buf`, parking on the room doorbell when full.
fn write_all(p: &mut Producer, notify: &Doorbell, room: &Doorbell, mut buf: &[u8]) {
    while !buf.is_empty() {
        match p.write(buf) {
            Ok(n) => {
                buf = &buf[n..];
                notify.notify_if_waiting().unwrap();
            }
            Err(RingError::WouldBlock) => {
                if !room.prepare_wait(|| p.is_ready()) {
                    room.futex_wait(Some(Duration::from_secs(5))).unwrap();
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Reads up to `buf.len()` bytes (at least one unless end of stream), parking when empty.
fn read_some(c: &mut Consumer, notify: &Doorbell, data: &Doorbell, buf: &mut [u8]) -> usize {
    loop {
        match c.read(buf) {
            Ok(n) => {
                notify.notify_if_waiting().unwrap();
                return n;
            }
            Err(RingError::WouldBlock) => {
                if !data.prepare_wait(|| c.is_ready()) {
                    data.futex_wait(Some(Duration::from_secs(5))).unwrap();
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn two_threads_stream_100_mb() {
    const TOTAL: usize = 100 << 20;
    let (_r, _l, mut p, mut c) = ring0(64 << 10);
    let writer = std::thread::spawn(move || {
        let notify = p.data_doorbell(Wake::Futex);
        let room = p.room_doorbell(Wake::Futex);
        let mut rng = XorShift(11);
        let mut sum = Sum::new();
        let mut chunk = vec![0u8; 7919];
        let mut sent = 0;
        while sent < TOTAL {
            let n = chunk.len().min(TOTAL - sent);
            rng.fill(&mut chunk[..n]);
            sum.add(&chunk[..n]);
            write_all(&mut p, &notify, &room, &chunk[..n]);
            sent += n;
        }
        p.close();
        notify.notify_if_waiting().unwrap();
        (sum, notify.stats(), room.stats())
    });
    let notify = c.room_doorbell(Wake::Futex);
    let data = c.data_doorbell(Wake::Futex);
    let mut sum = Sum::new();
    let mut buf = vec![0u8; 5003];
    let mut got = 0;
    loop {
        let n = read_some(&mut c, &notify, &data, &mut buf);
        if n == 0 {
            break;
        }
        sum.add(&buf[..n]);
        got += n;
    }
    let (sent_sum, wstats, rstats) = writer.join().unwrap();
    assert_eq!(got, TOTAL);
    assert_eq!(sum, sent_sum);
    eprintln!(
        "100 MB: writer notify {wstats:?}, writer room {rstats:?}, reader data {:?}, reader room {:?}",
        data.stats(),
        notify.stats()
    );
}

#[test]
fn doorbell_fast_path_and_states() {
    let (_r, _l, mut p, mut c) = ring0(CAP);
    let ring = p.data_doorbell(Wake::Futex);
    let wait = c.data_doorbell(Wake::Futex);
    // Nobody parked: no syscall.
    for _ in 0..1000 {
        p.write(&[1]).unwrap();
        assert!(!ring.notify_if_waiting().unwrap());
        c.read(&mut [0]).unwrap();
    }
    assert_eq!(ring.stats().rings, 0);
    assert_eq!(ring.stats().notify_checks, 1000);
    // Re-check finds data: do not sleep.
    p.write(&[1]).unwrap();
    assert!(wait.prepare_wait(|| c.is_ready()));
    assert!(!wait.is_parked());
    c.read(&mut [0]).unwrap();
    // Parked, then notified before sleeping: the futex wait returns at once.
    assert!(!wait.prepare_wait(|| c.is_ready()));
    assert!(wait.is_parked());
    p.write(&[1]).unwrap();
    assert!(ring.notify_if_waiting().unwrap());
    assert!(!wait.is_parked());
    assert_eq!(wait.futex_wait(None).unwrap(), WaitOutcome::NotParked);
    // Parked with nobody notifying: times out.
    c.read(&mut [0]).unwrap();
    assert!(!wait.prepare_wait(|| c.is_ready()));
    assert_eq!(
        wait.futex_wait(Some(Duration::from_millis(1))).unwrap(),
        WaitOutcome::TimedOut
    );
    wait.cancel_wait();
    assert!(!wait.is_parked());
    assert_eq!(ring.stats().rings, 1);
    assert_eq!(wait.stats().waits_prepared, 3);
    assert_eq!(wait.stats().waits_skipped, 1);
    assert_eq!(wait.stats().futex_waits, 2);
}

#[test]
fn eventfd_doorbell() {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let (_r, _l, mut p, mut c) = ring0(CAP);
    // SAFETY: plain eventfd creation; the result is checked.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(raw >= 0);
    // SAFETY: fresh fd we own.
    let efd = unsafe { OwnedFd::from_raw_fd(raw) };
    let ring = p.data_doorbell(Wake::EventFd(efd.try_clone().unwrap()));
    let wait = c.data_doorbell(Wake::Futex);
    assert!(!wait.prepare_wait(|| c.is_ready()));
    p.write(b"hi").unwrap();
    assert!(ring.notify_if_waiting().unwrap());
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into our local.
    let n = unsafe { libc::read(efd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
    assert_eq!((n, v), (8, 1));
}

/// Environment variable carrying the memfd number to the child process.
const CHILD_FD_ENV: &str = "RPAL_RING_TEST_CHILD_FD";
const CHILD_LEN_ENV: &str = "RPAL_RING_TEST_CHILD_LEN";
const CHILD_CAP: u64 = 16 << 10;

/// The child half of `cross_process_echo`: a no-op unless started by it.
#[test]
fn cross_process_child() {
    let (Ok(fd), Ok(len)) = (std::env::var(CHILD_FD_ENV), std::env::var(CHILD_LEN_ENV)) else {
        return;
    };
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: the parent left this fd open for us and nothing else in this process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd.parse().unwrap()) };
    let region = Arc::new(SharedRegion::from_fd(fd, len.parse().unwrap(), None).unwrap());
    let l = RegionLayout::new(CHILD_CAP).unwrap();
    let mut c = Consumer::new(&region, l.offsets[0], l.ring_len).unwrap();
    let mut p = Producer::new(&region, l.offsets[1], l.ring_len).unwrap();
    let (c_room, c_data) = (c.room_doorbell(Wake::Futex), c.data_doorbell(Wake::Futex));
    let (p_data, p_room) = (p.data_doorbell(Wake::Futex), p.room_doorbell(Wake::Futex));
    let mut buf = vec![0u8; 4096];
    loop {
        let n = read_some(&mut c, &c_room, &c_data, &mut buf);
        if n == 0 {
            break;
        }
        write_all(&mut p, &p_data, &p_room, &buf[..n]);
    }
    p.close();
    p_data.notify_if_waiting().unwrap();
}

#[test]
fn cross_process_echo() {
    use std::os::fd::AsRawFd;
    const TOTAL: usize = 8 << 20;
    let l = RegionLayout::new(CHILD_CAP).unwrap();
    let region = Arc::new(SharedRegion::create(l.region_len, None).unwrap());
    for off in l.offsets {
        init_ring(&region, off, l.ring_len, CHILD_CAP).unwrap();
    }
    // An inheritable duplicate for the child (the region's own fd is close-on-exec).
    let dup = region.try_clone_fd().unwrap();
    // SAFETY: plain fcntl on our fd: clear FD_CLOEXEC.
    assert_eq!(unsafe { libc::fcntl(dup.as_raw_fd(), libc::F_SETFD, 0) }, 0);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "rpal::tests::ring_stream::cross_process_child",
            "--nocapture",
        ])
        .env(CHILD_FD_ENV, dup.as_raw_fd().to_string())
        .env(CHILD_LEN_ENV, l.region_len.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    drop(dup);
    let mut p = Producer::new(&region, l.offsets[0], l.ring_len).unwrap();
    let mut c = Consumer::new(&region, l.offsets[1], l.ring_len).unwrap();
    let writer = std::thread::spawn(move || {
        let (data, room) = (p.data_doorbell(Wake::Futex), p.room_doorbell(Wake::Futex));
        let mut rng = XorShift(5);
        let mut sum = Sum::new();
        let mut chunk = vec![0u8; 3001];
        let mut sent = 0;
        while sent < TOTAL {
            let n = chunk.len().min(TOTAL - sent);
            rng.fill(&mut chunk[..n]);
            sum.add(&chunk[..n]);
            write_all(&mut p, &data, &room, &chunk[..n]);
            sent += n;
        }
        p.close();
        data.notify_if_waiting().unwrap();
        sum
    });
    let (room, data) = (c.room_doorbell(Wake::Futex), c.data_doorbell(Wake::Futex));
    let mut sum = Sum::new();
    let mut buf = vec![0u8; 4096];
    let mut got = 0;
    loop {
        let n = read_some(&mut c, &room, &data, &mut buf);
        if n == 0 {
            break;
        }
        sum.add(&buf[..n]);
        got += n;
    }
    assert!(child.wait().unwrap().success());
    assert_eq!(got, TOTAL);
    assert_eq!(sum, writer.join().unwrap());
}

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
