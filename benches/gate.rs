//! Call-gate round trip beside its baselines, in TSC cycles, in one run.
//!
//! Rows (a 32-byte request and a 32-byte response wherever there is a request):
//!
//! | row | what one sample is |
//! |---|---|
//! | plain function call | `black_box`ed non-inlined fn copying 32 B, batches of [`BATCH`] / `BATCH` |
//! | corosensei resume+suspend | one resume that the coroutine answers with one suspend, batched |
//! | gate, no pkey | `Service::call_into` into a domain built with `use_pkey(false)`, batched |
//! | gate, pkey | the same with a protection key (skipped, and said so, where the host has no `pku`) |
//! | gate ..., timed singly | the same two rows with one call per sample (real p99; includes rdtsc) |
//! | gate via ServiceClient | `rpal_net::service::ServiceClient::call` (async API, in-process) per call |
//! | tokio task ping-pong | current-thread tokio, two tasks, two mpsc(1) channels, one round trip per sample |
//! | RpalStream, other process | write 32 B + read_exact 32 B to a server process (this binary re-executed), per call |
//! | same, server busy-polls | the server spins on `try_read` instead of awaiting |
//! | ServiceClient, other process | the gate-via-ServiceClient row's client code against `serve_connection` in a server process (framed, + the server's gate call) |
//!
//! Rows that take well under the ~20-40 cycle cost of `rdtsc` itself are timed in batches of
//! [`BATCH`] calls and each sample is the batch divided by `BATCH` (so p99 hides single-call
//! outliers there); the others time each round trip on its own. No CPU pinning; the machine is
//! shared, so read the p50 first.
//!
//! `cargo bench --bench gate` (add `-- quick` for fewer samples; add row keys such as
//! `-- gate client` to run only those rows: plain, coroutine, gate, gate-1, gate-pkey,
//! gate-pkey-1, client, tokio, stream, stream-poll, client-remote).

use std::hint::black_box;
use std::io;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use hdrhistogram::Histogram;
use rpal_net::service::ServiceClient;
use rpal_net::unix::UnixAddr;
use rpal_net::{RpalListener, RpalStream};
use rpal_rt::gate::__corosensei::{Coroutine, CoroutineResult, Yielder};
use rpal_rt::gate::pkey::availability;
use rpal_rt::gate::{Domain, DomainConfig, ResponseBuf};

/// Calls per timed batch for the rows that are too short to time one by one.
const BATCH: u64 = 64;
/// Request and response size, as in RPAL's benchmark.
const MSG: usize = 32;
/// Hidden first argument that turns this binary into the RpalStream server.
const SERVER_ARG: &str = "--gate-bench-server";

fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no memory effects and exists on every x86_64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // Not x86: nanoseconds stand in for cycles (the header says so).
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 40, 3).expect("valid histogram bounds")
}

struct Row {
    name: &'static str,
    hist: Option<Histogram<u64>>,
    note: String,
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<36} {:>9} {:>9} {:>10}  note",
        "TSC cycles per round trip", "p50", "p99", "mean"
    );
    for r in rows {
        match &r.hist {
            Some(h) => println!(
                "{:<36} {:>9} {:>9} {:>10.1}  {}",
                r.name,
                h.value_at_quantile(0.50),
                h.value_at_quantile(0.99),
                h.mean(),
                r.note
            ),
            None => println!(
                "{:<36} {:>9} {:>9} {:>10}  {}",
                r.name, "-", "-", "-", r.note
            ),
        }
    }
}

/// Times `samples` batches of `BATCH` calls of `f`, after `samples / 10` warm-up batches.
fn batched(samples: u64, f: impl FnMut()) -> Histogram<u64> {
    batched_by(samples, BATCH, f)
}

/// Times `samples` batches of `batch` calls of `f` (1: each call on its own, rdtsc included).
fn batched_by(samples: u64, batch: u64, mut f: impl FnMut()) -> Histogram<u64> {
    let mut h = histogram();
    for i in 0..samples + samples / 10 {
        let t0 = rdtsc();
        for _ in 0..batch {
            f();
        }
        let per = (rdtsc() - t0) / batch;
        if i >= samples / 10 {
            h.record(per.max(1)).expect("value within bounds");
        }
    }
    h
}

