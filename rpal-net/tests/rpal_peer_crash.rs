//! A peer process that dies (SIGKILL) never leaves the other side hanging: a pending read ends
//! with end of stream or an error (ConnectionReset, UnexpectedEof, BrokenPipe) within a bounded
//! time, writes eventually fail, and a listener keeps accepting afterwards. Both directions: the
//! client process dies, and the server process dies.
//!
//! The peer process is this test binary run again: `child_entry` does nothing unless
//! `RPAL_CRASH_CHILD` names a role, in which case it plays that role until it is killed.

mod support;

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{RpalListener, RpalStream};
use support::{pattern, within, within_for, SockPath};

const CHILD_ENV: &str = "RPAL_CRASH_CHILD";
const PATH_ENV: &str = "RPAL_CRASH_PATH";
/// Bytes a "burst" child writes (less than a default ring) before it reports and idles.
const BURST: usize = 100_000;
/// How long a side may take to notice its peer died (the assertion of this file).
const NOTICE: Duration = Duration::from_secs(10);

/// The child's half of every test. Idle when run as an ordinary test.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else {
        return;
    };
    let path = std::env::var(PATH_ENV).expect("RPAL_CRASH_PATH");
    let rt = support::current_thread();
    rt.block_on(async move {
        let stream = match role.as_str() {
            "client-writer" | "client-idle" | "client-burst" => {
                // The parent accepts only after this line, so say it before connecting.
                println!("\nRPAL-CHILD-READY");
                let s = RpalStream::connect(path.as_str())
                    .await
                    .expect("child connect");
                assert!(s.is_shared_memory());
                s
            }
            "server-writer" | "server-idle" | "server-burst" => {
                let l = RpalListener::bind(path.as_str()).expect("child bind");
                println!("\nRPAL-CHILD-READY");
                let (s, _) = l.accept().await.expect("child accept");
                assert!(s.is_shared_memory());
                s
            }
            other => panic!("unknown child role {other}"),
        };
        let mut s = stream;
        if role.ends_with("burst") {
            s.write_all(&pattern(BURST, 2)).await.expect("child burst");
            s.flush().await.expect("child flush");
            println!("\nRPAL-CHILD-WROTE");
            std::future::pending::<()>().await;
        } else if role.ends_with("writer") {
            let chunk = pattern(64 * 1024, 1);
            loop {
                if s.write_all(&chunk).await.is_err() {
                    std::process::exit(3);
                }
            }
        } else {
            s.write_all(b"hello").await.expect("child hello");
            s.flush().await.expect("child flush");
            // Keep the stream open, read nothing, until killed.
            std::future::pending::<()>().await;
        }
    });
}

/// The child process; killed (SIGKILL) when dropped, so a failing test leaves nothing behind.
/// A thread forwards the child's stdout lines.
struct ChildGuard(Option<Child>, std::sync::mpsc::Receiver<String>);

impl ChildGuard {
    /// Starts this test binary in `role` on `path` and waits for its "READY" line.
    fn start(role: &str, path: &SockPath) -> ChildGuard {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new(exe)
            .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, role)
            .env(PATH_ENV, path.as_str())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start child");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining the child's stdout so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut g = ChildGuard(Some(child), rx);
        g.wait_line("RPAL-CHILD-READY", role);
        g
    }

    /// Blocks until the child prints a line containing `token`.
    fn wait_line(&mut self, token: &str, role: &str) {
        loop {
            match self.1.recv_timeout(support::LIMIT) {
                Ok(line) if line.contains(token) => return,
                Ok(_) => {}
                Err(e) => panic!("child {role}: no {token} line ({e})"),
            }
        }
    }

    /// SIGKILL and reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            c.kill().unwrap();
            let status = c.wait().unwrap();
            assert!(
                !status.success(),
                "child should have died of SIGKILL: {status}"
            );
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads until end of stream or an error, within [`NOTICE`]; returns the outcome and bytes read.
async fn read_until_end<S: futures::AsyncRead + Unpin>(
    s: &mut S,
    what: &str,
) -> (io::Result<()>, u64) {
    let start = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let r = within_for(NOTICE, what, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) => return Ok(()),
                Ok(n) => total += n as u64,
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let took = start.elapsed();
    eprintln!("{what}: ended after {took:?} with {r:?} ({total} bytes drained)");
    assert!(took < NOTICE, "{what}: took {took:?}");
    if let Err(e) = &r {
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::BrokenPipe
            ),
            "{what}: unexpected error kind {:?}: {e}",
            e.kind()
        );
    }
    (r, total)
}

