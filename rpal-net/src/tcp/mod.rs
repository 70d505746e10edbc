//! TCP: [`TcpListener`] and [`TcpStream`], whose [`split`](TcpStream::split) gives borrowed
//! [`ReadHalf`]/[`WriteHalf`] and [`into_split`](TcpStream::into_split) owned
//! [`OwnedReadHalf`]/[`OwnedWriteHalf`].
mod listener;
mod split;
mod stream;

pub use listener::TcpListener;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
