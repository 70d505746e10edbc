//! A clonable handle to a running runtime.

/// Spawns onto a runtime from any thread.
#[derive(Clone, Debug)]
pub struct Handle {}
