//! Heap-backed rings for the loom models (loom atomics cannot live in a real mapping).

use std::cell::UnsafeCell;
use std::ptr::NonNull;

use crate::rpal::ring::layout::RingHeader;
use crate::rpal::ring::{Consumer, Keep, Producer, RingRef};

/// Header, data bytes and one loom cell per data byte (to check each byte's happens-before).
struct HeapRing {
    header: Box<RingHeader>,
    data: Box<[UnsafeCell<u8>]>,
    shadow: Box<[loom::cell::UnsafeCell<()>]>,
}

// SAFETY: the header is atomics; the data bytes are accessed only by the ring endpoints, which own
// disjoint ranges as the ring protocol says (and loom checks that through `shadow`).
unsafe impl Send for HeapRing {}
// SAFETY: as above.
unsafe impl Sync for HeapRing {}

/// A producer and a consumer over a fresh heap ring of `capacity` bytes.
pub(super) fn pair(capacity: u64) -> (Producer, Consumer) {
    let ring = std::sync::Arc::new(HeapRing {
        header: RingHeader::new_boxed(capacity),
        data: (0..capacity).map(|_| UnsafeCell::new(0)).collect(),
        shadow: (0..capacity)
            .map(|_| loom::cell::UnsafeCell::new(()))
            .collect(),
    });
    let view = || {
        let header = NonNull::from(&*ring.header).cast::<u8>();
        // UnsafeCell<u8> has the layout of u8.
        let data = NonNull::new(ring.data.as_ptr() as *mut u8).unwrap();
        let shadow = NonNull::new(ring.shadow.as_ptr() as *mut loom::cell::UnsafeCell<()>).unwrap();
        // SAFETY: all three live in `ring`, which the view keeps alive through `Keep::Heap`.
        unsafe { RingRef::from_heap(header, data, capacity, shadow, Keep::Heap(ring.clone())) }
    };
    (
        Producer::from_ref(view()).unwrap(),
        Consumer::from_ref(view()).unwrap(),
    )
}
