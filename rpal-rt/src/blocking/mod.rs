//! `spawn_blocking`: runs blocking code on a bounded thread pool.
