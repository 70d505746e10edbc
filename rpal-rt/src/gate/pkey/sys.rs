//! The three protection-key system calls, called through `libc::syscall` because libc 0.2 has no
//! wrappers. See pkey_alloc(2), pkey_free(2) and pkey_mprotect(2):
//! <https://man7.org/linux/man-pages/man2/pkey_alloc.2.html>,
//! <https://man7.org/linux/man-pages/man2/pkey_mprotect.2.html>.

use std::io;

/// `init_access_rights` flag of pkey_alloc(2): the calling thread may not access the key's pages.
pub(super) const PKEY_DISABLE_ACCESS: u32 = 0x1;

/// Allocates a key; `init_rights` are applied to the calling thread's PKRU only.
///
/// Errors: `EINVAL` when the kernel or CPU lacks pkeys, `ENOSPC` when all keys are taken.
pub(super) fn pkey_alloc(init_rights: u32) -> io::Result<u32> {
    // SAFETY: pkey_alloc takes two integers and touches no user memory.
    let ret = unsafe { libc::syscall(libc::SYS_pkey_alloc, 0u32, init_rights) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(ret).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Frees a key. Pages still tagged with it keep the tag; the owner unmaps them first.
pub(super) fn pkey_free(key: u32) -> io::Result<()> {
    // SAFETY: pkey_free takes one integer and touches no user memory.
    let ret = unsafe { libc::syscall(libc::SYS_pkey_free, key) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets protection `prot` and tags `[addr, addr + len)` with `key`.
///
/// # Safety
///
/// The range must be a page-aligned mapping owned by the caller, and no live Rust reference may
/// rely on access that `prot` (or the key, under the threads' PKRU) takes away.
pub(super) unsafe fn pkey_mprotect(
    addr: *mut libc::c_void,
    len: usize,
    prot: i32,
    key: u32,
) -> io::Result<()> {
    // SAFETY: the caller owns the mapping and accepts the new rights.
    let ret = unsafe { libc::syscall(libc::SYS_pkey_mprotect, addr, len, prot, key) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
