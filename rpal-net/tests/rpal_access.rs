//! Who may reach a listener's shared memory:
//!
//! * the socket file gets `RpalConfig::socket_mode` (default `0o600`), whatever the umask;
//! * a client whose uid the filter does not allow is closed before any descriptor is sent: it
//!   receives no memfd and no eventfd, only end of stream, and is counted as rejected;
//! * as root, with a real second uid (a forked child that drops to 65534/nobody): that child
//!   cannot connect to a `0o600` socket at all (EACCES), is refused by the uid filter on a
//!   world-writable socket (no descriptors), and cannot open the server's ring memfd through
//!   `/proc/<pid>/fd/<n>` (EACCES).
//!
//! The parts that need a second uid run only as root and say so loudly otherwise.
//!
//! The forked child only makes raw system calls on buffers prepared before the fork (the
//! parent has threads, so the child must not allocate or take locks), and reports through a
//! pipe.

mod support;

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use rpal_net::rpal::wire::{Frame, Hello, FLAG_EVENTFD_DOORBELL, PROTOCOL_VERSION};
use rpal_net::unix::scm::{recv_with_fds, send_with_fds};
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use support::{within, SockPath};

/// The uid (and gid) the forked child drops to: `nobody` on Debian.
const OTHER_UID: u32 = 65534;

fn hello_bytes() -> Vec<u8> {
    Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        flags: FLAG_EVENTFD_DOORBELL,
        capacity: 4096,
        pid: std::process::id(),
    })
    .to_bytes()
}