/// The service of every gate row: each request byte + 1 (at most [`MSG`] bytes).
fn inc_handler(req: &[u8], resp: &mut ResponseBuf<'_>) {
    let mut out = [0u8; MSG];
    for (o, i) in out.iter_mut().zip(req) {
        *o = i.wrapping_add(1);
    }
    let _ = resp.write(&out[..req.len().min(MSG)]);
}

#[inline(never)]
fn plain_call(req: &[u8; MSG], out: &mut [u8; MSG]) {
    for (o, i) in out.iter_mut().zip(req) {
        *o = i.wrapping_add(1);
    }
}

fn bench_plain(samples: u64) -> Row {
    let req = [7u8; MSG];
    let mut out = [0u8; MSG];
    let h = batched(samples, || {
        plain_call(black_box(&req), black_box(&mut out));
    });
    Row {
        name: "plain function call",
        hist: Some(h),
        note: format!("batches of {BATCH}"),
    }
}

fn bench_coroutine(samples: u64) -> Row {
    let mut co: Coroutine<u64, u64, ()> =
        Coroutine::new(|y: &Yielder<u64, u64>, mut x: u64| loop {
            x = y.suspend(x.wrapping_add(1));
        });
    let mut x = 0u64;
    let h = batched(samples, || {
        if let CoroutineResult::Yield(v) = co.resume(black_box(x)) {
            x = v;
        }
    });
    Row {
        name: "corosensei resume+suspend",
        hist: Some(h),
        note: format!("batches of {BATCH}"),
    }
}

fn bench_gate(samples: u64, pkey: bool, batch: u64) -> Row {
    let name = match (pkey, batch) {
        (true, 1) => "gate call, pkey, timed singly",
        (true, _) => "gate call, pkey",
        (false, 1) => "gate call, no pkey, timed singly",
        (false, _) => "gate call, no pkey",
    };
    if pkey && !availability().is_available() {
        return Row {
            name,
            hist: None,
            note: "no pku on this host: row skipped".to_owned(),
        };
    }
    let config = DomainConfig::new().use_pkey(pkey).require_pkey(pkey);
    let domain = match Domain::new(config) {
        Ok(d) => d,
        Err(e) => {
            return Row {
                name,
                hist: None,
                note: format!("domain: {e}: row skipped"),
            }
        }
    };
    let svc = domain.register("inc", inc_handler);
    let req = [7u8; MSG];
    let mut out = Vec::with_capacity(MSG);
    let h = batched_by(samples, batch, || {
        svc.call_into(black_box(&req), &mut out).expect("gate call");
    });
    assert_eq!(out, [8u8; MSG]);
    Row {
        name,
        hist: Some(h),
        note: format!(
            "{}; key {}",
            if batch == 1 {
                "one call per sample, rdtsc cost included".to_owned()
            } else {
                format!("batches of {batch}")
            },
            domain
                .protection_key()
                .map_or("none".to_owned(), |k| k.index().to_string())
        ),
    }
}

fn bench_service_client(samples: u64) -> Row {
    let rt = rpal_rt::Runtime::new_current_thread().expect("runtime");
    let h = rt.block_on(async move {
        let domain = Domain::new(DomainConfig::new()).expect("domain");
        let svc = domain.register("inc", inc_handler);
        let mut client = ServiceClient::in_process(&svc);
        let req = [7u8; MSG];
        let mut out = Vec::new();
        let mut h = histogram();
        for i in 0..samples + samples / 10 {
            let t0 = rdtsc();
            client
                .call_into(black_box(&req), &mut out)
                .await
                .expect("call");
            let dt = rdtsc() - t0;
            if i >= samples / 10 {
                h.record(dt.max(1)).expect("value within bounds");
            }
        }
        assert_eq!(out, [8u8; MSG]);
        h
    });
    Row {
        name: "gate via ServiceClient::call",
        hist: Some(h),
        note: format!(
            "per call, async API, key {}",
            if availability().is_available() {
                "yes"
            } else {
                "none"
            }
        ),
    }
}

