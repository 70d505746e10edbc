//! Shared memory for a stream: a sealed memfd mapped `MAP_SHARED` by both processes.
//!
//! Exports [`SharedRegion`] (create on one side, [`SharedRegion::from_fd`] on the side that
//! receives the fd) and [`pkeys_available`].
//!
//! The creator seals the memfd against shrinking and growing (`F_SEAL_SHRINK | F_SEAL_GROW`) and
//! then seals the seals (`F_SEAL_SEAL`). The receiver maps an fd only after checking that it is a
//! regular file of exactly the expected size carrying those seals: only a memfd can carry seals
//! that were added, and with them the peer cannot truncate the file under our mapping (which
//! would turn our next access into SIGBUS) nor hand us a socket, a pipe or a device. Pages are
//! allocated up front (`fallocate`) so the first touch does not fail for lack of memory.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// Largest region either side creates or accepts (two 64 MiB rings plus headers fit).
pub const MAX_REGION_LEN: usize = 256 << 20;

/// Seals every region must carry.
const REQUIRED_SEALS: libc::c_int = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;

/// Seals that would make our writable shared mapping fail or stop being writable.
const FORBIDDEN_SEALS: libc::c_int = libc::F_SEAL_WRITE | libc::F_SEAL_FUTURE_WRITE;

/// Name shown in `/proc/<pid>/fd` and `/proc/<pid>/maps`.
const MEMFD_NAME: &CStr = c"rpal-ring";

/// A sealed memfd mapped read-write and shared; unmapped on drop.
pub struct SharedRegion {
    fd: OwnedFd,
    /// # Invariant
    /// Start of a live `MAP_SHARED` read-write mapping of `len` bytes of `fd`, page-aligned,
    /// unmapped only in `Drop`.
    ptr: NonNull<u8>,
    len: usize,
    pkey: Option<i32>,
}

// SAFETY: the region owns its mapping and fd; it hands out only a raw pointer, and whoever
// dereferences it follows the ring's ownership rules. Nothing in it is thread-affine.
unsafe impl Send for SharedRegion {}
// SAFETY: as above; `&SharedRegion` gives read-only access to the fields.
unsafe impl Sync for SharedRegion {}

impl fmt::Debug for SharedRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedRegion")
            .field("fd", &self.fd.as_raw_fd())
            .field("ptr", &self.ptr)
            .field("len", &self.len)
            .field("pkey", &self.pkey)
            .finish()
    }
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn check_len(len: usize) -> io::Result<()> {
    if len == 0 || len > MAX_REGION_LEN {
        return Err(invalid(format!(
            "shared region length {len} outside 1..={MAX_REGION_LEN}"
        )));
    }
    Ok(())
}

impl SharedRegion {
    /// Creates a sealed memfd of `len` bytes, allocates its pages and maps it. With
    /// `pkey: Some(k)` the mapping is tagged with protection key `k` (see [`pkeys_available`]).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a length of 0 or above [`MAX_REGION_LEN`]; the OS error of
    /// `memfd_create`, `ftruncate`, `fallocate`, sealing, `mmap` or `pkey_mprotect`.
    pub fn create(len: usize, pkey: Option<i32>) -> io::Result<Self> {
        check_len(len)?;
        // SAFETY: a valid NUL-terminated name and flags; the result is checked.
        let raw = cvt(unsafe {
            libc::memfd_create(
                MEMFD_NAME.as_ptr(),
                libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
            )
        })?;
        // SAFETY: memfd_create just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let off = libc::off_t::try_from(len).map_err(|_| invalid(format!("length {len}")))?;
        // SAFETY: plain syscalls on an fd we own.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), off) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, off) })?;
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, REQUIRED_SEALS) })?;
        Self::map(fd, len, pkey)
    }

    /// Maps a memfd received from the peer after checking it: a regular file of exactly
    /// `expected_len` bytes, sealed against shrinking and growing with the seals sealed, and not
    /// write-sealed.
    ///
    /// # Errors
    ///
    /// `InvalidData` naming the failed check (wrong type, size or seals; "not a memfd" when the
    /// fd cannot carry seals); `InvalidInput` for a bad `expected_len`; the OS error of `fstat`,
    /// `mmap` or `pkey_mprotect`.
    pub fn from_fd(fd: OwnedFd, expected_len: usize, pkey: Option<i32>) -> io::Result<Self> {
        check_len(expected_len)?;
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat writes into our local.
        cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
        let bad = |msg: String| io::Error::new(io::ErrorKind::InvalidData, msg);
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(bad(format!(
                "peer's region fd is not a regular file (mode {:o}); expected a memfd",
                st.st_mode
            )));
        }
        if u64::try_from(st.st_size).ok() != Some(expected_len as u64) {
            return Err(bad(format!(
                "peer's region is {} bytes, the handshake announced {expected_len}",
                st.st_size
            )));
        }
        // SAFETY: plain fcntl on an fd we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 {
            return Err(bad(format!(
                "peer's region fd is not a memfd (F_GET_SEALS: {})",
                io::Error::last_os_error()
            )));
        }
        if seals & REQUIRED_SEALS != REQUIRED_SEALS || seals & FORBIDDEN_SEALS != 0 {
            return Err(bad(format!(
                "peer's memfd has seals {seals:#x}; need shrink|grow|seal ({REQUIRED_SEALS:#x}) \
                 and no write seals"
            )));
        }
        Self::map(fd, expected_len, pkey)
    }

    fn map(fd: OwnedFd, len: usize, pkey: Option<i32>) -> io::Result<Self> {
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: a fresh mapping chosen by the kernel; fd and len were checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr =
            NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        // From here, Drop unmaps on every error path.
        let region = SharedRegion { fd, ptr, len, pkey };
        if let Some(key) = pkey {
            // SAFETY: tags exactly our own fresh mapping; the result is checked.
            let r = unsafe {
                libc::syscall(libc::SYS_pkey_mprotect, region.ptr.as_ptr(), len, prot, key)
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(
                    e.kind(),
                    format!("pkey_mprotect(len {len}, pkey {key}) failed: {e}"),
                ));
            }
        }
        Ok(region)
    }

    /// Start of the mapping (page-aligned).
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a region has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The protection key the mapping is tagged with, if any.
    pub fn pkey(&self) -> Option<i32> {
        self.pkey
    }

    /// A duplicate of the memfd, to send to the peer with `SCM_RIGHTS`.
    ///
    /// # Errors
    ///
    /// The OS error of `fcntl(F_DUPFD_CLOEXEC)`.
    pub fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.fd.try_clone()
    }
}

