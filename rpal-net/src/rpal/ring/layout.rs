//! The `#[repr(C)]` header at the start of every ring in shared memory, and the layout of a region
//! holding the two rings of a stream.
//!
//! ```text
//!  offset  line  written by   fields
//!       0  id    creator      magic u64 | version u32 | (pad u32) | capacity u64   (read once)
//!     128  prod  producer     tail u64 | writer_closed u32
//!     256  cons  consumer     head u64 | reader_closed u32
//!     384  cw    both         consumer_waiting: word u32 (consumer sets 1, producer clears)
//!                                               | slot u32 (consumer's worker slot or NO_SLOT)
//!     512  pw    both         producer_waiting: word u32 (producer sets 1, consumer clears)
//!                                               | slot u32 (producer's worker slot or NO_SLOT)
//!     640  data  producer     capacity bytes
//! ```
//!
//! Each line is 128 bytes (two x86_64 cache lines, since the adjacent-line prefetcher pairs
//! them), so the producer's hot word, the consumer's hot word and the two parking words never
//! share a line. The `word` of `consumer_waiting`/`producer_waiting` doubles as the futex word of
//! the doorbell; `slot` names the waiter's worker in its process's worker-state table, so the
//! notifier can skip the wake-up while that worker runs (see [`doorbell`](crate::rpal::doorbell)).

//!
//! Every field is an atomic integer, so any byte pattern is a valid header: a reference to a
//! header over bytes a peer scribbled on is sound, and every value read is validated before use.

use crate::loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use crate::rpal::error::{Field, RingError};

/// "RPALRING" in little-endian: the first word of every ring header.
pub const RING_MAGIC: u64 = u64::from_le_bytes(*b"RPALRING");

/// Version of this header layout; bumped on any change to the table above.
pub const LAYOUT_VERSION: u32 = 2;

/// Bytes per padded line: two cache lines on x86_64 (the spatial prefetcher fetches pairs).
pub const LINE: usize = 128;

/// Number of padded lines in a header.
const HEADER_LINES: usize = 5;

/// Bytes from the start of a ring to its data area.
pub const HEADER_LEN: usize = HEADER_LINES * LINE;

/// Smallest data capacity a ring accepts. Under loom the ring shrinks so models stay small.
pub const MIN_CAPACITY: u64 = if cfg!(loom) { 2 } else { 4096 };

/// Largest data capacity a ring accepts (64 MiB).
pub const MAX_CAPACITY: u64 = 64 << 20;

/// Page size the region length is rounded to.
const PAGE: usize = 4096;

/// One 128-byte line holding `T` at its start.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct Line<T>(pub(crate) T);

/// Written once by the creator before the region is shared; read once by each endpoint when it
/// attaches (later changes by a peer are ignored: endpoints keep their validated copy).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Identity {
    pub(crate) magic: AtomicU64,
    pub(crate) version: AtomicU32,
    _pad: AtomicU32,
    pub(crate) capacity: AtomicU64,
}

/// Written only by the producer.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct ProducerLine {
    /// Free-running count of bytes published. Stored with Release after the bytes are copied in.
    pub(crate) tail: AtomicU64,
    /// 0 while open, 1 once the producer will publish nothing more (EOF after the data). Stored
    /// with Release after the last `tail`; never goes back to 0.
    pub(crate) writer_closed: AtomicU32,
}

/// Written only by the consumer.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct ConsumerLine {
    /// Free-running count of bytes released. Stored with Release after the bytes were copied out
    /// or the lent slices dropped; the producer may overwrite them only after seeing it.
    pub(crate) head: AtomicU64,
    /// 0 while open, 1 once the consumer will read nothing more; never goes back to 0.
    pub(crate) reader_closed: AtomicU32,
}

/// Value of a parking line's `slot` when the waiter publishes no worker slot: the notifier then
/// decides on `word` alone.
pub(crate) const NO_SLOT: u32 = u32::MAX;

