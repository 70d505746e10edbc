//! [`File`]: an open file whose reads and writes run as io_uring operations on an io_uring
//! worker and on the blocking pool otherwise; seeks always run on the blocking pool.
//!
//! # The operation protocol
//! A `File` has at most one operation in flight, on the blocking pool or on the ring. Its state
//! is `Idle(buffer)`, `Busy(task)` or `Ring(op)`; the task or the ring operation owns the buffer
//! while it runs and hands it back with its result. A ring read in flight is cancelled when the
//! `File` drops; a ring write is detached (it completes, like a pool write would).
//! * **read**: with unread bytes in the buffer, copy them out; else start a read of up to
//!   `min(len, MAX_BUF)` bytes into the buffer and wait for it. The OS cursor then runs ahead of
//!   the logical position by the unread bytes.
//! * **write**: copy up to `MAX_BUF` bytes into the buffer, start the write and return at once
//!   (like Tokio). A failed background write is kept and reported by the next write, flush or
//!   `sync_*`. Unread read-ahead is dropped first by seeking the OS cursor back over it.
//! * **seek**: waits for the operation in flight, drops unread read-ahead (a `Current` offset is
//!   corrected by its length), then seeks.
//! * `&self` methods (`sync_all`, `set_len`, `read_at`, ...) first wait for the operation in
//!   flight, so they observe every write accepted before them. The state sits in a mutex for
//!   them; the lock is held only for a poll, never across an await.

use std::fmt;
use std::fs::{Metadata, Permissions};
use std::future::{poll_fn, Future};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::uring::{self as ring, Rw, CURSOR};
use super::{asyncify, OpenOptions};
use crate::loom::sync::{Arc, Mutex, MutexGuard};
use crate::reactor::uring_op::Op;
use crate::task::JoinHandle;

/// Most bytes one read or write hands to the blocking pool.
const MAX_BUF: usize = 2 * 1024 * 1024;

/// How long `into_std` sleeps between checks that no blocking task still holds the file.
const INTO_STD_RETRY: Duration = Duration::from_millis(1);

/// An open file. Implements `futures_io::AsyncRead`, `AsyncWrite` and `AsyncSeek`; use the
/// `futures` extension traits (`AsyncReadExt`, `AsyncWriteExt`, `AsyncSeekExt`).
///
/// Writes are buffered and run in the background: call `flush().await` (or `sync_all`) before
/// dropping a `File` to see write errors and to be sure the data reached the kernel.
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
/// use rpal_rt::fs::File;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("rpal-file-doc-{}", std::process::id()));
///     let mut f = rpal_rt::fs::OpenOptions::new()
///         .read(true).write(true).create(true).truncate(true)
///         .open(&path).await.unwrap();
///     f.write_all(b"hello world").await.unwrap();
///     f.seek(std::io::SeekFrom::Start(6)).await.unwrap();
///     let mut s = String::new();
///     f.read_to_string(&mut s).await.unwrap();
///     assert_eq!(s, "world");
///     f.sync_all().await.unwrap();
///     assert_eq!(f.metadata().await.unwrap().len(), 11);
///     drop(f);
///     let f = File::open(&path).await.unwrap();
///     let mut buf = [0u8; 5];
///     assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), 5);
///     assert_eq!(&buf, b"hello");
///     rpal_rt::fs::remove_file(&path).await.unwrap();
/// });
/// ```
pub struct File {
    std: Arc<std::fs::File>,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    /// The error of a background write that nobody has seen yet.
    last_write_err: Option<io::Error>,
}

enum State {
    /// `None` only transiently, while a poll moves the buffer into a task.
    Idle(Option<Buf>),
    Busy(JoinHandle<(Operation, Buf)>),
    /// A read or write submitted to the current worker's io_uring.
    Ring(RingIo),
}

/// A ring operation of the cursor-based read/write path.
enum RingIo {
    Read(Op<Rw>),
    /// A write of the buffer from its `start`; short writes are resubmitted for the rest.
    Write(Op<Rw>),
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A write the caller already saw succeed must not be cancelled: let it finish.
        if let State::Ring(RingIo::Write(_)) = self.state {
            if let State::Ring(RingIo::Write(op)) =
                std::mem::replace(&mut self.state, State::Idle(None))
            {
                op.detach();
            }
        }
    }
}

