//! The ring over a real memfd: sizes across wrap-around (of the ring and of the 2^64 indices),
//! the lend API, full/empty/close, doorbells, two threads streaming 100 MB, and a child process
//! on the other end.

use std::time::Duration;

use super::support::*;
use crate::loom::sync::Arc;
use crate::rpal::doorbell::{WaitOutcome, Wake};
use crate::rpal::error::RingError;
use crate::rpal::ring::{init_ring, Consumer, Producer, RegionLayout};
use crate::rpal::shm::SharedRegion;

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
