//! The runtime-independent core of RpalStream: a local byte stream between two processes over
//! shared memory.
//!
//! # Overview
//!
//! Two processes meet on a Unix socket. The client sends a [`wire::Hello`]; the server creates a
//! [`shm::SharedRegion`] (a sealed memfd), lays out two rings in it ([`ring::RegionLayout`],
//! [`ring::init_ring`]: ring 0 client-to-server, ring 1 server-to-client), answers with a
//! [`wire::Accept`] and passes the memfd with `SCM_RIGHTS`; the client checks and maps it
//! ([`shm::SharedRegion::from_fd`]). Each side then holds a [`ring::Producer`] on its outgoing ring
//! and a [`ring::Consumer`] on its incoming ring. Data is copied once into the ring; the reader
//! copies it out or borrows it in place ([`ring::Consumer::peek`]). An endpoint with nothing to do
//! parks through a [`doorbell::Doorbell`]: a futex word in the region, or an eventfd its reactor
//! watches. Nothing here knows about an executor: the same pieces serve rpal-rt and Tokio.
//!
//! This module owns only those parts; the handshake state machine, the listener and the stream
//! types live beside it.
//!
//! # Failure model
//!
//! * The peer is untrusted. Every value it can write into shared memory is validated before use;
//!   bad values give [`error::RingError::Corrupt`] (mapped to `ConnectionReset`), never undefined
//!   behaviour, an access outside the mapping, a panic or a hang. See [`ring`].
//! * The peer cannot pull the memory from under us: the memfd is sealed against shrinking and
//!   growing and its size and seals are checked before mapping ([`shm`]).
//! * Handshake bytes are decoded by pure functions with typed errors ([`wire`]); a peer that does
//!   not speak RPAL decodes to [`error::WireError::BadMagic`] so the listener can fall back to a
//!   plain stream.
//! * A clean close is in-band: the writer's `writer_closed` flag gives end of stream after the
//!   last byte; the reader's `reader_closed` flag makes writes fail with `BrokenPipe`. A peer that
//!   dies without closing is detected out of band (the Unix socket hangs up), by the stream layer.
//! * No wake-up is lost: the park handshake is a Dekker pair of SeqCst fences, checked with loom
//!   ([`doorbell`]).

#[cfg(not(loom))]
mod config;
pub mod doorbell;
pub mod error;
#[cfg(not(loom))]
mod eventfd;
#[cfg(not(loom))]
mod handshake;
#[cfg(not(loom))]
mod listener;
#[cfg(not(loom))]
mod plain;
mod protect;
pub mod ring;
pub mod shm;
#[cfg(not(loom))]
mod source;
#[cfg(not(loom))]
mod split;
#[cfg(not(loom))]
mod stream;
#[cfg(not(loom))]
mod transport;
pub mod wire;

#[cfg(not(loom))]
pub use config::{
    RpalConfig, DEFAULT_DETECT_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_RING_CAPACITY,
    DEFAULT_SOCKET_MODE,
};
#[cfg(not(loom))]
pub use listener::{RpalListener, ADMITTED_BACKLOG, MAX_HANDSHAKES};
#[cfg(not(loom))]
pub use split::{RpalReadHalf, RpalWriteHalf};
#[cfg(not(loom))]
pub use stream::{RpalStats, RpalStream};

#[cfg(test)]
mod tests;
