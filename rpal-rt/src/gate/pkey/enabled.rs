//! Protection keys on x86_64 Linux: the twin with real hardware behind it (when `detect` says
//! so at run time; otherwise every function here degrades to the same no-op as `disabled`).

use std::io;

use super::{availability, pkru, sys};

/// An allocated hardware protection key, freed when dropped.
///
/// A new key starts access-disabled for the thread that allocates it; other threads keep
/// whatever their PKRU says for its index (Linux's default denies every key but 0).
///
/// # Examples
/// ```
/// use rpal_rt::gate::pkey::{ProtectionKey, ProtectionMask};
///
/// match ProtectionKey::new() {
///     Ok(key) => {
///         let rights = ProtectionMask::zero().or(&key);
///         assert!(rights.allows_write(&key));
///         assert!(!rights.without(&key).allows(&key));
///     }
///     Err(e) => println!("no protection keys on this machine: {e}"),
/// }
/// ```
#[derive(Debug)]
pub struct ProtectionKey {
    /// # Invariant
    /// A key this process owns (returned by `pkey_alloc`, not yet freed), in `1..16`.
    index: u32,
}

impl ProtectionKey {
    /// Allocates a key. Fails with `Unsupported` when keys are unavailable (see
    /// [`availability`](super::availability)) and with the OS error (`ENOSPC`) when all are taken.
    pub fn new() -> io::Result<ProtectionKey> {
        if !availability().is_available() {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "protection keys unavailable",
            ));
        }
        let index = sys::pkey_alloc(sys::PKEY_DISABLE_ACCESS)?;
        if !(1..16).contains(&index) {
            // Not a key PKRU can express; give it back rather than mis-tag memory.
            let _ = sys::pkey_free(index);
            return Err(io::Error::from(io::ErrorKind::InvalidData));
        }
        Ok(ProtectionKey { index })
    }

    /// The key's number (1..16), as `si_pkey` reports it in a fault.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// Sets `prot` on `[addr, addr + len)` and tags the range with this key.
    ///
    /// # Safety
    ///
    /// The range must be a page-aligned mapping owned by the caller, and no live Rust reference
    /// may rely on access that the new tag takes away under any thread's PKRU.
    pub(crate) unsafe fn protect(&self, addr: *mut u8, len: usize, prot: i32) -> io::Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { sys::pkey_mprotect(addr.cast(), len, prot, self.index) }
    }
}

impl Drop for ProtectionKey {
    fn drop(&mut self) {
        // The owner unmapped the key's memory first; a failed free only leaks the key.
        let _ = sys::pkey_free(self.index);
    }
}

/// A PKRU value: which keys the current thread may read and write.
///
/// # Examples
/// ```
/// use rpal_rt::gate::pkey::{current_mask, ProtectionKey, ProtectionMask};
///
/// let now = current_mask(); // this thread's PKRU, decoded
/// if let Ok(key) = ProtectionKey::new() {
///     let read_only = ProtectionMask::zero().or_read_only(&key);
///     assert!(read_only.allows(&key) && !read_only.allows_write(&key));
/// }
/// let _ = now.bits();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectionMask {
    /// Raw PKRU bits (see `pkru.rs` for the layout).
    pkru: u32,
}

const AD: u32 = 0b01;
const WD: u32 = 0b10;

impl ProtectionMask {
    /// Every key readable and writable (PKRU = 0).
    pub fn all() -> ProtectionMask {
        ProtectionMask { pkru: 0 }
    }

    /// Only key 0 (ordinary memory) accessible: Linux's default for a new program.
    pub fn zero() -> ProtectionMask {
        ProtectionMask { pkru: 0x5555_5554 }
    }

    /// This mask plus read and write access to `key`.
    #[must_use]
    pub fn or(self, key: &ProtectionKey) -> ProtectionMask {
        ProtectionMask {
            pkru: self.pkru & !((AD | WD) << (2 * key.index)),
        }
    }

    /// This mask plus read-only access to `key`.
    #[must_use]
    pub fn or_read_only(self, key: &ProtectionKey) -> ProtectionMask {
        let shift = 2 * key.index;
        ProtectionMask {
            pkru: (self.pkru & !(AD << shift)) | (WD << shift),
        }
    }

    /// This mask with all access to `key` removed.
    #[must_use]
    pub fn without(self, key: &ProtectionKey) -> ProtectionMask {
        ProtectionMask {
            pkru: self.pkru | (AD << (2 * key.index)),
        }
    }

    /// True when `key` may be read.
    pub fn allows(&self, key: &ProtectionKey) -> bool {
        self.pkru & (AD << (2 * key.index)) == 0
    }

    /// True when `key` may be written.
    pub fn allows_write(&self, key: &ProtectionKey) -> bool {
        self.pkru & ((AD | WD) << (2 * key.index)) == 0
    }

    /// The raw PKRU value (0 where keys are unavailable).
    pub fn bits(&self) -> u32 {
        self.pkru
    }
}

/// Makes `mask` the current thread's rights. A no-op when keys are unavailable.
///
/// Callers must keep the running code's own stack and data accessible under `mask`; the call
/// gate in this crate restores the previous mask with a guard on every exit path.
pub fn allow(mask: ProtectionMask) {
    if availability().is_available() {
        // SAFETY: availability() confirmed PKU + OSPKE. Denying memory cannot break Rust's
        // guarantees: a denied access faults (SIGSEGV), it never reads or writes wrongly.
        unsafe { pkru::write(mask.pkru) }
    }
}

/// The current thread's rights; [`ProtectionMask::all`] when keys are unavailable.
pub fn current_mask() -> ProtectionMask {
    if availability().is_available() {
        // SAFETY: availability() confirmed PKU + OSPKE.
        let pkru = unsafe { pkru::read() };
        ProtectionMask { pkru }
    } else {
        ProtectionMask::all()
    }
}

/// Allocates up to `max` keys (fewer when the hardware runs out, none when unavailable).
pub fn keys(max: usize) -> Vec<ProtectionKey> {
    let mut out = Vec::new();
    while out.len() < max {
        match ProtectionKey::new() {
            Ok(key) => out.push(key),
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_bits_follow_the_pkru_layout() {
        let key = ProtectionKey { index: 3 };
        let m = ProtectionMask::zero().or(&key);
        assert_eq!(m.bits(), 0x5555_5554 & !(0b11 << 6));
        assert!(m.allows(&key) && m.allows_write(&key));
        let r = m.or_read_only(&key);
        assert!(r.allows(&key) && !r.allows_write(&key));
        let d = r.without(&key);
        assert!(!d.allows(&key));
        // Not a real key: do not let Drop free index 3 of this process.
        std::mem::forget(key);
    }
}
