//! The reading end of a ring: copy out, or lend the data in place and release it later.

use std::ptr::NonNull;
use std::slice;

use super::{Keep, Own, RingProbe, RingRef};
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::Arc;
use crate::rpal::doorbell::{Doorbell, Wake};
use crate::rpal::error::{Field, RingError};
use crate::rpal::shm::SharedRegion;

/// The reading end of a ring.
///
/// Owns the published bytes `[head, tail)`. [`read`](Self::read) copies them out;
/// [`peek`](Self::peek) (a guard) and [`lend`](Self::lend) + [`consume`](Self::consume) give them
/// in place. Dropping the consumer sets `reader_closed`, so the producer's writes fail with
/// [`RingError::PeerClosed`]; it does not ring a doorbell: the owner should
/// [`close`](Self::close) and then notify the room doorbell.
///
/// `Send` but not `Sync`: one thread at a time owns the reading end.
///
/// ```compile_fail
/// fn is_sync<T: Sync>() {}
/// is_sync::<rpal_net::rpal::ring::Consumer>();
/// ```
#[derive(Debug)]
pub struct Consumer {
    ring: RingRef,
    /// Bytes released so far (the value last stored to the shared `head`).
    head: u64,
    /// `head` again, in local memory, for this ring's probes (which must not trust the shared
    /// copy, see [`RingProbe`]). Stored right after the shared `head`.
    mirror: Arc<AtomicU64>,
    /// Last validated shared `tail`: `head <= tail <= head + capacity`.
    tail: u64,
    /// The tail seen when `writer_closed` was first seen set; the tail may not move after it.
    eof_tail: Option<u64>,
    /// `close` was called.
    closed: bool,
    /// Set on the first corruption; returned by every later call.
    poison: Option<RingError>,
}

impl Consumer {
    /// Attaches the consumer to the ring at `offset` (of `len` bytes) in `region`; the region
    /// stays mapped while the consumer or any doorbell made from it lives.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the range is outside the region or misaligned, or the header is
    /// not a valid ring header, or its indices are inconsistent.
    pub fn new(region: &Arc<SharedRegion>, offset: usize, len: usize) -> Result<Self, RingError> {
        Self::from_ref(RingRef::in_region(region, offset, len)?)
    }

    /// Attaches the consumer to the ring header at `base`.
    ///
    /// # Errors
    ///
    /// As for [`Consumer::new`].
    ///
    /// # Safety
    ///
    /// `base` must point to `len` readable and writable bytes, aligned to 128, that stay mapped
    /// until the consumer and every doorbell made from it are dropped. There must be at most one
    /// consumer per ring.
    pub unsafe fn from_raw(base: NonNull<u8>, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded caller contract.
        Self::from_ref(unsafe { RingRef::attach(base, len, Keep::Caller) }?)
    }

    pub(crate) fn from_ref(ring: RingRef) -> Result<Self, RingError> {
        let h = ring.header();
        let head = h.cons.0.head.load(Ordering::Relaxed);
        let mut c = Consumer {
            tail: head,
            head,
            mirror: Arc::new(AtomicU64::new(head)),
            ring,
            eof_tail: None,
            closed: false,
            poison: None,
        };
        c.refresh_tail()?;
        Ok(c)
    }

    /// A thread-safe probe of this ring for waiters (see [`RingProbe`]).
    pub fn probe(&self) -> RingProbe {
        RingProbe::new(&self.ring, Own::Head(self.mirror.clone()))
    }

    /// Data capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// A doorbell on this consumer's own parking word, to wait on when a read returns
    /// [`RingError::WouldBlock`] ([`Doorbell::prepare_wait`] with [`Consumer::is_ready`] as the
    /// re-check); the producer rings it when it publishes or closes.
    pub fn data_doorbell(&self, wake: Wake) -> Doorbell {
        self.ring
            .doorbell(&self.ring.header().consumer_waiting.0, wake)
    }

    /// A doorbell on the producer's parking word: ring it ([`Doorbell::notify_if_waiting`])
    /// after releasing bytes or [`close`](Self::close). `wake` is how the producer is woken.
    pub fn room_doorbell(&self, wake: Wake) -> Doorbell {
        self.ring
            .doorbell(&self.ring.header().producer_waiting.0, wake)
    }