/// A parking line: who waits, and on which worker.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Parking {
    /// 1 while the waiter wants a wake-up; the notifier clears it when it rings. The futex word.
    pub(crate) word: AtomicU32,
    /// The waiter's worker slot in its process's worker-state table (`rpal_rt::io::worker_state`),
    /// or [`NO_SLOT`]. With a slot, the notifier rings only if that worker is in WAIT.
    pub(crate) slot: AtomicU32,
}

/// The shared header of one ring (one direction of a stream).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RingHeader {
    pub(crate) id: Line<Identity>,
    pub(crate) prod: Line<ProducerLine>,
    pub(crate) cons: Line<ConsumerLine>,
    /// The consumer's parking line: `word` is 1 while it wants a wake-up for data (the producer
    /// clears it and wakes); the futex word of the data doorbell.
    pub(crate) consumer_waiting: Line<Parking>,
    /// The producer's parking line: `word` is 1 while it wants a wake-up for room (the consumer
    /// clears it and wakes); the futex word of the room doorbell.
    pub(crate) producer_waiting: Line<Parking>,
}

// The shared layout is an ABI between processes: pin it down. (Under loom the atomics are model
// objects of another size, so the checks only apply to real builds.)
#[cfg(not(loom))]
const _: () = {
    use std::mem::{align_of, offset_of, size_of};
    assert!(size_of::<RingHeader>() == HEADER_LEN);
    assert!(align_of::<RingHeader>() == LINE);
    assert!(offset_of!(RingHeader, prod) == LINE);
    assert!(offset_of!(RingHeader, cons) == 2 * LINE);
    assert!(offset_of!(RingHeader, consumer_waiting) == 3 * LINE);
    assert!(offset_of!(RingHeader, producer_waiting) == 4 * LINE);
    assert!(size_of::<Identity>() == 24);
    assert!(MIN_CAPACITY.is_power_of_two() && MAX_CAPACITY.is_power_of_two());
    assert!(HEADER_LEN.is_multiple_of(LINE));
};

impl RingHeader {
    /// Writes a fresh header: empty ring of `capacity` bytes, both ends open, nobody waiting.
    pub(crate) fn init(&self, capacity: u64) {
        self.prod.0.tail.store(0, Ordering::Relaxed);
        self.prod.0.writer_closed.store(0, Ordering::Relaxed);
        self.cons.0.head.store(0, Ordering::Relaxed);
        self.cons.0.reader_closed.store(0, Ordering::Relaxed);
        for p in [&self.consumer_waiting.0, &self.producer_waiting.0] {
            p.word.store(0, Ordering::Relaxed);
            p.slot.store(NO_SLOT, Ordering::Relaxed);
        }
        self.id.0.version.store(LAYOUT_VERSION, Ordering::Relaxed);
        self.id.0._pad.store(0, Ordering::Relaxed);
        self.id.0.capacity.store(capacity, Ordering::Relaxed);
        // Release: an endpoint that reads the magic with Acquire sees the fields above.
        self.id.0.magic.store(RING_MAGIC, Ordering::Release);
    }

    /// Validates the identity line against the `len` bytes the caller mapped for this ring and
    /// returns the capacity, which the endpoint then keeps (it never re-reads it).
    pub(crate) fn check(&self, len: usize) -> Result<u64, RingError> {
        let magic = self.id.0.magic.load(Ordering::Acquire);
        if magic != RING_MAGIC {
            return Err(RingError::corrupt(
                Field::Magic,
                magic,
                RING_MAGIC,
                "not an rpal ring header",
            ));
        }
        let version = self.id.0.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(RingError::corrupt(
                Field::Version,
                version.into(),
                LAYOUT_VERSION.into(),
                "unsupported ring layout version",
            ));
        }
        let capacity = self.id.0.capacity.load(Ordering::Relaxed);
        check_capacity(capacity)?;
        let needed = ring_len(capacity);
        if len < needed {
            return Err(RingError::corrupt(
                Field::Length,
                len as u64,
                needed as u64,
                "mapping shorter than header + capacity",
            ));
        }
        Ok(capacity)
    }
}

