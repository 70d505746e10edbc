//! A channel send/recv pair that does not wait allocates nothing (counted by a global
//! allocator on this test's thread).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> usize {
    ALLOCS.with(Cell::get)
}

#[test]
fn send_recv_without_waiting_does_not_allocate() {
    let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    rt.block_on(async {
        let (tx, mut rx) = rpal_rt::sync::mpsc::channel::<u64>(8);
        let (utx, mut urx) = rpal_rt::sync::mpsc::unbounded_channel::<u64>();
        let (ltx, mut lrx) = rpal_rt::sync::local::mpsc::channel::<u64>(8);
        // Warm up (the unbounded queue grows to its working size once).
        for i in 0..16 {
            utx.send(i).unwrap();
        }
        while urx.try_recv().is_ok() {}
        let before = allocs();
        for i in 0..1000 {
            tx.send(i).await.unwrap();
            assert_eq!(rx.recv().await, Some(i));
            tx.try_send(i).unwrap();
            assert_eq!(rx.try_recv(), Ok(i));
            utx.send(i).unwrap();
            assert_eq!(urx.recv().await, Some(i));
            ltx.send(i).await.unwrap();
            assert_eq!(lrx.recv().await, Some(i));
            let p = tx.reserve().await.unwrap();
            p.send(i);
            assert_eq!(rx.recv().await, Some(i));
        }
        assert_eq!(allocs() - before, 0);
    });
}
