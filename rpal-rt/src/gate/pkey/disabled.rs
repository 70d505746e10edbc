//! Protection keys where the platform has none (not x86_64 Linux): the same names as `enabled`,
//! no-op functions, and an uninhabited [`ProtectionKey`] so every path holding a key is dead code
//! the compiler can prove dead.

use std::io;

/// An allocated hardware protection key; none can exist on this platform.
#[derive(Debug)]
pub enum ProtectionKey {}

impl ProtectionKey {
    /// Always fails with `Unsupported`.
    pub fn new() -> io::Result<ProtectionKey> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "protection keys unavailable",
        ))
    }

    /// Unreachable: no key exists.
    pub fn index(&self) -> u32 {
        match *self {}
    }

    /// Unreachable: no key exists.
    ///
    /// # Safety
    ///
    /// None needed (no key exists); kept for the same signature as the enabled twin.
    pub(crate) unsafe fn protect(&self, _addr: *mut u8, _len: usize, _prot: i32) -> io::Result<()> {
        match *self {}
    }
}

/// The rights of a thread; always "everything" here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtectionMask(());

impl ProtectionMask {
    /// Every key accessible.
    pub fn all() -> ProtectionMask {
        ProtectionMask(())
    }

    /// Only key 0 accessible (the same as `all` here).
    pub fn zero() -> ProtectionMask {
        ProtectionMask(())
    }

    /// Unreachable: no key exists.
    #[must_use]
    pub fn or(self, key: &ProtectionKey) -> ProtectionMask {
        match *key {}
    }

    /// Unreachable: no key exists.
    #[must_use]
    pub fn or_read_only(self, key: &ProtectionKey) -> ProtectionMask {
        match *key {}
    }

    /// Unreachable: no key exists.
    #[must_use]
    pub fn without(self, key: &ProtectionKey) -> ProtectionMask {
        match *key {}
    }

    /// Unreachable: no key exists.
    pub fn allows(&self, key: &ProtectionKey) -> bool {
        match *key {}
    }

    /// Unreachable: no key exists.
    pub fn allows_write(&self, key: &ProtectionKey) -> bool {
        match *key {}
    }

    /// Always 0.
    pub fn bits(&self) -> u32 {
        0
    }
}

/// No-op.
pub fn allow(_mask: ProtectionMask) {}

/// Always [`ProtectionMask::all`].
pub fn current_mask() -> ProtectionMask {
    ProtectionMask::all()
}

/// Always empty.
pub fn keys(_max: usize) -> Vec<ProtectionKey> {
    Vec::new()
}
