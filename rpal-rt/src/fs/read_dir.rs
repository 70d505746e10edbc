//! [`read_dir`], [`ReadDir`] and [`DirEntry`].

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::future::{poll_fn, Future};
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::asyncify;
use crate::task::JoinHandle;

/// How many entries one trip to the blocking pool reads.
const BATCH: usize = 32;

/// Opens the directory at `path` for listing.
///
/// # Errors
/// As [`std::fs::read_dir`]: `NotFound`, `NotADirectory`, `PermissionDenied`.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("rpal-rd-doc-{}", std::process::id()));
///     rpal_rt::fs::create_dir_all(&dir).await.unwrap();
///     rpal_rt::fs::write(dir.join("x"), b"1").await.unwrap();
///     let mut entries = rpal_rt::fs::read_dir(&dir).await.unwrap();
///     let mut names = Vec::new();
///     while let Some(e) = entries.next_entry().await.unwrap() {
///         names.push(e.file_name());
///     }
///     assert_eq!(names, ["x"]);
///     rpal_rt::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    let std = asyncify(move || std::fs::read_dir(path)).await?;
    Ok(ReadDir {
        state: State::Idle(Some((std, VecDeque::new(), false))),
    })
}

/// Directory iterator state: the std iterator, a batch of read entries, and whether the
/// iterator is exhausted.
type Batch = (std::fs::ReadDir, VecDeque<io::Result<DirEntry>>, bool);

#[derive(Debug)]
enum State {
    /// `None` only while a poll moves the batch into a blocking task.
    Idle(Option<Batch>),
    Busy(JoinHandle<Batch>),
}

/// The entries of a directory, from [`read_dir`]; read in batches on the blocking pool.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("rpal-doc-readdir-{}", std::process::id()));
///     rpal_rt::fs::create_dir_all(&dir).await.unwrap();
///     rpal_rt::fs::write(dir.join("a.txt"), b"a").await.unwrap();
///     let mut entries = rpal_rt::fs::read_dir(&dir).await.unwrap();
///     let mut names = Vec::new();
///     while let Some(e) = entries.next_entry().await.unwrap() {
///         names.push(e.file_name());
///     }
///     assert_eq!(names, ["a.txt"]);
///     rpal_rt::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct ReadDir {
    state: State,
}

impl ReadDir {
    /// The next entry, or `None` at the end (`.` and `..` are skipped).
    ///
    /// # Errors
    /// As iterating [`std::fs::ReadDir`].
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        poll_fn(|cx| self.poll_next_entry(cx)).await
    }

    /// Polls for the next entry.
    ///
    /// # Errors
    /// As [`next_entry`](Self::next_entry).
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Idle(slot) => {
                    let Some((mut std, mut buf, done)) = slot.take() else {
                        return Poll::Ready(Err(io::Error::other(
                            "ReadDir lost its state after a failed poll",
                        )));
                    };
                    if let Some(e) = buf.pop_front() {
                        *slot = Some((std, buf, done));
                        return Poll::Ready(e.map(Some));
                    }
                    if done {
                        *slot = Some((std, buf, done));
                        return Poll::Ready(Ok(None));
                    }
                    self.state = State::Busy(crate::spawn_blocking(move || {
                        let mut done = false;
                        for _ in 0..BATCH {
                            match std.next() {
                                Some(e) => {
                                    buf.push_back(e.map(|e| DirEntry { inner: Arc::new(e) }))
                                }
                                None => {
                                    done = true;
                                    break;
                                }
                            }
                        }
                        (std, buf, done)
                    }));
                }
                State::Busy(h) => match Pin::new(h).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(batch)) => self.state = State::Idle(Some(batch)),
                    Poll::Ready(Err(e)) => {
                        return Poll::Ready(Err(io::Error::other(format!(
                            "directory listing on the blocking pool failed: {e}"
                        ))))
                    }
                },
            }
        }
    }
}

/// One entry of a directory listing.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let dir = std::env::temp_dir().join(format!("rpal-doc-direntry-{}", std::process::id()));
///     rpal_rt::fs::create_dir_all(&dir).await.unwrap();
///     rpal_rt::fs::write(dir.join("f"), b"12345").await.unwrap();
///     let mut entries = rpal_rt::fs::read_dir(&dir).await.unwrap();
///     let e = entries.next_entry().await.unwrap().unwrap();
///     assert_eq!(e.path(), dir.join("f"));
///     assert!(e.file_type().await.unwrap().is_file());
///     assert_eq!(e.metadata().await.unwrap().len(), 5);
///     rpal_rt::fs::remove_dir_all(&dir).await.unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct DirEntry {
    inner: Arc<std::fs::DirEntry>,
}

impl DirEntry {
    /// The full path: the directory given to [`read_dir`] joined with the file name.
    pub fn path(&self) -> PathBuf {
        self.inner.path()
    }

    /// The bare file name.
    pub fn file_name(&self) -> OsString {
        self.inner.file_name()
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        std::os::unix::fs::DirEntryExt::ino(&*self.inner)
    }

    /// Metadata of the entry (a symbolic link is not followed).
    ///
    /// # Errors
    /// As [`std::fs::DirEntry::metadata`].
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let e = self.inner.clone();
        asyncify(move || e.metadata()).await
    }

    /// The entry's file type (usually known without a syscall).
    ///
    /// # Errors
    /// As [`std::fs::DirEntry::file_type`].
    pub async fn file_type(&self) -> io::Result<FileType> {
        let e = self.inner.clone();
        asyncify(move || e.file_type()).await
    }
}
