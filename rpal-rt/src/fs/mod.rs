//! Filesystem access with Tokio's API shape: [`File`], [`OpenOptions`], [`ReadDir`]/[`DirEntry`]
//! and free functions ([`read`], [`write`], [`create_dir_all`], [`rename`], [`copy`], ...).
//!
//! Regular files are always "ready" to epoll, so readiness cannot drive them. Two paths:
//!
//! * on a worker whose driver is io_uring, these run as ring operations (when the running kernel
//!   has the opcode): [`File`]'s `read`/`write` (AsyncRead/AsyncWrite), `read_at`, `write_at`,
//!   `sync_all`, `sync_data`, `set_len` (`FTRUNCATE`, Linux 6.9+), [`File::open`] and
//!   [`OpenOptions::open`] (`OPENAT`), and the free functions [`read`], [`read_to_string`],
//!   [`write()`], [`remove_file`] (`UNLINKAT`), [`rename`] (`RENAMEAT`) and [`create_dir`]
//!   (`MKDIRAT`). `Runtime::metrics` counts them (`ring_ops_submitted_count`).
//! * everything else (epoll, threads that are not workers, seeks, `metadata`, which returns
//!   `std::fs::Metadata` and cannot be built from a `statx` buffer, directory walks, copies)
//!   runs the standard library's blocking call on the runtime's blocking pool
//!   ([`spawn_blocking`](crate::spawn_blocking)) and awaits its result. Each such call costs a
//!   hand-off to a pool thread and back: batch work into few large calls (for example [`read`] a
//!   whole file rather than many small reads through a [`File`]).
//!
//! Dropping a future of a ring operation cancels it (`ASYNC_CANCEL`); its buffer stays with the
//! runtime until the kernel lets go of it.
//!
//! # Panics
//! Every function and method panics when called outside an rpal runtime, as
//! [`spawn_blocking`](crate::spawn_blocking) does.
//!
//! # Examples
//! ```
//! let rt = rpal_rt::Runtime::new_current_thread().unwrap();
//! rt.block_on(async {
//!     let dir = std::env::temp_dir().join(format!("rpal-fs-doc-{}", std::process::id()));
//!     rpal_rt::fs::create_dir_all(dir.join("a/b")).await.unwrap();
//!     let path = dir.join("a/b/hello.txt");
//!     rpal_rt::fs::write(&path, "hello").await.unwrap();
//!     assert_eq!(rpal_rt::fs::read_to_string(&path).await.unwrap(), "hello");
//!     rpal_rt::fs::remove_dir_all(&dir).await.unwrap();
//! });
//! ```

mod file;
mod open_options;
mod read_dir;
mod uring;

use std::fs::{Metadata, Permissions};
use std::io;
use std::path::{Path, PathBuf};

pub use file::File;
pub use open_options::OpenOptions;
pub use read_dir::{read_dir, DirEntry, ReadDir};

/// Runs the blocking `f` on the blocking pool and returns its result; a panic in `f` becomes an
/// `io::Error` (kind `Other`) naming the panic.
pub(crate) async fn asyncify<F, T>(f: F) -> io::Result<T>
where
    F: FnOnce() -> io::Result<T> + Send + 'static,
    T: Send + 'static,
{
    match crate::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!(
            "filesystem operation on the blocking pool failed: {e}"
        ))),
    }
}

/// Reads the whole file at `path`.
///
/// # Errors
/// As [`std::fs::read`].
///
/// # Examples
/// See the [module example](self).
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    if let Some(r) = uring::read_file(path.as_ref()).await {
        return r;
    }
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read(path)).await
}

/// Reads the whole file at `path` as UTF-8.
///
/// # Errors
/// As [`std::fs::read_to_string`]; `InvalidData` if the bytes are not UTF-8.
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    if let Some(r) = uring::read_file(path.as_ref()).await {
        return String::from_utf8(r?).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            )
        });
    }
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_to_string(path)).await
}

