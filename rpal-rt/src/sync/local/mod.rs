//! `!Send` channels for tasks that share one worker: no atomics, no locks.
//!
//! # When to use them
//! In a thread-per-core program most channels connect tasks spawned with
//! [`spawn_local`](crate::spawn_local) (or `spawn` from the same worker, since tasks never move):
//! both ends live on one thread. These versions keep their state in an `Rc<RefCell<..>>`, so a
//! send and a receive cost a few plain loads and stores instead of lock operations, and the
//! compiler rejects moving an end to another thread. Use the `Send` versions in
//! [`sync::mpsc`](super::mpsc) / [`sync::oneshot`](super::oneshot) when an end crosses workers
//! or threads.
//!
//! The API matches the `Send` versions (same names and methods).

pub mod mpsc;
pub mod oneshot;