    fn fail<T>(&mut self, e: RingError) -> Result<T, RingError> {
        self.poison = Some(e);
        Err(e)
    }

    /// Reloads and validates the producer's `tail`.
    fn refresh_tail(&mut self) -> Result<(), RingError> {
        let tail = self.ring.header().prod.0.tail.load(Ordering::Acquire);
        if let Some(end) = self.eof_tail {
            if tail != end {
                return self.fail(RingError::corrupt(
                    Field::Tail,
                    tail,
                    end,
                    "tail moved after writer_closed was set",
                ));
            }
            return Ok(());
        }
        let avail = tail.wrapping_sub(self.head);
        if avail < self.tail.wrapping_sub(self.head) {
            return self.fail(RingError::corrupt(
                Field::Tail,
                tail,
                self.tail,
                "tail moved backwards",
            ));
        }
        if avail > self.ring.capacity() {
            return self.fail(RingError::corrupt(
                Field::Tail,
                tail,
                self.head.wrapping_add(self.ring.capacity()),
                "tail more than capacity ahead of head",
            ));
        }
        self.tail = tail;
        Ok(())
    }

    /// Bytes ready to read, reloading `tail` if fewer than `want` are cached. `Ok(0)` means end of
    /// stream.
    fn available(&mut self, want: usize) -> Result<usize, RingError> {
        if let Some(e) = self.poison {
            return Err(e);
        }
        if self.closed {
            return Err(RingError::Closed);
        }
        let cached = (self.tail.wrapping_sub(self.head)) as usize;
        if cached >= want.max(1) {
            return Ok(cached);
        }
        self.refresh_tail()?;
        let avail = (self.tail.wrapping_sub(self.head)) as usize;
        if avail > 0 {
            return Ok(avail);
        }
        // Empty: is the writer gone? Acquire pairs with the producer's Release of the flag, so
        // the reload below sees its final tail.
        let flag = self
            .ring
            .header()
            .prod
            .0
            .writer_closed
            .load(Ordering::Acquire);
        match (flag, self.eof_tail) {
            (0, None) => Err(RingError::WouldBlock),
            (1, None) => {
                self.refresh_tail()?;
                self.eof_tail = Some(self.tail);
                Ok((self.tail.wrapping_sub(self.head)) as usize)
            }
            (1, Some(_)) => Ok(0),
            (v, _) => self.fail(RingError::corrupt(
                Field::WriterClosed,
                v.into(),
                1,
                "flag must be 0 or 1 and never reset",
            )),
        }
    }

    /// Marks `n` lent bytes as read and publishes `head` (Release): the producer may reuse them.
    fn release(&mut self, n: usize) {
        self.head = self.head.wrapping_add(n as u64);
        let _w = crate::rpal::protect::write_window();
        self.ring
            .header()
            .cons
            .0
            .head
            .store(self.head, Ordering::Release);
        self.mirror.store(self.head, Ordering::Release);
    }

