//! The writing end of a ring: copy in, publish `tail` with Release, close.

use std::ptr::NonNull;

use super::{Keep, Own, RingProbe, RingRef};
use crate::loom::sync::atomic::{AtomicU64, Ordering};
use crate::loom::sync::Arc;
use crate::rpal::doorbell::{Doorbell, Wake};
use crate::rpal::error::{Field, RingError};
use crate::rpal::shm::SharedRegion;

/// The writing end of a ring.
///
/// Owns the free space `[tail, head + capacity)`. Bytes written with
/// [`write_buffered`](Self::write_buffered) become visible to the consumer only at
/// [`publish`](Self::publish); [`write`](Self::write) does both. Dropping the producer publishes
/// and closes (the consumer then reads end of stream), but does not ring a doorbell: the owner
/// should [`close`](Self::close) and then notify the data doorbell.
///
/// `Send` but not `Sync`: one thread at a time owns the writing end.
///
/// ```compile_fail
/// fn is_sync<T: Sync>() {}
/// is_sync::<rpal_net::rpal::ring::Producer>();
/// ```
#[derive(Debug)]
pub struct Producer {
    ring: RingRef,
    /// Next index to write. `published <= tail <= head + capacity`.
    tail: u64,
    /// Last value stored to the shared `tail`.
    published: u64,
    /// `published` again, in local memory, for this ring's probes (which must not trust the
    /// shared copy, see [`RingProbe`]). Stored right after the shared `tail`.
    mirror: Arc<AtomicU64>,
    /// Last validated shared `head`: `head <= published`.
    head: u64,
    /// `close` was called: `writer_closed` is set and no more bytes will be published.
    closed: bool,
    /// Set on the first corruption; returned by every later call.
    poison: Option<RingError>,
}

impl Producer {
    /// Attaches the producer to the ring at `offset` (of `len` bytes) in `region`; the region
    /// stays mapped while the producer or any doorbell made from it lives.
    ///
    /// # Errors
    ///
    /// [`RingError::Corrupt`] if the range is outside the region or misaligned, or the header is
    /// not a valid ring header (magic, version, capacity, length), or its indices are
    /// inconsistent.
    pub fn new(region: &Arc<SharedRegion>, offset: usize, len: usize) -> Result<Self, RingError> {
        Self::from_ref(RingRef::in_region(region, offset, len)?)
    }

    /// Attaches the producer to the ring header at `base`.
    ///
    /// # Errors
    ///
    /// As for [`Producer::new`].
    ///
    /// # Safety
    ///
    /// `base` must point to `len` readable and writable bytes, aligned to 128, that stay mapped
    /// until the producer and every doorbell made from it are dropped. There must be at most one
    /// producer per ring.
    pub unsafe fn from_raw(base: NonNull<u8>, len: usize) -> Result<Self, RingError> {
        // SAFETY: forwarded caller contract.
        Self::from_ref(unsafe { RingRef::attach(base, len, Keep::Caller) }?)
    }

    pub(crate) fn from_ref(ring: RingRef) -> Result<Self, RingError> {
        let h = ring.header();
        let tail = h.prod.0.tail.load(Ordering::Relaxed);
        let head = h.cons.0.head.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.capacity() {
            return Err(RingError::corrupt(
                Field::Tail,
                tail,
                head.wrapping_add(ring.capacity()),
                "tail more than capacity ahead of head",
            ));
        }
        let closed = match h.prod.0.writer_closed.load(Ordering::Relaxed) {
            0 => false,
            1 => true,
            v => {
                return Err(RingError::corrupt(
                    Field::WriterClosed,
                    v.into(),
                    1,
                    "flag must be 0 or 1",
                ))
            }
        };
        Ok(Producer {
            ring,
            tail,
            published: tail,
            mirror: Arc::new(AtomicU64::new(tail)),
            head,
            closed,
            poison: None,
        })
    }

    /// A thread-safe probe of this ring for waiters (see [`RingProbe`]).
    pub fn probe(&self) -> RingProbe {
        RingProbe::new(&self.ring, Own::Tail(self.mirror.clone()))
    }

    /// Data capacity of the ring in bytes.
    pub fn capacity(&self) -> usize {
        self.ring.capacity() as usize
    }

    /// Bytes copied in but not yet published.
    pub fn unpublished_len(&self) -> usize {
        (self.tail.wrapping_sub(self.published)) as usize
    }

    /// A doorbell on the consumer's parking word: ring it
    /// ([`Doorbell::notify_if_waiting`]) after [`publish`](Self::publish) or
    /// [`close`](Self::close). `wake` is how the sleeping consumer is woken.
    pub fn data_doorbell(&self, wake: Wake) -> Doorbell {
        self.ring
            .doorbell(&self.ring.header().consumer_waiting.0, wake)
    }

