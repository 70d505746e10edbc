//! A hostile peer, played by hand with the protocol's own pieces (`wire`, `scm`, `shm`), never
//! makes the other side panic, hang or fail `accept`:
//!
//! * bad handshakes (wrong version, truncated, oversized, wrong kind, missing or wrong
//!   descriptors, bad capacity, a stall, a refused uid) are closed and counted in
//!   `rejected_handshakes`, and the listener serves a good client afterwards; a client that does
//!   not start with the magic is a plain client, not a rejection;
//! * a hostile server (unsealed memfd, garbage ring header, wrong descriptors) makes `connect`
//!   fail with an error, and a `Reject` makes it fall back to a working plain stream;
//! * a peer scribbling the ring indices in shared memory (tail beyond a ring of data, tail moving
//!   backwards, a bad `writer_closed` flag, head beyond the published tail, random garbage) gives
//!   `ConnectionReset` on the honest side.
//!
//! The hand-written client speaks the handshake of `rpal/handshake.rs`: Hello with two eventfds
//! (its data and room doorbells) over `SCM_RIGHTS`; Accept with the memfd and the server's two
//! eventfds. Ring 0 carries client-to-server bytes, ring 1 server-to-client; the header layout is
//! the table in `rpal/ring/layout.rs` (tail at line 1, head at line 2).
//!
//! (Over 600 lines because the three groups of attacks share the hand-written protocol helpers
//! at the top, and the test layout gives this concern one file.)

mod support;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use rpal_net::rpal::ring::init_ring;
use rpal_net::rpal::ring::layout::{HEADER_LEN, LINE};
use rpal_net::rpal::shm::SharedRegion;
use rpal_net::rpal::wire::{self, Accept, Frame, Reject, RejectReason};
use rpal_net::unix::scm::send_with_fds;
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use support::raw::{eventfd, good_accept, hello, read_frame, ring_eventfd, Hostile, CAP};
use support::{within, SockPath, XorShift};

impl Hostile {
    /// The u64 at line `line` of ring `ring`'s header (1: tail, 2: head).
    fn word64(&self, ring: usize, line: usize) -> &AtomicU64 {
        // SAFETY: a LINE-aligned, in-bounds u64 of the shared header; atomics accept any bytes.
        unsafe { AtomicU64::from_ptr(self.ring_base(ring).add(line * LINE).cast()) }
    }

    /// The u32 flag after the index on line `line` (1: writer_closed, 2: reader_closed).
    fn flag32(&self, ring: usize, line: usize) -> &AtomicU32 {
        // SAFETY: as in word64, 8 bytes further.
        unsafe { AtomicU32::from_ptr(self.ring_base(ring).add(line * LINE + 8).cast()) }
    }

    fn tail0(&self) -> &AtomicU64 {
        self.word64(0, 1)
    }

    /// Publishes `bytes` into ring 0 honestly (no wrap: tests stay within the first lap).
    fn publish(&self, bytes: &[u8]) {
        let tail = self.tail0().load(Ordering::Relaxed);
        let pos = (tail % u64::from(CAP)) as usize;
        assert!(pos + bytes.len() <= CAP as usize);
        // SAFETY: copies into ring 0's data area, inside the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ring_base(0).add(HEADER_LEN + pos),
                bytes.len(),
            )
        };
        self.tail0()
            .store(tail + bytes.len() as u64, Ordering::Release);
        ring_eventfd(&self.server_data);
    }
}

/// Does the hostile handshake while the listener accepts; returns (hostile client, server stream).
async fn hostile_pair(listener: &RpalListener, path: &SockPath) -> (Hostile, RpalStream) {
    let p = path.path().to_path_buf();
    let (h, s) = within(
        "hostile handshake",
        futures::future::join(
            rpal_rt::spawn_blocking(move || Hostile::connect(&p)),
            listener.accept(),
        ),
    )
    .await;
    let (s, _) = s.unwrap();
    assert!(s.is_shared_memory());
    (h.unwrap(), s)
}

fn assert_reset(r: io::Result<usize>, what: &str) {
    match r {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
            eprintln!("{what}: {e}");
        }
        other => panic!("{what}: expected ConnectionReset, got {other:?}"),
    }
}

/// After an attack, the listener still serves a good client over shared memory.
async fn still_serves(listener: &RpalListener, path: &SockPath) {
    let (mut c, mut s) =
        support::connect_accept(listener, path.path(), &RpalConfig::default()).await;
    assert!(c.is_shared_memory() && s.is_shared_memory());
    c.write_all(b"good client").await.unwrap();
    c.close().await.unwrap();
    let mut got = Vec::new();
    within("good client read", s.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"good client");
}

