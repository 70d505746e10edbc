//! Socket I/O on io_uring: completion operations (`RECV`/`SEND` on the ring) against readiness
//! (multishot poll + non-blocking syscalls), with epoll as the reference, in one run.
//!
//! Two loads over loopback TCP, client and server on two current-thread runtimes in two threads
//! of this process:
//! * **echo**: 64-byte messages, closed loop (the client waits for each echo), `TCP_NODELAY`;
//!   round-trip p50/p99/p99.9 and the mean, in µs.
//! * **stream**: `--stream-mib` MiB (1 GiB by default) written in 64 KiB writes and read with a
//!   64 KiB buffer; throughput in GiB/s.
//!
//! Modes (`SocketIo` is `rpal_rt::io::uring::SocketIo`, set with `Builder::uring_socket_io`):
//! * `epoll`: the epoll driver (readiness), the reference;
//! * `uring-readiness`: io_uring driver, `SocketIo::Readiness` (multishot poll + syscalls);
//! * `uring-ring`: io_uring driver, `SocketIo::Ring` (`RECV` operations, `send(2)` first and a
//!   `SEND` operation only on a full socket buffer, `ACCEPT` operations);
//! * `uring-ring-plain`: io_uring driver, `SocketIo::RingPlain` (every read and write an
//!   operation: plain `RECV`/`SEND`);
//! * `uring-multishot`: io_uring driver, `SocketIo::RingMultishot` (one multishot `RECV` per
//!   socket into the worker's provided buffers; writes as in `uring-ring`);
//! * `uring-adaptive`: io_uring driver, `SocketIo::Adaptive` (`uring-ring` with few operations
//!   in flight on the worker's ring, `uring-ring-plain` with many).
//!
//! Every mode runs `--rounds` times, interleaved, so a noisy machine shows as spread between
//! rounds rather than as a bias; the summary gives each mode's median over the rounds.
//!
//! `cargo bench --bench uring_ops [-- [quick] [--messages N] [--stream-mib N] [--rounds N]
//! [--same-cpu N]]` prints a table, one `RESULT mode=... ...` line per run and one `MEDIAN` line
//! per mode.
//!
//! `--same-cpu N` pins client and server to CPU `N`: every wake-up is then a context switch on
//! one CPU, and the figures compare the runtime's own paths. Unpinned, the scheduler decides
//! whether the two threads share a CPU; on VMs where a cross-CPU wake-up costs tens of µs this
//! dominates the echo figures (all modes move together by ~100 µs).

use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use hdrhistogram::Histogram;
use rpal_net::{TcpListener, TcpStream};
use rpal_rt::io::uring::SocketIo;
use rpal_rt::runtime::{Builder, DriverKind};
use rpal_rt::Runtime;

/// Recorded echo round trips by default.
const DEFAULT_MESSAGES: u64 = 50_000;
/// Echo round trips before recording starts.
const WARMUP: u64 = 2_000;
/// Echo message size.
const MSG: usize = 64;
/// Bytes streamed by default (MiB).
const DEFAULT_STREAM_MIB: usize = 1024;
/// Size of each streaming write and of the reader's buffer.
const CHUNK: usize = 64 * 1024;
/// Rounds over all modes by default.
const DEFAULT_ROUNDS: usize = 2;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Epoll,
    UringReadiness,
    UringRing,
    UringRingPlain,
    UringMultishot,
    UringAdaptive,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Epoll => "epoll",
            Mode::UringReadiness => "uring-readiness",
            Mode::UringRing => "uring-ring",
            Mode::UringRingPlain => "uring-ring-plain",
            Mode::UringMultishot => "uring-multishot",
            Mode::UringAdaptive => "uring-adaptive",
        }
    }

    fn runtime(self) -> Runtime {
        let b = Builder::new_current_thread();
        let b = match self {
            Mode::Epoll => b.driver(DriverKind::Epoll),
            Mode::UringReadiness => b
                .driver(DriverKind::Uring)
                .uring_socket_io(SocketIo::Readiness),
            Mode::UringRing => b.driver(DriverKind::Uring).uring_socket_io(SocketIo::Ring),
            Mode::UringRingPlain => b
                .driver(DriverKind::Uring)
                .uring_socket_io(SocketIo::RingPlain),
            Mode::UringMultishot => b
                .driver(DriverKind::Uring)
                .uring_socket_io(SocketIo::RingMultishot),
            Mode::UringAdaptive => b
                .driver(DriverKind::Uring)
                .uring_socket_io(SocketIo::Adaptive),
        };
        match b.build() {
            Ok(rt) => rt,
            Err(e) => panic!("cannot build the {} runtime: {e}", self.name()),
        }
    }
}

