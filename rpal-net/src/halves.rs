//! Code the stream types share: their futures-io impls and their split halves.
//!
//! `TcpStream` and `UnixStream` differ only in the socket and address types, so the
//! `AsyncRead`/`AsyncWrite` impls ([`impl_async_read`], [`impl_async_write`]) and the four half
//! types with `reunite` ([`stream_halves`]) are written once here and generated for both.
//!
//! # The halves
//! Both halves drive one `Evented` socket: the reader waits only for read readiness and the
//! writer only for write readiness, so each direction has its own waker slot in the registration
//! and the halves never steal each other's wake-ups. Owned halves share the socket through an
//! `Arc`; dropping the owned write half shuts the write direction down (like Tokio's), unless it
//! was `forget`-ed or reunited.

use std::io;
use std::os::fd::AsFd;

/// Shuts the write direction of a connected stream socket down; `NotConnected` (the peer is
/// already gone) counts as done.
pub(crate) fn shutdown_write(fd: impl AsFd) -> io::Result<()> {
    match rustix::net::shutdown(fd, rustix::net::Shutdown::Write) {
        Err(rustix::io::Errno::NOTCONN) => Ok(()),
        other => other.map_err(Into::into),
    }
}

/// `impl futures_io::AsyncRead for $ty`, reading through the `Evented` that `$ev` (an expression
/// of `$this: &$ty`) names.
macro_rules! impl_async_read {
    ($ty:ty, |$this:ident| $ev:expr) => {
        impl futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $ev.poll_read(cx, buf)
            }
        }
    };
}

/// `impl futures_io::AsyncWrite for $ty` through the `Evented` that `$ev` names; `poll_close`
/// shuts the write direction down.
macro_rules! impl_async_write {
    ($ty:ty, |$this:ident| $ev:expr) => {
        impl futures_io::AsyncWrite for $ty {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $ev.poll_write(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                let $this = &*self;
                $ev.poll_write_vectored(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                let $this = &*self;
                std::task::Poll::Ready($crate::halves::shutdown_write($ev.get_ref()))
            }
        }
    };
}

/// Defines `ReadHalf`, `WriteHalf`, `OwnedReadHalf`, `OwnedWriteHalf`, `ReuniteError` and the
/// crate-private `into_split` for the stream type `$stream` (a struct with an
/// `inner: Evented<$sock>` field), in the module that invokes it.
macro_rules! stream_halves {
    (stream: $stream:ident, sock: $sock:ty, addr: $addr:ty, kind: $kind:literal, example: $example:literal) => {
        type Inner = $crate::evented::Evented<$sock>;

        #[doc = concat!("The read half of a [`", stringify!($stream), "`], borrowed by [`", stringify!($stream), "::split`]. Implements `futures_io::AsyncRead`.")]
        #[derive(Debug)]
        pub struct ReadHalf<'a>(pub(super) &'a $stream);

        #[doc = concat!("The write half of a [`", stringify!($stream), "`], borrowed by [`", stringify!($stream), "::split`]. Implements `futures_io::AsyncWrite`; `poll_close` shuts the write direction down.")]
        #[derive(Debug)]
        pub struct WriteHalf<'a>(pub(super) &'a $stream);

        #[doc = concat!("The owned read half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::into_split`]. Implements `futures_io::AsyncRead`.")]
        ///
        /// # Examples
        #[doc = $example]
        #[derive(Debug)]
        pub struct OwnedReadHalf {
            inner: $crate::loom::sync::Arc<Inner>,
        }

        #[doc = concat!("The owned write half of a [`", stringify!($stream), "`], from [`", stringify!($stream), "::into_split`]. Implements `futures_io::AsyncWrite`; dropping it (or `poll_close`) shuts the write direction down.")]
        ///
        /// # Examples
        /// See [`OwnedReadHalf`].
        #[derive(Debug)]
        pub struct OwnedWriteHalf {
            inner: $crate::loom::sync::Arc<Inner>,
            /// Whether dropping this half calls `shutdown(Write)`; cleared by `forget` and
            /// `reunite`.
            shutdown_on_drop: bool,
        }

        /// The halves given to [`OwnedReadHalf::reunite`] came from different streams; both are
        /// handed back.
        #[derive(Debug)]
        pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

        impl std::fmt::Display for ReuniteError {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!("tried to reunite halves of two different ", $kind, " streams"))
            }
        }

        impl std::error::Error for ReuniteError {}

        pub(super) fn into_split(inner: Inner) -> (OwnedReadHalf, OwnedWriteHalf) {
            let inner = $crate::loom::sync::Arc::new(inner);
            (
                OwnedReadHalf { inner: inner.clone() },
                OwnedWriteHalf { inner, shutdown_on_drop: true },
            )
        }

        impl OwnedReadHalf {
            /// Puts the two halves back together into the stream they came from.
            ///
            /// # Errors
            /// [`ReuniteError`] (holding both halves) if they belong to different streams.
            pub fn reunite(self, mut other: OwnedWriteHalf) -> Result<$stream, ReuniteError> {
                if !$crate::loom::sync::Arc::ptr_eq(&self.inner, &other.inner) {
                    return Err(ReuniteError(self, other));
                }
                other.shutdown_on_drop = false;
                drop(other);
                match $crate::loom::sync::Arc::try_unwrap(self.inner) {
                    Ok(inner) => Ok($stream { inner }),
                    Err(_) => unreachable!("the two halves of a stream are the only owners of its socket"),
                }
            }

            /// The remote address.
            ///
            /// # Errors
            /// As `getpeername(2)`.
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.inner.get_ref().peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            /// As `getsockname(2)`.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.inner.get_ref().local_addr()
            }
        }

        impl OwnedWriteHalf {
            /// Drops this half without shutting the write direction down.
            pub fn forget(mut self) {
                self.shutdown_on_drop = false;
            }

            /// The remote address.
            ///
            /// # Errors
            /// As `getpeername(2)`.
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.inner.get_ref().peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            /// As `getsockname(2)`.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.inner.get_ref().local_addr()
            }
        }

        impl Drop for OwnedWriteHalf {
            fn drop(&mut self) {
                if self.shutdown_on_drop {
                    // The peer may already be gone; nothing useful to do with it in a drop.
                    let _ = $crate::halves::shutdown_write(self.inner.get_ref());
                }
            }
        }

        impl ReadHalf<'_> {
            /// The remote address.
            ///
            /// # Errors
            /// As `getpeername(2)`.
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.0.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            /// As `getsockname(2)`.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.0.local_addr()
            }
        }

        impl WriteHalf<'_> {
            /// The remote address.
            ///
            /// # Errors
            /// As `getpeername(2)`.
            pub fn peer_addr(&self) -> std::io::Result<$addr> {
                self.0.peer_addr()
            }

            /// The local address.
            ///
            /// # Errors
            /// As `getsockname(2)`.
            pub fn local_addr(&self) -> std::io::Result<$addr> {
                self.0.local_addr()
            }
        }

        $crate::halves::impl_async_read!(ReadHalf<'_>, |h| h.0.inner);
        $crate::halves::impl_async_read!(OwnedReadHalf, |h| h.inner);
        $crate::halves::impl_async_write!(WriteHalf<'_>, |h| h.0.inner);
        $crate::halves::impl_async_write!(OwnedWriteHalf, |h| h.inner);
    };
}

pub(crate) use impl_async_read;
pub(crate) use impl_async_write;
pub(crate) use stream_halves;