fn listener(tag: &str) -> (SockPath, RpalListener) {
    let path = SockPath::new(tag);
    let cfg = RpalConfig::default().ring_capacity(CAP as usize);
    let l = RpalListener::bind_with(path.path(), cfg).unwrap();
    (path, l)
}

#[test]
fn tail_beyond_a_ring_of_data_resets_the_reader() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let (path, l) = listener("cor-tail");
            let (h, mut s) = hostile_pair(&l, &path).await;
            let reader = rpal_rt::spawn(async move {
                let mut buf = [0u8; 256];
                let first = s.read(&mut buf).await;
                let second = s.read(&mut buf).await;
                (first, second)
            });
            rpal_rt::time::sleep(Duration::from_millis(50)).await;
            h.tail0().store(3 * u64::from(CAP), Ordering::Release);
            ring_eventfd(&h.server_data);
            let (first, second) = within("reader after tail scribble", reader).await.unwrap();
            assert_reset(first, "read after tail = 3 x capacity");
            assert_reset(second, "second read (poisoned)");
            still_serves(&l, &path).await;
        });
    }
}

#[test]
fn tail_moving_backwards_resets_the_reader() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let (path, l) = listener("cor-back");
            let (h, mut s) = hostile_pair(&l, &path).await;
            h.publish(&[7u8; 100]);
            let mut buf = [0u8; 100];
            within("honest bytes", s.read_exact(&mut buf))
                .await
                .unwrap();
            assert_eq!(buf, [7u8; 100]);
            h.tail0().store(50, Ordering::Release);
            ring_eventfd(&h.server_data);
            let r = within("read after tail moved back", s.read(&mut buf)).await;
            assert_reset(r, "read after tail 100 -> 50");
            still_serves(&l, &path).await;
        });
    }
}

#[test]
fn bad_writer_closed_flag_resets_the_reader() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let (path, l) = listener("cor-flag");
            let (h, mut s) = hostile_pair(&l, &path).await;
            h.flag32(0, 1).store(7, Ordering::Release);
            ring_eventfd(&h.server_data);
            let mut buf = [0u8; 16];
            let r = within("read after writer_closed = 7", s.read(&mut buf)).await;
            assert_reset(r, "read after writer_closed = 7");
            still_serves(&l, &path).await;
        });
    }
}

#[test]
fn head_beyond_published_tail_resets_the_writer() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let (path, l) = listener("cor-head");
            let (h, mut s) = hostile_pair(&l, &path).await;
            // The server writes more than a ring; nobody reads, so it waits for room.
            let writer = rpal_rt::spawn(async move {
                let chunk = [1u8; 1024];
                let mut total = 0usize;
                loop {
                    match s.write(&chunk).await {
                        Ok(n) => total += n,
                        Err(e) => return (total, e),
                    }
                    if total > 64 * CAP as usize {
                        panic!("wrote {total} bytes into a ring nobody reads");
                    }
                }
            });
            // Wait until the ring is full (tail of ring 1 at capacity).
            let tail1 = h.word64(1, 1);
            for _ in 0..2000 {
                if tail1.load(Ordering::Acquire) >= u64::from(CAP) {
                    break;
                }
                rpal_rt::time::sleep(Duration::from_millis(5)).await;
            }
            let published = tail1.load(Ordering::Acquire);
            assert_eq!(published, u64::from(CAP), "ring 1 should be full");
            h.word64(1, 2).store(published + 1000, Ordering::Release);
            ring_eventfd(&h.server_room);
            let (total, e) = within("writer after head scribble", writer).await.unwrap();
            eprintln!("writer: {total} bytes, then {e}");
            assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            still_serves(&l, &path).await;
        });
    }
}