/// True if the ring operation is a write.
fn op_kind(op: &RingIo) -> bool {
    matches!(op, RingIo::Write(_))
}

/// What a finished blocking task did.
enum Operation {
    Read(io::Result<usize>),
    Write(io::Result<()>),
    Seek(io::Result<u64>),
}

/// Bytes read ahead (`data[pos..]` unread) or waiting to be written (`data`).
#[derive(Default)]
struct Buf {
    data: Vec<u8>,
    pos: usize,
}

impl Buf {
    fn unread(&self) -> usize {
        self.data.len() - self.pos
    }

    fn copy_to(&mut self, dst: &mut [u8]) -> usize {
        let n = self.unread().min(dst.len());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
    }

    /// Drops unread read-ahead; returns how far the OS cursor must move back (0 or negative).
    fn discard_read(&mut self) -> i64 {
        let back = -(self.unread() as i64);
        self.clear();
        back
    }

    fn read_from(&mut self, f: &std::fs::File, len: usize) -> io::Result<usize> {
        self.clear();
        self.data.resize(len, 0);
        let r = retry_interrupted(|| (&*f).read(&mut self.data));
        self.data.truncate(*r.as_ref().unwrap_or(&0));
        r
    }
}

fn retry_interrupted<R>(mut f: impl FnMut() -> io::Result<R>) -> io::Result<R> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

fn lost_state() -> io::Error {
    io::Error::other("rpal_rt::fs::File lost its buffer: an earlier poll panicked")
}

fn pool_failed(e: crate::JoinError) -> io::Error {
    io::Error::other(format!("file operation on the blocking pool failed: {e}"))
}

impl File {
    /// Opens `path` read-only.
    ///
    /// # Errors
    /// As [`std::fs::File::open`].
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens `path` write-only, creating it or truncating it.
    ///
    /// # Errors
    /// As [`std::fs::File::create`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Creates `path` write-only, failing with `AlreadyExists` if it exists.
    ///
    /// # Errors
    /// As [`std::fs::File::create_new`].
    pub async fn create_new(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .await
    }

