//! rpal-net: sockets for the rpal runtime.
//!
//! * [`tcp`]: [`TcpListener`], [`TcpStream`];
//! * [`udp`]: [`UdpSocket`] (datagrams);
//! * [`unix`]: [`UnixListener`], [`UnixStream`], [`UnixDatagram`] (filesystem paths and Linux
//!   abstract names);
//! * [`rpal`]: [`RpalListener`], [`RpalStream`]: a local stream over shared memory with a plain
//!   Unix-socket fallback;
//! * [`service`]: [`service::ServiceClient`], one client API for a service in this process
//!   (through the call gate) or in another (over an [`RpalStream`]).
//!
//! Streams split into halves like Tokio's: `split()` borrows, `into_split()` gives owned halves
//! that can move to different tasks and `reunite`.
//!
//! Streams implement `futures_io::AsyncRead` and `AsyncWrite`; use the extension traits of the
//! `futures` crate (`AsyncReadExt`, `AsyncWriteExt`) for `read`, `write_all` and friends.
//! A socket registers with the reactor of the worker that first polls it.
//!
//! # Examples
//! ```
//! use futures::{AsyncReadExt, AsyncWriteExt};
//! use rpal_net::{TcpListener, TcpStream};
//!
//! let rt = rpal_rt::Runtime::new_current_thread().unwrap();
//! rt.block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     let server = rpal_rt::spawn(async move {
//!         let (mut s, _) = listener.accept().await.unwrap();
//!         let mut buf = [0u8; 5];
//!         s.read_exact(&mut buf).await.unwrap();
//!         s.write_all(&buf).await.unwrap();
//!     });
//!     let mut c = TcpStream::connect(addr).await.unwrap();
//!     c.write_all(b"hello").await.unwrap();
//!     let mut back = [0u8; 5];
//!     c.read_exact(&mut back).await.unwrap();
//!     assert_eq!(&back, b"hello");
//!     server.await.unwrap();
//! });
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod evented;
mod halves;
mod loom;
pub mod rpal;
#[cfg(not(loom))]
pub mod service;
pub mod tcp;
pub mod udp;
pub mod unix;

// The stream layer is not loom-modelled (the ring and doorbell below it are).
#[cfg(not(loom))]
pub use rpal::{RpalConfig, RpalListener, RpalStream};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
