//! [`ChildStdin`], [`ChildStdout`], [`ChildStderr`]: the parent's ends of a child's pipes, made
//! non-blocking and driven by the reactor of the worker that first waits on them.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use crate::io::{Interest, Registration};

/// A non-blocking pipe end plus its lazily created registration.
///
/// # Invariant
/// `reg` is declared before `fd`, so it deregisters before the fd closes.
#[derive(Debug)]
struct Pipe {
    reg: OnceLock<Registration>,
    fd: std::fs::File,
}

impl Pipe {
    fn new(fd: OwnedFd) -> io::Result<Pipe> {
        rustix::io::ioctl_fionbio(&fd, true)?;
        Ok(Pipe {
            reg: OnceLock::new(),
            fd: std::fs::File::from(fd),
        })
    }

    /// Runs `f` until it stops returning `WouldBlock`, waiting for `interest` in between.
    fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        interest: Interest,
        mut f: impl FnMut(&std::fs::File) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        let reg = match self.reg.get() {
            Some(reg) => reg,
            None => {
                // Try first: a pipe that never has to wait never registers.
                match f(&self.fd) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return Poll::Ready(other),
                }
                match Registration::new(self.fd.as_raw_fd(), interest) {
                    Ok(r) => self.reg.get_or_init(|| r),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        };
        reg.poll_io(cx, interest, || f(&self.fd))
    }
}

macro_rules! pipe_common {
    ($name:ident) => {
        impl $name {
            pub(super) fn from_std(fd: impl Into<OwnedFd>) -> io::Result<$name> {
                Ok($name {
                    inner: Pipe::new(fd.into())?,
                })
            }

            /// Turns the pipe end back into an owned fd (it stays non-blocking).
            pub fn into_owned_fd(self) -> OwnedFd {
                let Pipe { reg, fd } = self.inner;
                drop(reg);
                OwnedFd::from(fd)
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.fd.as_raw_fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.fd.as_fd()
            }
        }
    };
}

/// The child's standard input, written by the parent. Implements `futures_io::AsyncWrite`;
/// dropping it closes the pipe, which the child reads as end of file.
///
/// # Examples
/// See [`Command`](super::Command).
#[derive(Debug)]
pub struct ChildStdin {
    inner: Pipe,
}

/// The child's standard output, read by the parent. Implements `futures_io::AsyncRead`.
///
/// # Examples
/// See [`Command`](super::Command).
#[derive(Debug)]
pub struct ChildStdout {
    inner: Pipe,
}

/// The child's standard error, read by the parent. Implements `futures_io::AsyncRead`.
///
/// # Examples
/// See [`Child::wait_with_output`](super::Child::wait_with_output).
#[derive(Debug)]
pub struct ChildStderr {
    inner: Pipe,
}

pipe_common!(ChildStdin);
pipe_common!(ChildStdout);
pipe_common!(ChildStderr);

impl futures::io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_io(cx, Interest::WRITABLE, |mut f| f.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do: the pipe closes when the `ChildStdin` is dropped.
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl futures::io::AsyncRead for ChildStdout {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_io(cx, Interest::READABLE, |mut f| f.read(buf))
    }
}

impl futures::io::AsyncRead for ChildStderr {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.inner
            .poll_io(cx, Interest::READABLE, |mut f| f.read(buf))
    }
}
