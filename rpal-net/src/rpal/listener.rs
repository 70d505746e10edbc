//! [`RpalListener`]: accepts RPAL clients over shared memory and plain Unix clients as they are.

use std::io;
use std::os::unix::net::SocketAddr;

use super::{RpalConfig, RpalStream};
use crate::unix::UnixAddr;

/// Listens on a Unix socket; each accepted connection is an [`RpalStream`] over shared memory
/// when the client speaks RPAL, or over the socket itself when it does not.
///
/// `accept` never fails because of one bad client: a malformed or hostile handshake, a refused
/// uid or a client that disappears mid-handshake is closed and counted
/// ([`RpalListener::rejected_handshakes`]), and `accept` goes on to the next connection.
#[derive(Debug)]
pub struct RpalListener {
    _p: (),
}

impl RpalListener {
    /// Binds a path (`&str`, `&Path`) or an abstract name ([`UnixAddr::Abstract`]).
    ///
    /// # Errors
    /// As `bind(2)`/`listen(2)`.
    pub fn bind<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<RpalListener> {
        RpalListener::bind_with(addr, RpalConfig::default())
    }

    /// Binds with explicit settings.
    ///
    /// # Errors
    /// As `bind(2)`/`listen(2)`.
    pub fn bind_with<'a>(
        _addr: impl Into<UnixAddr<'a>>,
        _config: RpalConfig,
    ) -> io::Result<RpalListener> {
        todo!()
    }

    /// Accepts the next connection and completes its handshake (or falls back).
    ///
    /// # Errors
    /// Only errors of the listening socket itself (e.g. `EMFILE`).
    pub async fn accept(&self) -> io::Result<(RpalStream, SocketAddr)> {
        todo!()
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        todo!()
    }

    /// Connections closed during the handshake (malformed, refused uid, timed out).
    pub fn rejected_handshakes(&self) -> u64 {
        todo!()
    }
}
