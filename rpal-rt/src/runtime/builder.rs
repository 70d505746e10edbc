//! Runtime builder.

/// Which executor a runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Everything runs on the thread that calls `block_on`.
    CurrentThread,
    /// One worker thread per core, each with its own queue, reactor and timer wheel.
    ThreadPerCore,
}

/// Builds a [`super::Runtime`].
#[derive(Debug)]
pub struct Builder {}
