//! The fallback transport: the Unix socket itself, shared by the two halves, with a small read
//! buffer so `AsyncBufRead` works the same as over shared memory.

use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::unix::UnixStream;

/// Size of the buffer `poll_fill_buf` reads into on a plain stream.
const PLAIN_BUF: usize = 16 * 1024;

/// The read side of a plain stream.
#[derive(Debug)]
pub(crate) struct PlainReader {
    pub(crate) sock: Arc<UnixStream>,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    pub(crate) bytes: u64,
}

impl PlainReader {
    pub(crate) fn new(sock: Arc<UnixStream>) -> PlainReader {
        PlainReader {
            sock,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            bytes: 0,
        }
    }

    pub(crate) fn poll_read(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pos < self.filled {
            let n = out.len().min(self.filled - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Poll::Ready(Ok(n));
        }
        let r = self.sock.poll_read_shared(cx, out);
        if let Poll::Ready(Ok(n)) = r {
            self.bytes += n as u64;
        }
        r
    }

    pub(crate) fn try_read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.filled {
            let n = out.len().min(self.filled - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        let (n, _) = rustix::net::recv(&*self.sock, out, rustix::net::RecvFlags::DONTWAIT)?;
        self.bytes += n as u64;
        Ok(n)
    }

    pub(crate) fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.pos >= self.filled {
            if self.buf.is_empty() {
                self.buf = vec![0u8; PLAIN_BUF];
            }
            match self.sock.poll_read_shared(cx, &mut self.buf) {
                Poll::Ready(Ok(n)) => {
                    self.bytes += n as u64;
                    self.pos = 0;
                    self.filled = n;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(&self.buf[self.pos..self.filled]))
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }
}

/// The write side of a plain stream.
#[derive(Debug)]
pub(crate) struct PlainWriter {
    pub(crate) sock: Arc<UnixStream>,
    pub(crate) bytes: u64,
}

impl PlainWriter {
    pub(crate) fn poll_write(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = self.sock.poll_write_shared(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.bytes += n as u64;
        }
        r
    }

    pub(crate) fn close(&mut self) -> io::Result<()> {
        match self.sock.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}
