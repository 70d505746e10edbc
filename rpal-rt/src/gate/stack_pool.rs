//! A per-domain pool of coroutine stacks: mmap'd, a PROT_NONE guard page below each, tagged with
//! the domain's protection key when it has one, reused through a free list, capped at a maximum
//! count. Taking a stack never blocks: an empty pool at the cap is an error for the caller.
//!
//! Ownership: a [`PooledStack`] is either in a coroutine (one call's handler runs on it) or in the
//! pool's free list. Dropping a `PooledStack` puts its memory back in the free list; the pool
//! unmaps everything when its last handle goes. Memory of a stack is only ever reused by the same
//! domain, so stale bytes on a reused stack never cross a domain boundary.

use std::cell::{Cell, RefCell};
use std::io;
use std::ptr;
use std::rc::Rc;

use corosensei::stack::{Stack, StackPointer, MIN_STACK_SIZE, STACK_ALIGNMENT};

use super::pkey::ProtectionKey;

/// Why a stack could not be handed out.
#[derive(Debug)]
pub(crate) enum TakeError {
    /// All `max` stacks are in use.
    Exhausted,
    /// mmap or (pkey_)mprotect failed.
    Os(io::Error),
}

/// One mapping: `[addr, addr + len)`, of which the lowest page is the guard.
#[derive(Debug, Clone, Copy)]
struct Region {
    addr: usize,
    len: usize,
}

#[derive(Debug)]
struct Shared {
    /// Regions not in use, ready for the next call (LIFO: the warmest stack first).
    free: RefCell<Vec<Region>>,
    /// Regions currently mapped (in use + free). Never exceeds `max`.
    live: Cell<usize>,
    max: usize,
    /// Usable bytes per stack (page multiple), guard page excluded.
    usable: usize,
    page: usize,
    /// Declared last: the key outlives the unmapping done in `Drop::drop`.
    key: Option<Rc<ProtectionKey>>,
}

/// The pool; cheap to clone (one `Rc`).
#[derive(Debug, Clone)]
pub(crate) struct StackPool {
    shared: Rc<Shared>,
}

impl StackPool {
    /// A pool of up to `max` stacks of at least `size` usable bytes, tagged with `key`.
    pub(crate) fn new(size: usize, max: usize, key: Option<Rc<ProtectionKey>>) -> StackPool {
        let page = page_size();
        let usable = size.max(MIN_STACK_SIZE).div_ceil(page) * page;
        StackPool {
            shared: Rc::new(Shared {
                free: RefCell::new(Vec::new()),
                live: Cell::new(0),
                max,
                usable,
                page,
                key,
            }),
        }
    }

    /// A stack from the free list, or a new mapping if fewer than `max` exist.
    pub(crate) fn take(&self) -> Result<PooledStack, TakeError> {
        let s = &self.shared;
        let region = match s.free.borrow_mut().pop() {
            Some(r) => r,
            None if s.live.get() < s.max => {
                let r = s.map().map_err(TakeError::Os)?;
                s.live.set(s.live.get() + 1);
                r
            }
            None => return Err(TakeError::Exhausted),
        };
        Ok(PooledStack {
            region,
            pool: self.shared.clone(),
        })
    }

    /// Stacks mapped right now (in use + idle).
    pub(crate) fn live(&self) -> usize {
        self.shared.live.get()
    }

    /// Stacks mapped and idle.
    pub(crate) fn idle(&self) -> usize {
        self.shared.free.borrow().len()
    }
}

impl Shared {
    fn map(&self) -> io::Result<Region> {
        let len = self.usable + self.page;
        // SAFETY: a fresh anonymous private mapping at an address the kernel picks; it aliases
        // nothing.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let region = Region {
            addr: addr as usize,
            len,
        };
        let usable = (region.addr + self.page) as *mut u8;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let res = match &self.key {
            // SAFETY: `usable..usable + self.usable` lies inside the mapping made above, which
            // nothing references yet.
            Some(key) => unsafe { key.protect(usable, self.usable, prot) },
            None => {
                // SAFETY: as above.
                if unsafe { libc::mprotect(usable.cast(), self.usable, prot) } == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            }
        };
        if let Err(e) = res {
            unmap(region);
            return Err(e);
        }
        Ok(region)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Every PooledStack holds an Rc to this, so all regions are in the free list now.
        for region in self.free.get_mut().drain(..) {
            unmap(region);
        }
    }
}

fn unmap(region: Region) {
    // SAFETY: the region is a mapping this module made, and nothing uses it any more (it is
    // either failed set-up or a free-list entry of a dying pool). A failure leaks address space.
    unsafe { libc::munmap(region.addr as *mut libc::c_void, region.len) };
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(page)
        .ok()
        .filter(|p| p.is_power_of_two())
        .unwrap_or(4096)
}

/// A stack on loan from the pool; goes back to the free list when dropped.
#[derive(Debug)]
pub(crate) struct PooledStack {
    /// # Invariant
    /// A live mapping of `pool`: guard page at `addr`, the rest read-write (key-tagged).
    region: Region,
    pool: Rc<Shared>,
}

impl Drop for PooledStack {
    fn drop(&mut self) {
        self.pool.free.borrow_mut().push(self.region);
    }
}

// SAFETY: corosensei needs (1) a guard page that catches overflow: the lowest page of the region
// is PROT_NONE and `limit()` includes it; (2) at least MIN_STACK_SIZE usable bytes: `usable` is
// rounded up from at least that; (3) `base` and `limit` aligned to STACK_ALIGNMENT: both are
// page-aligned (checked below); (4) the memory stays valid while the coroutine owns the stack:
// the region is unmapped only by the pool's Drop, which cannot run while this value holds an Rc
// to it, and the region is never handed to a second PooledStack while this one exists.
unsafe impl Stack for PooledStack {
    fn base(&self) -> StackPointer {
        let top = self.region.addr + self.region.len;
        debug_assert_eq!(top % STACK_ALIGNMENT, 0);
        // A mapping never ends at address 0.
        StackPointer::new(top).unwrap_or(StackPointer::MIN)
    }

    fn limit(&self) -> StackPointer {
        debug_assert_eq!(self.region.addr % STACK_ALIGNMENT, 0);
        // mmap never returns address 0 for a non-MAP_FIXED mapping.
        StackPointer::new(self.region.addr).unwrap_or(StackPointer::MIN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_and_caps() {
        let pool = StackPool::new(16 * 1024, 2, None);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert!(matches!(pool.take(), Err(TakeError::Exhausted)));
        assert_eq!(pool.live(), 2);
        let a_base = a.base();
        drop(a);
        assert_eq!(pool.idle(), 1);
        let c = pool.take().unwrap();
        assert_eq!(c.base(), a_base);
        drop((b, c));
        assert_eq!((pool.live(), pool.idle()), (2, 2));
    }
}
