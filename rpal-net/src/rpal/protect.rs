//! Protection of ring memory with a memory protection key (where the CPU and kernel have them).
//!
//! Every ring region this process maps is tagged with one process-wide key. A thread that
//! touches a ring gets read-only rights to the key on first use ([`ensure_readable`]); the
//! transport's copy and publish routines open a short write window ([`write_window`]) around the
//! bytes they store. So application code that writes through a stray pointer into a ring (for
//! instance into bytes lent by `poll_fill_buf`) faults with `SEGV_PKUERR` instead of corrupting
//! what the peer reads.
//!
//! Without protection keys (no `pku`, `RPAL_NO_PKEY=1`, or no free key) every function here is
//! a no-op after one cached check; the call gate's detection logs why, once.

#[cfg(not(loom))]
mod imp {
    use std::cell::Cell;
    use std::sync::OnceLock;

    use rpal_rt::gate::pkey::{allow, current_mask, ProtectionKey, ProtectionMask};

    static RING_KEY: OnceLock<Option<ProtectionKey>> = OnceLock::new();

    thread_local! {
        /// This thread's PKRU already grants read access to the ring key.
        static READABLE: Cell<bool> = const { Cell::new(false) };
    }

    /// The ring key, allocated on first use; `None` without protection keys.
    pub(crate) fn ring_key() -> Option<&'static ProtectionKey> {
        RING_KEY.get_or_init(|| ProtectionKey::new().ok()).as_ref()
    }

    /// The key number to tag a new ring mapping with.
    pub(crate) fn ring_key_index() -> Option<i32> {
        ring_key().map(|k| k.index() as i32)
    }

    /// Grants this thread read access to ring memory (once per thread).
    #[inline]
    pub(crate) fn ensure_readable() {
        if READABLE.with(Cell::get) {
            return;
        }
        if let Some(k) = ring_key() {
            allow(current_mask().or_read_only(k));
        }
        READABLE.with(|r| r.set(true));
    }

    /// Write access to ring memory until dropped.
    #[must_use]
    pub(crate) struct WriteWindow(Option<ProtectionMask>);

    /// Opens a write window (no-op without protection keys).
    #[inline]
    pub(crate) fn write_window() -> WriteWindow {
        ensure_readable();
        match ring_key() {
            None => WriteWindow(None),
            Some(k) => {
                let before = current_mask();
                allow(before.or(k));
                WriteWindow(Some(before))
            }
        }
    }

    impl Drop for WriteWindow {
        #[inline]
        fn drop(&mut self) {
            if let Some(before) = self.0.take() {
                allow(before);
            }
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) fn ring_key_index() -> Option<i32> {
        None
    }
    pub(crate) fn ensure_readable() {}
    #[must_use]
    pub(crate) struct WriteWindow;
    pub(crate) fn write_window() -> WriteWindow {
        WriteWindow
    }
}

pub(crate) use imp::*;