    /// A fresh [`OpenOptions`].
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    /// Wraps a standard-library file (its cursor is used as is).
    pub fn from_std(std: std::fs::File) -> File {
        File {
            std: Arc::new(std),
            inner: Mutex::new(Inner {
                state: State::Idle(Some(Buf::default())),
                last_write_err: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent if a holder panicked (every transition is one assignment).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for the operation in flight (keeping a write error for the next caller).
    async fn complete_inflight(&self) {
        poll_fn(|cx| self.lock().poll_complete(cx)).await
    }

    /// Waits for pending writes, then returns the error of a failed background write.
    async fn settle(&self) -> io::Result<()> {
        self.complete_inflight().await;
        match self.lock().last_write_err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Flushes pending writes and syncs data and metadata to the device (`fsync`).
    ///
    /// # Errors
    /// A failed background write, or as `fsync(2)`.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.settle().await?;
        if let Some(op) = ring::fsync(&self.std, false) {
            return ring::path_op(op).await;
        }
        let std = self.std.clone();
        asyncify(move || std.sync_all()).await
    }

    /// Flushes pending writes and syncs the data to the device (`fdatasync`).
    ///
    /// # Errors
    /// A failed background write, or as `fdatasync(2)`.
    pub async fn sync_data(&self) -> io::Result<()> {
        self.settle().await?;
        if let Some(op) = ring::fsync(&self.std, true) {
            return ring::path_op(op).await;
        }
        let std = self.std.clone();
        asyncify(move || std.sync_data()).await
    }

    /// Truncates or extends the file to `size` bytes (the cursor does not move; read-ahead is
    /// dropped).
    ///
    /// # Errors
    /// A failed background write, or as `ftruncate(2)`.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        self.settle().await?;
        let back = match &mut self.lock().state {
            State::Idle(Some(buf)) => buf.discard_read(),
            _ => 0,
        };
        if back == 0 {
            if let Some(op) = ring::ftruncate(&self.std, size) {
                return ring::path_op(op).await;
            }
        }
        let std = self.std.clone();
        asyncify(move || {
            if back != 0 {
                (&*std).seek(SeekFrom::Current(back))?;
            }
            std.set_len(size)
        })
        .await
    }

    /// Metadata of the open file.
    ///
    /// # Errors
    /// As `fstat(2)`.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        self.complete_inflight().await;
        let std = self.std.clone();
        asyncify(move || std.metadata()).await
    }

    /// Sets the permissions of the open file.
    ///
    /// # Errors
    /// As `fchmod(2)`.
    pub async fn set_permissions(&self, perm: Permissions) -> io::Result<()> {
        let std = self.std.clone();
        asyncify(move || std.set_permissions(perm)).await
    }

    /// Reads up to `buf.len()` bytes at `offset` (`pread`), not moving the cursor; returns the
    /// count (0 at or past the end).
    ///
    /// # Errors
    /// As `pread(2)`.
    pub async fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.complete_inflight().await;
        let len = buf.len().min(MAX_BUF);
        if let Ok(op) = ring::read(&self.std, Vec::new(), len, offset) {
            let (n, rw) = ring::finish(op.await)?;
            buf[..n].copy_from_slice(&rw.data[..n]);
            return Ok(n);
        }
        let std = self.std.clone();
        let data = asyncify(move || {
            let mut data = vec![0u8; len];
            let n = retry_interrupted(|| std.read_at(&mut data, offset))?;
            data.truncate(n);
            Ok(data)
        })
        .await?;
        buf[..data.len()].copy_from_slice(&data);
        Ok(data.len())
    }

    /// Writes up to `buf.len()` bytes at `offset` (`pwrite`), not moving the cursor; returns the
    /// count. (A file opened with `append` writes at the end whatever the offset: Linux rule.)
    ///
    /// # Errors
    /// A failed background write, or as `pwrite(2)`.
    pub async fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.settle().await?;
        let data = buf[..buf.len().min(MAX_BUF)].to_vec();
        let data = match ring::write(&self.std, data, 0, offset) {
            Ok(op) => return ring::finish(op.await).map(|(n, _)| n),
            Err(data) => data,
        };
        let std = self.std.clone();
        asyncify(move || retry_interrupted(|| std.write_at(&data, offset))).await
    }

    /// A second handle to the same open file (shares the cursor; `dup(2)`).
    ///
    /// # Errors
    /// As `dup(2)`.
    pub async fn try_clone(&self) -> io::Result<File> {
        self.complete_inflight().await;
        let std = self.std.clone();
        Ok(File::from_std(asyncify(move || std.try_clone()).await?))
    }

    /// Waits for pending operations and returns the standard-library file, its cursor moved
    /// back over unread read-ahead (if that seek fails, the cursor stays after the read-ahead).
    pub async fn into_std(self) -> std::fs::File {
        self.complete_inflight().await;
        let back = match &mut self.lock().state {
            State::Idle(Some(buf)) => buf.discard_read(),
            _ => 0,
        };
        if back != 0 {
            let std = self.std.clone();
            let _ = asyncify(move || (&*std).seek(SeekFrom::Current(back))).await;
        }
        let mut std = self.std;
        loop {
            // Another owner exists only while a blocking task started by a dropped `&self`
            // future (say `sync_all` under a timeout) still runs; it ends soon.
            match Arc::try_unwrap(std) {
                Ok(f) => return f,
                Err(shared) => {
                    std = shared;
                    crate::time::sleep(INTO_STD_RETRY).await;
                }
            }
        }
    }
}

