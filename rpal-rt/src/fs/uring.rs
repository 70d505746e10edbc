//! File operations as io_uring completion operations, for tasks on an io_uring worker.
//!
//! Every constructor here returns `None` (or its buffer back) when the current thread is not an
//! io_uring worker or the running kernel lacks the opcode; the caller then uses the blocking
//! pool. An operation owns what the kernel touches: the file (an `Arc`, so the fd stays open
//! until the final completion even if the `File` is dropped) and its buffer or path. See
//! `reactor/uring_op.rs` for the cancellation rules.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use io_uring::opcode;
use io_uring::types::{Fd, FsyncFlags};

use crate::loom::sync::Arc;
use crate::reactor::uring_op::{self, Op, OpOutput};

/// The offset that means "at the file's cursor, and move it" (`-1` as `off_t`).
pub(super) const CURSOR: u64 = u64::MAX;
/// Permission bits `fs::write` and `fs::create_dir` create with (before the umask), as std.
const CREATE_MODE: u32 = 0o666;
/// Permission bits of a new directory (before the umask), as std.
const DIR_MODE: u32 = 0o777;
/// Most bytes one `READ`/`WRITE` of the whole-file functions moves.
const CHUNK: usize = 2 * 1024 * 1024;
/// First read size of `fs::read` when the size is unknown (the file grew, or is special).
const MIN_READ: usize = 64 * 1024;

/// A read or write: the file and the bytes.
pub(super) struct Rw {
    file: Arc<std::fs::File>,
    /// Read: `data[..len]` receives the bytes. Write: `data[start..]` is written.
    pub(super) data: Vec<u8>,
    start: usize,
}

impl Rw {
    /// The file the operation ran on.
    pub(super) fn file(&self) -> &Arc<std::fs::File> {
        &self.file
    }
    /// Where in `data` a write started.
    pub(super) fn start(&self) -> usize {
        self.start
    }
}

/// The ring of this worker, if it runs one and the kernel has opcode `code`.
fn ring_for(code: u8) -> Option<Arc<crate::reactor::uring_op::UringRing>> {
    uring_op::current_ring().filter(|_| uring_op::opcode_supported(code))
}

/// Reads up to `len` bytes at `offset` ([`CURSOR`]: at the cursor) into `data` (resized to
/// `len`). Gives `data` back when the ring cannot take it.
pub(super) fn read(
    file: &Arc<std::fs::File>,
    mut data: Vec<u8>,
    len: usize,
    offset: u64,
) -> Result<Op<Rw>, Vec<u8>> {
    let Some(ring) = ring_for(opcode::Read::CODE) else {
        return Err(data);
    };
    data.clear();
    data.resize(len, 0);
    let rw = Rw {
        file: file.clone(),
        data,
        start: 0,
    };
    // SAFETY: the SQE points into `rw.data` (owned by the op, not resized while it runs) and
    // names `rw.file`'s fd, which the op keeps open.
    let op = unsafe {
        uring_op::submit(ring, rw, false, |rw| {
            let len = rw.data.len().min(u32::MAX as usize) as u32;
            opcode::Read::new(Fd(rw.file.as_raw_fd()), rw.data.as_mut_ptr(), len)
                .offset(offset)
                .build()
        })
    };
    op.map_err(|rw| rw.data)
}

/// Writes `data[start..]` at `offset` ([`CURSOR`]: at the cursor; `O_APPEND` files append).
pub(super) fn write(
    file: &Arc<std::fs::File>,
    data: Vec<u8>,
    start: usize,
    offset: u64,
) -> Result<Op<Rw>, Vec<u8>> {
    let Some(ring) = ring_for(opcode::Write::CODE) else {
        return Err(data);
    };
    let rw = Rw {
        file: file.clone(),
        data,
        start,
    };
    // SAFETY: the SQE points into `rw.data[start..]` (owned by the op) and names `rw.file`'s
    // fd, which the op keeps open.
    let op = unsafe {
        uring_op::submit(ring, rw, false, |rw| {
            let src = &rw.data[rw.start.min(rw.data.len())..];
            let len = src.len().min(u32::MAX as usize) as u32;
            opcode::Write::new(Fd(rw.file.as_raw_fd()), src.as_ptr(), len)
                .offset(offset)
                .build()
        })
    };
    op.map_err(|rw| rw.data)
}

