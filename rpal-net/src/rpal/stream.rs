//! [`RpalStream`]: a byte stream over a shared-memory ring pair, or a plain Unix stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::split::{RpalReadHalf, RpalWriteHalf};
use super::RpalConfig;
use crate::unix::{PeerCred, UnixAddr};

/// Counters of one stream: how often it had to make a syscall to wake or wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RpalStats {
    /// Bytes written into the outgoing ring (or socket, on fallback).
    pub bytes_written: u64,
    /// Bytes read from the incoming ring (or socket).
    pub bytes_read: u64,
    /// Doorbell rings sent to the peer (one syscall each).
    pub doorbells_sent: u64,
    /// Times this side parked waiting for data or room (published "waiting").
    pub parks: u64,
}

/// A local stream between two processes. Over shared memory when both sides speak RPAL
/// ([`RpalStream::is_shared_memory`]), else over the Unix socket: same type, same API.
///
/// Implements `futures_io::AsyncRead`, `AsyncWrite` (`poll_close` is a half-close: the peer
/// reads end-of-stream) and `AsyncBufRead`: `poll_fill_buf` lends the reader the bytes in
/// place in the ring (zero-copy receive) and `consume` releases them.
#[derive(Debug)]
pub struct RpalStream {
    _p: (),
}

impl RpalStream {
    /// Connects to an [`super::RpalListener`] with default settings.
    ///
    /// # Errors
    /// Connecting fails, the handshake times out, or the server sends a malformed answer.
    pub async fn connect<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<RpalStream> {
        RpalStream::connect_with(addr, &RpalConfig::default()).await
    }

    /// Connects with explicit settings.
    ///
    /// # Errors
    /// As [`RpalStream::connect`].
    pub async fn connect_with<'a>(
        _addr: impl Into<UnixAddr<'a>>,
        _config: &RpalConfig,
    ) -> io::Result<RpalStream> {
        todo!()
    }

    /// True over shared memory; false when the connection fell back to the Unix socket.
    pub fn is_shared_memory(&self) -> bool {
        todo!()
    }

    /// Credentials of the peer process (SO_PEERCRED of the setup socket).
    ///
    /// # Errors
    /// As `getsockopt(2)`.
    pub fn peer_cred(&self) -> io::Result<PeerCred> {
        todo!()
    }

    /// Reads without waiting: `WouldBlock` when no byte is there (for busy-polling receivers).
    ///
    /// # Errors
    /// As `poll_read`, plus `WouldBlock`.
    pub fn try_read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        todo!()
    }

    /// Counters of this stream.
    pub fn stats(&self) -> RpalStats {
        todo!()
    }

    /// Splits into a read half and a write half that can be used from different tasks.
    pub fn into_split(self) -> (RpalReadHalf, RpalWriteHalf) {
        todo!()
    }
}

impl futures_io::AsyncRead for RpalStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        todo!()
    }
}

impl futures_io::AsyncBufRead for RpalStream {
    fn poll_fill_buf(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        todo!()
    }

    fn consume(self: Pin<&mut Self>, _amt: usize) {
        todo!()
    }
}

impl futures_io::AsyncWrite for RpalStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        _buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        todo!()
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        todo!()
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        todo!()
    }
}
