//! The table of registered fds shared by both drivers, and the token scheme.
//!
//! Owns [`IoRegistry`]: a slab of [`IoEntry`] (the `ScheduledIo`, the fd and the driver's event
//! mask) kept behind the driver's shared `Mutex`, so register and deregister work from any thread.
//!
//! # Tokens
//!
//! A token is the `u64` handed to the kernel with an fd (epoll `data`, io_uring `user_data`):
//!
//! ```text
//!  bits 63 .. 32: generation (u32, wraps)  |  bits 31 .. 0: slab key (< MAX_KEY)
//! ```
//!
//! A slab key is reused after a deregistration; the generation makes the token differ, so an
//! event already in flight for the old registration (an epoll event collected before
//! `EPOLL_CTL_DEL`, a late io_uring CQE before the `PollRemove` lands) finds no entry with its
//! token and is dropped. Keys stay below [`MAX_KEY`], so every token is below the reserved tags
//! the drivers use (`u64::MAX - n`).
use std::io;
use std::os::fd::RawFd;

use slab::Slab;

use super::ScheduledIo;
use crate::io::Ready;
use crate::loom::sync::Arc;

/// Readiness from epoll or poll(2) event bits (the two share their values for these flags).
pub(crate) fn ready_from_events(ev: u32) -> Ready {
    let has = |bit: libc::c_int| ev & bit as u32 != 0;
    let mut r = Ready::EMPTY;
    if has(libc::EPOLLIN | libc::EPOLLPRI) {
        r = r | Ready::READABLE;
    }
    if has(libc::EPOLLOUT) {
        r = r | Ready::WRITABLE;
    }
    if has(libc::EPOLLRDHUP) {
        r = r | Ready::READ_CLOSED;
    }
    if has(libc::EPOLLHUP) {
        r = r | Ready::READ_CLOSED | Ready::WRITE_CLOSED;
    }
    if has(libc::EPOLLERR) {
        r = r | Ready::ERROR;
    }
    r
}

/// The error registering with a driver whose worker has shut down.
pub(crate) fn driver_gone() -> io::Error {
    io::Error::other(
        "the rpal worker that owns this reactor has shut down; register on a running worker",
    )
}

/// Slab keys must stay below this (2^29, far above any process's descriptor limit), which keeps
/// bits 29..31 of every token clear: the io_uring driver uses them to tell tokens from its tags,
/// its completion operations and its `POLL_REMOVE` requests.
pub(crate) const MAX_KEY: usize = 1 << 29;

/// One registered fd.
#[derive(Debug)]
pub(crate) struct IoEntry {
    /// The readiness state shared with the `Registration`.
    pub(crate) io: Arc<ScheduledIo>,
    /// The fd (still owned by the caller; valid until deregistered).
    pub(crate) fd: RawFd,
    /// The driver's event mask for this fd (epoll or poll(2) bits).
    pub(crate) mask: u32,
}

/// Registered fds by slab key, with the generation counter of the token scheme.
#[derive(Debug, Default)]
pub(crate) struct IoRegistry {
    entries: Slab<IoEntry>,
    /// Generation given to the next registration.
    next_gen: u32,
}

fn split(token: u64) -> (usize, u32) {
    ((token & 0xFFFF_FFFF) as usize, (token >> 32) as u32)
}

impl IoRegistry {
    /// Adds `fd` with its driver `mask`; returns the new `ScheduledIo` (which carries its token).
    ///
    /// # Errors
    /// More than [`MAX_KEY`] fds registered at once.
    pub(crate) fn insert(&mut self, fd: RawFd, mask: u32) -> io::Result<Arc<ScheduledIo>> {
        let vacant = self.entries.vacant_entry();
        let key = vacant.key();
        if key >= MAX_KEY {
            return Err(io::Error::other(format!(
                "reactor full: {key} fds registered on one worker (limit {MAX_KEY})"
            )));
        }
        let gen = self.next_gen;
        self.next_gen = self.next_gen.wrapping_add(1);
        let token = (u64::from(gen) << 32) | key as u64;
        let io = Arc::new(ScheduledIo::new(token));
        vacant.insert(IoEntry {
            io: io.clone(),
            fd,
            mask,
        });
        Ok(io)
    }

    /// The live entry with exactly this token (key and generation), if any.
    pub(crate) fn get(&self, token: u64) -> Option<&IoEntry> {
        let (key, gen) = split(token);
        self.entries
            .get(key)
            .filter(|e| (e.io.token() >> 32) as u32 == gen)
    }

    /// Removes the entry with exactly this token, if it is still there.
    pub(crate) fn remove(&mut self, token: u64) -> Option<IoEntry> {
        self.get(token)?;
        let (key, _) = split(token);
        self.entries.try_remove(key)
    }

    /// Removes every entry (driver shutdown).
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = IoEntry> + '_ {
        self.entries.drain()
    }

    #[cfg(test)]
    /// Number of registered fds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn reused_key_gets_a_new_token() {
        let mut r = IoRegistry::default();
        let a = r.insert(3, 0).unwrap();
        assert!(r.get(a.token()).is_some());
        assert!(r.remove(a.token()).is_some());
        let b = r.insert(4, 0).unwrap();
        assert_eq!(
            a.token() & 0xFFFF_FFFF,
            b.token() & 0xFFFF_FFFF,
            "slab key reused"
        );
        assert_ne!(a.token(), b.token());
        assert!(
            r.get(a.token()).is_none(),
            "stale token must not find the new entry"
        );
        assert!(r.remove(a.token()).is_none());
        assert_eq!(r.get(b.token()).map(|e| e.fd), Some(4));
    }

    #[test]
    fn event_bits_map_to_ready() {
        let ev = |b: libc::c_int| ready_from_events(b as u32);
        assert_eq!(ev(libc::EPOLLIN), Ready::READABLE);
        assert_eq!(ev(libc::EPOLLOUT), Ready::WRITABLE);
        assert_eq!(
            ev(libc::EPOLLIN | libc::EPOLLRDHUP),
            Ready::READABLE | Ready::READ_CLOSED
        );
        assert_eq!(ev(libc::EPOLLHUP), Ready::READ_CLOSED | Ready::WRITE_CLOSED);
        assert_eq!(ev(libc::EPOLLERR), Ready::ERROR);
        assert_eq!(libc::POLLIN as libc::c_int, libc::EPOLLIN);
        assert_eq!(libc::POLLRDHUP as libc::c_int, libc::EPOLLRDHUP);
    }
}
