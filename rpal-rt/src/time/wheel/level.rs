//! One level of the wheel: 64 slots, each a list of entries, and a bitfield of the non-empty ones.
//!
//! Level `n` has slots `64^n` ticks wide; slot `s` of level `n` holds entries whose position tick
//! `p` satisfies `(p >> 6n) & 63 == s`. Which *window* of 64 slots a slot stands for is not
//! stored: slot `s` stands for its first occurrence at or after the slot that contains the
//! wheel's elapsed tick (see [`Level::next_expiration`]). The wheel keeps every occupied slot
//! within the 63 slots after the elapsed tick's slot (or at it, only transiently while `process`
//! runs), which makes that reading unambiguous.

use slab::Slab;

use super::entry::{Entry, List, ListId};

/// log2 of the number of slots per level.
pub(super) const SLOT_BITS: u32 = 6;
/// Slots per level; equal to the bit width of the occupied bitfield.
pub(super) const SLOTS: usize = 1 << SLOT_BITS;
/// Mask of a slot index.
pub(super) const SLOT_MASK: u64 = (SLOTS as u64) - 1;

/// The earliest occupied slot of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Expiration {
    /// Level number.
    pub(super) level: usize,
    /// Slot index in that level.
    pub(super) slot: usize,
    /// First tick the slot covers; the wheel must process the slot once `now >= start`.
    pub(super) start: u64,
    /// Lower bound on the deadlines of the slot's entries (exact unless one was cancelled).
    pub(super) min_when: u64,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    list: List,
    /// Lower bound of `when` over the slot's entries; `u64::MAX` when empty.
    min_when: u64,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            list: List::default(),
            min_when: u64::MAX,
        }
    }
}

/// One level of the wheel.
#[derive(Debug)]
pub(super) struct Level {
    /// Level number: slots are `64^level` ticks wide.
    level: usize,
    /// Bit `s` is set iff slot `s` is non-empty.
    occupied: u64,
    slots: [Slot; SLOTS],
}

impl Level {
    /// An empty level number `level`.
    pub(super) fn new(level: usize) -> Level {
        Level {
            level,
            occupied: 0,
            slots: [Slot::default(); SLOTS],
        }
    }

    /// Bits to shift a tick right to get its slot number on this level.
    pub(super) fn shift(&self) -> u32 {
        SLOT_BITS * self.level as u32
    }

    /// Slot index of position tick `pos` on this level.
    pub(super) fn slot_for(&self, pos: u64) -> usize {
        ((pos >> self.shift()) & SLOT_MASK) as usize
    }

    /// Links entry `index` (deadline `when`) into the slot of position tick `pos`.
    pub(super) fn push(&mut self, slab: &mut Slab<Entry>, index: usize, pos: u64, when: u64) {
        let slot = self.slot_for(pos);
        let id = ListId::Slot {
            level: self.level as u8,
            slot: slot as u8,
        };
        let s = &mut self.slots[slot];
        s.list.push_back(slab, index, id);
        s.min_when = s.min_when.min(when);
        self.occupied |= 1 << slot;
    }

    /// Unlinks entry `index` from slot `slot`, where it must be.
    pub(super) fn unlink(&mut self, slab: &mut Slab<Entry>, slot: usize, index: usize) {
        let s = &mut self.slots[slot];
        s.list.unlink(slab, index);
        if s.list.is_empty() {
            s.min_when = u64::MAX;
            self.occupied &= !(1 << slot);
        }
    }

    /// Empties slot `slot` and returns its list (to be walked and relinked by the caller).
    pub(super) fn take(&mut self, slot: usize) -> List {
        self.occupied &= !(1 << slot);
        let s = &mut self.slots[slot];
        s.min_when = u64::MAX;
        s.list.take()
    }

    /// The first occupied slot at or after the slot holding `elapsed`, found with one rotate and
    /// one `trailing_zeros`; `None` when the level is empty.
    pub(super) fn next_expiration(&self, elapsed: u64) -> Option<Expiration> {
        if self.occupied == 0 {
            return None;
        }
        let shift = self.shift();
        let elapsed_slot_number = elapsed >> shift;
        let current = (elapsed_slot_number & SLOT_MASK) as u32;
        let ahead = u64::from(self.occupied.rotate_right(current).trailing_zeros());
        let slot = ((u64::from(current) + ahead) & SLOT_MASK) as usize;
        let start = (elapsed_slot_number + ahead) << shift;
        Some(Expiration {
            level: self.level,
            slot,
            start,
            min_when: self.slots[slot].min_when,
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn next_expiration_wraps_around() {
        let mut slab = Slab::new();
        let mut level = Level::new(1);
        assert_eq!(level.next_expiration(0), None);
        // elapsed sits in slot 62 of level 1 (ticks 62*64 .. 63*64).
        let elapsed = 62 * 64 + 5;
        // Position in slot 1 of the next window: 64*64 + 64.
        let pos = 64 * 64 + 64 + 3;
        let idx = slab.insert(Entry::new(pos, 1, None));
        level.push(&mut slab, idx, pos, pos);
        let exp = level.next_expiration(elapsed).unwrap();
        assert_eq!(exp.slot, 1);
        assert_eq!(exp.start, 64 * 64 + 64);
        assert_eq!(exp.min_when, pos);
        // A nearer slot wins.
        let near = 63 * 64 + 1;
        let idx2 = slab.insert(Entry::new(near, 2, None));
        level.push(&mut slab, idx2, near, near);
        assert_eq!(level.next_expiration(elapsed).unwrap().start, 63 * 64);
        level.unlink(&mut slab, 63, idx2);
        assert_eq!(level.next_expiration(elapsed).unwrap().slot, 1);
        let list = level.take(1);
        assert_eq!(list.head(), idx);
        assert_eq!(level.next_expiration(elapsed), None);
    }
}