impl Inner {
    /// Polls the task in flight, if any, to completion and records its outcome; only a read's
    /// or seek's result is dropped here (their callers re-issue them), a write error is kept.
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.poll_busy(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => Poll::Ready(()),
            Poll::Ready(Some(Err(e))) => {
                self.last_write_err.get_or_insert(e);
                Poll::Ready(())
            }
            Poll::Ready(Some(Ok(op))) => {
                if let Operation::Write(Err(e)) = op {
                    self.last_write_err.get_or_insert(e);
                }
                Poll::Ready(())
            }
        }
    }

    /// If busy, polls the task; on completion the state is `Idle` again and the operation is
    /// returned. `Ready(None)`: was idle.
    fn poll_busy(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Operation>>> {
        if let State::Ring(op) = &self.state {
            let write = op_kind(op);
            return self.poll_ring(cx, write);
        }
        let State::Busy(task) = &mut self.state else {
            return Poll::Ready(None);
        };
        match Pin::new(task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok((op, buf))) => {
                self.state = State::Idle(Some(buf));
                Poll::Ready(Some(Ok(op)))
            }
            Poll::Ready(Err(e)) => {
                // The task (and the buffer it owned) is gone; start over with an empty one.
                self.state = State::Idle(Some(Buf::default()));
                Poll::Ready(Some(Err(pool_failed(e))))
            }
        }
    }

    /// Polls the ring operation in flight (`write`: it is a write); resubmits the rest of a
    /// short write.
    fn poll_ring(
        &mut self,
        cx: &mut Context<'_>,
        write: bool,
    ) -> Poll<Option<io::Result<Operation>>> {
        let State::Ring(RingIo::Read(op) | RingIo::Write(op)) = &mut self.state else {
            return Poll::Ready(None);
        };
        let out = match Pin::new(op).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(out) => out,
        };
        let (n, rw) = match ring::finish(out) {
            Ok(v) => v,
            Err(e) => {
                // The buffer (if it came back) is not worth keeping apart from its allocation.
                self.state = State::Idle(Some(Buf::default()));
                let op = if write {
                    Operation::Write(Err(e))
                } else {
                    Operation::Read(Err(e))
                };
                return Poll::Ready(Some(Ok(op)));
            }
        };
        let rw = *rw;
        if !write {
            let mut data = rw.data;
            data.truncate(n);
            self.state = State::Idle(Some(Buf { data, pos: 0 }));
            return Poll::Ready(Some(Ok(Operation::Read(Ok(n)))));
        }
        let written = rw.start() + n;
        if n > 0 && written < rw.data.len() {
            let file = rw.file().clone();
            match ring::write(&file, rw.data, written, CURSOR) {
                Ok(op) => self.state = State::Ring(RingIo::Write(op)),
                Err(data) => {
                    // No ring on this thread any more (the file moved): finish on the pool.
                    self.state = State::Busy(crate::spawn_blocking(move || {
                        let r = (&*file).write_all(&data[written..]);
                        let mut buf = Buf { data, pos: 0 };
                        buf.clear();
                        (Operation::Write(r), buf)
                    }));
                }
            }
            return self.poll_busy(cx);
        }
        let mut data = rw.data;
        data.clear();
        self.state = State::Idle(Some(Buf { data, pos: 0 }));
        let r = if n == 0 {
            Err(io::ErrorKind::WriteZero.into())
        } else {
            Ok(())
        };
        Poll::Ready(Some(Ok(Operation::Write(r))))
    }

    fn take_buf(&mut self) -> io::Result<Buf> {
        match &mut self.state {
            State::Idle(slot) => slot.take().ok_or_else(lost_state),
            State::Busy(_) | State::Ring(_) => Err(lost_state()),
        }
    }
}