/// Writes until an error, within [`NOTICE`]; panics if 64 MiB go through (nobody reads them).
async fn write_until_error<S: futures::AsyncWrite + Unpin>(s: &mut S, what: &str) -> io::Error {
    let chunk = vec![0x5au8; 64 * 1024];
    let start = Instant::now();
    let e = within_for(NOTICE, what, async {
        for _ in 0..1024 {
            if let Err(e) = s.write_all(&chunk).await {
                return Some(e);
            }
        }
        None
    })
    .await
    .unwrap_or_else(|| panic!("{what}: 64 MiB written to a dead peer without an error"));
    eprintln!("{what}: write failed after {:?}: {e:?}", start.elapsed());
    e
}

/// After a crash, the listener still serves a fresh client over shared memory.
async fn listener_still_serves(listener: &RpalListener, path: &SockPath) {
    let (mut c, mut s) =
        support::connect_accept(listener, path.path(), &rpal_net::RpalConfig::default()).await;
    assert!(c.is_shared_memory() && s.is_shared_memory());
    c.write_all(b"still alive").await.unwrap();
    c.close().await.unwrap();
    let mut got = Vec::new();
    within("read after crash", s.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"still alive");
}

#[test]
fn client_killed_mid_stream() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("crash-cw");
            let listener = RpalListener::bind(path.path()).unwrap();
            let accepting = listener.accept();
            let mut child = ChildGuard::start("client-writer", &path);
            let (mut s, _) = within("accept", accepting).await.unwrap();
            assert!(s.is_shared_memory());
            let mut buf = vec![0u8; 1 << 20];
            within("first MiB", s.read_exact(&mut buf)).await.unwrap();
            assert!(buf[..65536] == pattern(64 * 1024, 1)[..], "child's data");
            child.kill();
            let _ = read_until_end(&mut s, "server read after client SIGKILL").await;
            let _ = write_until_error(&mut s, "server write after client SIGKILL").await;
            listener_still_serves(&listener, &path).await;
        });
    }
}

#[test]
fn client_killed_while_server_read_is_pending() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("crash-ci");
            let listener = RpalListener::bind(path.path()).unwrap();
            let accepting = listener.accept();
            let mut child = ChildGuard::start("client-idle", &path);
            let (mut s, _) = within("accept", accepting).await.unwrap();
            let mut hello = [0u8; 5];
            within("hello", s.read_exact(&mut hello)).await.unwrap();
            assert_eq!(&hello, b"hello");
            // The read is pending (nothing more will come) when the child dies.
            let reader = rpal_rt::spawn(async move {
                let r = read_until_end(&mut s, "pending server read, client SIGKILLed").await;
                (s, r.1)
            });
            rpal_rt::time::sleep(Duration::from_millis(200)).await;
            assert!(!reader.is_finished(), "read ended before the child died");
            child.kill();
            let (mut s, n) = within("reader task", reader).await.unwrap();
            assert_eq!(n, 0);
            let _ = write_until_error(&mut s, "server write after client SIGKILL").await;
            listener_still_serves(&listener, &path).await;
        });
    }
}