fn eventfd() -> OwnedFd {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0, "eventfd: {}", io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn is_root() -> bool {
    support::uid() == 0
}

/// Waits until the listener counted `n` rejections (they are counted when admission ends).
async fn rejected_reaches(l: &RpalListener, n: u64) {
    for _ in 0..1000 {
        if l.rejected_handshakes() >= n {
            break;
        }
        rpal_rt::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(l.rejected_handshakes(), n, "rejected handshakes");
}

/// Runs an accept loop; panics if the listener ever hands a connection to the application.
fn accept_nothing(l: std::sync::Arc<RpalListener>) {
    rpal_rt::spawn(async move {
        if let Ok((s, _)) = l.accept().await {
            panic!(
                "a refused client was admitted (shared memory: {})",
                s.is_shared_memory()
            );
        }
    });
}

#[test]
fn socket_file_gets_the_configured_mode_whatever_the_umask() {
    support::current_thread().block_on(async {
        // A permissive umask: without the explicit mode the socket would be world-connectable.
        // SAFETY: umask has no memory arguments; restored below.
        let old = unsafe { libc::umask(0) };
        let cases = [(None, 0o600), (Some(0o660), 0o660), (Some(0o4777), 0o777)];
        for (mode, want) in cases {
            let path = SockPath::new("acc-mode");
            let cfg = match mode {
                Some(m) => RpalConfig::default().socket_mode(m),
                None => RpalConfig::default(),
            };
            let l = RpalListener::bind_with(path.path(), cfg).unwrap();
            let got = std::fs::metadata(path.path()).unwrap().permissions().mode() & 0o7777;
            eprintln!("socket_mode {mode:?}: file mode {got:o}");
            assert_eq!(got, want, "socket file mode for {mode:?}");
            // The owner still connects, over shared memory.
            let (c, s) = support::connect_accept(&l, path.path(), &RpalConfig::default()).await;
            assert!(c.is_shared_memory() && s.is_shared_memory());
        }
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        assert_eq!(RpalConfig::default().get_socket_mode(), 0o600);
        // Binding over an existing file still fails (and does not remove it).
        let path = SockPath::new("acc-exists");
        std::fs::write(path.path(), b"x").unwrap();
        let e = RpalListener::bind(path.path()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse, "{e}");
        assert!(path.path().exists());
    });
}

/// A client of our own uid that the filter does not allow (the filter admits only another
/// uid) speaks the handshake with two eventfds and gets nothing back: end of stream, no
/// descriptor. Runs as any user.
#[test]
fn refused_uid_gets_no_descriptor() {
    support::current_thread().block_on(async {
        let me = support::uid();
        let path = SockPath::new("acc-refuse");
        let cfg = RpalConfig::default().allow_uids(vec![me.wrapping_add(1)]);
        let l = std::sync::Arc::new(RpalListener::bind_with(path.path(), cfg).unwrap());
        accept_nothing(l.clone());
        let p = path.path().to_path_buf();
        let (bytes, fds) = within(
            "refused raw client",
            rpal_rt::spawn_blocking(move || {
                let s = StdUnixStream::connect(&p).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let h = hello_bytes();
                let mine = [eventfd(), eventfd()];
                // The server may close first; a failed send is a refusal too.
                if let Ok(n) = send_with_fds(s.as_fd(), &h, &[mine[0].as_fd(), mine[1].as_fd()]) {
                    let _ = (&s).write_all(&h[n..]);
                }
                let mut got = Vec::new();
                let mut fds = Vec::new();
                let mut buf = [0u8; 256];
                loop {
                    match recv_with_fds(s.as_fd(), &mut buf, &mut fds) {
                        Ok(0) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                        Err(e) => panic!("refused client: {e}"),
                    }
                }
                (got, fds.len())
            }),
        )
        .await
        .unwrap();
        eprintln!("refused client: {} bytes, {fds} descriptors", bytes.len());
        assert_eq!(fds, 0, "a refused client must receive no descriptor");
        assert!(
            bytes.is_empty(),
            "a refused client gets no answer: {bytes:?}"
        );
        // The stream API sees a clean error, not a hang.
        let r = within("refused connect", RpalStream::connect(path.path())).await;
        assert!(r.is_err(), "a refused uid must not connect");
        rejected_reaches(&l, 2).await;
        // Our uid allowed: admitted.
        let path2 = SockPath::new("acc-allow");
        let l2 = RpalListener::bind_with(path2.path(), RpalConfig::default().allow_uids(vec![me]))
            .unwrap();
        let (c, s) = support::connect_accept(&l2, path2.path(), &RpalConfig::default()).await;
        assert!(c.is_shared_memory() && s.is_shared_memory());
        assert_eq!(l2.rejected_handshakes(), 0);
    });
}

/// What the forked child reports: errno of each step (0 = success), bytes and descriptors it
/// received.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
struct ChildReport {
    setuid: i32,
    open_memfd: i32,
    connect_0600: i32,
    connect_0666: i32,
    bytes_received: i32,
    fds_received: i32,
    recv_errno: i32,
}

/// Everything the child needs, allocated before the fork.
struct ChildPlan {
    memfd_path: CString,
    path_0600: libc::sockaddr_un,
    path_0666: libc::sockaddr_un,
    hello: Vec<u8>,
}

fn sockaddr(path: &std::path::Path) -> libc::sockaddr_un {
    // SAFETY: sockaddr_un is plain data; zero is a valid value.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let b = path.as_os_str().as_encoded_bytes();
    assert!(b.len() < a.sun_path.len());
    for (d, s) in a.sun_path.iter_mut().zip(b) {
        *d = *s as libc::c_char;
    }
    a
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(-1)
}

/// The child's program: raw system calls only. Never returns.
///
/// # Safety
/// Call only in a freshly forked child; `plan` and `out` were set up before the fork.
unsafe fn child_main(plan: &ChildPlan, out: libc::c_int) -> ! {
    let mut r = ChildReport::default();
    let gid = OTHER_UID as libc::gid_t;
    // SAFETY: async-signal-safe system calls on memory prepared before the fork (the whole
    // body; the caller guarantees we are a fresh child).
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(gid) != 0
            || libc::setuid(OTHER_UID) != 0
        {
            r.setuid = errno();
        }
        // The server's ring memfd, through /proc.
        let fd = libc::open(plan.memfd_path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
        r.open_memfd = if fd >= 0 { 0 } else { errno() };
        let connect = |a: &libc::sockaddr_un| -> (i32, i32) {
            let s = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if s < 0 {
                return (errno(), -1);
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            if libc::connect(s, (a as *const libc::sockaddr_un).cast(), len) != 0 {
                let e = errno();
                libc::close(s);
                return (e, -1);
            }
            (0, s)
        };
        let (e, s) = connect(&plan.path_0600);
        r.connect_0600 = e;
        if s >= 0 {
            libc::close(s);
        }
        let (e, s) = connect(&plan.path_0666);
        r.connect_0666 = e;
        if s >= 0 {
            // Hello with two eventfds, then read until the server closes, counting descriptors.
            let efds = [
                libc::eventfd(0, libc::EFD_CLOEXEC),
                libc::eventfd(0, libc::EFD_CLOEXEC),
            ];
            let mut cbuf = [0u64; 8];
            let mut iov = libc::iovec {
                iov_base: plan.hello.as_ptr() as *mut libc::c_void,
                iov_len: plan.hello.len(),
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cbuf.as_mut_ptr().cast();
            msg.msg_controllen = libc::CMSG_SPACE(8) as usize;
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(8) as usize;
            libc::CMSG_DATA(c).cast::<[i32; 2]>().write_unaligned(efds);
            libc::sendmsg(s, &msg, libc::MSG_NOSIGNAL);
            let tv = libc::timeval {
                tv_sec: 20,
                tv_usec: 0,
            };
            libc::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            );
            let mut buf = [0u8; 256];
            loop {
                let mut cbuf = [0u64; 32];
                let mut iov = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = cbuf.as_mut_ptr().cast();
                msg.msg_controllen = std::mem::size_of_val(&cbuf);
                let n = libc::recvmsg(s, &mut msg, libc::MSG_CMSG_CLOEXEC);
                if n < 0 {
                    r.recv_errno = errno();
                    break;
                }
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_type == libc::SCM_RIGHTS {
                        let data = libc::CMSG_DATA(c) as usize - c as usize;
                        r.fds_received += (((*c).cmsg_len as usize - data) / 4) as i32;
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
                if n == 0 {
                    break;
                }
                r.bytes_received += n as i32;
            }
            libc::close(s);
        }
        libc::write(
            out,
            (&r as *const ChildReport).cast(),
            std::mem::size_of::<ChildReport>(),
        );
        libc::_exit(0);
    }
}

/// Forks a child that drops to [`OTHER_UID`] and runs [`child_main`]; returns its report.
fn run_child(plan: &ChildPlan) -> ChildReport {
    let mut p = [0; 2];
    // SAFETY: writes two fds into our array.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds we own.
    let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
    // SAFETY: the child only runs child_main (raw syscalls on prepared memory) and _exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
    if pid == 0 {
        // SAFETY: we are the fresh child.
        unsafe { child_main(plan, wr.as_raw_fd()) };
    }
    drop(wr);
    let mut bytes = Vec::new();
    std::fs::File::from(rd).read_to_end(&mut bytes).unwrap();
    let mut status = 0;
    // SAFETY: reaps our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child status {status:#x}"
    );
    assert_eq!(bytes.len(), std::mem::size_of::<ChildReport>());
    // SAFETY: exactly one ChildReport's bytes, written by the child; any bytes are valid i32s.
    unsafe { bytes.as_ptr().cast::<ChildReport>().read_unaligned() }
}

#[test]
fn another_uid_cannot_connect_map_or_receive_the_ring() {
    if !is_root() {
        eprintln!(
            "SKIPPED another_uid_cannot_connect_map_or_receive_the_ring: needs root to run a \
             child as uid {OTHER_UID} (running as uid {}); refused_uid_gets_no_descriptor \
             covers the filter with our own uid",
            support::uid()
        );
        return;
    }
    support::current_thread().block_on(async {
        let me = support::uid();
        // A live stream over shared memory, so this process holds a ring memfd.
        let path_own = SockPath::new("acc-own");
        let own = RpalListener::bind(path_own.path()).unwrap();
        let (c, s) = support::connect_accept(&own, path_own.path(), &RpalConfig::default()).await;
        assert!(c.is_shared_memory() && s.is_shared_memory());
        let memfds = support::proc::ring_memfds();
        assert!(!memfds.is_empty(), "this process holds a ring memfd");
        let memfd_path = format!("/proc/{}/fd/{}", std::process::id(), memfds[0]);
        // We (root, the owner) can open it: the child's EACCES below is about the uid.
        assert!(std::fs::File::open(&memfd_path).is_ok());

        // Default mode 0o600, owned by root: the other uid cannot even connect.
        let path_0600 = SockPath::new("acc-0600");
        let l600 = RpalListener::bind(path_0600.path()).unwrap();
        // World-writable socket, filter admits only us.
        let path_0666 = SockPath::new("acc-0666");
        let cfg = RpalConfig::default()
            .socket_mode(0o666)
            .allow_uids(vec![me]);
        let l666 = std::sync::Arc::new(RpalListener::bind_with(path_0666.path(), cfg).unwrap());
        accept_nothing(l666.clone());
        let _l600 = l600;

        let plan = ChildPlan {
            memfd_path: CString::new(memfd_path.clone()).unwrap(),
            path_0600: sockaddr(path_0600.path()),
            path_0666: sockaddr(path_0666.path()),
            hello: hello_bytes(),
        };
        let report = within(
            "child as another uid",
            rpal_rt::spawn_blocking(move || run_child(&plan)),
        )
        .await
        .unwrap();
        eprintln!("child as uid {OTHER_UID}: {report:?}");
        assert_eq!(report.setuid, 0, "child could not drop to uid {OTHER_UID}");
        assert_eq!(
            report.open_memfd,
            libc::EACCES,
            "open({memfd_path}) as another uid must fail with EACCES"
        );
        assert_eq!(
            report.connect_0600,
            libc::EACCES,
            "connect to a 0600 socket as another uid must fail with EACCES"
        );
        assert_eq!(report.connect_0666, 0, "connect to a 0666 socket");
        assert_eq!(
            report.fds_received, 0,
            "a refused uid must receive no descriptor"
        );
        assert_eq!(report.bytes_received, 0, "a refused uid gets no answer");
        rejected_reaches(&l666, 1).await;
        eprintln!(
            "another uid: connect to 0600 socket EACCES, open of the ring memfd EACCES, \
             refused by the uid filter with 0 descriptors"
        );
        drop((c, s));
    });
}
