//! The current thread's call chain: the union of the rights of every call in progress on it,
//! and the panic hook that uses it.
//!
//! Why: with [`Isolation::Exclusive`](super::Isolation::Exclusive) a nested handler runs with its
//! caller's key denied, and the caller's stack is tagged with that key. Code that walks the
//! whole stack from inside the handler, above all the panic hook capturing a backtrace
//! (`RUST_BACKTRACE=1`), follows corosensei's frame links into the caller's stack and faults.
//! The hook installed here widens PKRU to the chain's union for the duration of the previous
//! hook, then narrows it again; unwinding itself never leaves the handler's stack (the gate
//! catches the panic at the coroutine's root), so only the hook needs this.
//!
//! Invariant: `CHAIN` is `Some(mask)` exactly while at least one keyed call is in progress on
//! this thread, and `mask` allows the outermost caller's rights plus every key on the chain. It
//! is only changed by [`ChainGuard`], whose drops nest like the calls.

use std::cell::Cell;
use std::sync::Once;

use super::pkey::{allow, current_mask, ProtectionKey, ProtectionMask};

thread_local! {
    static CHAIN: Cell<Option<ProtectionMask>> = const { Cell::new(None) };
}

/// Adds one call's key to the chain; restores the previous chain when dropped.
pub(super) struct ChainGuard {
    prev: Option<ProtectionMask>,
}

impl ChainGuard {
    /// `saved` is the caller's rights at the call (used when this call starts the chain).
    pub(super) fn enter(saved: ProtectionMask, key: &ProtectionKey) -> ChainGuard {
        let prev = CHAIN.with(Cell::get);
        CHAIN.with(|c| c.set(Some(prev.unwrap_or(saved).or(key))));
        ChainGuard { prev }
    }
}

impl Drop for ChainGuard {
    fn drop(&mut self) {
        // try_with: during thread teardown the slot may be gone; nothing left to restore then.
        let _ = CHAIN.try_with(|c| c.set(self.prev));
    }
}

/// Wraps the process's panic hook (once) so it runs with the chain's rights.
///
/// A hook installed later with `std::panic::set_hook` replaces this wrapper; such a hook that
/// captures backtraces inside an exclusive nested handler faults (see the module doc).
pub(super) fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let chain = CHAIN.try_with(Cell::get).ok().flatten();
            let restore = chain.map(|wide| {
                let now = current_mask();
                allow(wide);
                now
            });
            prev(info);
            if let Some(now) = restore {
                allow(now);
            }
        }));
    });
}
