//! Per-fd readiness word and the reader/writer wakers.

/// Which side of an fd a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Readable (and read-closed, error).
    Read,
    /// Writable (and write-closed, error).
    Write,
}

/// Readiness state of one registered fd.
#[derive(Debug)]
pub(crate) struct ScheduledIo {}
