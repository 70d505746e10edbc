//! Ten thousand idle TCP connections plus ten thousand idle Unix connections held open on one
//! runtime, each with a task parked in `read`, while one active TCP connection keeps
//! round-tripping; then every idle connection delivers one last byte from the peer, is shut down
//! by the runtime's side, sees the peer's clean end of stream, and the process is back to the
//! descriptors it started with.
//!
//! The peer ends live in a child process (this test binary run again: `child_entry` does nothing
//! unless `RPAL_IDLE_CHILD` is set), so the runtime's process holds one descriptor per
//! connection. The test raises `RLIMIT_NOFILE` to its hard limit; where the hard limit cannot
//! hold 2 x 10,000 connections plus a reserve, it says so and uses as many as fit.
//!
//! CI runs this file once per driver (`RPAL_DRIVER=uring`, `RPAL_DRIVER=epoll`); the whole body
//! runs under a watchdog thread that aborts the process if it hangs.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::unix::UnixListener;
use rpal_net::{TcpListener, TcpStream};
use support::{within, within_for, Fnv, SockPath, XorShift};

/// Idle connections wanted per kind (TCP, Unix).
const WANT: usize = 10_000;
/// Descriptors kept free beyond the connections (runtime, listeners, pipes, the active pair).
const RESERVE: usize = 128;
/// Messages the active connection round-trips while the idle ones are held.
const ROUND_TRIPS: usize = 2_000;
/// The byte the child writes on every idle connection before closing it.
const LAST_BYTE: u8 = b'z';
/// The whole test's bound (it takes a few seconds on a slow 2-core VM).
const WATCHDOG: Duration = Duration::from_secs(180);

const CHILD_ENV: &str = "RPAL_IDLE_CHILD";
const TCP_ENV: &str = "RPAL_IDLE_TCP";
const UNIX_ENV: &str = "RPAL_IDLE_UNIX";

/// A TCP listener on 127.0.0.1 with a listen backlog of 4096. With std's `bind` (backlog 128)
/// the kernel dropped a SYN every few hundred sequential connects here (`ListenOverflows`),
/// although every earlier connection had been accepted: each drop cost a 1 s SYN retransmit.
fn listen_tcp() -> TcpListener {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    rustix::net::bind(&fd, &any).unwrap();
    rustix::net::listen(&fd, 4096).unwrap();
    TcpListener::from_std(std::net::TcpListener::from(fd)).unwrap()
}

/// Descriptors open in this process now.
fn open_fds() -> usize {
    // The directory handle itself is one of them, the same on every call.
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// The peer: connects `n` TCP and `n` Unix sockets (blocking std sockets), reports, waits for a
/// line on stdin, then writes one byte on each, reads each one's end of stream (the runtime's
/// side closes first) and closes them all.
#[test]
fn child_entry() {
    let Ok(n) = std::env::var(CHILD_ENV) else {
        return;
    };
    let n: usize = n.parse().unwrap();
    let tcp_addr = std::env::var(TCP_ENV).unwrap();
    let unix_path = std::env::var(UNIX_ENV).unwrap();
    let mut tcp = Vec::with_capacity(n);
    let mut unix = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        match std::net::TcpStream::connect(&tcp_addr) {
            Ok(s) => tcp.push(s),
            Err(e) => {
                println!("\nCHILD-FAILED tcp connect #{i}: {e}");
                std::process::exit(2);
            }
        }
        match std::os::unix::net::UnixStream::connect(&unix_path) {
            Ok(s) => unix.push(s),
            Err(e) => {
                println!("\nCHILD-FAILED unix connect #{i}: {e}");
                std::process::exit(2);
            }
        }
    }
    println!(
        "\nCHILD-CONNECTED {} {} in {:?}",
        tcp.len(),
        unix.len(),
        t0.elapsed()
    );
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    for s in &mut tcp {
        s.write_all(&[LAST_BYTE]).unwrap();
    }
    for s in &mut unix {
        s.write_all(&[LAST_BYTE]).unwrap();
    }
    // The runtime's side closes first; each socket must then read a clean end of stream.
    let mut buf = [0u8; 16];
    for (i, s) in tcp.iter_mut().enumerate() {
        assert_eq!(
            s.read(&mut buf).unwrap(),
            0,
            "tcp #{i}: bytes instead of EOF"
        );
    }
    for (i, s) in unix.iter_mut().enumerate() {
        assert_eq!(
            s.read(&mut buf).unwrap(),
            0,
            "unix #{i}: bytes instead of EOF"
        );
    }
    drop(tcp);
    drop(unix);
    println!("\nCHILD-CLOSED");
}