impl RingHeader {
    /// A header on the heap (for the loom models, whose atomics cannot live in a mapping).
    #[cfg(all(test, loom))]
    pub(crate) fn new_boxed(capacity: u64) -> Box<RingHeader> {
        let line = || {
            Line(Parking {
                word: AtomicU32::new(0),
                slot: AtomicU32::new(NO_SLOT),
            })
        };
        let h = Box::new(RingHeader {
            id: Line(Identity {
                magic: AtomicU64::new(0),
                version: AtomicU32::new(0),
                _pad: AtomicU32::new(0),
                capacity: AtomicU64::new(0),
            }),
            prod: Line(ProducerLine {
                tail: AtomicU64::new(0),
                writer_closed: AtomicU32::new(0),
            }),
            cons: Line(ConsumerLine {
                head: AtomicU64::new(0),
                reader_closed: AtomicU32::new(0),
            }),
            consumer_waiting: line(),
            producer_waiting: line(),
        });
        h.init(capacity);
        h
    }
}

/// Checks that `capacity` is a power of two in [`MIN_CAPACITY`, `MAX_CAPACITY`].
pub(crate) fn check_capacity(capacity: u64) -> Result<(), RingError> {
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(RingError::corrupt(
            Field::Capacity,
            capacity,
            MAX_CAPACITY,
            "capacity must be a power of two in [MIN_CAPACITY, MAX_CAPACITY]",
        ));
    }
    Ok(())
}

/// Bytes one ring of `capacity` occupies: header plus data. `capacity` must be checked first.
pub const fn ring_len(capacity: u64) -> usize {
    HEADER_LEN + capacity as usize
}

const fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Where the two rings of a stream live in one shared region.
///
/// Ring 0 carries client-to-server bytes, ring 1 server-to-client. Both start on a [`LINE`]
/// boundary; the region length is a whole number of pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionLayout {
    /// Data capacity of each ring in bytes.
    pub capacity: u64,
    /// Bytes of one ring (header + data).
    pub ring_len: usize,
    /// Offsets of ring 0 (client to server) and ring 1 (server to client) in the region.
    pub offsets: [usize; 2],
    /// Total region length, a multiple of the page size.
    pub region_len: usize,
}

impl RegionLayout {
    /// The layout for two rings of `capacity` bytes each.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] naming [`Field::Capacity`] if `capacity` is not a power of two in
    /// [`MIN_CAPACITY`, `MAX_CAPACITY`].
    ///
    /// # Examples
    ///
    /// ```
    /// use rpal_net::rpal::ring::RegionLayout;
    /// let l = RegionLayout::new(64 * 1024).unwrap();
    /// assert_eq!(l.offsets[0], 0);
    /// assert!(l.offsets[1] >= l.ring_len);
    /// assert_eq!(l.region_len % 4096, 0);
    /// ```
    pub fn new(capacity: u64) -> Result<Self, RingError> {
        check_capacity(capacity)?;
        let ring_len = ring_len(capacity);
        let second = round_up(ring_len, LINE);
        Ok(RegionLayout {
            capacity,
            ring_len,
            offsets: [0, second],
            region_len: round_up(second + ring_len, PAGE),
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        for shift in 12..=26 {
            let l = RegionLayout::new(1 << shift).unwrap();
            assert_eq!(l.ring_len, HEADER_LEN + (1 << shift));
            assert_eq!(l.offsets[1] % LINE, 0);
            assert!(l.offsets[1] + l.ring_len <= l.region_len);
        }
        assert!(RegionLayout::new(3000).is_err());
        assert!(RegionLayout::new(2048).is_err());
        assert!(RegionLayout::new(128 << 20).is_err());
        assert!(RegionLayout::new(0).is_err());
    }
}
