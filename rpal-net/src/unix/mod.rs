//! Unix-domain sockets on filesystem paths or Linux abstract names: [`UnixListener`] and
//! [`UnixStream`] (with borrowed [`ReadHalf`]/[`WriteHalf`] and owned
//! [`OwnedReadHalf`]/[`OwnedWriteHalf`] halves), and [`UnixDatagram`].
mod datagram;
mod listener;
pub mod scm;
mod split;
mod stream;

pub use datagram::UnixDatagram;
pub use listener::UnixListener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::{PeerCred, UnixStream};

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::path::Path;

/// Where a Unix socket lives.
///
/// # Examples
/// ```
/// use rpal_net::unix::UnixAddr;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     // A Linux abstract name: no file to clean up.
///     let name = format!("rpal-doc-addr-{}", std::process::id());
///     let l = rpal_net::UnixListener::bind(UnixAddr::Abstract(name.as_bytes())).unwrap();
///     let c = rpal_net::UnixStream::connect(UnixAddr::Abstract(name.as_bytes())).await.unwrap();
///     let (_s, _) = l.accept().await.unwrap();
///     drop(c);
///     // A path converts too: `UnixListener::bind("/tmp/x.sock")`.
///     let _p: UnixAddr<'_> = "/tmp/x.sock".into();
/// });
/// ```
#[derive(Clone, Copy, Debug)]
pub enum UnixAddr<'a> {
    /// A filesystem path.
    Path(&'a Path),
    /// A Linux abstract name (no file; gone when the last socket closes).
    Abstract(&'a [u8]),
}

impl<'a> UnixAddr<'a> {
    fn to_socket_addr(self) -> io::Result<SocketAddr> {
        match self {
            UnixAddr::Path(p) => SocketAddr::from_pathname(p),
            UnixAddr::Abstract(name) => SocketAddr::from_abstract_name(name),
        }
    }
}

impl<'a, P: AsRef<Path> + ?Sized> From<&'a P> for UnixAddr<'a> {
    fn from(p: &'a P) -> UnixAddr<'a> {
        UnixAddr::Path(p.as_ref())
    }
}
