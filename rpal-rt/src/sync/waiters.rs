//! [`WaitList`]: the FIFO of parked futures that every primitive in `sync` keeps inside its own
//! lock.
//!
//! The list is intrusive over a slab: nodes live in one `Slab<Node>` and link to each other by
//! index, so after the slab has grown to the peak number of simultaneous waiters, parking a
//! future allocates nothing.
//!
//! # Node life cycle
//! A node is created by [`WaitList::push_back`] (state *linked*) and freed only by its owner (the
//! future that parked) through [`WaitList::remove`]. A notifier never frees a node: it unlinks it
//! with [`WaitList::pop_front`] (state *woken*), leaving the node's `value` for the owner to read.
//! So the owner's key stays valid until the owner removes it, and a future dropped after being
//! woken learns what it was handed (permits, a slot, a notification) and passes it on: that is the
//! cancel-safety of every waiting method in `sync`.
//!
//! The meaning of `value` belongs to the primitive (permits still needed, a notification kind, ...).

use std::task::Waker;

use slab::Slab;

/// The "no node" index.
const NIL: usize = usize::MAX;

/// Where a node stands, as seen by its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitState {
    /// Still queued; `value` as last written by the owner or a notifier.
    Linked(usize),
    /// Taken off the queue by a notifier, which left this value.
    Woken(usize),
}

#[derive(Debug)]
struct Node {
    prev: usize,
    next: usize,
    linked: bool,
    value: usize,
    waker: Option<Waker>,
}

/// A FIFO of waiters, index-linked inside a slab. Not synchronised: the owner keeps it under the
/// primitive's lock.
#[derive(Debug)]
pub(crate) struct WaitList {
    nodes: Slab<Node>,
    head: usize,
    tail: usize,
}

impl Default for WaitList {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitList {
    /// An empty list (allocates nothing).
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
        }
    }

    /// True if no node is linked (woken nodes awaiting removal do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NIL
    }

    /// Queues a waiter at the back; returns its key.
    pub(crate) fn push_back(&mut self, waker: &Waker, value: usize) -> usize {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: NIL,
            linked: true,
            value,
            waker: Some(waker.clone()),
        });
        match self.nodes.get_mut(self.tail) {
            Some(t) => t.next = key,
            None => self.head = key,
        }
        self.tail = key;
        key
    }

    /// The state of `key`'s node. The key must be one this list returned and not yet removed.
    pub(crate) fn state(&self, key: usize) -> WaitState {
        match self.nodes.get(key) {
            Some(n) if n.linked => WaitState::Linked(n.value),
            Some(n) => WaitState::Woken(n.value),
            // A key the owner already removed: treat as woken with nothing.
            None => WaitState::Woken(0),
        }
    }

    /// Refreshes the waker of a linked node (no clone if it would wake the same task).
    pub(crate) fn set_waker(&mut self, key: usize, waker: &Waker) {
        if let Some(n) = self.nodes.get_mut(key) {
            match &n.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => n.waker = Some(waker.clone()),
            }
        }
    }

    /// The value of the front node, for notifiers that hand out partial amounts.
    pub(crate) fn front_value_mut(&mut self) -> Option<&mut usize> {
        let head = self.head;
        self.nodes.get_mut(head).map(|n| &mut n.value)
    }

    /// Unlinks the front node, leaves `value` in it and returns its waker (wake it after the
    /// lock is released). `None` if the list is empty.
    pub(crate) fn pop_front(&mut self, value: usize) -> Option<Waker> {
        let key = self.head;
        let node = self.nodes.get_mut(key)?;
        self.head = node.next;
        node.linked = false;
        node.value = value;
        node.prev = NIL;
        node.next = NIL;
        let waker = node.waker.take();
        match self.nodes.get_mut(self.head) {
            Some(h) => h.prev = NIL,
            None => self.tail = NIL,
        }
        waker
    }

    /// Unlinks every node, leaving `value` in each (`None`: keep each node's own value); adds
    /// their wakers to `out`.
    pub(crate) fn drain_into(&mut self, value: Option<usize>, out: &mut WakeList) {
        while let Some(v) = self.front_value_mut().map(|v| *v) {
            out.push(self.pop_front(value.unwrap_or(v)));
        }
    }

    /// Frees `key`'s node (unlinking it if still queued) and returns the state it was in.
    pub(crate) fn remove(&mut self, key: usize) -> WaitState {
        let Some(node) = self.nodes.try_remove(key) else {
            return WaitState::Woken(0);
        };
        if !node.linked {
            return WaitState::Woken(node.value);
        }
        match self.nodes.get_mut(node.prev) {
            Some(p) => p.next = node.next,
            None => self.head = node.next,
        }
        match self.nodes.get_mut(node.next) {
            Some(n) => n.prev = node.prev,
            None => self.tail = node.prev,
        }
        WaitState::Linked(node.value)
    }
}

/// Wakers collected under a lock, woken after it is released. The first needs no allocation (the
/// common case: one waiter handed one thing).
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker (ignores `None`, for `pop_front`'s result).
    pub(crate) fn push(&mut self, w: Option<Waker>) {
        if let Some(w) = w {
            if self.first.is_none() {
                self.first = Some(w);
            } else {
                self.rest.push(w);
            }
        }
    }

    /// Wakes them all. Call with no lock held.
    pub(crate) fn wake(self) {
        if let Some(w) = self.first {
            w.wake();
        }
        for w in self.rest {
            w.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn fifo_order_and_removal_from_the_middle() {
        let w = noop_waker();
        let mut l = WaitList::new();
        let a = l.push_back(&w, 1);
        let b = l.push_back(&w, 2);
        let c = l.push_back(&w, 3);
        assert_eq!(l.remove(b), WaitState::Linked(2));
        assert!(l.pop_front(10).is_some());
        assert_eq!(l.state(a), WaitState::Woken(10));
        assert_eq!(l.state(c), WaitState::Linked(3));
        assert!(l.pop_front(11).is_some());
        assert!(l.is_empty());
        assert!(l.pop_front(0).is_none());
        assert_eq!(l.remove(a), WaitState::Woken(10));
        assert_eq!(l.remove(c), WaitState::Woken(11));
        // Slots are reused: no growth once warm.
        let cap = l.nodes.capacity();
        for _ in 0..100 {
            let k = l.push_back(&w, 0);
            l.remove(k);
        }
        assert_eq!(l.nodes.capacity(), cap);
    }

    #[test]
    fn remove_head_and_tail_keeps_links() {
        let w = noop_waker();
        let mut l = WaitList::new();
        let a = l.push_back(&w, 1);
        let b = l.push_back(&w, 2);
        let c = l.push_back(&w, 3);
        l.remove(a);
        l.remove(c);
        assert_eq!(l.front_value_mut().copied(), Some(2));
        l.remove(b);
        assert!(l.is_empty());
        let d = l.push_back(&w, 4);
        assert_eq!(l.front_value_mut().copied(), Some(4));
        let mut out = WakeList::new();
        l.drain_into(Some(9), &mut out);
        assert!(out.first.is_some() && out.rest.is_empty());
        assert_eq!(l.state(d), WaitState::Woken(9));
    }
}
