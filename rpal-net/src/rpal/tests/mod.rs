//! In-crate tests of the shared-memory transport that span several files: streaming between
//! threads and processes, corruption, and the loom models (`RUSTFLAGS="--cfg loom"`).

#[cfg(loom)]
mod heap;
#[cfg(loom)]
mod loom_doorbell;
#[cfg(loom)]
mod loom_ring;
#[cfg(loom)]
pub(crate) mod loom_states;
#[cfg(not(loom))]
mod ring_corrupt;
#[cfg(not(loom))]
mod ring_latency;
#[cfg(not(loom))]
mod ring_stream;
#[cfg(not(loom))]
mod support;