impl AsFd for SharedRegion {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: unmaps our own mapping exactly once; every endpoint holding a pointer into it
        // holds an Arc of this region (or promised to outlive it), so nothing uses it after.
        let r = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
        debug_assert_eq!(r, 0, "munmap failed: {}", io::Error::last_os_error());
    }
}

/// True if this machine and kernel hand out memory protection keys.
///
/// Probes with `pkey_alloc` (and frees the key): EINVAL (no `pku`/`ospke`), ENOSPC (keys used up)
/// or ENOSYS mean no. The call-gate work owns the fuller detection (CPUID, `RPAL_NO_PKEY`); this
/// is the one function to replace when it lands.
pub fn pkeys_available() -> bool {
    // SAFETY: pkey_alloc(flags 0, access rights 0) has no memory arguments.
    let key = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0u32, 0u32) };
    if key < 0 {
        return false;
    }
    // SAFETY: frees the key we just allocated.
    unsafe { libc::syscall(libc::SYS_pkey_free, key) };
    true
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::os::fd::FromRawFd;

    fn write_read(a: &SharedRegion, b: &SharedRegion) {
        // SAFETY: both map the same file, page 0 is ours in this test.
        unsafe {
            a.as_ptr().as_ptr().write_volatile(0xA5);
            assert_eq!(b.as_ptr().as_ptr().read_volatile(), 0xA5);
        }
    }

    #[test]
    fn create_and_attach() {
        let a = SharedRegion::create(8192, None).unwrap();
        let b = SharedRegion::from_fd(a.try_clone_fd().unwrap(), 8192, None).unwrap();
        write_read(&a, &b);
        assert_ne!(a.as_ptr(), b.as_ptr());
        // Wrong size.
        let e = SharedRegion::from_fd(a.try_clone_fd().unwrap(), 4096, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(e.to_string().contains("announced 4096"), "{e}");
        // Cannot shrink a sealed memfd.
        // SAFETY: plain syscall on our fd.
        let r = unsafe { libc::ftruncate(a.as_fd().as_raw_fd(), 4096) };
        assert_eq!(r, -1);
    }

    #[test]
    fn rejects_unsealed_and_non_memfd() {
        // SAFETY: plain memfd without seals.
        let raw = unsafe { libc::memfd_create(c"x".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(raw >= 0);
        // SAFETY: fresh fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: plain syscall on our fd.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 4096) }, 0);
        let e = SharedRegion::from_fd(fd, 4096, None).unwrap_err();
        assert!(e.to_string().contains("seals"), "{e}");

        // A pipe is not a regular file.
        let mut p = [0; 2];
        // SAFETY: writes two fds into our array.
        assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: fresh fds we own.
        let (r, _w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
        let e = SharedRegion::from_fd(r, 4096, None).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        // A regular file that is not a memfd cannot carry seals.
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        let len = f.metadata().unwrap().len() as usize;
        if len <= MAX_REGION_LEN {
            let e = SharedRegion::from_fd(f.into(), len, None).unwrap_err();
            assert!(e.to_string().contains("memfd"), "{e}");
        }
        assert!(SharedRegion::create(0, None).is_err());
        assert!(SharedRegion::create(MAX_REGION_LEN + 1, None).is_err());
    }

    #[test]
    fn pkey_tagging() {
        if !pkeys_available() {
            eprintln!("SKIPPED pkey_tagging: no memory protection keys on this machine");
            // Without pkeys, asking for one fails cleanly (no mapping leaks, no panic).
            assert!(SharedRegion::create(4096, Some(1)).is_err());
            return;
        }
        // SAFETY: allocate a key for the test.
        let key = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0u32, 0u32) } as i32;
        let a = SharedRegion::create(4096, Some(key)).unwrap();
        assert_eq!(a.pkey(), Some(key));
        write_read(&a, &a);
        drop(a);
        // SAFETY: free the key.
        unsafe { libc::syscall(libc::SYS_pkey_free, key) };
    }
}