#[test]
fn random_garbage_in_the_headers_never_panics_or_hangs() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let (path, l) = listener("cor-rand");
            let (h, s) = hostile_pair(&l, &path).await;
            let (mut r, mut w) = s.into_split();
            let reader = rpal_rt::spawn(async move {
                let mut buf = [0u8; 512];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) => return Ok(()),
                        Ok(_) => {}
                        Err(e) => return Err(e),
                    }
                }
            });
            let writer = rpal_rt::spawn(async move {
                let chunk = [2u8; 700];
                loop {
                    if let Err(e) = w.write_all(&chunk).await {
                        return e;
                    }
                }
            });
            let scribbler = rpal_rt::spawn_blocking(move || {
                let mut rng = XorShift(0xbad5eed);
                for _ in 0..20_000 {
                    let ring = (rng.next() % 2) as usize;
                    let line = 1 + (rng.next() % 4) as usize;
                    let v = rng.next();
                    match rng.next() % 3 {
                        0 => h.word64(ring, line).store(v, Ordering::Release),
                        1 => h
                            .flag32(ring, line.min(2))
                            .store(v as u32, Ordering::Release),
                        _ => h
                            .word64(ring, line)
                            .store(v % (4 * u64::from(CAP)), Ordering::Release),
                    }
                    ring_eventfd(&h.server_data);
                    ring_eventfd(&h.server_room);
                }
                h
            });
            let rr = within("reader under garbage", reader).await.unwrap();
            let we = within("writer under garbage", writer).await.unwrap();
            let _h = within("scribbler", scribbler).await.unwrap();
            eprintln!("reader: {rr:?}; writer: {we}");
            // Garbage may read as a (bad) end of stream only if it looks like an honest close;
            // anything else is an error, and must be a reset.
            if let Err(e) = rr {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            }
            assert!(
                matches!(
                    we.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "{we}"
            );
            still_serves(&l, &path).await;
        });
    }
}

// ---- bad handshakes ---------------------------------------------------------------------------

/// Runs an accept loop that forwards accepted streams; returns the receiver.
fn accept_loop(
    l: std::sync::Arc<RpalListener>,
) -> futures::channel::mpsc::UnboundedReceiver<RpalStream> {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    rpal_rt::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            if tx.unbounded_send(s).is_err() {
                return;
            }
        }
    });
    rx
}

/// One bad client: connects, sends `bytes` with `fds`, then reads until the server closes.
/// Returns what the server sent back.
fn bad_client(path: &std::path::Path, bytes: &[u8], fds: &[OwnedFd], stall: bool) -> Vec<u8> {
    let s = StdUnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    if !bytes.is_empty() {
        let n = send_with_fds(s.as_fd(), bytes, &borrowed).unwrap();
        (&s).write_all(&bytes[n..]).unwrap();
    }
    if !stall {
        // Truncated frames: we are done talking.
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut back = Vec::new();
    let _ = (&s).read_to_end(&mut back);
    back
}

fn hello_with(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut b = hello(CAP);
    f(&mut b);
    b
}

#[test]
fn bad_handshakes_are_counted_and_never_fail_accept() {
    support::current_thread().block_on(async {
        let path = SockPath::new("cor-hs");
        let cfg = RpalConfig::default().handshake_timeout(Duration::from_millis(500));
        let l = std::sync::Arc::new(RpalListener::bind_with(path.path(), cfg).unwrap());
        let mut accepted = accept_loop(l.clone());

        let pipe = || {
            let mut p = [0; 2];
            // SAFETY: writes two fds into our array.
            assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: fresh fds we own.
            unsafe { [OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])] }
        };
        let accept_frame = Frame::Accept(good_accept().1).to_bytes();
        // (name, bytes, fds, stall)
        let cases: Vec<(&str, Vec<u8>, Vec<OwnedFd>, bool)> = vec![
            (
                "version 2",
                hello_with(|b| b[8] = 2),
                vec![eventfd(), eventfd()],
                false,
            ),
            ("truncated header", b"RPAL\x01\x00".to_vec(), vec![], false),
            ("truncated body", hello(CAP)[..13].to_vec(), vec![], false),
            ("oversized body", hello_with(|b| b[6] = 200), vec![], false),
            ("unknown kind", hello_with(|b| b[4] = 9), vec![], false),
            ("reserved byte", hello_with(|b| b[5] = 1), vec![], false),
            (
                "capacity 3000",
                hello_with(|b| b[12..16].copy_from_slice(&3000u32.to_le_bytes())),
                vec![eventfd(), eventfd()],
                false,
            ),
            (
                "pid 0",
                hello_with(|b| b[16..20].copy_from_slice(&0u32.to_le_bytes())),
                vec![eventfd(), eventfd()],
                false,
            ),
            ("no descriptors", hello(CAP), vec![], false),
            ("one descriptor", hello(CAP), vec![eventfd()], false),
            (
                "five descriptors",
                hello(CAP),
                (0..5).map(|_| eventfd()).collect(),
                false,
            ),
            ("pipes, not eventfds", hello(CAP), pipe().into(), false),
            (
                "no eventfd flag",
                hello_with(|b| b[10] = 0),
                vec![eventfd(), eventfd()],
                false,
            ),
            ("client sends Accept", accept_frame, vec![], false),
            ("stall after magic", b"RPAL\x01".to_vec(), vec![], true),
        ];
        let n = cases.len() as u64;
        for (name, bytes, fds, stall) in cases {
            let p = path.path().to_path_buf();
            let back = within(
                name,
                rpal_rt::spawn_blocking(move || bad_client(&p, &bytes, &fds, stall)),
            )
            .await
            .unwrap();
            match wire::decode(&back) {
                Ok((Frame::Reject(Reject { reason }), _)) => eprintln!("{name}: Reject {reason:?}"),
                Ok((f, _)) => panic!("{name}: server answered {f:?}"),
                Err(_) if back.is_empty() => eprintln!("{name}: closed without answer"),
                Err(e) => panic!("{name}: server sent undecodable {back:?}: {e}"),
            }
        }
        // Each bad client is counted once the listener's handshake for it ends.
        let mut waited = 0;
        while l.rejected_handshakes() < n && waited < 2000 {
            rpal_rt::time::sleep(Duration::from_millis(10)).await;
            waited += 1;
        }
        assert_eq!(
            l.rejected_handshakes(),
            n,
            "every bad handshake counted exactly once"
        );
        assert!(
            futures::FutureExt::now_or_never(accepted.next()).is_none(),
            "no bad client was handed to the application"
        );

        // Not the magic: a plain client, served as such, not a rejection.
        let p = path.path().to_path_buf();
        let plain = rpal_rt::spawn_blocking(move || {
            let s = StdUnixStream::connect(&p).unwrap();
            (&s).write_all(b"RPAX hello").unwrap();
            s
        });
        let s = within("plain accepted", accepted.next()).await.unwrap();
        assert!(!s.is_shared_memory());
        drop(within("plain client", plain).await.unwrap());
        assert_eq!(l.rejected_handshakes(), n);

        // And a good client still gets shared memory.
        let c = within("good connect", RpalStream::connect(path.path()))
            .await
            .unwrap();
        let s = within("good accepted", accepted.next()).await.unwrap();
        assert!(c.is_shared_memory() && s.is_shared_memory());
    });
}