/// `fsync` (`datasync`: `fdatasync`) of `file` on the ring.
pub(super) fn fsync(file: &Arc<std::fs::File>, datasync: bool) -> Option<Op<Arc<std::fs::File>>> {
    let ring = ring_for(opcode::Fsync::CODE)?;
    let flags = if datasync {
        FsyncFlags::DATASYNC
    } else {
        FsyncFlags::empty()
    };
    // SAFETY: no buffer; the fd is kept open by the owned `Arc`.
    let op = unsafe {
        uring_op::submit(ring, file.clone(), false, |f| {
            opcode::Fsync::new(Fd(f.as_raw_fd())).flags(flags).build()
        })
    };
    op.ok()
}

/// `ftruncate` on the ring, where the kernel has `IORING_OP_FTRUNCATE` (6.9+).
pub(super) fn ftruncate(file: &Arc<std::fs::File>, len: u64) -> Option<Op<Arc<std::fs::File>>> {
    let ring = ring_for(opcode::Ftruncate::CODE)?;
    // SAFETY: no buffer; the fd is kept open by the owned `Arc`.
    let op = unsafe {
        uring_op::submit(ring, file.clone(), false, |f| {
            opcode::Ftruncate::new(Fd(f.as_raw_fd()), len).build()
        })
    };
    op.ok()
}

fn c_path(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_bytes()).ok()
}

/// `openat(AT_FDCWD, path, flags, mode)` on the ring. `None`: no ring, or a path with a NUL
/// (the blocking pool then reports the error as std does).
pub(super) fn openat(path: &Path, flags: i32, mode: u32) -> Option<Op<CString>> {
    let ring = ring_for(opcode::OpenAt::CODE)?;
    let path = c_path(path)?;
    // SAFETY: the SQE points into the owned `CString`'s heap bytes; `AT_FDCWD` is no fd.
    let op = unsafe {
        uring_op::submit(ring, path, true, |p| {
            opcode::OpenAt::new(Fd(libc::AT_FDCWD), p.as_ptr())
                .flags(flags | libc::O_CLOEXEC)
                .mode(mode)
                .build()
        })
    };
    op.ok()
}

/// `unlinkat(AT_FDCWD, path, 0)` on the ring.
pub(super) fn unlinkat(path: &Path) -> Option<Op<CString>> {
    let ring = ring_for(opcode::UnlinkAt::CODE)?;
    let path = c_path(path)?;
    // SAFETY: the SQE points into the owned `CString`.
    let op = unsafe {
        uring_op::submit(ring, path, false, |p| {
            opcode::UnlinkAt::new(Fd(libc::AT_FDCWD), p.as_ptr()).build()
        })
    };
    op.ok()
}

/// `mkdirat(AT_FDCWD, path, 0o777)` on the ring.
pub(super) fn mkdirat(path: &Path) -> Option<Op<CString>> {
    let ring = ring_for(opcode::MkDirAt::CODE)?;
    let path = c_path(path)?;
    // SAFETY: the SQE points into the owned `CString`.
    let op = unsafe {
        uring_op::submit(ring, path, false, |p| {
            opcode::MkDirAt::new(Fd(libc::AT_FDCWD), p.as_ptr())
                .mode(DIR_MODE)
                .build()
        })
    };
    op.ok()
}

/// `renameat(AT_FDCWD, from, AT_FDCWD, to)` on the ring.
pub(super) fn renameat(from: &Path, to: &Path) -> Option<Op<(CString, CString)>> {
    let ring = ring_for(opcode::RenameAt::CODE)?;
    let paths = (c_path(from)?, c_path(to)?);
    // SAFETY: the SQE points into the two owned `CString`s.
    let op = unsafe {
        uring_op::submit(ring, paths, false, |(a, b)| {
            opcode::RenameAt::new(
                Fd(libc::AT_FDCWD),
                a.as_ptr(),
                Fd(libc::AT_FDCWD),
                b.as_ptr(),
            )
            .build()
        })
    };
    op.ok()
}

