//! The eventfds a stream end waits on (its own) and rings (the peer's, received by SCM_RIGHTS).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A new non-blocking, close-on-exec eventfd.
pub(crate) fn new() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Checks that a descriptor received from the peer really is an eventfd (so ringing it is one
/// non-blocking 8-byte write, never a write into some other file or a blocking pipe).
pub(crate) fn check_peer_eventfd(fd: &OwnedFd) -> io::Result<()> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    if link.as_os_str() != "anon_inode:[eventfd]" {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "peer passed {} where an eventfd was expected",
                link.display()
            ),
        ));
    }
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        if fl < 0
            || (fl & libc::O_NONBLOCK == 0
                && libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) < 0)
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Consumes pending rings. `Ok(true)` if there was at least one.
pub(crate) fn drain(fd: &OwnedFd) -> io::Result<bool> {
    let mut buf = [0u8; 8];
    // SAFETY: reads 8 bytes into a local buffer.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    if n == 8 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(e)
    }
}