#[test]
fn refused_uid_is_counted_and_allowed_uid_works() {
    support::current_thread().block_on(async {
        let me = support::uid();
        let path = SockPath::new("cor-uid");
        let cfg = RpalConfig::default().allow_uids(vec![me.wrapping_add(1)]);
        let l = std::sync::Arc::new(RpalListener::bind_with(path.path(), cfg).unwrap());
        let _accepted = accept_loop(l.clone());
        let r = within("refused connect", RpalStream::connect(path.path())).await;
        assert!(r.is_err(), "a refused uid must not connect");
        eprintln!("refused: {:?}", r.unwrap_err());
        for _ in 0..2000 {
            if l.rejected_handshakes() == 1 {
                break;
            }
            rpal_rt::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(l.rejected_handshakes(), 1);

        let path2 = SockPath::new("cor-uid-ok");
        let l2 = RpalListener::bind_with(path2.path(), RpalConfig::default().allow_uids(vec![me]))
            .unwrap();
        let (c, s) = support::connect_accept(&l2, path2.path(), &RpalConfig::default()).await;
        assert!(c.is_shared_memory() && s.is_shared_memory());
        assert_eq!(l2.rejected_handshakes(), 0);
    });
}

// ---- hostile servers --------------------------------------------------------------------------

/// A hand-written server: accepts one client, reads its Hello and answers with `answer`.
fn hostile_server(
    path: &SockPath,
    answer: impl FnOnce(&StdUnixStream) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let l = std::os::unix::net::UnixListener::bind(path.path()).unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut fds = Vec::new();
        let f = read_frame(&s, &mut fds).unwrap();
        let Frame::Hello(h) = f else {
            panic!("expected Hello, got {f:?}")
        };
        let states = usize::from(h.flags & wire::FLAG_WORKER_STATES != 0);
        assert_eq!(fds.len(), 2 + states);
        answer(&s);
        // Wait for the client to go away.
        let mut sink = Vec::new();
        let _ = (&s).read_to_end(&mut sink);
    })
}

