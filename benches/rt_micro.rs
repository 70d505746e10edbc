//! Runtime micro-benchmarks, rpal-rt beside tokio in one run.
//!
//! Rows: chained spawn (ns per spawn+run), yield (ns per yield), task ping-pong over a channel
//! (ns per round trip), TCP echo over loopback (64 B round trip, p50/p99 µs from hdrhistogram).
//! Columns: rpal current-thread, rpal thread-per-core (2 workers), tokio current-thread, tokio
//! multi-thread (2 workers). Each figure is the median of `RUNS` runs.
//!
//! `cargo bench --bench rt_micro` (add `-- quick` for a shorter run).

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

/// ns per round trip between two tasks over a pair of channels (futures' mpsc, the same for
/// both runtimes, so the row compares the schedulers).
fn ping_pong<R: Rt>(rt: &R, kind: Kind, n: usize) -> f64 {
    use futures::{SinkExt, StreamExt};
    let runs = (0..RUNS)
        .map(|_| {
            rt.run(move || async move {
                let (mut to_pong, mut from_ping) = futures::channel::mpsc::channel::<u32>(1);
                let (mut to_ping, mut from_pong) = futures::channel::mpsc::channel::<u32>(1);
                spawn(kind, async move {
                    while let Some(v) = from_ping.next().await {
                        if to_ping.send(v).await.is_err() {
                            break;
                        }
                    }
                });
                let start = Instant::now();
                for i in 0..n as u32 {
                    to_pong.send(i).await.unwrap();
                    from_pong.next().await.unwrap();
                }
                start.elapsed().as_nanos() as f64 / n as f64
            })
        })
        .collect();
    median(runs)
}

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
        let listener = rpal_net::TcpListener::bind("127.0.0.1:0").unwrap();
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

fn main() {
    let quick = std::env::args().any(|a| a == "quick");
    let scale = if quick { 10 } else { 1 };
    let (spawns, yields_n, pings, echoes) = (
        200_000 / scale,
        1_000_000 / scale,
        100_000 / scale,
        20_000 / scale,
    );

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
    println!(
        "rt_micro: rpal driver {:?}; {} CPUs; median of {RUNS} runs{}",
        rpal_ct.0.driver_kind(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        if quick { " (quick)" } else { "" }
    );

    let mut rows: Vec<(String, [f64; 4], &str)> = Vec::new();
    rows.push((
        "chained spawn (ns/spawn)".into(),
        [
            chained_spawn(&rpal_ct, Kind::Rpal, spawns),
            chained_spawn(&rpal_tpc, Kind::Rpal, spawns),
            chained_spawn(&tokio_ct, Kind::Tokio, spawns),
            chained_spawn(&tokio_mt, Kind::Tokio, spawns),
        ],
        "ns",
    ));
    rows.push((
        "yield (ns/yield)".into(),
        [
            yields(&rpal_ct, Kind::Rpal, yields_n),
            yields(&rpal_tpc, Kind::Rpal, yields_n),
            yields(&tokio_ct, Kind::Tokio, yields_n),
            yields(&tokio_mt, Kind::Tokio, yields_n),
        ],
        "ns",
    ));
    rows.push((
        "ping-pong (ns/round trip)".into(),
        [
            ping_pong(&rpal_ct, Kind::Rpal, pings),
            ping_pong(&rpal_tpc, Kind::Rpal, pings),
            ping_pong(&tokio_ct, Kind::Tokio, pings),
            ping_pong(&tokio_mt, Kind::Tokio, pings),
        ],
        "ns",
    ));
    let sleeps = if quick { 200 } else { 1000 };
    let t = [
        timer_lateness(&rpal_ct, Kind::Rpal, sleeps),
        timer_lateness(&rpal_tpc, Kind::Rpal, sleeps),
        timer_lateness(&tokio_ct, Kind::Tokio, sleeps),
        timer_lateness(&tokio_mt, Kind::Tokio, sleeps),
    ];
    rows.push(("sleep(500us) late p50 (us)".into(), t.map(|x| x.0), "us"));
    rows.push(("sleep(500us) late p99 (us)".into(), t.map(|x| x.1), "us"));
    let e = [
        tcp_echo_rpal(&rpal_ct, echoes),
        tcp_echo_rpal(&rpal_tpc, echoes),
        tcp_echo_tokio(&tokio_ct, echoes),
        tcp_echo_tokio(&tokio_mt, echoes),
    ];
    rows.push(("TCP echo 64 B p50 (us)".into(), e.map(|x| x.0), "us"));
    rows.push(("TCP echo 64 B p99 (us)".into(), e.map(|x| x.1), "us"));

    println!();
    println!(
        "| {:<26} | {:>12} | {:>12} | {:>12} | {:>12} | {:>9} | {:>9} |",
        "benchmark", "rpal ct", "rpal tpc(2)", "tokio ct", "tokio mt(2)", "ct ratio", "mt ratio"
    );
    println!(
        "|{:-<28}|{:->14}|{:->14}|{:->14}|{:->14}|{:->11}|{:->11}|",
        "", "", "", "", "", "", ""
    );
    for (name, v, _) in &rows {
        println!(
            "| {:<26} | {:>12.1} | {:>12.1} | {:>12.1} | {:>12.1} | {:>8.2}x | {:>8.2}x |",
            name,
            v[0],
            v[1],
            v[2],
            v[3],
            v[2] / v[0],
            v[3] / v[1]
        );
    }
    println!();
    println!("ratio = tokio / rpal for the same flavour (above 1.00x: rpal is faster).");
}
