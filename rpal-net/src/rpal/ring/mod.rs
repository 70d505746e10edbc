//! The single-producer single-consumer byte ring that carries one direction of an RpalStream.
//!
//! Exports [`Producer`] (copy in, publish), [`Consumer`] (copy out, or lend slices in place with
//! [`ReadSlices`]), the shared [`layout`] and [`init_ring`] for the side that creates a region.
//!
//! # Protocol
//!
//! `head` and `tail` are free-running `u64` byte counters; byte `i` lives at `data[i % capacity]`,
//! capacity a power of two. A fresh ring starts both at 0, so they would take centuries to wrap,
//! but a peer may hand over any starting value: all index arithmetic is modulo 2^64 (wrapping),
//! and "a <= b" below means `b.wrapping_sub(a)` is small. The bytes in `[head, tail)` belong to the consumer, the rest of the data area to the
//! producer:
//!
//! * the producer copies into its free space, then stores `tail` with Release (publish);
//! * the consumer loads `tail` with Acquire, copies out (or lends) `[head, tail)`, then stores
//!   `head` with Release (release);
//! * the producer loads `head` with Acquire before reusing released space.
//!
//! Each side keeps a private copy of its own index and a cached copy of the other's, and touches
//! the other side's line only when its cache says it is out of room (producer) or data (consumer):
//! while both run, a byte costs one copy in, one copy out and amortised cache-line hand-offs.
//! The producer may copy several writes before one publish ([`Producer::write_buffered`] +
//! [`Producer::publish`]).
//!
//! End of stream: the producer publishes its last `tail`, then stores `writer_closed = 1`
//! (Release); a consumer that finds the ring empty loads `writer_closed` (Acquire), reloads `tail`
//! and reports end of stream only if the ring is still empty. `reader_closed` tells the producer
//! that nobody will read: its writes then fail with [`RingError::PeerClosed`] (checked whenever it
//! reloads `head`, so at the latest when the ring looks full).
//!
//! Waiting is not part of the ring: an endpoint that gets [`RingError::WouldBlock`] parks on a
//! [`Doorbell`] obtained from it, using
//! [`Consumer::is_ready`]/[`Producer::is_ready`] as the re-check.
//!
//! # Failure model: the peer is untrusted
//!
//! The peer process can write anything into the shared region at any time. The ring stays memory
//! safe and live regardless:
//!
//! * the capacity is read and checked once, when an endpoint attaches; later changes are ignored;
//! * every index or flag loaded from shared memory is validated before use: the consumer requires
//!   `last_tail <= tail <= head + capacity` (no backwards moves, never more than a ring of data),
//!   no move of `tail` after `writer_closed`, and flags that are 0 or 1 and never reset; the
//!   producer requires `last_head <= head <= published_tail`;
//! * a violation returns [`RingError::Corrupt`] and poisons the endpoint; nothing panics, no
//!   offset is ever computed from an unvalidated value, and no loop spins on shared values;
//! * all offsets are masked with the endpoint's own capacity and every copy is split at the wrap,
//!   so no access leaves the data area even if validation had a bug.
//!
//! # Shared bytes and Rust references
//!
//! The header is a struct of atomics, so `&RingHeader` over shared memory is sound whatever the
//! peer writes. The data area is never referenced as `&[u8]`/`&mut [u8]` while the other side may
//! write it: the producer copies in with `ptr::copy_nonoverlapping` into space it owns, the
//! consumer copies out of space it owns. The only references are the consumer's lent slices
//! ([`Consumer::lend`], [`ReadSlices`]), over `[head, tail)`, which an honest producer does not
//! touch until `head` moves past them. A malicious producer can still change those bytes while they
//! are lent; this cannot break memory safety of the ring (every index comes from validated
//! atomics), but the reader must treat lent bytes as untrusted input that may change between two
//! reads: parse them once, or copy them out first when a value is checked and then used.

