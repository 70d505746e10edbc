//! `SCM_RIGHTS`: sending and receiving file descriptors with bytes over a Unix stream socket.
//!
//! Both calls are non-blocking on a non-blocking socket (`WouldBlock`); wrap them in
//! [`super::UnixStream::poll_io`]. Received descriptors are owned (`OwnedFd`, close-on-exec): any
//! the caller does not keep are closed when dropped, so a peer cannot leak fds into us.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one message may carry.
pub const MAX_FDS: usize = 8;

/// Bytes of control buffer for `MAX_FDS` descriptors.
const CMSG_BUF: usize = 64 + MAX_FDS * size_of::<RawFd>();

/// Sends `data` with `fds` attached (to its first byte). Returns the bytes sent; the fds go with
/// the first successful call only, so callers resend the rest of `data` without fds.
///
/// # Errors
/// As `sendmsg(2)`; `InvalidInput` for more than [`MAX_FDS`] descriptors.
pub fn send_with_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<usize> {
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many fds for one message",
        ));
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; CMSG_BUF / 8];
    // SAFETY: msghdr is plain data; zeroed is a valid "no name, no control" value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let payload = fds.len() * size_of::<RawFd>();
        // SAFETY: CMSG_SPACE is a pure size computation.
        let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
        msg.msg_control = cbuf.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg_control points to `space` <= CMSG_BUF zeroed, 8-aligned bytes, so the first
        // header and its payload fit; CMSG_DATA points inside it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(payload as u32) as usize;
            let dst = libc::CMSG_DATA(c).cast::<RawFd>();
            for (i, fd) in fds.iter().enumerate() {
                dst.add(i).write_unaligned(fd.as_raw_fd());
            }
        }
    }
    // SAFETY: msg points to live buffers for the duration of the call.
    let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Receives up to `buf.len()` bytes and any descriptors attached to them (appended to `fds`).
/// Returns the bytes received (0: end of stream).
///
/// # Errors
/// As `recvmsg(2)`; `InvalidData` if the peer sent more descriptors than fit (the kernel
/// truncated them) or a control message that is not `SCM_RIGHTS`.
pub fn recv_with_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; CMSG_BUF / 8];
    // SAFETY: as in send_with_fds.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = CMSG_BUF;
    // SAFETY: msg points to live buffers for the duration of the call.
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut bad = None;
    // SAFETY: the kernel filled msg_control/msg_controllen; CMSG_FIRSTHDR/NXTHDR stay within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(c);
                let bytes = (*c).cmsg_len as usize - (data as usize - c as usize);
                for i in 0..bytes / size_of::<RawFd>() {
                    let fd = data.cast::<RawFd>().add(i).read_unaligned();
                    // The kernel installed it in our table for us: we own it now.
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            } else {
                bad = Some("unexpected control message");
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        bad = Some("peer sent more descriptors than expected");
    }
    if let Some(why) = bad {
        return Err(io::Error::new(io::ErrorKind::InvalidData, why));
    }
    Ok(n as usize)
}