struct Options {
    messages: u64,
    stream_mib: usize,
    rounds: usize,
    /// Pin client and server to this CPU.
    same_cpu: Option<usize>,
}

/// Pins the calling thread to `cpu` (best effort: a failure leaves it unpinned).
fn pin(cpu: Option<usize>) {
    let Some(cpu) = cpu else { return };
    // SAFETY: cpu_set_t is plain data; CPU_SET writes inside it for cpu < CPU_SETSIZE, and
    // sched_setaffinity(0, ..) affects only the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu < libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}

fn parse() -> Options {
    let mut o = Options {
        messages: DEFAULT_MESSAGES,
        stream_mib: DEFAULT_STREAM_MIB,
        rounds: DEFAULT_ROUNDS,
        same_cpu: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match a.as_str() {
            "quick" => {
                o.messages = 5_000;
                o.stream_mib = 128;
                o.rounds = 1;
            }
            "--messages" => o.messages = num("--messages") as u64,
            "--stream-mib" => o.stream_mib = num("--stream-mib"),
            "--rounds" => o.rounds = num("--rounds"),
            "--same-cpu" => o.same_cpu = Some(num("--same-cpu")),
            "--bench" => {}
            other => panic!(
                "unknown argument {other:?}; usage: uring_ops [quick] [--messages N] \
                 [--stream-mib N] [--rounds N] [--same-cpu N]"
            ),
        }
    }
    o
}

/// Runs `server` on a runtime of `mode` in a new thread, returns its join handle and address.
fn spawn_server<F, Fut>(
    mode: Mode,
    cpu: Option<usize>,
    server: F,
) -> (std::thread::JoinHandle<()>, std::net::SocketAddr)
where
    F: FnOnce(TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        pin(cpu);
        let rt = mode.runtime();
        rt.block_on(async move {
            let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            tx.send(l.local_addr().expect("addr")).expect("send addr");
            server(l).await;
        });
    });
    let addr = rx.recv().expect("server address");
    (t, addr)
}

struct Echo {
    hist: Histogram<u64>,
    mean_us: f64,
}

