//! Errors of the time module.

use std::error::Error;
use std::fmt;
use std::io;

/// The error of a [`Timeout`](super::Timeout) whose deadline passed before its future finished.
///
/// Converts into an [`io::Error`] of kind [`io::ErrorKind::TimedOut`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use rpal_rt::time::{error::Elapsed, timeout};
///
/// rpal_rt::Runtime::new_current_thread().unwrap().block_on(async {
///     let never = std::future::pending::<()>();
///     let err: Elapsed = timeout(Duration::from_micros(100), never).await.unwrap_err();
///     assert_eq!(err.to_string(), "deadline has elapsed");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    pub(super) fn new() -> Elapsed {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

impl From<Elapsed> for io::Error {
    fn from(e: Elapsed) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn display_and_io_conversion() {
        let e = Elapsed::new();
        assert_eq!(e.to_string(), "deadline has elapsed");
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::TimedOut);
        assert_eq!(io.to_string(), "deadline has elapsed");
    }
}