mod consumer;
pub mod layout;
mod probe;
mod producer;

use std::fmt;
use std::ptr::{self, NonNull};

pub use consumer::{Consumer, ReadSlices};
pub use layout::{RegionLayout, HEADER_LEN, MAX_CAPACITY, MIN_CAPACITY};
use probe::Own;
pub use probe::RingProbe;
pub use producer::Producer;

use crate::loom::sync::Arc;
use crate::rpal::doorbell::{Doorbell, Wake};
use crate::rpal::error::{Field, RingError};
use crate::rpal::shm::SharedRegion;
use layout::RingHeader;

/// Writes a fresh ring header (empty, both ends open) at `offset` of `region`.
///
/// Call it on the creating side, before the region is handed to the peer; `len` is the space the
/// ring may use ([`RegionLayout::ring_len`]).
///
/// # Errors
///
/// [`RingError::Corrupt`] naming [`Field::Capacity`] for a capacity that is not a power of two
/// in range, or [`Field::Length`] if the ring does not fit in the region at that offset or the
/// offset is not aligned to [`layout::LINE`].
pub fn init_ring(
    region: &SharedRegion,
    offset: usize,
    len: usize,
    capacity: u64,
) -> Result<(), RingError> {
    layout::check_capacity(capacity)?;
    let base = region_slice(region, offset, len)?;
    if len < layout::ring_len(capacity) {
        return Err(RingError::corrupt(
            Field::Length,
            len as u64,
            layout::ring_len(capacity) as u64,
            "ring space shorter than header + capacity",
        ));
    }
    // SAFETY: `region_slice` checked that `[offset, offset + len)` lies inside the live mapping
    // and is LINE-aligned, and a header is only atomics, so the reference is valid whatever the
    // bytes hold.
    let header = unsafe { base.cast::<RingHeader>().as_ref() };
    let _w = crate::rpal::protect::write_window();
    header.init(capacity);
    Ok(())
}

/// Checks that `[offset, offset + len)` is inside `region` and LINE-aligned; returns its start.
fn region_slice(
    region: &SharedRegion,
    offset: usize,
    len: usize,
) -> Result<NonNull<u8>, RingError> {
    let end = offset.checked_add(len);
    if end.is_none_or(|e| e > region.len())
        || !offset.is_multiple_of(layout::LINE)
        || len < HEADER_LEN
    {
        return Err(RingError::corrupt(
            Field::Length,
            offset as u64,
            region.len() as u64,
            "ring offset/length outside the region, not 128-byte aligned, or shorter than a header",
        ));
    }
    // SAFETY: offset + len <= region.len(), so the result is inside the mapping (non-null).
    Ok(unsafe { region.as_ptr().add(offset) })
}

/// What keeps the mapping behind a [`RingRef`] alive. The payloads are never read: they are held
/// for their `Drop`.
#[derive(Clone)]
#[allow(dead_code)]
pub(crate) enum Keep {
    /// The caller of an `unsafe` constructor promised it.
    Caller,
    /// A shared region, unmapped only when the last endpoint and doorbell drop.
    Region(Arc<SharedRegion>),
    /// Test-only heap backing (used by the loom models, which cannot use a real mapping).
    #[cfg(test)]
    Heap(std::sync::Arc<dyn std::any::Any + Send + Sync>),
}

/// A validated view of one ring: header pointer, data pointer and the capacity read at attach.
pub(crate) struct RingRef {
    /// # Invariant
    /// Points to a LINE-aligned header that stays mapped while `keep` (or the caller) says so.
    header: NonNull<RingHeader>,
    /// # Invariant
    /// Points to `capacity` bytes right after the header, mapped as long as `header`.
    data: NonNull<u8>,
    /// Validated once: a power of two in [MIN_CAPACITY, MAX_CAPACITY]; never re-read.
    capacity: u64,
    /// Loom only: one model cell per data byte, so loom checks that every byte read
    /// happens-after its write (the real bytes are plain memory loom cannot see).
    #[cfg(loom)]
    shadow: Option<NonNull<loom::cell::UnsafeCell<()>>>,
    keep: Keep,
}