/// The size of `file` from `STATX` on the ring (`None`: no ring or no statx; the caller reads
/// until end of file anyway).
async fn size_hint(file: &Arc<std::fs::File>) -> Option<u64> {
    struct Statx {
        file: Arc<std::fs::File>,
        /// The kernel's `struct statx` (io-uring's own type is opaque and zero-sized: the
        /// kernel must write into libc's full-size one).
        buf: libc::statx,
    }
    let ring = ring_for(opcode::Statx::CODE)?;
    let owned = Statx {
        file: file.clone(),
        // SAFETY: `libc::statx` is plain old data; all zeroes is a valid value.
        buf: unsafe { std::mem::zeroed() },
    };
    // SAFETY: the SQE points into the owned, full-size statx block and at a `'static` empty C
    // string; the fd is kept open by the owned `Arc`.
    let op = unsafe {
        uring_op::submit(ring, owned, false, |s| {
            opcode::Statx::new(
                Fd(s.file.as_raw_fd()),
                c"".as_ptr(),
                (&mut s.buf as *mut libc::statx).cast::<io_uring::types::statx>(),
            )
            .flags(libc::AT_EMPTY_PATH)
            .mask(libc::STATX_SIZE)
            .build()
        })
    };
    let (_, s) = finish(op.ok()?.await).ok()?;
    let st = &s.buf;
    Some(st.stx_size)
}

/// The count and the resources of a finished operation, or its error.
pub(super) fn finish<T>(out: OpOutput<T>) -> io::Result<(usize, Box<T>)> {
    let n = out.result?;
    match out.owned {
        Some(owned) => Ok((n as usize, owned)),
        None => Err(io::Error::other("io_uring operation lost its buffer")),
    }
}

/// Wraps the fd an `OPENAT` returned.
pub(super) fn opened(out: OpOutput<CString>) -> io::Result<std::fs::File> {
    let fd = out.result?;
    // SAFETY: the kernel just created this fd for us (the op's CQE result); nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    Ok(std::fs::File::from(fd))
}

/// `fs::read` on the ring: `OPENAT`, `STATX` for the size, `READ`s until end of file.
pub(super) async fn read_file(path: &Path) -> Option<io::Result<Vec<u8>>> {
    let open = openat(path, libc::O_RDONLY, 0)?;
    Some(read_all(open).await)
}

async fn read_all(open: Op<CString>) -> io::Result<Vec<u8>> {
    let file = Arc::new(opened(open.await)?);
    let hint = size_hint(&file).await.unwrap_or(0) as usize;
    let mut out: Vec<u8> = Vec::with_capacity(hint.saturating_add(1));
    let mut buf = Vec::new();
    loop {
        let want = if out.len() < hint {
            (hint - out.len()).min(CHUNK)
        } else {
            out.len().clamp(MIN_READ, CHUNK)
        };
        let op = match read(&file, buf, want, out.len() as u64) {
            Ok(op) => op,
            Err(_) => return Err(io::Error::other("io_uring ring went away during fs::read")),
        };
        let (n, rw) = finish(op.await)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&rw.data[..n]);
        buf = rw.data;
    }
}

/// `fs::write` on the ring: `OPENAT(O_WRONLY|O_CREAT|O_TRUNC)` and `WRITE`s. Gives `contents`
/// back when the ring cannot take it.
pub(super) fn write_file(
    path: &Path,
    contents: Vec<u8>,
) -> Result<impl std::future::Future<Output = io::Result<()>>, Vec<u8>> {
    match openat(
        path,
        libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
        CREATE_MODE,
    ) {
        Some(open) => Ok(write_all(open, contents)),
        None => Err(contents),
    }
}

async fn write_all(open: Op<CString>, mut data: Vec<u8>) -> io::Result<()> {
    let file = Arc::new(opened(open.await)?);
    let mut at = 0usize;
    while at < data.len() {
        let op = match write(&file, data, at, at as u64) {
            Ok(op) => op,
            Err(_) => return Err(io::Error::other("io_uring ring went away during fs::write")),
        };
        let (n, rw) = finish(op.await)?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        at += n;
        data = rw.data;
    }
    Ok(())
}

/// Waits for a path operation (unlink, mkdir, rename) and maps its result.
pub(super) async fn path_op<T: Send + 'static>(op: Op<T>) -> io::Result<()> {
    op.await.result.map(drop)
}