#[test]
fn server_killed_mid_stream() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("crash-sw");
            let mut child = ChildGuard::start("server-writer", &path);
            let mut c = within("connect", RpalStream::connect(path.path()))
                .await
                .unwrap();
            assert!(c.is_shared_memory());
            let mut buf = vec![0u8; 1 << 20];
            within("first MiB", c.read_exact(&mut buf)).await.unwrap();
            child.kill();
            let _ = read_until_end(&mut c, "client read after server SIGKILL").await;
            let _ = write_until_error(&mut c, "client write after server SIGKILL").await;
        });
    }
}

#[test]
fn server_killed_while_client_read_is_pending() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("crash-si");
            let mut child = ChildGuard::start("server-idle", &path);
            let mut c = within("connect", RpalStream::connect(path.path()))
                .await
                .unwrap();
            let mut hello = [0u8; 5];
            within("hello", c.read_exact(&mut hello)).await.unwrap();
            assert_eq!(&hello, b"hello");
            let reader = rpal_rt::spawn(async move {
                let r = read_until_end(&mut c, "pending client read, server SIGKILLed").await;
                (c, r.1)
            });
            rpal_rt::time::sleep(Duration::from_millis(200)).await;
            assert!(!reader.is_finished(), "read ended before the child died");
            child.kill();
            let (mut c, n) = within("reader task", reader).await.unwrap();
            assert_eq!(n, 0);
            let _ = write_until_error(&mut c, "client write after server SIGKILL").await;
        });
    }
}

/// A writer blocked on a full ring (the peer reads nothing) is released when the peer dies.
#[test]
fn client_killed_while_server_write_is_blocked() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("crash-wb");
            let listener = RpalListener::bind(path.path()).unwrap();
            let accepting = listener.accept();
            let mut child = ChildGuard::start("client-idle", &path);
            let (mut s, _) = within("accept", accepting).await.unwrap();
            let writer = rpal_rt::spawn(async move {
                let e = write_until_error(&mut s, "blocked server write, client SIGKILLed").await;
                (s, e)
            });
            rpal_rt::time::sleep(Duration::from_millis(300)).await;
            assert!(!writer.is_finished(), "write failed before the child died");
            child.kill();
            let (_s, e) = within("writer task", writer).await.unwrap();
            eprintln!("blocked writer got {:?}", e.kind());
            listener_still_serves(&listener, &path).await;
        });
    }
}

/// Bytes the peer published before it died are delivered, then the error: the module doc of
/// `rpal/transport.rs` promises "a reader first drains what is in the ring, then gets
/// ConnectionReset".
fn drain_after_death(role: &str, tag: &str) {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new(tag);
            let (mut child, mut s, _listener) = if role == "client-burst" {
                let listener = RpalListener::bind(path.path()).unwrap();
                let accepting = listener.accept();
                let child = ChildGuard::start(role, &path);
                let (s, _) = within("accept", accepting).await.unwrap();
                (child, s, Some(listener))
            } else {
                let child = ChildGuard::start(role, &path);
                let s = within("connect", RpalStream::connect(path.path()))
                    .await
                    .unwrap();
                (child, s, None)
            };
            assert!(s.is_shared_memory());
            child.wait_line("RPAL-CHILD-WROTE", role);
            child.kill();
            let mut got = Vec::new();
            let r = within_for(NOTICE, "drain after death", s.read_to_end(&mut got)).await;
            eprintln!("{role}: drained {} of {BURST} bytes, then {r:?}", got.len());
            assert_eq!(got.len(), BURST, "bytes published before the peer died");
            assert!(got == pattern(BURST, 2));
            match r {
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
                Ok(_) => panic!("a killed peer must not look like a clean close"),
            }
        });
    }
}

#[test]
fn client_killed_after_burst_server_drains_then_reset() {
    drain_after_death("client-burst", "crash-cb");
}

#[test]
fn server_killed_after_burst_client_drains_then_reset() {
    drain_after_death("server-burst", "crash-sb");
}