fn echo(mode: Mode, messages: u64, cpu: Option<usize>) -> Echo {
    let (server, addr) = spawn_server(mode, cpu, |l| async move {
        let (mut s, _) = l.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        let mut buf = [0u8; MSG];
        while s.read_exact(&mut buf).await.is_ok() {
            if s.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let rt = mode.runtime();
    let out = rt.block_on(async move {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.set_nodelay(true).expect("nodelay");
        let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("histogram");
        let msg = [7u8; MSG];
        let mut back = [0u8; MSG];
        let mut total = Duration::ZERO;
        for i in 0..WARMUP + messages {
            let t0 = Instant::now();
            c.write_all(&msg).await.expect("write");
            c.read_exact(&mut back).await.expect("read");
            let dt = t0.elapsed();
            if i >= WARMUP {
                hist.record(dt.as_nanos() as u64).expect("record");
                total += dt;
            }
        }
        Echo {
            hist,
            mean_us: total.as_secs_f64() * 1e6 / messages as f64,
        }
    });
    drop(rt);
    server.join().expect("server thread");
    out
}

fn stream(mode: Mode, mib: usize, cpu: Option<usize>) -> f64 {
    let bytes = mib * 1024 * 1024;
    let (server, addr) = spawn_server(mode, cpu, move |l| async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; CHUNK];
        let mut got = 0usize;
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        assert_eq!(got, bytes, "the reader got every byte");
    });
    let rt = mode.runtime();
    let secs = rt.block_on(async move {
        let mut c = TcpStream::connect(addr).await.expect("connect");
        let chunk = vec![0x5au8; CHUNK];
        let t0 = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let k = left.min(CHUNK);
            c.write_all(&chunk[..k]).await.expect("write");
            left -= k;
        }
        c.close().await.expect("close");
        drop(c);
        t0
    });
    server.join().expect("server thread");
    // The clock stops when the reader has everything (its thread joined).
    let elapsed = secs.elapsed().as_secs_f64();
    drop(rt);
    bytes as f64 / elapsed / (1u64 << 30) as f64
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn main() {
    let o = parse();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    pin(o.same_cpu); // the client runs on this thread
    let modes = [
        Mode::Epoll,
        Mode::UringReadiness,
        Mode::UringRing,
        Mode::UringRingPlain,
        Mode::UringMultishot,
        Mode::UringAdaptive,
    ];
    // Per mode: (p50, p99, mean, GiB/s) of every round, for the medians.
    let mut runs: Vec<Vec<[f64; 4]>> = vec![Vec::new(); modes.len()];
    println!(
        "CONTEXT cpus={} kernel={} messages={} stream_mib={} rounds={} same_cpu={:?}",
        cpus,
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        o.messages,
        o.stream_mib,
        o.rounds,
        o.same_cpu
    );
    println!(
        "{:<17} {:>5} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "mode", "round", "p50 µs", "p99 µs", "p99.9 µs", "mean µs", "GiB/s"
    );
    for round in 1..=o.rounds {
        for (k, &mode) in modes.iter().enumerate() {
            let e = echo(mode, o.messages, o.same_cpu);
            let g = stream(mode, o.stream_mib, o.same_cpu);
            println!(
                "{:<17} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.2}",
                mode.name(),
                round,
                us(e.hist.value_at_quantile(0.5)),
                us(e.hist.value_at_quantile(0.99)),
                us(e.hist.value_at_quantile(0.999)),
                e.mean_us,
                g
            );
            runs[k].push([
                us(e.hist.value_at_quantile(0.5)),
                us(e.hist.value_at_quantile(0.99)),
                e.mean_us,
                g,
            ]);
            println!(
                "RESULT mode={} round={round} echo_p50_us={:.1} echo_p99_us={:.1} \
                 echo_p999_us={:.1} echo_mean_us={:.2} stream_gib_s={g:.3}",
                mode.name(),
                us(e.hist.value_at_quantile(0.5)),
                us(e.hist.value_at_quantile(0.99)),
                us(e.hist.value_at_quantile(0.999)),
                e.mean_us
            );
        }
    }
    println!("median over {} rounds:", o.rounds);
    println!(
        "{:<17} {:>9} {:>9} {:>9} {:>10}",
        "mode", "p50 µs", "p99 µs", "mean µs", "GiB/s"
    );
    for (k, mode) in modes.iter().enumerate() {
        let med = |i: usize| {
            let mut v: Vec<f64> = runs[k].iter().map(|r| r[i]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "{:<17} {:>9.1} {:>9.1} {:>9.1} {:>10.2}",
            mode.name(),
            med(0),
            med(1),
            med(2),
            med(3)
        );
        println!(
            "MEDIAN mode={} echo_p50_us={:.1} echo_p99_us={:.1} echo_mean_us={:.2} \
             stream_gib_s={:.3}",
            mode.name(),
            med(0),
            med(1),
            med(2),
            med(3)
        );
    }
}