fn send_accept(s: &StdUnixStream, a: Accept, fds: &[std::os::fd::BorrowedFd<'_>]) {
    let b = Frame::Accept(a).to_bytes();
    let n = send_with_fds(s.as_fd(), &b, fds).unwrap();
    (&*s).write_all(&b[n..]).unwrap();
}

/// Joins a helper thread without blocking the runtime's thread: with io_uring, a dropped
/// socket's close completes only once the worker runs again (its poll holds a file reference),
/// so blocking the worker here would keep the peer from seeing end of stream.
async fn join_off_runtime(t: std::thread::JoinHandle<()>) {
    within("helper thread", rpal_rt::spawn_blocking(move || t.join()))
        .await
        .unwrap()
        .unwrap();
}

async fn connect_must_fail(path: &SockPath, what: &str) {
    let cfg = RpalConfig::default().ring_capacity(CAP as usize);
    let r = within(what, RpalStream::connect_with(path.path(), &cfg)).await;
    match r {
        Ok(s) => panic!(
            "{what}: connect succeeded (shared memory: {})",
            s.is_shared_memory()
        ),
        Err(e) => eprintln!("{what}: {:?}: {e}", e.kind()),
    }
}

#[test]
fn hostile_servers_make_connect_fail_cleanly() {
    support::current_thread().block_on(async {
        // An unsealed memfd: the peer could shrink it under our mapping.
        let path = SockPath::new("cor-srv-unsealed");
        let t = hostile_server(&path, |s| {
            let (layout, a) = good_accept();
            // SAFETY: plain syscalls; results checked.
            let fd = unsafe {
                let raw = libc::memfd_create(c"unsealed".as_ptr(), libc::MFD_CLOEXEC);
                assert!(raw >= 0);
                assert_eq!(libc::ftruncate(raw, layout.region_len as libc::off_t), 0);
                OwnedFd::from_raw_fd(raw)
            };
            let (e1, e2) = (eventfd(), eventfd());
            send_accept(s, a, &[fd.as_fd(), e1.as_fd(), e2.as_fd()]);
        });
        connect_must_fail(&path, "unsealed memfd").await;
        join_off_runtime(t).await;

        // A sealed memfd whose ring headers were never written (magic 0).
        let path = SockPath::new("cor-srv-nohdr");
        let t = hostile_server(&path, |s| {
            let (layout, a) = good_accept();
            let region = SharedRegion::create(layout.region_len, None).unwrap();
            let fd = region.try_clone_fd().unwrap();
            let (e1, e2) = (eventfd(), eventfd());
            send_accept(s, a, &[fd.as_fd(), e1.as_fd(), e2.as_fd()]);
        });
        connect_must_fail(&path, "garbage ring header").await;
        join_off_runtime(t).await;

        // Headers announcing a capacity other than the Accept's.
        let path = SockPath::new("cor-srv-cap");
        let t = hostile_server(&path, |s| {
            let (layout, a) = good_accept();
            let region = SharedRegion::create(layout.region_len, None).unwrap();
            for off in layout.offsets {
                init_ring(&region, off, layout.ring_len, u64::from(CAP)).unwrap();
            }
            // Scribble the capacity word (identity line, offset 16) of ring 1 to 1 GiB.
            // SAFETY: inside the mapping; an atomic u64 of the header.
            unsafe {
                AtomicU64::from_ptr(region.as_ptr().as_ptr().add(layout.offsets[1] + 16).cast())
                    .store(1 << 30, Ordering::Release)
            };
            let fd = region.try_clone_fd().unwrap();
            let (e1, e2) = (eventfd(), eventfd());
            send_accept(s, a, &[fd.as_fd(), e1.as_fd(), e2.as_fd()]);
        });
        connect_must_fail(&path, "capacity word of 1 GiB").await;
        join_off_runtime(t).await;

        // The right memfd but pipes instead of eventfds.
        let path = SockPath::new("cor-srv-pipes");
        let t = hostile_server(&path, |s| {
            let (layout, a) = good_accept();
            let region = SharedRegion::create(layout.region_len, None).unwrap();
            for off in layout.offsets {
                init_ring(&region, off, layout.ring_len, u64::from(CAP)).unwrap();
            }
            let fd = region.try_clone_fd().unwrap();
            let mut p = [0; 2];
            // SAFETY: writes two fds into our array.
            assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
            // SAFETY: fresh fds we own.
            let (r, w) = unsafe { (OwnedFd::from_raw_fd(p[0]), OwnedFd::from_raw_fd(p[1])) };
            send_accept(s, a, &[fd.as_fd(), r.as_fd(), w.as_fd()]);
        });
        connect_must_fail(&path, "pipes for doorbells").await;
        join_off_runtime(t).await;

        // Only the memfd, no doorbells.
        let path = SockPath::new("cor-srv-1fd");
        let t = hostile_server(&path, |s| {
            let (layout, a) = good_accept();
            let region = SharedRegion::create(layout.region_len, None).unwrap();
            for off in layout.offsets {
                init_ring(&region, off, layout.ring_len, u64::from(CAP)).unwrap();
            }
            let fd = region.try_clone_fd().unwrap();
            send_accept(s, a, &[fd.as_fd()]);
        });
        connect_must_fail(&path, "Accept with one descriptor").await;
        join_off_runtime(t).await;

        // A memfd of the wrong size.
        let path = SockPath::new("cor-srv-size");
        let t = hostile_server(&path, |s| {
            let (layout, a) = good_accept();
            let region = SharedRegion::create(layout.region_len + 4096, None).unwrap();
            let fd = region.try_clone_fd().unwrap();
            let (e1, e2) = (eventfd(), eventfd());
            send_accept(s, a, &[fd.as_fd(), e1.as_fd(), e2.as_fd()]);
        });
        connect_must_fail(&path, "memfd larger than announced").await;
        join_off_runtime(t).await;

        // Worker-state tables that must be refused: flagged but missing, unsealed, the wrong
        // size, sealed with an empty header, and an eventfd in its place.
        type Table = fn() -> Option<OwnedFd>;
        let cases: [(&str, Table); 5] = [
            ("worker-state table flagged but missing", || None),
            ("unsealed worker-state table", || {
                let fd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::empty()).unwrap();
                rustix::fs::ftruncate(&fd, rpal_rt::io::worker_state::TABLE_LEN as u64).unwrap();
                Some(fd)
            }),
            ("worker-state table of the wrong size", || {
                let fd =
                    rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::ALLOW_SEALING).unwrap();
                rustix::fs::ftruncate(&fd, 4096).unwrap();
                rustix::fs::fcntl_add_seals(
                    &fd,
                    rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW,
                )
                .unwrap();
                Some(fd)
            }),
            ("worker-state table without a header", || {
                let fd =
                    rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::ALLOW_SEALING).unwrap();
                rustix::fs::ftruncate(&fd, rpal_rt::io::worker_state::TABLE_LEN as u64).unwrap();
                rustix::fs::fcntl_add_seals(
                    &fd,
                    rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW,
                )
                .unwrap();
                Some(fd)
            }),
            ("eventfd as the worker-state table", || Some(eventfd())),
        ];
        for (i, (what, table)) in cases.into_iter().enumerate() {
            let path = SockPath::new(&format!("cor-srv-states{i}"));
            let t = hostile_server(&path, move |s| {
                let (layout, mut a) = good_accept();
                a.flags |= wire::FLAG_WORKER_STATES;
                let region = SharedRegion::create(layout.region_len, None).unwrap();
                for off in layout.offsets {
                    init_ring(&region, off, layout.ring_len, u64::from(CAP)).unwrap();
                }
                let fd = region.try_clone_fd().unwrap();
                let (e1, e2) = (eventfd(), eventfd());
                let states = table();
                let mut fds = vec![fd.as_fd(), e1.as_fd(), e2.as_fd()];
                fds.extend(states.as_ref().map(|f| f.as_fd()));
                send_accept(s, a, &fds);
            });
            connect_must_fail(&path, what).await;
            join_off_runtime(t).await;
        }
    });
}

#[test]
fn reject_makes_the_client_fall_back_to_a_working_plain_stream() {
    support::current_thread().block_on(async {
        let path = SockPath::new("cor-srv-reject");
        let l = std::os::unix::net::UnixListener::bind(path.path()).unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            let mut fds = Vec::new();
            assert!(matches!(read_frame(&s, &mut fds).unwrap(), Frame::Hello(_)));
            drop(fds);
            (&s).write_all(
                &Frame::Reject(Reject {
                    reason: RejectReason::Resources,
                })
                .to_bytes(),
            )
            .unwrap();
            // Then plain echo.
            let mut buf = [0u8; 1024];
            loop {
                let n = (&s).read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                (&s).write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = within("connect", RpalStream::connect(path.path()))
            .await
            .unwrap();
        assert!(!c.is_shared_memory());
        c.write_all(b"over the socket").await.unwrap();
        let mut back = [0u8; 15];
        within("echo", c.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, b"over the socket");
        drop(c);
        join_off_runtime(t).await;
    });
}
