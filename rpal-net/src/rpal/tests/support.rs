//! Helpers shared by the ring tests: a deterministic byte source, a stream checksum, a region
//! with two initialised rings, and blocking read/write loops over the doorbells.

use std::time::Duration;

use crate::loom::sync::Arc;
use crate::rpal::doorbell::Doorbell;
use crate::rpal::error::RingError;
use crate::rpal::ring::layout::RingHeader;
use crate::rpal::ring::{init_ring, Consumer, Producer, RegionLayout};
use crate::rpal::shm::SharedRegion;

/// Ring capacity of most tests: the smallest allowed, so data wraps often.
pub(super) const CAP: u64 = 4096;

/// A deterministic xorshift64* byte source.
pub(super) struct XorShift(pub(super) u64);
impl XorShift {
    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// FNV-1a over a stream, fed piecewise.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Sum(u64);
impl Sum {
    pub(super) fn new() -> Self {
        Sum(0xcbf2_9ce4_8422_2325)
    }
    pub(super) fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// A region with both rings initialised, and ring 0's two endpoints.
pub(super) fn ring0(cap: u64) -> (Arc<SharedRegion>, RegionLayout, Producer, Consumer) {
    let l = RegionLayout::new(cap).unwrap();
    let region = Arc::new(SharedRegion::create(l.region_len, None).unwrap());
    for off in l.offsets {
        init_ring(&region, off, l.ring_len, cap).unwrap();
    }
    let p = Producer::new(&region, l.offsets[0], l.ring_len).unwrap();
    let c = Consumer::new(&region, l.offsets[0], l.ring_len).unwrap();
    (region, l, p, c)
}

pub(super) fn header(region: &SharedRegion, off: usize) -> &RingHeader {
    // SAFETY: an initialised, aligned ring header inside the live region.
    unsafe { region.as_ptr().add(off).cast::<RingHeader>().as_ref() }
}

/// Writes all of `buf`, parking on the room doorbell when full.
pub(super) fn write_all(p: &mut Producer, notify: &Doorbell, room: &Doorbell, mut buf: &[u8]) {
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
pub(super) fn read_some(
    c: &mut Consumer,
    notify: &Doorbell,
    data: &Doorbell,
    buf: &mut [u8],
) -> usize {
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
