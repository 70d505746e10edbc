//! Faults: the peer process is killed (SIGKILL) at random points, over many rounds, and this
//! process, the survivor, always
//!
//! * sees a clean error (or end of stream) within [`NOTICE`], never a hang: a reader gets the
//!   bytes the peer published, intact, then `ConnectionReset`; a writer gets `BrokenPipe` or
//!   `ConnectionReset`; a service call in flight fails;
//! * leaks nothing: after each round it holds exactly the descriptors, ring memfds and ring
//!   mappings it held before (counted in `/proc/self`);
//! * keeps serving its other connections: an untouched stream to a long-lived bystander
//!   process keeps round-tripping, its listener admits a fresh client over shared memory, and
//!   its own service keeps answering.
//!
//! Kinds of fault, taken in turn with a seeded random kill point (the seed is printed;
//! `RPAL_FAULT_SEED` forces it, `RPAL_FAULT_ROUNDS` changes the number of kills):
//!
//! | kind | the killed child | the survivor |
//! |---|---|---|
//! | client-writing | client, writing big messages | reading (server side) |
//! | client-reading | client, reading slowly | writing (server side) |
//! | server-writing | server, writing big messages | reading (client side) |
//! | server-reading | server, reading slowly | writing (client side) |
//! | service-server | service process, a call in flight | calling |
//! | service-client | service client, calling | serving the call |
//! | handshake | client, connecting in a loop | admitting |
//!
//! The children are this test binary run again (`child_entry`, idle unless
//! `RPAL_FAULT_ROLE` is set).

mod support;

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::service::{self, ServiceClient};
use rpal_net::unix::UnixAddr;
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use rpal_rt::gate::{Domain, DomainConfig, ResponseBuf};
use support::child::ChildProc;
use support::proc::{settle_to, Held};
use support::{within, within_for, SockPath, XorShift};

const ROLE_ENV: &str = "RPAL_FAULT_ROLE";
const ADDR_ENV: &str = "RPAL_FAULT_ADDR";
const SEED_ENV: &str = "RPAL_FAULT_SEED";
/// How long the survivor may take to see that its peer died (the assertion of this file).
const NOTICE: Duration = Duration::from_secs(10);
/// Bytes of the pattern the writers send, cyclically (both processes derive it from the seed).
const POOL: usize = 4 << 20;
/// Largest request of the service rounds (more than a ring, so a kill can land mid-write).
const MAX_REQUEST: usize = 512 * 1024;
/// Rounds (kills) unless `RPAL_FAULT_ROUNDS` says otherwise.
const DEFAULT_ROUNDS: usize = 21;

const KINDS: [&str; 7] = [
    "client-writing",
    "client-reading",
    "server-writing",
    "server-reading",
    "service-server",
    "service-client",
    "handshake",
];

fn pool(seed: u64) -> Arc<Vec<u8>> {
    Arc::new(support::pattern(POOL, seed ^ 0xfa17))
}

/// The service both processes run: waits a little (a call stays in flight), then echoes.
fn echo_slowly(req: &[u8], resp: &mut ResponseBuf<'_>) {
    let ms = req.first().map_or(0, |b| u64::from(b % 8));
    rpal_rt::gate::wait(rpal_rt::time::sleep(Duration::from_millis(ms)));
    resp.write(req).unwrap();
}

fn domain() -> Domain {
    Domain::new(
        DomainConfig::new()
            .arena_size(4 * MAX_REQUEST + (1 << 20))
            .max_response(MAX_REQUEST + 1024),
    )
    .unwrap()
}

/// Writes the pool cyclically in random pieces of up to 4 MiB, forever (until an error).
async fn write_pool<W: futures::AsyncWrite + Unpin>(
    w: &mut W,
    pool: &[u8],
    rng: &mut XorShift,
    written: &AtomicU64,
) -> io::Error {
    let mut pos = 0usize;
    loop {
        let len = rng.range(1, POOL - pos);
        if let Err(e) = w.write_all(&pool[pos..pos + len]).await {
            return e;
        }
        written.fetch_add(len as u64, Ordering::Relaxed);
        pos = (pos + len) % POOL;
    }
}

