//! The floor of the echo load table: two hand-written servers with no runtime, no tasks and no
//! wakers, the least user-space work a server can do per request on each kernel interface.
//!
//! * [`epoll`]: one thread, level-triggered `epoll_wait` over non-blocking sockets; for each
//!   readable socket one `recv` and one `send` of what it read (2 syscalls per request plus the
//!   amortised `epoll_wait`, no `EAGAIN` probe).
//! * [`uring`]: one io_uring (`SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN` where the kernel
//!   has them), one `RECV` in flight per connection; a completed `RECV` queues the `SEND` of its
//!   bytes, a completed `SEND` queues the next `RECV`, and one `io_uring_enter` submits the queue
//!   and waits for at least one completion.
//!
//! A runtime does more per request than these (wakers, a scheduler, futures): their per-core
//! figures show what the kernel path alone allows on each interface, so a ratio target can be
//! checked against what is possible. They are not tuned beyond that (a runtime that batches its
//! submissions differently can edge past the io_uring loop by a few per cent).

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use super::servers::ECHO_BUF;

/// Accepts `conns` blocking connections from `listener`, with `TCP_NODELAY`.
fn accept_all(listener: &std::net::TcpListener, conns: usize) -> Vec<std::net::TcpStream> {
    (0..conns)
        .map(|_| {
            let (s, _) = listener.accept().expect("accept");
            s.set_nodelay(true).expect("nodelay");
            s
        })
        .collect()
}

/// The epoll floor: serves until every connection has closed.
pub(crate) fn epoll(listener: std::net::TcpListener, conns: usize) {
    let socks = accept_all(&listener, conns);
    // SAFETY: plain syscall; the fd is closed at the end.
    let ep = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(ep >= 0, "epoll_create1: {}", io::Error::last_os_error());
    for (i, s) in socks.iter().enumerate() {
        s.set_nonblocking(true).expect("nonblocking");
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: i as u64,
        };
        // SAFETY: `ev` lives across the call; both fds are open.
        let rc = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
        assert_eq!(rc, 0, "epoll_ctl: {}", io::Error::last_os_error());
    }
    let mut open = conns;
    let mut buf = vec![0u8; ECHO_BUF];
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    while open > 0 {
        // SAFETY: `events` has `events.len()` writable entries.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            assert_eq!(
                io::Error::last_os_error().kind(),
                io::ErrorKind::Interrupted
            );
            continue;
        }
        for ev in &events[..n as usize] {
            let fd = socks[ev.u64 as usize].as_raw_fd();
            // SAFETY: `buf` has `buf.len()` writable bytes; `fd` is open.
            let k = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
            if k > 0 {
                send_all(fd, &buf[..k as usize]);
            } else if k == 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                // SAFETY: `fd` is open; a null event is allowed for DEL.
                unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
                open -= 1;
            }
        }
    }
    // SAFETY: `ep` came from epoll_create1 and is closed once.
    unsafe { libc::close(ep) };
}

/// Sends all of `data` on the non-blocking `fd` (an echo of at most a few KiB into a socket whose
/// peer reads every answer fits its send buffer; spins on the rare `EAGAIN`).
fn send_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: `data` is readable for its length; `fd` is open.
        let k = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
        if k >= 0 {
            data = &data[k as usize..];
        } else if io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
            return; // the peer went away; its recv reports it
        }
    }
}

/// user_data of a connection's operation: connection index << 1 | 1 for a SEND, | 0 for a RECV.
const SEND_BIT: u64 = 1;

/// The io_uring floor: serves until every connection has closed.
pub(crate) fn uring(listener: std::net::TcpListener, conns: usize) {
    use io_uring::{opcode, types, IoUring};
    let socks = accept_all(&listener, conns);
    let entries = (2 * conns).next_power_of_two().max(64) as u32;
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(entries)
        .or_else(|_| IoUring::builder().setup_coop_taskrun().build(entries))
        .or_else(|_| IoUring::new(entries))
        .expect("io_uring");
    let mut bufs = vec![vec![0u8; ECHO_BUF]; conns];
    let recv = |i: usize, buf: &mut [u8]| {
        opcode::Recv::new(
            types::Fd(socks[i].as_raw_fd()),
            buf.as_mut_ptr(),
            buf.len() as u32,
        )
        .build()
        .user_data((i as u64) << 1)
    };
    let mut pending: Vec<io_uring::squeue::Entry> = Vec::with_capacity(conns);
    for (i, b) in bufs.iter_mut().enumerate() {
        pending.push(recv(i, b));
    }
    let mut open = conns;
    while open > 0 {
        {
            let mut sq = ring.submission();
            for e in pending.drain(..) {
                // SAFETY: every buffer named by an entry lives in `bufs` until the end of this
                // function, and each connection has one operation in flight at a time, so no
                // buffer is read by a SEND while a RECV writes it.
                unsafe {
                    sq.push(&e)
                        .expect("submission queue sized for every connection")
                };
            }
        }
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("io_uring_enter: {e}"),
        }
        for cqe in ring.completion() {
            let i = (cqe.user_data() >> 1) as usize;
            let res = cqe.result();
            if cqe.user_data() & SEND_BIT == 0 {
                if res <= 0 {
                    open -= 1;
                    continue;
                }
                let fd = types::Fd(socks[i].as_raw_fd());
                pending.push(
                    opcode::Send::new(fd, bufs[i].as_ptr(), res as u32)
                        .build()
                        .user_data((i as u64) << 1 | SEND_BIT),
                );
            } else if res < 0 {
                open -= 1;
            } else {
                // A short send of a ≤4 KiB echo into an emptied send buffer does not happen on
                // loopback; the load generator checks every byte, so it would show.
                pending.push(recv(i, &mut bufs[i]));
            }
        }
    }
}
