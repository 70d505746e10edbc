//! Runtime micro-benchmarks, rpal-rt beside tokio (and, for the echo load, monoio and compio)
//! in one run.
//!
//! Rows: chained spawn (ns per spawn+run), yield (ns per yield), task ping-pong over each
//! runtime's own bounded mpsc channel of capacity 1 (ns per round trip), timer lateness, TCP echo
//! over loopback (one connection, 64 B round trip, p50/p99 µs), channel throughput (one producer,
//! one consumer, bounded(1024) and unbounded, million messages/s).
//! Columns: rpal current-thread, rpal thread-per-core (2 workers), tokio current-thread, tokio
//! multi-thread (2 workers). Each figure is the median of `RUNS` runs.
//!
//! Then the echo load table (`rt_micro/load.rs`): 64 and 256 connections from a load generator
//! thread on one CPU against one-core echo servers on the other: rpal (both drivers,
//! current-thread and thread-per-core with one worker; on io_uring also the readiness socket
//! mode and the owned-buffer operations `rpal_rt::io::uring::{recv, send}`), tokio
//! (current-thread, multi-thread with one worker), monoio and compio (io_uring), and two
//! hand-written loops with no runtime (`rt_micro/floor.rs`: raw epoll, raw io_uring) that show
//! what the kernel path costs with almost no user-space work.
//!
//! `cargo bench --bench rt_micro` runs everything (about two minutes). Words after `--` select
//! and tune:
//! * `quick`: shorter runs;
//! * row names `spawn yield pingpong sleep echo chan load`: only those rows (none = all);
//! * `secs=N`: measuring seconds per load cell (default 1; quick: 0.5);
//! * `conns=64,256`: connection counts of the load table;
//! * `rounds=N`: load cells repeated in interleaved rounds, median taken (default 5; quick: 1);
//! * `gen-sleep`: the load generator sleeps in `epoll_wait` instead of busy-polling (its default);
//! * `server=KEY`: only the load-table servers whose key contains KEY (keys: `rpal-ct-uring`,
//!   `rpal-ct-ready-uring`, `rpal-ct-owned-uring`, `rpal-ct-epoll`, `rpal-tpc-1-uring`,
//!   `rpal-tpc-1-epoll`, `tokio-ct`, `tokio-mt-1`, `monoio-uring`, `compio-uring`,
//!   `floor-raw-epoll`, `floor-raw-uring`), e.g. to profile one server.

#[path = "rt_micro/chan.rs"]
mod chan;
#[path = "rt_micro/floor.rs"]
mod floor;
#[path = "rt_micro/load.rs"]
mod load;
#[path = "rt_micro/servers.rs"]
mod servers;

use std::future::Future;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use hdrhistogram::Histogram;

const RUNS: usize = 5;

/// One runtime under test: runs a future to completion inside a spawned task (so the work runs
/// on a worker, as a server's tasks do).
trait Rt {
    fn run<F, T>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static;
}

struct Rpal(rpal_rt::Runtime);
struct Tokio(tokio::runtime::Runtime);

impl Rt for Rpal {
    fn run<F, T>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.0
            .block_on(async move { rpal_rt::spawn(async move { f().await }).await.unwrap() })
    }
}

impl Rt for Tokio {
    fn run<F, T>(&self, f: impl FnOnce() -> F + Send + 'static) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.0
            .block_on(async move { tokio::spawn(async move { f().await }).await.unwrap() })
    }
}

/// Which runtime's primitives a workload uses.
#[derive(Clone, Copy)]
enum Kind {
    Rpal,
    Tokio,
}

fn spawn<F>(kind: Kind, f: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    match kind {
        Kind::Rpal => drop(rpal_rt::spawn(f)),
        Kind::Tokio => drop(tokio::spawn(f)),
    }
}