fn bench_tokio(samples: u64) -> Row {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
    let h = rt.block_on(async move {
        let (to_tx, mut to_rx) = tokio::sync::mpsc::channel::<[u8; MSG]>(1);
        let (back_tx, mut back_rx) = tokio::sync::mpsc::channel::<[u8; MSG]>(1);
        let echo = tokio::spawn(async move {
            while let Some(mut m) = to_rx.recv().await {
                m[0] = m[0].wrapping_add(1);
                if back_tx.send(m).await.is_err() {
                    break;
                }
            }
        });
        let mut h = histogram();
        for i in 0..samples + samples / 10 {
            let t0 = rdtsc();
            to_tx.send([7u8; MSG]).await.expect("echo task alive");
            let m = back_rx.recv().await.expect("echo task alive");
            let dt = rdtsc() - t0;
            black_box(m);
            if i >= samples / 10 {
                h.record(dt.max(1)).expect("value within bounds");
            }
        }
        drop(to_tx);
        let _ = echo.await;
        h
    });
    Row {
        name: "tokio task ping-pong",
        hist: Some(h),
        note: "per round trip, current-thread, mpsc(1) each way".to_owned(),
    }
}

/// The server side of the RpalStream rows: answers each 32-byte request with its bytes + 1.
fn run_server(name: &str, mode: &str) -> io::Result<()> {
    let busy_poll = mode == "poll";
    let rt = rpal_rt::Runtime::new_current_thread()?;
    rt.block_on(async move {
        let listener = RpalListener::bind(UnixAddr::Abstract(name.as_bytes()))?;
        // Ready: the client may connect now.
        println!("ready");
        let (mut s, _) = listener.accept().await?;
        if mode == "service" {
            // The handler of the in-process rows, behind the gate of this process.
            let domain = Domain::new(DomainConfig::new())?;
            let svc = domain.register("inc", inc_handler);
            return rpal_net::service::serve_connection(s, &svc).await;
        }
        let mut buf = [0u8; MSG];
        loop {
            if busy_poll {
                let mut got = 0;
                while got < MSG {
                    match s.try_read(&mut buf[got..]) {
                        Ok(0) => return Ok(()),
                        Ok(n) => got += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                        Err(e) => return Err(e),
                    }
                }
            } else if let Err(e) = s.read_exact(&mut buf).await {
                return match e.kind() {
                    io::ErrorKind::UnexpectedEof => Ok(()),
                    _ => Err(e),
                };
            }
            for b in &mut buf {
                *b = b.wrapping_add(1);
            }
            s.write_all(&buf).await?;
        }
    })
}

fn bench_rpal_stream(samples: u64, mode: &'static str) -> Row {
    let name = match mode {
        "poll" => "RpalStream, other proc, srv polls",
        "service" => "ServiceClient, other process",
        _ => "RpalStream, other process",
    };
    match rpal_stream_rows(samples, mode) {
        Ok((h, shm, doorbells)) => Row {
            name,
            hist: Some(h),
            note: format!(
                "per call, {}, RpalConfig::default(){}",
                if shm {
                    "shared memory"
                } else {
                    "FALLBACK socket"
                },
                doorbells.map_or(String::new(), |n| format!(", {n} client doorbells"))
            ),
        },
        Err(e) => Row {
            name,
            hist: None,
            note: format!("failed: {e}"),
        },
    }
}