/// Creates or truncates the file at `path` and writes `contents` to it.
///
/// # Errors
/// As [`std::fs::write`].
pub async fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_owned();
    let contents = match uring::write_file(path.as_ref(), contents) {
        Ok(fut) => return fut.await,
        Err(contents) => contents,
    };
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::write(path, contents)).await
}

/// Creates a directory (its parent must exist).
///
/// # Errors
/// As [`std::fs::create_dir`]; `AlreadyExists` if it exists.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    if let Some(op) = uring::mkdirat(path.as_ref()) {
        return uring::path_op(op).await;
    }
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir(path)).await
}

/// Creates a directory and any missing parents; succeeds if it already exists.
///
/// # Errors
/// As [`std::fs::create_dir_all`].
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::create_dir_all(path)).await
}

/// Removes a file or symbolic link.
///
/// # Errors
/// As [`std::fs::remove_file`]; `NotFound` if it does not exist.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    if let Some(op) = uring::unlinkat(path.as_ref()) {
        return uring::path_op(op).await;
    }
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_file(path)).await
}

/// Removes an empty directory.
///
/// # Errors
/// As [`std::fs::remove_dir`].
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir(path)).await
}

/// Removes a directory and everything in it.
///
/// # Errors
/// As [`std::fs::remove_dir_all`].
pub async fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::remove_dir_all(path)).await
}

/// Renames `from` to `to`, replacing `to` if it exists (same filesystem only).
///
/// # Errors
/// As [`std::fs::rename`].
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    if let Some(op) = uring::renameat(from.as_ref(), to.as_ref()) {
        return uring::path_op(op).await;
    }
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::rename(from, to)).await
}

/// Copies the contents and permissions of `from` to `to`; returns the number of bytes copied.
///
/// # Errors
/// As [`std::fs::copy`].
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    let (from, to) = (from.as_ref().to_owned(), to.as_ref().to_owned());
    asyncify(move || std::fs::copy(from, to)).await
}

/// Creates a hard link `link` to `original`.
///
/// # Errors
/// As [`std::fs::hard_link`].
pub async fn hard_link(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    asyncify(move || std::fs::hard_link(original, link)).await
}

/// Creates a symbolic link `link` pointing to `original`.
///
/// # Errors
/// As [`std::os::unix::fs::symlink`].
pub async fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) -> io::Result<()> {
    let (original, link) = (original.as_ref().to_owned(), link.as_ref().to_owned());
    asyncify(move || std::os::unix::fs::symlink(original, link)).await
}

/// Reads the target of a symbolic link.
///
/// # Errors
/// As [`std::fs::read_link`].
pub async fn read_link(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::read_link(path)).await
}

/// The absolute path with every symbolic link and `..` resolved.
///
/// # Errors
/// As [`std::fs::canonicalize`].
pub async fn canonicalize(path: impl AsRef<Path>) -> io::Result<PathBuf> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::canonicalize(path)).await
}

/// Metadata of `path`, following symbolic links.
///
/// # Errors
/// As [`std::fs::metadata`].
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::metadata(path)).await
}

/// Metadata of `path` itself (a symbolic link is not followed).
///
/// # Errors
/// As [`std::fs::symlink_metadata`].
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::symlink_metadata(path)).await
}

/// Sets the permissions of `path`.
///
/// # Errors
/// As [`std::fs::set_permissions`].
pub async fn set_permissions(path: impl AsRef<Path>, perm: Permissions) -> io::Result<()> {
    let path = path.as_ref().to_owned();
    asyncify(move || std::fs::set_permissions(path, perm)).await
}

/// Whether `path` exists (`Ok(false)` only when it definitely does not; a broken symbolic link
/// counts as missing).
///
/// # Errors
/// The existence could not be determined (for example permission denied on a parent).
pub async fn try_exists(path: impl AsRef<Path>) -> io::Result<bool> {
    let path = path.as_ref().to_owned();
    asyncify(move || path.try_exists()).await
}