/// The child process, killed if the test fails part way.
struct Peer {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Peer {
    fn start(n: usize, tcp: &str, unix: &SockPath) -> Peer {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, n.to_string())
            .env(TCP_ENV, tcp)
            .env(UNIX_ENV, unix.as_str())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the peer process");
        let out = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Peer {
            child: Some(child),
            lines,
        }
    }

    /// Blocks (a std thread, not a worker) until the child prints a line with `token` (each is
    /// printed after a newline: libtest's own "test ... " prefix has none).
    fn wait_line(&self, token: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line.contains(token) => return line,
                Ok(line) if line.contains("CHILD-FAILED") => panic!("peer: {line}"),
                Ok(_) => {}
                Err(e) => panic!("peer: no {token} line ({e})"),
            }
        }
    }

    /// Tells the child to write its last bytes and close everything.
    fn close_all(&mut self) {
        let child = self.child.as_mut().unwrap();
        child.stdin.take().unwrap().write_all(b"close\n").unwrap();
    }

    fn wait_exit(&mut self) {
        let mut child = self.child.take().unwrap();
        let status = child.wait().unwrap();
        assert!(status.success(), "peer exited with {status}");
        if let Some(mut out) = child.stdout.take() {
            let _ = out.read_to_end(&mut Vec::new());
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The idle side of one connection: waits (parked in `read`) for the peer's one byte
/// (`LAST_BYTE`), then closes its write side first (so TIME_WAIT lands on this side, not on the
/// peer's ephemeral ports) and reads the peer's end of stream.
async fn idle_until_closed<S>(mut s: S) -> Result<(), String>
where
    S: futures::AsyncRead + futures::AsyncWrite + Unpin,
{
    let mut buf = [0u8; 16];
    let n = s
        .read(&mut buf)
        .await
        .map_err(|e| format!("read failed: {e}"))?;
    if buf[..n] != [LAST_BYTE] {
        return Err(format!("expected one {LAST_BYTE:?}, got {:?}", &buf[..n]));
    }
    s.close()
        .await
        .map_err(|e| format!("shutdown failed: {e}"))?;
    match s.read(&mut buf).await {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("{n} bytes after the last one")),
        Err(e) => Err(format!("read after close failed: {e}")),
    }
}

/// Round-trips `ROUND_TRIPS` checksummed messages over one TCP connection to an echo task.
async fn active_round_trips(listener: TcpListener) -> (usize, Duration) {
    let addr = listener.local_addr().unwrap();
    let server = rpal_rt::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        support::echo(s).await
    });
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut rng = XorShift(0x5eed);
    let start = Instant::now();
    for i in 0..ROUND_TRIPS {
        let n = rng.range(1, 512);
        let mut m = vec![0u8; n + 8];
        rng.fill(&mut m[..n]);
        let sum = Fnv::of(&m[..n]).0;
        m[n..].copy_from_slice(&sum.to_le_bytes());
        c.write_all(&m).await.unwrap();
        let mut back = vec![0u8; m.len()];
        within("active round trip", c.read_exact(&mut back))
            .await
            .unwrap();
        assert_eq!(back, m, "round trip {i}: echo mismatch");
    }
    let took = start.elapsed();
    drop(c);
    within("echo server end", server).await.unwrap().unwrap();
    (ROUND_TRIPS, took)
}

