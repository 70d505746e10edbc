//! The settings a runtime was built with (from the builder and the environment).

use std::time::Duration;

use super::Flavor;
use crate::reactor::DriverKind;

/// Default upper bound on blocking-pool threads.
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Default time an idle blocking-pool thread waits for work before it exits.
pub(crate) const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A runtime's settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    pub(crate) worker_threads: usize,
    /// `None`: probe, honouring `RPAL_DRIVER`.
    pub(crate) driver: Option<DriverKind>,
    pub(crate) timer_tick: Duration,
    pub(crate) pin_workers: bool,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) thread_name: String,
    /// Sockets on io_uring workers use completion operations (`RECV`/`SEND`/`ACCEPT`) instead of
    /// readiness; `None`: `RPAL_URING_SOCKET_OPS`, else [`DEFAULT_URING_SOCKET_OPS`].
    pub(crate) uring_socket_ops: Option<bool>,
}

/// Whether sockets on io_uring workers use completion operations unless the builder or
/// `RPAL_URING_SOCKET_OPS` says otherwise (chosen by `benches/uring_ops.rs`, see its figures).
pub(crate) const DEFAULT_URING_SOCKET_OPS: bool = true;

/// Parses `RPAL_URING_SOCKET_OPS`: `ring` or `readiness`; unset or empty: `None`.
///
/// # Errors
/// Any other value, with the valid ones in the message.
pub(crate) fn parse_socket_ops_env(value: Option<&str>) -> std::io::Result<Option<bool>> {
    match value {
        None | Some("") => Ok(None),
        Some("ring") => Ok(Some(true)),
        Some("readiness") => Ok(Some(false)),
        Some(other) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{}={other:?} is not a socket I/O mode: valid values are \"ring\" (io_uring \
                 RECV/SEND/ACCEPT) and \"readiness\" (poll + non-blocking syscalls)",
                crate::io::uring::SOCKET_OPS_ENV
            ),
        )),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn parses_socket_ops_env() {
        assert_eq!(super::parse_socket_ops_env(None).unwrap(), None);
        assert_eq!(
            super::parse_socket_ops_env(Some("ring")).unwrap(),
            Some(true)
        );
        assert_eq!(
            super::parse_socket_ops_env(Some("readiness")).unwrap(),
            Some(false)
        );
        let e = super::parse_socket_ops_env(Some("poll")).unwrap_err();
        assert!(e.to_string().contains("readiness"), "{e}");
    }
}