    /// A doorbell on this producer's own parking word, to wait on when a write returns
    /// [`RingError::WouldBlock`] ([`Doorbell::prepare_wait`] with [`Producer::is_ready`] as the
    /// re-check); the consumer rings it when it frees space.
    pub fn room_doorbell(&self, wake: Wake) -> Doorbell {
        self.ring
            .doorbell(&self.ring.header().producer_waiting.0, wake)
    }

    fn usable(&self) -> Result<(), RingError> {
        if let Some(e) = self.poison {
            return Err(e);
        }
        if self.closed {
            return Err(RingError::Closed);
        }
        Ok(())
    }

    fn room(&self) -> usize {
        (self.ring.capacity() - (self.tail.wrapping_sub(self.head))) as usize
    }

    /// Reloads and validates the consumer's `head` and `reader_closed`.
    fn refresh_head(&mut self) -> Result<(), RingError> {
        let h = self.ring.header();
        let head = h.cons.0.head.load(Ordering::Acquire);
        // The consumer can only release what we published: last head <= head <= published.
        if head.wrapping_sub(self.head) > self.published.wrapping_sub(self.head) {
            let e = RingError::corrupt(
                Field::Head,
                head,
                self.published,
                "head moved backwards or past the published tail",
            );
            self.poison = Some(e);
            return Err(e);
        }
        self.head = head;
        match h.cons.0.reader_closed.load(Ordering::Acquire) {
            0 => Ok(()),
            1 => Err(RingError::PeerClosed),
            v => {
                let e = RingError::corrupt(Field::ReaderClosed, v.into(), 1, "flag must be 0 or 1");
                self.poison = Some(e);
                Err(e)
            }
        }
    }

    /// Copies as much of `buf` as fits, without publishing it.
    ///
    /// Returns the number of bytes copied (`Ok(0)` only for an empty `buf`).
    ///
    /// # Errors
    ///
    /// [`RingError::WouldBlock`] if the ring is full; [`RingError::PeerClosed`] once the reader
    /// closed (seen when the producer reloads `head`, at the latest when the ring looks full);
    /// [`RingError::Closed`] after [`close`](Self::close); [`RingError::Corrupt`] for an invalid
    /// `head` or flag (sticky).
    pub fn write_buffered(&mut self, buf: &[u8]) -> Result<usize, RingError> {
        self.usable()?;
        if buf.is_empty() {
            return Ok(0);
        }
        if self.room() < buf.len() {
            self.refresh_head()?;
        }
        let n = self.room().min(buf.len());
        if n == 0 {
            return Err(RingError::WouldBlock);
        }
        // SAFETY: [tail, tail + n) is inside [tail, head + capacity), the producer's free space
        // (head validated <= published <= tail); n <= capacity.
        unsafe { self.ring.copy_in(self.tail, &buf[..n]) };
        self.tail = self.tail.wrapping_add(n as u64);
        Ok(n)
    }

    /// Makes every byte copied so far visible to the consumer (Release store of `tail`).
    ///
    /// Returns true if new bytes were published: then ring the data doorbell.
    pub fn publish(&mut self) -> bool {
        if self.tail == self.published {
            return false;
        }
        let _w = crate::rpal::protect::write_window();
        self.ring
            .header()
            .prod
            .0
            .tail
            .store(self.tail, Ordering::Release);
        self.published = self.tail;
        self.mirror.store(self.tail, Ordering::Release);
        true
    }

    /// Copies as much of `buf` as fits and publishes it.
    ///
    /// # Errors
    ///
    /// As for [`write_buffered`](Self::write_buffered).
    pub fn write(&mut self, buf: &[u8]) -> Result<usize, RingError> {
        let n = self.write_buffered(buf)?;
        self.publish();
        Ok(n)
    }

    /// Free space in bytes, after reloading the consumer's `head`.
    ///
    /// # Errors
    ///
    /// As for [`write_buffered`](Self::write_buffered), except that a full ring is `Ok(0)`.
    pub fn writable_len(&mut self) -> Result<usize, RingError> {
        self.usable()?;
        self.refresh_head()?;
        Ok(self.room())
    }

    /// True when a write would not return [`RingError::WouldBlock`]: there is room, or the
    /// write would fail for another reason. The re-check for parking on the room doorbell.
    pub fn is_ready(&mut self) -> bool {
        !matches!(self.writable_len(), Ok(0))
    }

    /// True if the reader has closed its end (reloads `reader_closed`).
    pub fn is_peer_closed(&self) -> bool {
        self.ring
            .header()
            .cons
            .0
            .reader_closed
            .load(Ordering::Acquire)
            != 0
    }

    /// Publishes what was copied and marks the end of the stream. Idempotent. The consumer reads
    /// the remaining bytes, then end of stream; ring the data doorbell afterwards.
    pub fn close(&mut self) {
        if self.closed {
            return;
        }
        self.publish();
        // Release: a consumer that sees the flag also sees the final tail.
        let _w = crate::rpal::protect::write_window();
        self.ring
            .header()
            .prod
            .0
            .writer_closed
            .store(1, Ordering::Release);
        self.closed = true;
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.close();
    }
}
