//! [`OpenOptions`]: how to open a [`File`].

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::{asyncify, File};

/// Options for opening a file, as [`std::fs::OpenOptions`] (same flags, same defaults), with an
/// `async` [`open`](OpenOptions::open).
///
/// # Examples
/// ```
/// use futures::AsyncWriteExt;
/// use rpal_rt::fs::OpenOptions;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let path = std::env::temp_dir().join(format!("rpal-oo-doc-{}", std::process::id()));
///     let mut f = OpenOptions::new().create(true).append(true).open(&path).await.unwrap();
///     f.write_all(b"line\n").await.unwrap();
///     f.flush().await.unwrap();
///     assert_eq!(rpal_rt::fs::read(&path).await.unwrap(), b"line\n");
///     rpal_rt::fs::remove_file(&path).await.unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct OpenOptions(std::fs::OpenOptions, Flags);

/// A copy of the options, from which the `open(2)` flags of an io_uring `OPENAT` are computed
/// (std keeps its own private).
#[derive(Clone, Copy, Debug, Default)]
struct Flags {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: Option<u32>,
    custom: i32,
    /// Built from a `std::fs::OpenOptions` whose settings are unknown: always the blocking pool.
    opaque: bool,
}

/// Default permission bits of a new file (before the umask), as std.
const DEFAULT_MODE: u32 = 0o666;

impl Flags {
    /// `open(2)` flags and mode as std computes them; `None` for combinations std rejects (the
    /// blocking pool then reports std's error).
    fn to_open(self) -> Option<(i32, u32)> {
        if self.opaque {
            return None;
        }
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => return None,
        };
        let writes = self.write || self.append;
        if !writes && (self.truncate || self.create || self.create_new) {
            return None;
        }
        if self.append && self.truncate && !self.create_new {
            return None;
        }
        let creation = match (self.create, self.truncate, self.create_new) {
            (_, _, true) => libc::O_CREAT | libc::O_EXCL,
            (false, false, false) => 0,
            (true, false, false) => libc::O_CREAT,
            (false, true, false) => libc::O_TRUNC,
            (true, true, false) => libc::O_CREAT | libc::O_TRUNC,
        };
        let flags = access | creation | (self.custom & !libc::O_ACCMODE);
        Some((flags, self.mode.unwrap_or(DEFAULT_MODE)))
    }
}

impl OpenOptions {
    /// All options off (set at least one of read, write or append).
    pub fn new() -> OpenOptions {
        OpenOptions(std::fs::OpenOptions::new(), Flags::default())
    }

    /// Open for reading.
    pub fn read(&mut self, on: bool) -> &mut OpenOptions {
        self.0.read(on);
        self.1.read = on;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, on: bool) -> &mut OpenOptions {
        self.0.write(on);
        self.1.write = on;
        self
    }

    /// Every write goes to the end of the file (implies write).
    pub fn append(&mut self, on: bool) -> &mut OpenOptions {
        self.0.append(on);
        self.1.append = on;
        self
    }

    /// Truncate an existing file to length 0 (needs write).
    pub fn truncate(&mut self, on: bool) -> &mut OpenOptions {
        self.0.truncate(on);
        self.1.truncate = on;
        self
    }

    /// Create the file if it is missing (needs write or append).
    pub fn create(&mut self, on: bool) -> &mut OpenOptions {
        self.0.create(on);
        self.1.create = on;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists.
    pub fn create_new(&mut self, on: bool) -> &mut OpenOptions {
        self.0.create_new(on);
        self.1.create_new = on;
        self
    }

    /// Permission bits for a newly created file (before the umask; default `0o666`).
    pub fn mode(&mut self, mode: u32) -> &mut OpenOptions {
        self.0.mode(mode);
        self.1.mode = Some(mode);
        self
    }

    /// Extra `open(2)` flags (for example `libc::O_NOFOLLOW`).
    pub fn custom_flags(&mut self, flags: i32) -> &mut OpenOptions {
        self.0.custom_flags(flags);
        self.1.custom = flags;
        self
    }

    /// Opens `path` with these options.
    ///
    /// # Errors
    /// As [`std::fs::OpenOptions::open`]: `NotFound`, `PermissionDenied`, `AlreadyExists` (with
    /// `create_new`), `InvalidInput` for contradictory options.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        if let Some((flags, mode)) = self.1.to_open() {
            if let Some(op) = super::uring::openat(path.as_ref(), flags, mode) {
                return Ok(File::from_std(super::uring::opened(op.await)?));
            }
        }
        let opts = self.0.clone();
        let path = path.as_ref().to_owned();
        let std = asyncify(move || opts.open(path)).await?;
        Ok(File::from_std(std))
    }
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions::new()
    }
}

impl From<std::fs::OpenOptions> for OpenOptions {
    fn from(o: std::fs::OpenOptions) -> OpenOptions {
        OpenOptions(
            o,
            Flags {
                opaque: true,
                ..Flags::default()
            },
        )
    }
}
