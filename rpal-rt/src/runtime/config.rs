//! The settings a runtime was built with (from the builder and the environment).

use std::time::Duration;

use super::Flavor;
use crate::io::uring::SocketIo;
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
    /// How sockets do I/O on io_uring workers; `None` until `build` resolves it from
    /// `RPAL_URING_SOCKET_OPS`, else [`DEFAULT_URING_SOCKET_IO`].
    pub(crate) uring_socket_io: Option<SocketIo>,
}

/// How sockets do I/O on io_uring workers unless the builder or `RPAL_URING_SOCKET_OPS` says
/// otherwise. Chosen by `benches/uring_ops.rs -- --same-cpu 1` (2 vCPUs, Linux 6.18, medians of
/// 5 rounds; TCP echo 64 B p50/p99 µs, then 1 GiB in 64 KiB writes):
///
/// ```text
///  epoll            6.7 / 8.1   2.21 GiB/s
///  readiness        7.0 / 8.7   2.16
///  ring             7.2 / 8.5   2.26
///  ring-multishot   7.2 / 7.9   1.82
///  ring-plain       8.6 / 10.0  1.74
/// ```
///
/// Readiness has the lowest p50 in every run (a single `RECV` arms the kernel's poll once per
/// message where readiness keeps one multishot poll per socket); ring streams ~5% faster on a
/// quiet machine, within the spread on a busy one. Readiness also has none of the ring path's
/// caveats (an abandoned pending write, bytes buffered past the caller's read), so it stays the
/// default; the gap either way is a few per cent.
pub(crate) const DEFAULT_URING_SOCKET_IO: SocketIo = SocketIo::Readiness;

/// Parses `RPAL_URING_SOCKET_OPS`: `ring`, `ring-plain`, `ring-multishot` or `readiness`; unset
/// or empty: `None`.
///
/// # Errors
/// Any other value, with the valid ones in the message.
pub(crate) fn parse_socket_ops_env(value: Option<&str>) -> std::io::Result<Option<SocketIo>> {
    match value {
        None | Some("") => Ok(None),
        Some("ring") => Ok(Some(SocketIo::Ring)),
        Some("ring-plain") => Ok(Some(SocketIo::RingPlain)),
        Some("ring-multishot") => Ok(Some(SocketIo::RingMultishot)),
        Some("readiness") => Ok(Some(SocketIo::Readiness)),
        Some(other) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "{}={other:?} is not a socket I/O mode: valid values are \"ring\" (io_uring \
                 RECV/ACCEPT, send(2) first), \"ring-plain\" (RECV/SEND/ACCEPT), \
                 \"ring-multishot\" (multishot RECV with provided buffers) and \
                 \"readiness\" (poll + non-blocking syscalls)",
                crate::io::uring::SOCKET_OPS_ENV
            ),
        )),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::io::uring::SocketIo;

    #[test]
    fn parses_socket_ops_env() {
        assert_eq!(super::parse_socket_ops_env(None).unwrap(), None);
        assert_eq!(
            super::parse_socket_ops_env(Some("ring")).unwrap(),
            Some(SocketIo::Ring)
        );
        assert_eq!(
            super::parse_socket_ops_env(Some("ring-plain")).unwrap(),
            Some(SocketIo::RingPlain)
        );
        assert_eq!(
            super::parse_socket_ops_env(Some("readiness")).unwrap(),
            Some(SocketIo::Readiness)
        );
        let e = super::parse_socket_ops_env(Some("poll")).unwrap_err();
        assert!(e.to_string().contains("readiness"), "{e}");
    }
}
