//! A heap model of a peer's worker-state table for the loom models (the real one is a
//! read-only mapping made by rpal-rt, whose std atomics loom cannot see).

use crate::loom::sync::atomic::AtomicU32;

/// Slots 1..=len, like the real table (slot 0 is its header).
#[derive(Debug)]
pub(crate) struct ModelTable {
    words: Vec<AtomicU32>,
}

impl ModelTable {
    /// `slots` workers, all RUNNING.
    pub(crate) fn new(slots: usize) -> ModelTable {
        ModelTable {
            words: (0..slots).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// The word of slot `index` (1-based), `None` out of range.
    pub(crate) fn word(&self, index: u32) -> Option<&AtomicU32> {
        (index as usize)
            .checked_sub(1)
            .and_then(|i| self.words.get(i))
    }
}
