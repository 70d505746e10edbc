//! A domain's arena: one anonymous mapping, tagged with the domain's protection key, carved by a
//! bump pointer into request and response buffers.
//!
//! A call takes a [`Arena::mark`], allocates its buffers contiguously above it, and on exit
//! [`Arena::free`]s the region `[mark, end)`. Synchronous calls nest strictly, so their region is
//! always the topmost and freeing it just lowers the bump pointer. An async call can stay
//! suspended while later calls allocate above it and can finish before them; its region then
//! becomes a *hole*, remembered until every region above it is gone, when the bump pointer drops
//! below it too. So a top-level call still leaves the arena empty, and no call's buffers are ever
//! handed to another call while it is in flight.
//!
//! The arena never dereferences its memory itself: it hands out addresses. Whoever touches them
//! must hold rights to the domain's key (the call gate grants them for the call's duration).

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr;
use std::rc::Rc;

use super::pkey::ProtectionKey;

#[derive(Debug)]
pub(crate) struct Arena {
    /// # Invariant
    /// Start of a live read-write mapping of `len` bytes owned by this value, tagged with `key`.
    base: *mut u8,
    len: usize,
    /// Bytes in use from `base`; `top <= len`.
    top: Cell<usize>,
    /// Freed regions `[start, end)` below `top`, sorted by `end`; none touches `top`.
    holes: RefCell<Vec<(usize, usize)>>,
    /// Declared last: freed after `Drop::drop` unmapped the memory it tags.
    _key: Option<Rc<ProtectionKey>>,
}

impl Arena {
    /// Maps `len` bytes (rounded up to pages) and tags them with `key`.
    pub(crate) fn new(len: usize, key: Option<Rc<ProtectionKey>>) -> io::Result<Arena> {
        let len = len.max(1).div_ceil(4096) * 4096;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh anonymous private mapping at an address the kernel picks.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let arena = Arena {
            base: base.cast(),
            len,
            top: Cell::new(0),
            holes: RefCell::new(Vec::new()),
            _key: key,
        };
        if let Some(key) = &arena._key {
            // SAFETY: the whole mapping made above; nothing references it yet. On error `arena`
            // drops and unmaps it.
            unsafe { key.protect(arena.base, len, prot)? };
        }
        Ok(arena)
    }

    /// Address of the first byte.
    pub(crate) fn base_addr(&self) -> usize {
        self.base as usize
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.len
    }

    /// Bytes currently allocated.
    pub(crate) fn used(&self) -> usize {
        self.top.get()
    }

    /// Current bump position, for a later [`Arena::free`].
    pub(crate) fn mark(&self) -> usize {
        self.top.get()
    }

    /// Frees the region `[start, end)`: `start` is the [`Arena::mark`] taken before the region's
    /// allocations, `end` the mark right after them. A region below live ones becomes a hole until
    /// they are freed (see the module doc).
    pub(crate) fn free(&self, start: usize, end: usize) {
        debug_assert!(start <= end && end <= self.top.get());
        let mut holes = self.holes.borrow_mut();
        if end == self.top.get() {
            self.top.set(start);
            while let Some(&(s, e)) = holes.last() {
                if e != self.top.get() {
                    break;
                }
                self.top.set(s);
                holes.pop();
            }
        } else if start < end {
            let at = holes.partition_point(|&(_, e)| e < end);
            holes.insert(at, (start, end));
        }
    }

    /// `len` bytes aligned to 16, or `None` if they do not fit.
    pub(crate) fn alloc(&self, len: usize) -> Option<*mut u8> {
        let start = self.top.get().checked_add(15)? & !15;
        let end = start.checked_add(len)?;
        if end > self.len {
            return None;
        }
        self.top.set(end);
        // SAFETY: start <= len, so the result stays inside the mapping (or one past its end
        // for a zero-length allocation).
        Some(unsafe { self.base.add(start) })
    }

    /// Bytes left after alignment.
    pub(crate) fn remaining(&self) -> usize {
        self.len.saturating_sub((self.top.get() + 15) & !15)
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: the mapping is owned by this value and no buffer outlives a call, so nothing
        // references it now. A failure leaks address space only.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_mark_release() {
        let a = Arena::new(8192, None).unwrap();
        let m = a.mark();
        let p = a.alloc(10).unwrap();
        let q = a.alloc(10).unwrap();
        assert_eq!(q as usize - p as usize, 16);
        assert!(a.alloc(a.capacity()).is_none());
        a.free(m, a.mark());
        assert_eq!(a.used(), 0);
    }

    #[test]
    fn out_of_order_frees_leave_holes_until_the_top_goes() {
        let a = Arena::new(8192, None).unwrap();
        let m0 = a.mark();
        a.alloc(100).unwrap();
        let m1 = a.mark();
        a.alloc(100).unwrap();
        let m2 = a.mark();
        a.alloc(100).unwrap();
        let m3 = a.mark();
        a.free(m0, m1); // the oldest finishes first: a hole
        assert_eq!(a.used(), m3);
        a.free(m1, m2); // another hole
        assert_eq!(a.used(), m3);
        let m4 = a.alloc(10).map(|_| a.mark()).unwrap(); // new region on top of the live one
        a.free(m3, m4);
        assert_eq!(a.used(), m3);
        a.free(m2, m3); // the top goes: both holes merge away
        assert_eq!(a.used(), 0);
        assert!(a.holes.borrow().is_empty());
    }
}