    /// Copies published bytes into `buf` and releases them.
    ///
    /// Returns the number of bytes copied; `Ok(0)` for an empty `buf` or at end of stream (the
    /// writer closed and everything was read).
    ///
    /// # Errors
    ///
    /// [`RingError::WouldBlock`] if the ring is empty and the writer open;
    /// [`RingError::Closed`] after [`close`](Self::close); [`RingError::Corrupt`] for an invalid
    /// `tail` or flag (sticky).
    pub fn read(&mut self, buf: &mut [u8]) -> Result<usize, RingError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.available(buf.len())?.min(buf.len());
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: [head, head + n) is inside [head, tail), published and owned by us; n <= buf
        // len and <= capacity (validated tail).
        unsafe { self.ring.copy_out(self.head, &mut buf[..n]) };
        self.release(n);
        Ok(n)
    }

    /// Lends every published byte in place, as at most two slices (the second is non-empty only
    /// when the data wraps around the end of the ring). Both empty means end of stream.
    ///
    /// Nothing is released until [`consume`](Self::consume). The bytes are untrusted: see the
    /// module doc (a malicious producer may change them while lent).
    ///
    /// # Errors
    ///
    /// As for [`read`](Self::read).
    pub fn lend(&mut self) -> Result<(&[u8], &[u8]), RingError> {
        let n = self.available(usize::MAX)?;
        let [(p0, n0), (p1, n1)] = self.ring.raw_slices(self.head, n);
        // SAFETY: both pieces are inside the data area and cover [head, head + n), published
        // bytes the producer does not write until `head` moves past them, which needs `consume`
        // and so the end of this `&mut self` borrow. The mapping outlives `self` (RingRef).
        Ok(unsafe {
            (
                slice::from_raw_parts(p0.as_ptr(), n0),
                slice::from_raw_parts(p1.as_ptr(), n1),
            )
        })
    }

    /// Releases `n` bytes returned by the last [`lend`](Self::lend) (or cached from an earlier
    /// read), letting the producer reuse them.
    ///
    /// # Panics
    ///
    /// If `n` is more than the bytes known to be published (a caller bug).
    pub fn consume(&mut self, n: usize) {
        assert!(
            n as u64 <= self.tail.wrapping_sub(self.head),
            "consume({n}) beyond the {} published bytes",
            self.tail.wrapping_sub(self.head)
        );
        if n > 0 {
            self.release(n);
        }
    }

    /// Lends the published bytes through a guard that releases what was
    /// [`consume`](ReadSlices::consume)d when dropped.
    ///
    /// # Errors
    ///
    /// As for [`read`](Self::read).
    pub fn peek(&mut self) -> Result<ReadSlices<'_>, RingError> {
        let len = self.available(usize::MAX)?;
        Ok(ReadSlices {
            start: self.head,
            len,
            consumed: 0,
            consumer: self,
        })
    }

    /// True when a read would not return [`RingError::WouldBlock`]: data, end of stream or an
    /// error. The re-check for parking on the data doorbell.
    pub fn is_ready(&mut self) -> bool {
        !matches!(self.available(1), Err(RingError::WouldBlock))
    }

    /// Marks this end closed (`reader_closed = 1`, Release): the producer's writes then fail.
    /// Idempotent; ring the room doorbell afterwards so a producer waiting for room sees it.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        let _w = crate::rpal::protect::write_window();
        self.ring
            .header()
            .cons
            .0
            .reader_closed
            .store(1, Ordering::Release);
        self.closed = true;
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.close();
    }
}

/// Published bytes lent in place by [`Consumer::peek`]; releases the consumed part on drop.
///
/// The bytes are untrusted input that a malicious producer could change while lent (see the
/// [module doc](super)).
#[derive(Debug)]
pub struct ReadSlices<'a> {
    consumer: &'a mut Consumer,
    /// Index of the first lent byte.
    start: u64,
    /// Lent bytes.
    len: usize,
    /// Bytes consumed so far (released on drop).
    consumed: usize,
}

impl ReadSlices<'_> {
    /// Bytes lent and not yet consumed.
    pub fn len(&self) -> usize {
        self.len - self.consumed
    }

    /// True when nothing is left; a fresh guard is empty only at end of stream.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The unconsumed bytes as at most two slices, the second non-empty only on wrap-around.
    pub fn as_slices(&self) -> (&[u8], &[u8]) {
        let [(p0, n0), (p1, n1)] = self
            .consumer
            .ring
            .raw_slices(self.start.wrapping_add(self.consumed as u64), self.len());
        // SAFETY: the pieces cover unreleased published bytes inside the data area (see
        // Consumer::lend); the guard holds the consumer's `&mut`, so `head` cannot move while the
        // slices (borrowing the guard) live.
        unsafe {
            (
                slice::from_raw_parts(p0.as_ptr(), n0),
                slice::from_raw_parts(p1.as_ptr(), n1),
            )
        }
    }

    /// The first contiguous run of unconsumed bytes.
    pub fn first(&self) -> &[u8] {
        self.as_slices().0
    }

    /// Marks `n` more bytes as read; they are released when the guard drops.
    ///
    /// # Panics
    ///
    /// If `n` is more than [`len`](Self::len) (a caller bug).
    pub fn consume(&mut self, n: usize) {
        assert!(
            n <= self.len(),
            "consume({n}) beyond the {} lent bytes",
            self.len()
        );
        self.consumed += n;
    }
}

impl Drop for ReadSlices<'_> {
    fn drop(&mut self) {
        if self.consumed > 0 {
            self.consumer.release(self.consumed);
        }
    }
}