// SAFETY: the header is atomics and the data area is only touched through the copy functions
// below, whose callers own the byte ranges they touch (see the module doc); the mapping is kept
// alive by `keep`. Moving the view to another thread changes none of that.
unsafe impl Send for RingRef {}

impl fmt::Debug for RingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingRef")
            .field("header", &self.header)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl RingRef {
    /// Attaches to the ring header at `base`, validating it.
    ///
    /// # Safety
    ///
    /// `base` must be 128-byte aligned and point to `len` bytes that stay mapped (readable and
    /// writable, possibly shared with another process) until the returned view and everything
    /// made from it are dropped, unless `keep` guarantees that itself.
    unsafe fn attach(base: NonNull<u8>, len: usize, keep: Keep) -> Result<Self, RingError> {
        if !(base.as_ptr() as usize).is_multiple_of(layout::LINE) || len < HEADER_LEN {
            return Err(RingError::corrupt(
                Field::Length,
                len as u64,
                HEADER_LEN as u64,
                "ring base not 128-byte aligned or shorter than a header",
            ));
        }
        let header = base.cast::<RingHeader>();
        // SAFETY: aligned and at least HEADER_LEN bytes mapped (caller); all-atomic struct, so
        // any bytes are a valid header.
        let capacity = unsafe { header.as_ref() }.check(len)?;
        // SAFETY: check() verified HEADER_LEN + capacity <= len, so the data area is in bounds.
        let data = unsafe { base.add(HEADER_LEN) };
        Ok(RingRef {
            header,
            data,
            capacity,
            #[cfg(loom)]
            shadow: None,
            keep,
        })
    }

    /// Attaches to the ring at `offset` in `region`, keeping the region mapped.
    fn in_region(region: &Arc<SharedRegion>, offset: usize, len: usize) -> Result<Self, RingError> {
        let base = region_slice(region, offset, len)?;
        // SAFETY: region_slice checked bounds and alignment; the Arc in `keep` keeps it mapped.
        unsafe { Self::attach(base, len, Keep::Region(region.clone())) }
    }

    /// Test-only view over heap memory (loom models). `shadow` as for the field.
    ///
    /// # Safety
    ///
    /// `header` and `data` (of `capacity` bytes) and `shadow` (of `capacity` cells) must live as
    /// long as `keep`.
    #[cfg(test)]
    #[allow(dead_code)]
    pub(crate) unsafe fn from_heap(
        header: NonNull<u8>,
        data: NonNull<u8>,
        capacity: u64,
        #[cfg(loom)] shadow: NonNull<loom::cell::UnsafeCell<()>>,
        keep: Keep,
    ) -> Self {
        RingRef {
            header: header.cast(),
            data,
            capacity,
            #[cfg(loom)]
            shadow: Some(shadow),
            keep,
        }
    }

    pub(crate) fn header(&self) -> &RingHeader {
        crate::rpal::protect::ensure_readable();
        // SAFETY: valid and mapped while self lives (field invariant); all atomics.
        unsafe { self.header.as_ref() }
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    pub(crate) fn keep(&self) -> &Keep {
        &self.keep
    }

    fn mask(&self) -> u64 {
        self.capacity - 1
    }

    /// A doorbell on one of this ring's parking lines.
    pub(crate) fn doorbell(&self, word: &layout::Parking, wake: Wake) -> Doorbell {
        // SAFETY: `word` is inside this ring's header, which stays mapped as long as `keep`
        // (cloned into the doorbell) or, for `Keep::Caller`, as long as the caller promised for
        // this ring and everything made from it.
        unsafe { Doorbell::from_raw(NonNull::from(word), wake, self.keep.clone()) }
    }

    /// Splits the `len` bytes starting at free-running index `at` into at most two in-bounds
    /// `(offset, len)` pieces. `len` is clamped to the capacity, so the pieces never leave the
    /// data area.
    fn pieces(&self, at: u64, len: usize) -> [(usize, usize); 2] {
        let cap = self.capacity as usize;
        let len = len.min(cap);
        let pos = (at & self.mask()) as usize;
        let first = len.min(cap - pos);
        [(pos, first), (0, len - first)]
    }

    /// Copies `src` into the data area at free-running index `at`.
    ///
    /// # Safety
    ///
    /// `[at, at + src.len())` must be free space owned by the producer calling this (not
    /// published and not lent), and `src.len() <= capacity`.
    pub(crate) unsafe fn copy_in(&self, at: u64, src: &[u8]) {
        let _w = crate::rpal::protect::write_window();
        debug_assert!(src.len() as u64 <= self.capacity);
        let mut from = 0;
        for (off, n) in self.pieces(at, src.len()) {
            self.shadow_write(off, n);
            // SAFETY: off + n <= capacity (pieces), so the destination is inside the data area;
            // the producer owns these bytes (caller), and src does not overlap shared memory.
            unsafe {
                ptr::copy_nonoverlapping(src.as_ptr().add(from), self.data.as_ptr().add(off), n)
            };
            from += n;
        }
    }

    /// Copies bytes at free-running index `at` into `dst`.
    ///
    /// # Safety
    ///
    /// `[at, at + dst.len())` must be published data owned by the consumer calling this, and
    /// `dst.len() <= capacity`.
    pub(crate) unsafe fn copy_out(&self, at: u64, dst: &mut [u8]) {
        debug_assert!(dst.len() as u64 <= self.capacity);
        let mut to = 0;
        for (off, n) in self.pieces(at, dst.len()) {
            self.shadow_read(off, n);
            // SAFETY: off + n <= capacity, so the source is inside the data area; the consumer
            // owns these bytes (caller); dst is our own buffer.
            unsafe {
                ptr::copy_nonoverlapping(self.data.as_ptr().add(off), dst.as_mut_ptr().add(to), n)
            };
            to += n;
        }
    }

    /// The data at `[at, at + len)` as up to two raw slices (the second is empty unless the range
    /// wraps).
    pub(crate) fn raw_slices(&self, at: u64, len: usize) -> [(NonNull<u8>, usize); 2] {
        self.pieces(at, len).map(|(off, n)| {
            self.shadow_read(off, n);
            // SAFETY: off <= capacity, so the pointer is inside (or one past) the data area.
            (unsafe { self.data.add(off) }, n)
        })
    }

    #[cfg(loom)]
    fn shadow_write(&self, off: usize, n: usize) {
        if let Some(s) = self.shadow {
            for i in off..off + n {
                // SAFETY: i < capacity, the shadow has capacity cells and lives as long as keep.
                unsafe { (*s.as_ptr().add(i)).with_mut(|_| ()) };
            }
        }
    }

    #[cfg(loom)]
    fn shadow_read(&self, off: usize, n: usize) {
        if let Some(s) = self.shadow {
            for i in off..off + n {
                // SAFETY: as in shadow_write.
                unsafe { (*s.as_ptr().add(i)).with(|_| ()) };
            }
        }
    }

    #[cfg(not(loom))]
    #[inline(always)]
    fn shadow_write(&self, _off: usize, _n: usize) {}

    #[cfg(not(loom))]
    #[inline(always)]
    fn shadow_read(&self, _off: usize, _n: usize) {}
}

/// Compile-time check: endpoints, doorbells and regions can move to another thread.
#[allow(dead_code)]
fn _ensure_send() {
    fn is_send<T: Send>() {}
    is_send::<Producer>();
    is_send::<Consumer>();
    is_send::<Doorbell>();
    is_send::<SharedRegion>();
    fn is_sync<T: Sync>() {}
    is_sync::<SharedRegion>();
}