fn rpal_stream_rows(samples: u64, mode: &str) -> io::Result<(Histogram<u64>, bool, Option<u64>)> {
    let name = format!("rpal-gate-bench-{}-{mode}", std::process::id());
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg(SERVER_ARG)
        .arg(&name)
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    // Wait for "ready" so the first connect does not race the bind.
    let mut ready = String::new();
    if let Some(out) = child.stdout.as_mut() {
        use std::io::Read;
        let mut b = [0u8; 6];
        let _ = out.read_exact(&mut b);
        ready = String::from_utf8_lossy(&b).into_owned();
    }
    if ready != "ready\n" {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other(format!("server said {ready:?}")));
    }
    let rt = rpal_rt::Runtime::new_current_thread()?;
    let result = rt.block_on(async {
        let mut s = RpalStream::connect(UnixAddr::Abstract(name.as_bytes())).await?;
        let shm = s.is_shared_memory();
        if mode == "service" {
            return service_client_rows(s, samples)
                .await
                .map(|(h, bells)| (h, shm, bells));
        }
        let mut h = histogram();
        let req = [7u8; MSG];
        let mut resp = [0u8; MSG];
        for i in 0..samples + samples / 10 {
            let t0 = rdtsc();
            s.write_all(&req).await?;
            s.read_exact(&mut resp).await?;
            let dt = rdtsc() - t0;
            if resp != [8u8; MSG] {
                return Err(io::Error::other("wrong response"));
            }
            if i >= samples / 10 {
                h.record(dt.max(1)).expect("value within bounds");
            }
        }
        let doorbells = s.stats().doorbells_sent;
        s.close().await?;
        Ok((h, shm, Some(doorbells)))
    });
    let _ = child.wait();
    result
}

/// The remote placement of [`bench_service_client`]: the same client API over `s`.
async fn service_client_rows(
    s: RpalStream,
    samples: u64,
) -> io::Result<(Histogram<u64>, Option<u64>)> {
    let mut client = ServiceClient::remote(s);
    let req = [7u8; MSG];
    let mut out = Vec::new();
    let mut h = histogram();
    for i in 0..samples + samples / 10 {
        let t0 = rdtsc();
        client.call_into(&req, &mut out).await?;
        let dt = rdtsc() - t0;
        if out != [8u8; MSG] {
            return Err(io::Error::other("wrong response"));
        }
        if i >= samples / 10 {
            h.record(dt.max(1)).expect("value within bounds");
        }
    }
    Ok((h, client.stream_stats().map(|st| st.doorbells_sent)))
}

/// Runs one row.
type RowFn = Box<dyn Fn() -> Row>;

fn tsc_ghz() -> f64 {
    let (t0, c0) = (Instant::now(), rdtsc());
    std::thread::sleep(Duration::from_millis(100));
    (rdtsc() - c0) as f64 / t0.elapsed().as_nanos() as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(SERVER_ARG) {
        let name = args.get(2).map_or("", String::as_str);
        let mode = args.get(3).map_or("await", String::as_str);
        if let Err(e) = run_server(name, mode) {
            eprintln!("gate bench server: {e}");
            std::process::exit(1);
        }
        return;
    }
    let quick = args.iter().any(|a| a == "quick");
    let fast = if quick { 20_000 } else { 200_000 };
    let slow = if quick { 10_000 } else { 100_000 };
    println!(
        "benches/gate: 32-byte request/response, TSC at ~{:.2} GHz, pkeys: {}",
        tsc_ghz(),
        availability()
    );
    // Other arguments (cargo passes `--bench`) select rows by a word of their key.
    let filters: Vec<&str> = args[1..]
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "quick" && !a.starts_with('-'))
        .collect();
    let rows: Vec<(&str, RowFn)> = vec![
        ("plain", Box::new(move || bench_plain(fast))),
        ("coroutine", Box::new(move || bench_coroutine(fast))),
        ("gate", Box::new(move || bench_gate(fast, false, BATCH))),
        ("gate-1", Box::new(move || bench_gate(fast, false, 1))),
        ("gate-pkey", Box::new(move || bench_gate(fast, true, BATCH))),
        ("gate-pkey-1", Box::new(move || bench_gate(fast, true, 1))),
        ("client", Box::new(move || bench_service_client(fast))),
        ("tokio", Box::new(move || bench_tokio(slow))),
        ("stream", Box::new(move || bench_rpal_stream(slow, "await"))),
        (
            "stream-poll",
            Box::new(move || bench_rpal_stream(slow, "poll")),
        ),
        (
            "client-remote",
            Box::new(move || bench_rpal_stream(slow, "service")),
        ),
    ];
    let rows: Vec<Row> = rows
        .into_iter()
        .filter(|(key, _)| filters.is_empty() || filters.contains(key))
        .map(|(_, run)| run())
        .collect();
    print_rows(&rows);
}