/// Reads until an error or end of stream, checking every byte against the cyclic pool.
async fn read_pool<R: futures::AsyncRead + Unpin>(
    r: &mut R,
    pool: &[u8],
    read: &AtomicU64,
) -> io::Result<()> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut pos = 0usize;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < n {
            let k = (n - done).min(POOL - pos);
            if buf[done..done + k] != pool[pos..pos + k] {
                return Err(io::Error::other(format!(
                    "corrupt bytes at stream offset {}",
                    read.load(Ordering::Relaxed) + done as u64
                )));
            }
            done += k;
            pos = (pos + k) % POOL;
        }
        read.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// Reads slowly (a pause every 64 KiB) and discards, until an error.
async fn read_slowly<R: futures::AsyncRead + Unpin>(r: &mut R) -> io::Error {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) => return io::ErrorKind::UnexpectedEof.into(),
            Ok(_) => rpal_rt::time::sleep(Duration::from_micros(500)).await,
            Err(e) => return e,
        }
    }
}

/// The child's side. Idle when run as an ordinary test.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    let addr = std::env::var(ADDR_ENV).unwrap();
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let pool = pool(seed);
    let mut rng = XorShift(seed | 1);
    support::current_thread().block_on(async move {
        let counter = AtomicU64::new(0);
        match role.as_str() {
            "client-writing" | "client-reading" => {
                let mut s = RpalStream::connect(addr.as_str()).await.unwrap();
                assert!(s.is_shared_memory());
                if role == "client-writing" {
                    write_pool(&mut s, &pool, &mut rng, &counter).await;
                } else {
                    read_slowly(&mut s).await;
                }
            }
            "server-writing" | "server-reading" | "bystander" => {
                let l = RpalListener::bind(addr.as_str()).unwrap();
                println!("\nFAULT-READY");
                let (mut s, _) = l.accept().await.unwrap();
                assert!(s.is_shared_memory());
                match role.as_str() {
                    "server-writing" => drop(write_pool(&mut s, &pool, &mut rng, &counter).await),
                    "server-reading" => drop(read_slowly(&mut s).await),
                    _ => drop(support::echo(s).await),
                }
            }
            "service-server" => {
                let domain = domain();
                let svc = domain.register(&addr, echo_slowly);
                let l =
                    RpalListener::bind(UnixAddr::Abstract(&service::service_addr(&addr))).unwrap();
                println!("\nFAULT-READY");
                let _ = service::serve(l, svc).await;
            }
            "service-client" => {
                let mut c = ServiceClient::connect(&addr).await.unwrap();
                assert!(!c.is_in_process());
                println!("\nFAULT-CALLING");
                loop {
                    let len = rng.range(1, MAX_REQUEST);
                    let off = rng.range(0, POOL - len);
                    let req = &pool[off..off + len];
                    match c.call(req).await {
                        Ok(resp) => assert!(resp == req, "service echo differs"),
                        Err(_) => break,
                    }
                }
            }
            "handshake" => {
                println!("\nFAULT-READY");
                let mut held = Vec::new();
                for _ in 0..32 {
                    if let Ok(s) = RpalStream::connect(addr.as_str()).await {
                        held.push(s);
                    }
                }
                std::future::pending::<()>().await;
            }
            other => panic!("unknown role {other}"),
        }
        // Wait to be killed: the parent decides when this process dies.
        std::future::pending::<()>().await;
    });
}

/// Starts a child in `role` on `addr`.
fn start(role: &str, addr: &str, seed: u64) -> ChildProc {
    ChildProc::start(
        "child_entry",
        role,
        &[
            (ROLE_ENV, role.into()),
            (ADDR_ENV, addr.into()),
            (SEED_ENV, seed.to_string()),
        ],
    )
}

/// Waits for a child's line without blocking the runtime (whose tasks the child may need).
async fn line(child: ChildProc, token: &'static str) -> ChildProc {
    within(
        token,
        rpal_rt::spawn_blocking(move || {
            child.wait_line(token, support::LIMIT);
            child
        }),
    )
    .await
    .unwrap()
}

/// Kills the child once `counter` reaches `at` (or at once if the survivor's task already
/// ended, which would be a failure the caller reports).
async fn kill_at<T>(
    mut child: ChildProc,
    counter: &AtomicU64,
    at: u64,
    task: &rpal_rt::JoinHandle<T>,
) {
    while counter.load(Ordering::Relaxed) < at && !task.is_finished() {
        rpal_rt::time::sleep(Duration::from_millis(1)).await;
    }
    child.kill();
}

