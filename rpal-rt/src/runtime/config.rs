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
/// otherwise. Chosen from two benches run on the same machine (2 vCPUs, Linux 6.18):
///
/// `benches/uring_ops.rs -- quick --rounds 3 --same-cpu 0` (one connection; TCP echo 64 B
/// p50/p99/mean µs, then 128 MiB in 64 KiB writes), medians of 3 rounds:
///
/// ```text
///  epoll            6.6 / 10.9 / 7.24   2.15 GiB/s
///  readiness        7.1 / 12.4 / 7.86   2.22
///  ring             7.3 /  8.6 / 7.68   2.32
///  ring-plain       8.7 / 10.1 / 9.02   1.74
///  ring-multishot   7.2 /  7.9 / 7.39   1.81
///  adaptive         7.2 /  8.5 / 7.64   2.21
/// ```
///
/// `benches/rt_micro.rs -- load` (64 and 256 connections, one server core, req/s per core,
/// medians of 5 interleaved rounds): readiness 227k / 242k, adaptive 260k / 258k, monoio 262k /
/// 263k, tokio current-thread 250k / 259k.
///
/// Adaptive matches readiness with one connection (it acts as `ring` there) and is 7-15% faster
/// under load (it acts as `ring-plain` there), so it is the default. Its writes follow the ring
/// path's rule for an abandoned pending write (`rpal-net`'s `evented.rs`): an error, never a
/// silent duplicate.
pub(crate) const DEFAULT_URING_SOCKET_IO: SocketIo = SocketIo::Adaptive;

/// Parses `RPAL_URING_SOCKET_OPS`: `ring`, `ring-plain`, `ring-multishot`, `adaptive` or
/// `readiness`; unset
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
        Some("adaptive") => Ok(Some(SocketIo::Adaptive)),
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
