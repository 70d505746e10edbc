//! The provided-buffer ring of an io_uring driver, for multishot `RECV`.
//!
//! Owns [`BufRing`]: [`ENTRIES`] buffers of [`BUF_SIZE`] bytes and the shared ring of
//! `io_uring_buf` entries through which the kernel picks one for each completion (buffer group
//! [`GROUP`]). Registered by the owning driver on its thread, the first time an operation asks
//! for it (`UringShared::buffers`).
//!
//! # Ownership of a buffer
//! * in the ring (published by `tail`): the kernel's; it may write into it at any time;
//! * named by a CQE (`IORING_CQE_F_BUFFER`, id in the upper flag bits): the consumer's, who
//!   reads `len` bytes and gives it back with [`BufRing::recycle`], which re-publishes it;
//! * the memory is freed only when the `BufRing` drops, which happens after the ring fd closed
//!   (the driver's `UringShared` outlives its `IoUring`), or never if the driver leaked it at
//!   shutdown because multishot operations were still in the kernel.
//!
//! ```text
//!  ring: [ io_uring_buf {addr, len, bid, resv} ; ENTRIES ]   (resv of entry 0 = tail, u16)
//!  data: [ buffer 0 | buffer 1 | ... ]  each BUF_SIZE bytes, bid = index
//! ```
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

use crate::loom::sync::Mutex;

/// Buffers in the ring (a power of two, at most 2^15).
pub(crate) const ENTRIES: u16 = 64;
/// Bytes per buffer.
pub(crate) const BUF_SIZE: usize = 16 * 1024;
/// The buffer group id multishot `RECV`s select from.
pub(crate) const GROUP: u16 = 0;
/// Alignment of the entry ring (the kernel wants it page-aligned).
const RING_ALIGN: usize = 4096;

/// The provided buffers of one driver.
#[derive(Debug)]
pub(crate) struct BufRing {
    /// `ENTRIES` entries, `RING_ALIGN`-aligned, from `alloc_zeroed`.
    ///
    /// # Invariant
    /// Written only under `tail`'s lock (entry fields) and read by the kernel.
    ring: *mut BufRingEntry,
    /// `ENTRIES * BUF_SIZE` bytes; buffer `bid` starts at `bid * BUF_SIZE`.
    data: *mut u8,
    /// The next tail to publish (entries up to it belong to the kernel).
    tail: Mutex<u16>,
}

// SAFETY: the raw pointers name heap blocks owned by this value; entries are written only under
// the `tail` mutex, and buffer bytes are read only by the holder of their id (module doc).
unsafe impl Send for BufRing {}
// SAFETY: as for `Send`: shared access goes through the mutex or the id ownership rule.
unsafe impl Sync for BufRing {}

fn ring_layout() -> Layout {
    Layout::from_size_align(
        ENTRIES as usize * std::mem::size_of::<BufRingEntry>(),
        RING_ALIGN,
    )
    .unwrap_or_else(|_| unreachable!("constant layout"))
}

fn data_layout() -> Layout {
    Layout::from_size_align(ENTRIES as usize * BUF_SIZE, RING_ALIGN)
        .unwrap_or_else(|_| unreachable!("constant layout"))
}

impl BufRing {
    /// Allocates the ring and its buffers, every buffer published to the kernel.
    ///
    /// # Errors
    /// Out of memory.
    pub(crate) fn new() -> io::Result<BufRing> {
        // SAFETY: both layouts have a non-zero size.
        let (ring, data) = unsafe {
            (
                alloc_zeroed(ring_layout()).cast::<BufRingEntry>(),
                alloc_zeroed(data_layout()),
            )
        };
        if ring.is_null() || data.is_null() {
            // SAFETY: each non-null pointer came from `alloc_zeroed` with that layout.
            unsafe {
                if !ring.is_null() {
                    dealloc(ring.cast(), ring_layout());
                }
                if !data.is_null() {
                    dealloc(data, data_layout());
                }
            }
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        let r = BufRing {
            ring,
            data,
            tail: Mutex::new(0),
        };
        for bid in 0..ENTRIES {
            r.recycle(bid);
        }
        Ok(r)
    }

    /// The address to register (`IORING_REGISTER_PBUF_RING`).
    pub(crate) fn ring_addr(&self) -> u64 {
        self.ring as u64
    }

    /// The first `len` bytes of buffer `bid`.
    ///
    /// # Safety
    /// The caller holds `bid` (a CQE named it and it was not recycled since) and `len` is at
    /// most what that CQE reported.
    pub(crate) unsafe fn bytes(&self, bid: u16, len: usize) -> &[u8] {
        let len = len.min(BUF_SIZE);
        let bid = (bid % ENTRIES) as usize;
        // SAFETY: `bid < ENTRIES`, so the range lies in `data`; the kernel does not write into a
        // buffer that a CQE handed out until it is recycled (the caller's duty).
        unsafe { std::slice::from_raw_parts(self.data.add(bid * BUF_SIZE), len) }
    }

    /// Gives buffer `bid` back to the kernel.
    pub(crate) fn recycle(&self, bid: u16) {
        let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let bid = bid % ENTRIES;
        let idx = (*tail & (ENTRIES - 1)) as usize;
        // SAFETY: `idx < ENTRIES`; entry fields are written only here, under the lock, and the
        // kernel reads an entry only once `tail` (published below) covers it.
        unsafe {
            let e = &mut *self.ring.add(idx);
            e.set_addr(self.data.add(bid as usize * BUF_SIZE) as u64);
            e.set_len(BUF_SIZE as u32);
            e.set_bid(bid);
        }
        *tail = tail.wrapping_add(1);
        // SAFETY: the tail lives in entry 0's reserved field, a properly aligned u16 inside our
        // allocation, which the kernel reads concurrently: publish it atomically with Release so
        // the entry written above is visible first.
        unsafe {
            let p = BufRingEntry::tail(self.ring.cast_const()).cast_mut();
            AtomicU16::from_ptr(p).store(*tail, Ordering::Release);
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: both blocks came from `alloc_zeroed` with these layouts, and the kernel no
        // longer uses them (module doc: dropped after the ring fd closed, or leaked).
        unsafe {
            dealloc(self.ring.cast(), ring_layout());
            dealloc(self.data, data_layout());
        }
    }
}