/// The survivor's side of one fault; returns how long it took to notice.
async fn fault(
    kind: &str,
    rng: &mut XorShift,
    seed: u64,
    pool: &Arc<Vec<u8>>,
    listener: &RpalListener,
    lpath: &SockPath,
) -> Duration {
    // Kill point: bytes moved through the survivor's end (0: right after the stream is up).
    let at = if rng.next().is_multiple_of(5) {
        0
    } else {
        rng.range(1, 3 * POOL) as u64
    };
    let counter = Arc::new(AtomicU64::new(0));
    match kind {
        "client-writing" | "client-reading" | "server-writing" | "server-reading" => {
            let (child, s) = if kind.starts_with("client") {
                let accepting = listener.accept();
                let child = start(kind, lpath.as_str(), seed);
                let (s, _) = within("accept", accepting).await.unwrap();
                (child, s)
            } else {
                let path = SockPath::new("fault-srv");
                let child = line(start(kind, path.as_str(), seed), "FAULT-READY").await;
                let s = within("connect", RpalStream::connect(path.path()))
                    .await
                    .unwrap();
                (child, s)
            };
            assert!(s.is_shared_memory());
            let c = counter.clone();
            let p = pool.clone();
            let survivor_reads = kind.ends_with("writing");
            let task = rpal_rt::spawn(async move {
                let mut s = s;
                if survivor_reads {
                    read_pool(&mut s, &p, &c).await.err()
                } else {
                    let mut rng = XorShift(seed ^ 77);
                    Some(write_pool(&mut s, &p, &mut rng, &c).await)
                }
            });
            kill_at(child, &counter, at, &task).await;
            let killed = Instant::now();
            let e = within_for(NOTICE, kind, task)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{kind}: end of stream from a killed peer"));
            let took = killed.elapsed();
            let ok: &[io::ErrorKind] = if survivor_reads {
                &[io::ErrorKind::ConnectionReset]
            } else {
                &[io::ErrorKind::BrokenPipe, io::ErrorKind::ConnectionReset]
            };
            assert!(ok.contains(&e.kind()), "{kind}: {:?}: {e}", e.kind());
            took
        }
        "service-server" => {
            let name = format!("fault-svc-{}-{}", std::process::id(), rng.next());
            let child = line(start(kind, &name, seed), "FAULT-READY").await;
            let mut client = within("service connect", ServiceClient::connect(&name))
                .await
                .unwrap();
            assert!(!client.is_in_process());
            let c = counter.clone();
            let p = pool.clone();
            let mut r = XorShift(rng.next() | 1);
            let task = rpal_rt::spawn_local(async move {
                loop {
                    let len = r.range(1, MAX_REQUEST);
                    let off = r.range(0, POOL - len);
                    match client.call(&p[off..off + len]).await {
                        Ok(resp) => assert!(resp == p[off..off + len], "service echo differs"),
                        Err(e) => return e,
                    }
                    c.fetch_add(len as u64, Ordering::Relaxed);
                }
            });
            kill_at(child, &counter, at / 4, &task).await;
            let killed = Instant::now();
            let e = within_for(NOTICE, kind, task).await.unwrap();
            eprintln!("  call in flight failed with {:?}: {e}", e.kind());
            killed.elapsed()
        }
        "service-client" => {
            // Our own service (set up by the caller) is the server; the child calls it.
            let child = line(start(kind, &own_service(), seed), "FAULT-CALLING").await;
            let ms = rng.range(0, 60) as u64;
            rpal_rt::time::sleep(Duration::from_millis(ms)).await;
            let mut child = child;
            child.kill();
            Duration::ZERO
        }
        "handshake" => {
            let child = line(start(kind, lpath.as_str(), seed), "FAULT-READY").await;
            let ms = rng.range(0, 8) as u64;
            rpal_rt::time::sleep(Duration::from_millis(ms)).await;
            let mut child = child;
            child.kill();
            let killed = Instant::now();
            // Streams admitted before the kill wait in the listener: each must fail, not hang.
            let mut n = 0;
            while let Ok(r) =
                rpal_rt::time::timeout(Duration::from_millis(300), listener.accept()).await
            {
                let (mut s, _) = r.unwrap();
                let mut buf = [0u8; 16];
                let what = "admitted stream of a killed client";
                let r = within_for(NOTICE, what, s.read(&mut buf)).await;
                if s.is_shared_memory() {
                    let e = r.unwrap_err();
                    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
                } else {
                    // Killed after connecting but before its Hello reached us within the
                    // detect timeout: served as a plain client, which then hung up.
                    assert!(
                        matches!(&r, Ok(0))
                            || matches!(&r, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
                        "{what} (plain): {r:?}"
                    );
                }
                n += 1;
            }
            eprintln!("  {n} streams admitted before the kill, each reset");
            killed.elapsed().saturating_sub(Duration::from_millis(300))
        }
        other => panic!("unknown kind {other}"),
    }
}

fn own_service() -> String {
    format!("fault-own-{}", std::process::id())
}

/// The connections that must survive every fault keep working.
async fn others_still_work(
    bystander: &mut RpalStream,
    own: &mut ServiceClient,
    listener: &RpalListener,
    lpath: &SockPath,
    rng: &mut XorShift,
) {
    let msg = support::pattern(rng.range(1, 64 * 1024), rng.next());
    bystander.write_all(&msg).await.unwrap();
    let mut back = vec![0u8; msg.len()];
    within("bystander echo", bystander.read_exact(&mut back))
        .await
        .unwrap();
    assert!(back == msg, "bystander echo differs");
    let req = support::pattern(rng.range(1, 4096), rng.next());
    let resp = within("own service call", own.call(&req)).await.unwrap();
    assert!(resp == req);
    let (mut c, mut s) =
        support::connect_accept(listener, lpath.path(), &RpalConfig::default()).await;
    assert!(c.is_shared_memory() && s.is_shared_memory());
    c.write_all(b"fresh client").await.unwrap();
    c.close().await.unwrap();
    let mut got = Vec::new();
    within("fresh client", s.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"fresh client");
}

#[test]
fn peers_killed_at_random_points() {
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let rounds: usize = std::env::var("RPAL_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_ROUNDS);
    eprintln!("faults: {rounds} kills, seed {seed} (rerun with {SEED_ENV}={seed})");
    let pool = pool(seed);
    support::current_thread().block_on(async move {
        let mut rng = XorShift(seed | 1);
        // Our own service, served to any client (the child of the service-client rounds).
        let domain = domain();
        let svc = domain.register(&own_service(), echo_slowly);
        let svc_listener =
            RpalListener::bind(UnixAddr::Abstract(&service::service_addr(&own_service()))).unwrap();
        rpal_rt::spawn_local(service::serve(svc_listener, svc));
        let mut own = within("own service", ServiceClient::connect(&own_service()))
            .await
            .unwrap();
        assert!(!own.is_in_process());

        // The bystander: a long-lived process whose stream is never touched by a fault.
        let bpath = SockPath::new("fault-by");
        let by = line(start("bystander", bpath.as_str(), seed), "FAULT-READY").await;
        let mut bystander = within("bystander", RpalStream::connect(bpath.path()))
            .await
            .unwrap();

        let lpath = SockPath::new("fault-l");
        let listener = RpalListener::bind(lpath.path()).unwrap();
        others_still_work(&mut bystander, &mut own, &listener, &lpath, &mut rng).await;
        rpal_rt::time::sleep(Duration::from_millis(50)).await;
        let baseline = Held::now();
        eprintln!("baseline: {baseline:?}");

        let mut by_kind = vec![0usize; KINDS.len()];
        let mut slowest = Duration::ZERO;
        for round in 0..rounds {
            let k = round % KINDS.len();
            let kind = KINDS[k];
            let took = fault(kind, &mut rng, seed, &pool, &listener, &lpath).await;
            by_kind[k] += 1;
            slowest = slowest.max(took);
            eprintln!("round {round}: {kind}: noticed in {took:?}");
            others_still_work(&mut bystander, &mut own, &listener, &lpath, &mut rng).await;
            settle_to(baseline, NOTICE, &format!("round {round} ({kind})")).await;
        }
        let summary: Vec<String> = KINDS
            .iter()
            .zip(&by_kind)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        eprintln!(
            "faults injected: {rounds} SIGKILLs ({}); slowest notice {slowest:?}; no hang, no \
             leaked descriptor, memfd or mapping ({baseline:?} after every round); bystander \
             stream, listener and own service served after each",
            summary.join(", ")
        );
        drop(by);
    });
}