async fn yield_now(kind: Kind) {
    match kind {
        Kind::Rpal => rpal_rt::yield_now().await,
        Kind::Tokio => tokio::task::yield_now().await,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// ns per spawn+run of a chain of `n` tasks, each spawning the next.
fn chained_spawn<R: Rt>(rt: &R, kind: Kind, n: usize) -> f64 {
    fn link(kind: Kind, left: usize, done: futures::channel::oneshot::Sender<()>) {
        spawn(kind, async move {
            if left == 0 {
                let _ = done.send(());
            } else {
                link(kind, left - 1, done);
            }
        });
    }
    let runs = (0..RUNS)
        .map(|_| {
            rt.run(move || async move {
                let (tx, rx) = futures::channel::oneshot::channel();
                let start = Instant::now();
                link(kind, n, tx);
                rx.await.unwrap();
                start.elapsed().as_nanos() as f64 / n as f64
            })
        })
        .collect();
    median(runs)
}

/// ns per yield of one task yielding `n` times.
fn yields<R: Rt>(rt: &R, kind: Kind, n: usize) -> f64 {
    let runs = (0..RUNS)
        .map(|_| {
            rt.run(move || async move {
                let start = Instant::now();
                for _ in 0..n {
                    yield_now(kind).await;
                }
                start.elapsed().as_nanos() as f64 / n as f64
            })
        })
        .collect();
    median(runs)
}

/// ns per round trip between two tasks over a pair of bounded channels of capacity 1: each
/// runtime's own mpsc (`rpal_rt::sync::mpsc` / `tokio::sync::mpsc`), so the row compares
/// channel plus scheduler.
fn ping_pong<R: Rt>(rt: &R, kind: Kind, n: usize) -> f64 {
    let runs = (0..RUNS)
        .map(|_| {
            rt.run(move || async move {
                match kind {
                    Kind::Rpal => {
                        use rpal_rt::sync::mpsc::channel;
                        let (to_pong, mut from_ping) = channel::<u32>(PING_PONG_CAPACITY);
                        let (to_ping, mut from_pong) = channel::<u32>(PING_PONG_CAPACITY);
                        spawn(kind, async move {
                            while let Some(v) = from_ping.recv().await {
                                if to_ping.send(v).await.is_err() {
                                    break;
                                }
                            }
                        });
                        let start = Instant::now();
                        for i in 0..n as u32 {
                            to_pong.send(i).await.unwrap();
                            from_pong.recv().await.unwrap();
                        }
                        start.elapsed().as_nanos() as f64 / n as f64
                    }
                    Kind::Tokio => {
                        use tokio::sync::mpsc::channel;
                        let (to_pong, mut from_ping) = channel::<u32>(PING_PONG_CAPACITY);
                        let (to_ping, mut from_pong) = channel::<u32>(PING_PONG_CAPACITY);
                        spawn(kind, async move {
                            while let Some(v) = from_ping.recv().await {
                                if to_ping.send(v).await.is_err() {
                                    break;
                                }
                            }
                        });
                        let start = Instant::now();
                        for i in 0..n as u32 {
                            to_pong.send(i).await.unwrap();
                            from_pong.recv().await.unwrap();
                        }
                        start.elapsed().as_nanos() as f64 / n as f64
                    }
                }
            })
        })
        .collect();
    median(runs)
}

/// Capacity of both ping-pong channels (the same for both runtimes).
const PING_PONG_CAPACITY: usize = 1;

/// p50/p99 µs of how late an idle worker wakes from `sleep(500 µs)`.
fn timer_lateness<R: Rt>(rt: &R, kind: Kind, n: usize) -> (f64, f64) {
    rt.run(move || async move {
        let mut h = Histogram::<u64>::new(3).unwrap();
        let d = Duration::from_micros(500);
        for _ in 0..n {
            let t = Instant::now();
            match kind {
                Kind::Rpal => rpal_rt::time::sleep(d).await,
                Kind::Tokio => tokio::time::sleep(d).await,
            }
            let late = t.elapsed().saturating_sub(d);
            h.record(late.as_nanos() as u64).unwrap();
        }
        (
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
        )
    })
}

/// p50/p99 µs of a 64-byte TCP echo round trip over loopback.
fn tcp_echo_rpal(rt: &Rpal, n: usize) -> (f64, f64) {
    rt.run(move || async move {
        let listener = rpal_net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        rpal_rt::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = [0u8; 64];
            while s.read_exact(&mut buf).await.is_ok() {
                if s.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });
        let mut c = rpal_net::TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        let mut h = Histogram::<u64>::new(3).unwrap();
        let mut buf = [7u8; 64];
        for i in 0..n + n / 10 {
            let t = Instant::now();
            c.write_all(&buf).await.unwrap();
            c.read_exact(&mut buf).await.unwrap();
            if i >= n / 10 {
                h.record(t.elapsed().as_nanos() as u64).unwrap();
            }
        }
        (
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
        )
    })
}

fn tcp_echo_tokio(rt: &Tokio, n: usize) -> (f64, f64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    rt.run(move || async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = [0u8; 64];
            while s.read_exact(&mut buf).await.is_ok() {
                if s.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.set_nodelay(true).unwrap();
        let mut h = Histogram::<u64>::new(3).unwrap();
        let mut buf = [7u8; 64];
        for i in 0..n + n / 10 {
            let t = Instant::now();
            c.write_all(&buf).await.unwrap();
            c.read_exact(&mut buf).await.unwrap();
            if i >= n / 10 {
                h.record(t.elapsed().as_nanos() as u64).unwrap();
            }
        }
        (
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
        )
    })
}

/// Command-line options (plain words after `--`, as `cargo bench` passes them).
struct Args {
    quick: bool,
    /// The load generator busy-polls (`epoll_wait` with timeout 0; default) instead of sleeping
    /// in `epoll_wait` (word `gen-sleep`).
    spin: bool,
    rows: Vec<String>,
    secs: f64,
    conns: Vec<usize>,
    rounds: usize,
    /// Only the load-table servers whose key (`Server::key`) contains one of these.
    servers: Vec<String>,
}

/// Row names a word may select.
const ROWS: [&str; 7] = [
    "spawn", "yield", "pingpong", "sleep", "echo", "chan", "load",
];

impl Args {
    fn parse() -> Args {
        let mut a = Args {
            quick: false,
            spin: true,
            rows: Vec::new(),
            secs: 1.0,
            conns: vec![64, 256],
            rounds: 5,
            servers: Vec::new(),
        };
        for w in std::env::args().skip(1) {
            if w == "quick" {
                a.quick = true;
            } else if w == "gen-sleep" {
                a.spin = false;
            } else if ROWS.contains(&w.as_str()) {
                a.rows.push(w);
            } else if let Some(v) = w.strip_prefix("secs=") {
                a.secs = v.parse().expect("secs=<seconds>");
            } else if let Some(v) = w.strip_prefix("rounds=") {
                a.rounds = v.parse::<usize>().expect("rounds=<n>").max(1);
            } else if let Some(v) = w.strip_prefix("server=") {
                a.servers.push(v.to_owned());
            } else if let Some(v) = w.strip_prefix("conns=") {
                a.conns = v
                    .split(',')
                    .map(|c| c.parse().expect("conns=<n>,<n>,..."))
                    .collect();
            } else if !w.starts_with("--") {
                panic!(
                    "unknown argument {w:?}; rows: {ROWS:?}, options: quick secs= conns= rounds="
                );
            }
        }
        let given = |key: &str| std::env::args().any(|w| w.starts_with(key));
        if a.quick && !given("secs=") {
            a.secs = 0.5;
        }
        if a.quick && !given("rounds=") {
            a.rounds = 1;
        }
        a
    }

    fn wants(&self, row: &str) -> bool {
        self.rows.is_empty() || self.rows.iter().any(|r| r == row)
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let args = Args::parse();
    let quick = args.quick;
    let scale = if quick { 10 } else { 1 };
    let (spawns, yields_n, pings, echoes, msgs) = (
        200_000 / scale,
        1_000_000 / scale,
        100_000 / scale,
        20_000 / scale,
        1_000_000 / scale,
    );

    println!(
        "rt_micro: rpal driver {:?} (rows table; the load table runs both); {} CPUs; load average {}; median of {RUNS} runs{}",
        rpal_rt::runtime::DriverKind::detect().expect("driver"),
        load::cpus(),
        loadavg(),
        if quick { " (quick)" } else { "" }
    );

    let micro = ROWS[..6].iter().any(|r| args.wants(r));
    if micro {
        micro_rows(&args, spawns, yields_n, pings, echoes, msgs);
    }
    if args.wants("load") {
        load::table(&args);
    }
}

/// A row of the micro table: name, the four columns, whether a higher figure is better.
type Row = (String, [f64; 4], bool);

fn micro_rows(
    args: &Args,
    spawns: usize,
    yields_n: usize,
    pings: usize,
    echoes: usize,
    msgs: usize,
) {
    let quick = args.quick;
    let rpal_ct = Rpal(rpal_rt::Runtime::new_current_thread().unwrap());
    let rpal_tpc = Rpal(
        rpal_rt::runtime::Builder::new_thread_per_core()
            .worker_threads(2)
            .build()
            .unwrap(),
    );
    let tokio_ct = Tokio(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    );
    let tokio_mt = Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
    );

    let mut rows: Vec<Row> = Vec::new();
    if args.wants("spawn") {
        rows.push((
            "chained spawn (ns/spawn)".into(),
            [
                chained_spawn(&rpal_ct, Kind::Rpal, spawns),
                chained_spawn(&rpal_tpc, Kind::Rpal, spawns),
                chained_spawn(&tokio_ct, Kind::Tokio, spawns),
                chained_spawn(&tokio_mt, Kind::Tokio, spawns),
            ],
            false,
        ));
    }
    if args.wants("yield") {
        rows.push((
            "yield (ns/yield)".into(),
            [
                yields(&rpal_ct, Kind::Rpal, yields_n),
                yields(&rpal_tpc, Kind::Rpal, yields_n),
                yields(&tokio_ct, Kind::Tokio, yields_n),
                yields(&tokio_mt, Kind::Tokio, yields_n),
            ],
            false,
        ));
    }
    if args.wants("pingpong") {
        rows.push((
            "ping-pong mpsc(1) (ns/rt)".into(),
            [
                ping_pong(&rpal_ct, Kind::Rpal, pings),
                ping_pong(&rpal_tpc, Kind::Rpal, pings),
                ping_pong(&tokio_ct, Kind::Tokio, pings),
                ping_pong(&tokio_mt, Kind::Tokio, pings),
            ],
            false,
        ));
    }
    if args.wants("sleep") {
        let sleeps = if quick { 200 } else { 1000 };
        let t = [
            timer_lateness(&rpal_ct, Kind::Rpal, sleeps),
            timer_lateness(&rpal_tpc, Kind::Rpal, sleeps),
            timer_lateness(&tokio_ct, Kind::Tokio, sleeps),
            timer_lateness(&tokio_mt, Kind::Tokio, sleeps),
        ];
        rows.push(("sleep(500us) late p50 (us)".into(), t.map(|x| x.0), false));
        rows.push(("sleep(500us) late p99 (us)".into(), t.map(|x| x.1), false));
    }
    if args.wants("echo") {
        let e = [
            tcp_echo_rpal(&rpal_ct, echoes),
            tcp_echo_rpal(&rpal_tpc, echoes),
            tcp_echo_tokio(&tokio_ct, echoes),
            tcp_echo_tokio(&tokio_mt, echoes),
        ];
        rows.push(("TCP echo 64 B p50 (us)".into(), e.map(|x| x.0), false));
        rows.push(("TCP echo 64 B p99 (us)".into(), e.map(|x| x.1), false));
    }
    if args.wants("chan") {
        rows.push((
            format!("mpsc({}) 1:1 (M msg/s)", chan::CHAN_CAPACITY),
            [
                chan::bounded(&rpal_ct, Kind::Rpal, msgs),
                chan::bounded(&rpal_tpc, Kind::Rpal, msgs),
                chan::bounded(&tokio_ct, Kind::Tokio, msgs),
                chan::bounded(&tokio_mt, Kind::Tokio, msgs),
            ],
            true,
        ));
        rows.push((
            "unbounded 1:1 (M msg/s)".into(),
            [
                chan::unbounded(&rpal_ct, Kind::Rpal, msgs),
                chan::unbounded(&rpal_tpc, Kind::Rpal, msgs),
                chan::unbounded(&tokio_ct, Kind::Tokio, msgs),
                chan::unbounded(&tokio_mt, Kind::Tokio, msgs),
            ],
            true,
        ));
    }

    println!();
    println!(
        "| {:<26} | {:>12} | {:>12} | {:>12} | {:>12} | {:>9} | {:>9} |",
        "benchmark", "rpal ct", "rpal tpc(2)", "tokio ct", "tokio mt(2)", "ct ratio", "mt ratio"
    );
    println!(
        "|{:-<28}|{:->14}|{:->14}|{:->14}|{:->14}|{:->11}|{:->11}|",
        "", "", "", "", "", "", ""
    );
    for (name, v, higher_better) in &rows {
        let (ct, mt) = if *higher_better {
            (v[0] / v[2], v[1] / v[3])
        } else {
            (v[2] / v[0], v[3] / v[1])
        };
        println!(
            "| {:<26} | {:>12.1} | {:>12.1} | {:>12.1} | {:>12.1} | {:>8.2}x | {:>8.2}x |",
            name, v[0], v[1], v[2], v[3], ct, mt
        );
    }
    println!();
    println!(
        "ratio = how many times faster rpal is than tokio in the same flavour (above 1.00x: rpal \
         is faster): tokio / rpal for times, rpal / tokio for rates (M msg/s)."
    );
}
