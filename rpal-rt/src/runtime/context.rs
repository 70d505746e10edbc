//! The thread-local "current worker": which reactor, timer wheel and source registry code running
//! on this thread uses.
#![allow(dead_code)]

use std::io;

use crate::reactor::{self, source::SourceRegistry};
use crate::time::TimeHandle;

/// The reactor handle of the current worker.
///
/// # Errors
/// `io::ErrorKind::Other` with a message naming the fix, when no rpal runtime runs on this thread.
pub(crate) fn io_handle() -> io::Result<reactor::Handle> {
    todo!("executor")
}

/// The timer wheel of the current worker, if any.
pub(crate) fn time_handle() -> Option<TimeHandle> {
    todo!("executor")
}

/// The user-space source registry of the current worker, if any.
pub(crate) fn sources() -> Option<SourceRegistry> {
    todo!("executor")
}

/// The error every "must run inside the runtime" entry point returns.
pub(crate) fn no_runtime_error() -> io::Error {
    io::Error::other(
        "no rpal runtime on this thread: call this from a task or from inside Runtime::block_on",
    )
}
