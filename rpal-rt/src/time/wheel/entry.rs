//! Timer entries and the index-linked lists that thread them through the wheel's slots.
//!
//! Entries live in one [`Slab`] owned by the wheel; a list is just a `(head, tail)` pair of slab
//! indices and every entry carries its own `prev`/`next` indices, so linking and unlinking are
//! O(1) and allocate nothing once the slab has grown to the peak number of live timers.
//!
//! # Invariants
//! * An entry is on exactly one list at a time, and `Entry::list` names it.
//! * `prev`/`next` are [`NIL`] or indices of occupied slab slots on the same list.
//! * `Entry::generation` is unique per insertion over the life of the wheel; a [`TimerKey`]
//!   matches an entry only when both index and generation agree, so a key kept after its timer
//!   fired or was cancelled never touches the timer that reused the slot.

use std::task::Waker;

use slab::Slab;

/// "No entry" in a link or list end.
pub(super) const NIL: usize = usize::MAX;

/// Names one inserted timer: a slab index plus the generation it was inserted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    pub(super) index: usize,
    pub(super) generation: u64,
}

/// Which list of the wheel an entry is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ListId {
    /// Due already (deadline at or before the wheel's elapsed tick): fires on the next `process`.
    Pending,
    /// Slot `slot` of level `level`.
    Slot { level: u8, slot: u8 },
}

/// One timer.
#[derive(Debug)]
pub(super) struct Entry {
    /// The deadline in ticks (already rounded up). Never changes while the entry is linked,
    /// except through `Wheel::reset`, which relinks it.
    pub(super) when: u64,
    /// Generation this entry was inserted with; see the module invariants.
    pub(super) generation: u64,
    /// Woken (outside the wheel lock) when the timer fires.
    pub(super) waker: Option<Waker>,
    /// The list the entry is on.
    pub(super) list: ListId,
    prev: usize,
    next: usize,
}

impl Entry {
    /// An unlinked entry; link it with [`List::push_back`] right away.
    pub(super) fn new(when: u64, generation: u64, waker: Option<Waker>) -> Entry {
        Entry {
            when,
            generation,
            waker,
            list: ListId::Pending,
            prev: NIL,
            next: NIL,
        }
    }

    /// The next entry on the same list.
    pub(super) fn next(&self) -> usize {
        self.next
    }
}

/// A doubly-linked list of slab entries. `Default` is the empty list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct List {
    head: usize,
    tail: usize,
}

impl Default for List {
    fn default() -> List {
        List {
            head: NIL,
            tail: NIL,
        }
    }
}

impl List {
    /// True when no entry is linked.
    pub(super) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// The first entry, or [`NIL`].
    pub(super) fn head(&self) -> usize {
        self.head
    }

    /// Links `index` (occupied in `slab`, currently on no list) at the tail and records `id`.
    pub(super) fn push_back(&mut self, slab: &mut Slab<Entry>, index: usize, id: ListId) {
        let old_tail = self.tail;
        let entry = &mut slab[index];
        entry.list = id;
        entry.prev = old_tail;
        entry.next = NIL;
        if old_tail == NIL {
            self.head = index;
        } else {
            slab[old_tail].next = index;
        }
        self.tail = index;
    }

    /// Unlinks `index`, which must be on this list.
    pub(super) fn unlink(&mut self, slab: &mut Slab<Entry>, index: usize) {
        let (prev, next) = {
            let entry = &mut slab[index];
            let links = (entry.prev, entry.next);
            entry.prev = NIL;
            entry.next = NIL;
            links
        };
        if prev == NIL {
            self.head = next;
        } else {
            slab[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            slab[next].prev = prev;
        }
    }

    /// Empties the list, returning its old contents (the entries keep their links, so the caller
    /// can walk them with [`Entry::next`] and must relink or remove each one).
    pub(super) fn take(&mut self) -> List {
        std::mem::take(self)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn collect(list: &List, slab: &Slab<Entry>) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = list.head();
        while at != NIL {
            out.push(at);
            at = slab[at].next();
        }
        out
    }

    #[test]
    fn push_and_unlink_keep_order() {
        let mut slab = Slab::new();
        let mut list = List::default();
        let ids: Vec<usize> = (0..5)
            .map(|i| slab.insert(Entry::new(i, i, None)))
            .collect();
        for &i in &ids {
            list.push_back(&mut slab, i, ListId::Pending);
        }
        assert_eq!(collect(&list, &slab), ids);
        list.unlink(&mut slab, ids[0]);
        list.unlink(&mut slab, ids[2]);
        list.unlink(&mut slab, ids[4]);
        assert_eq!(collect(&list, &slab), vec![ids[1], ids[3]]);
        list.push_back(&mut slab, ids[0], ListId::Slot { level: 1, slot: 2 });
        assert_eq!(collect(&list, &slab), vec![ids[1], ids[3], ids[0]]);
        assert_eq!(slab[ids[0]].list, ListId::Slot { level: 1, slot: 2 });
        list.unlink(&mut slab, ids[1]);
        list.unlink(&mut slab, ids[3]);
        list.unlink(&mut slab, ids[0]);
        assert!(list.is_empty());
        assert_eq!(list, List::default());
    }
}