fn hold_idle_connections(make_runtime: fn() -> rpal_rt::Runtime, name: &'static str) {
    // The watchdog: aborts with a clear message if anything below hangs.
    let (_disarm, rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(WATCHDOG) {
            eprintln!("net_idle_connections::{name}: still running after {WATCHDOG:?}; aborting");
            std::process::abort();
        }
    });

    let limit = support::raise_nofile((2 * WANT + RESERVE) as u64) as usize;
    // The process's worker-state table (created with the first worker, kept for the process's
    // life) is not part of what this test must give back: create it before counting.
    let _ = rpal_rt::io::worker_state::table_fd();
    let fds_at_start = open_fds();
    let n = WANT.min(limit.saturating_sub(fds_at_start + RESERVE) / 2);
    if n < WANT {
        eprintln!(
            "net_idle_connections::{name}: RLIMIT_NOFILE hard limit is {limit}: holding {n} idle \
             connections per kind instead of {WANT}"
        );
    }
    assert!(n >= 1000, "RLIMIT_NOFILE {limit} is too low for this test");
    let rt = make_runtime();

    let tcp = listen_tcp();
    let tcp_addr = tcp.local_addr().unwrap().to_string();
    let path = SockPath::new("idle");
    let unix = UnixListener::bind(path.path()).unwrap();
    let mut peer = Peer::start(n, &tcp_addr, &path);

    let accepted = Arc::new(AtomicUsize::new(0));
    let closed_ok = Arc::new(AtomicUsize::new(0));
    let (acc, ok) = (accepted.clone(), closed_ok.clone());
    let (peer_tx, peer_rx) = mpsc::channel::<&'static str>();
    let (ack_tx, ack_rx) = mpsc::channel::<()>();
    // The peer is driven from a plain thread so no worker ever blocks on it.
    let driver = std::thread::spawn(move || {
        let line = peer.wait_line("CHILD-CONNECTED");
        ack_tx.send(()).unwrap();
        eprintln!("{name}: peer says {line}");
        assert_eq!(peer_rx.recv().unwrap(), "close");
        peer.close_all();
        peer.wait_line("CHILD-CLOSED");
        peer.wait_exit();
    });

    rt.block_on(async move {
        let fds_in_runtime = open_fds();
        let readers = Arc::new(rpal_rt::sync::Mutex::new(Vec::with_capacity(2 * n)));
        let (r1, r2) = (readers.clone(), readers.clone());
        let (acc1, acc2, ok1, ok2) = (acc.clone(), acc.clone(), ok.clone(), ok.clone());
        let tcp_acceptor = rpal_rt::spawn(async move {
            for _ in 0..n {
                let (s, _) = tcp.accept().await.unwrap();
                acc1.fetch_add(1, Ordering::SeqCst);
                let ok = ok1.clone();
                let h = rpal_rt::spawn(async move {
                    idle_until_closed(s).await?;
                    ok.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(())
                });
                r1.lock().await.push(h);
            }
        });
        let unix_acceptor = rpal_rt::spawn(async move {
            for _ in 0..n {
                let (s, _) = unix.accept().await.unwrap();
                acc2.fetch_add(1, Ordering::SeqCst);
                let ok = ok2.clone();
                let h = rpal_rt::spawn(async move {
                    idle_until_closed(s).await?;
                    ok.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, String>(())
                });
                r2.lock().await.push(h);
            }
        });
        let start = Instant::now();
        within_for(Duration::from_secs(90), "accept everything", async {
            tcp_acceptor.await.unwrap();
            unix_acceptor.await.unwrap();
        })
        .await;
        // The peer has connected everything too (its connects returned before our accepts).
        while ack_rx.try_recv().is_err() {
            rpal_rt::time::sleep(Duration::from_millis(5)).await;
        }
        let held = open_fds() - fds_in_runtime;
        eprintln!(
            "{name}: accepted {n} TCP + {n} Unix connections in {:?}; {held} more fds",
            start.elapsed()
        );
        // (The two listeners closed once each had accepted its n.)
        assert!(held + 2 >= 2 * n, "{name}: only {held} new descriptors");

        // One active connection while all of those wait.
        let active = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (trips, took) = active_round_trips(active).await;
        eprintln!(
            "{name}: {trips} round trips on the active connection in {took:?} ({:?} each) \
             beside {} idle ones",
            took / trips as u32,
            2 * n
        );
        // Nothing closed yet: every idle reader still waits.
        assert_eq!(
            ok.load(Ordering::SeqCst),
            0,
            "{name}: an idle connection ended early"
        );

        // Close everything from the peer's side: each reader gets its byte, then EOF.
        peer_tx.send("close").unwrap();
        let readers = std::mem::take(&mut *readers.lock().await);
        within_for(
            Duration::from_secs(90),
            "every idle connection closes",
            async {
                for (i, h) in readers.into_iter().enumerate() {
                    if let Err(e) = h.await.unwrap() {
                        panic!("{name}: idle connection #{i}: {e}");
                    }
                }
            },
        )
        .await;
        assert_eq!(ok.load(Ordering::SeqCst), 2 * n, "{name}");
        // Every connection's descriptor is closed again (closes may complete asynchronously
        // on io_uring: give them a moment). The two listeners are gone too; the exact count,
        // pipes to the peer and the runtime's own descriptors included, is checked at the end.
        within_for(Duration::from_secs(30), "descriptors released", async {
            while open_fds() > fds_in_runtime - 2 {
                rpal_rt::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 2 * n);
    driver.join().expect("peer driver");
    drop(rt);
    drop(path);
    // The runtime, the listeners, the child's pipes: all gone too.
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() != fds_at_start && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        open_fds(),
        fds_at_start,
        "{name}: descriptors after the test"
    );
}

#[test]
fn ten_thousand_idle_connections_current_thread() {
    hold_idle_connections(support::current_thread, "current_thread");
}

#[test]
fn ten_thousand_idle_connections_thread_per_core() {
    hold_idle_connections(|| support::thread_per_core(2), "thread_per_core");
}