impl futures::io::AsyncRead for File {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut inner = this.lock();
        loop {
            match inner.poll_busy(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) | Poll::Ready(Some(Ok(Operation::Read(Err(e))))) => {
                    return Poll::Ready(Err(e))
                }
                // End of file at the current position.
                Poll::Ready(Some(Ok(Operation::Read(Ok(0))))) => return Poll::Ready(Ok(0)),
                Poll::Ready(Some(Ok(Operation::Write(Err(e))))) => {
                    inner.last_write_err.get_or_insert(e);
                }
                Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => {}
            }
            // Idle now.
            let mut buf = match inner.take_buf() {
                Ok(b) => b,
                Err(e) => return Poll::Ready(Err(e)),
            };
            if buf.unread() > 0 || dst.is_empty() {
                let n = buf.copy_to(dst);
                inner.state = State::Idle(Some(buf));
                return Poll::Ready(Ok(n));
            }
            let len = dst.len().min(MAX_BUF);
            let pos = buf.pos;
            match ring::read(&this.std, std::mem::take(&mut buf.data), len, CURSOR) {
                Ok(op) => {
                    inner.state = State::Ring(RingIo::Read(op));
                    continue;
                }
                Err(data) => {
                    buf.data = data;
                    buf.pos = pos;
                }
            }
            let std = this.std.clone();
            inner.state = State::Busy(crate::spawn_blocking(move || {
                let r = buf.read_from(&std, len);
                (Operation::Read(r), buf)
            }));
        }
    }
}

impl futures::io::AsyncWrite for File {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        src: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut inner = this.lock();
        if let Some(e) = inner.last_write_err.take() {
            return Poll::Ready(Err(e));
        }
        if src.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match inner.poll_busy(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Some(Err(e))) | Poll::Ready(Some(Ok(Operation::Write(Err(e))))) => {
                return Poll::Ready(Err(e))
            }
            Poll::Ready(_) => {}
        }
        let mut buf = match inner.take_buf() {
            Ok(b) => b,
            Err(e) => return Poll::Ready(Err(e)),
        };
        let back = buf.discard_read();
        let n = src.len().min(MAX_BUF);
        buf.data.extend_from_slice(&src[..n]);
        if back == 0 {
            // The OS cursor is where the caller thinks: the ring can write at it.
            match ring::write(&this.std, std::mem::take(&mut buf.data), 0, CURSOR) {
                Ok(op) => {
                    inner.state = State::Ring(RingIo::Write(op));
                    return Poll::Ready(Ok(n));
                }
                Err(data) => buf.data = data,
            }
        }
        let std = this.std.clone();
        inner.state = State::Busy(crate::spawn_blocking(move || {
            let r = (|| {
                if back != 0 {
                    (&*std).seek(SeekFrom::Current(back))?;
                }
                (&*std).write_all(&buf.data)
            })();
            buf.clear();
            (Operation::Write(r), buf)
        }));
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        if let Some(e) = inner.last_write_err.take() {
            return Poll::Ready(Err(e));
        }
        match inner.poll_busy(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Err(e))) | Poll::Ready(Some(Ok(Operation::Write(Err(e))))) => {
                Poll::Ready(Err(e))
            }
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

impl futures::io::AsyncSeek for File {
    fn poll_seek(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        pos: SeekFrom,
    ) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        let mut inner = this.lock();
        loop {
            match inner.poll_busy(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                // The seek this call started (or one a dropped seek future left behind: the
                // caller asks again with the same position, and the cursor is where it wanted).
                Poll::Ready(Some(Ok(Operation::Seek(r)))) => return Poll::Ready(r),
                Poll::Ready(Some(Ok(Operation::Write(Err(e))))) => {
                    inner.last_write_err.get_or_insert(e);
                }
                Poll::Ready(Some(Ok(_))) | Poll::Ready(None) => {}
            }
            let mut buf = match inner.take_buf() {
                Ok(b) => b,
                Err(e) => return Poll::Ready(Err(e)),
            };
            let back = buf.discard_read();
            let pos = match pos {
                SeekFrom::Current(n) => SeekFrom::Current(n.saturating_add(back)),
                other => other,
            };
            let std = this.std.clone();
            inner.state = State::Busy(crate::spawn_blocking(move || {
                let r = (&*std).seek(pos);
                (Operation::Seek(r), buf)
            }));
        }
    }
}

impl fmt::Debug for File {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("File").field("std", &self.std).finish()
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.std.as_raw_fd()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }
}

impl From<std::fs::File> for File {
    fn from(std: std::fs::File) -> File {
        File::from_std(std)
    }
}
