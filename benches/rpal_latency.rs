//! RPAL's latency benchmark, reproduced in one run for five transports.
//!
//! The method of ByteDance's RPAL series: a client sends 32-byte messages carrying its `rdtsc`
//! stamp; the server subtracts on receipt (one-way latency in TSC cycles), then answers over a
//! plain Unix socket, and the client waits for that answer before the next message (closed
//! loop). Client and server are separate processes: this binary re-executes itself with a hidden
//! `--server MODE PATH ...` argument for the server side, which prints its summary on stdout.
//!
//! Modes (all by default, one table):
//! * (a) `unix-epoll`: raw Unix stream socket, server in `epoll_wait` + `read`: RPAL's baseline.
//! * (b) `tokio-unix`: tokio current-thread runtimes, `tokio::net::UnixStream` both sides.
//! * (c) `rpal-spin`: RpalStream, the server busy-polls `try_read` in an rpal task.
//! * (d) `rpal-park`: RpalStream with `spin(false)`: the server parks, the client's write rings
//!   the doorbell.
//! * (e) `ring-floor`: the raw shared-memory ring, server busy-polling, no runtime: the floor.
//!
//! `cargo bench --bench rpal_latency [-- [quick | --messages N] [--modes a,c,e] [--pin]
//! [--warmup N]]`. Besides the table it prints `CONTEXT ...` and `RESULT mode=... ...` lines so
//! a README table can be regenerated from the output.
//!
//! # Reading the figures
//!
//! * Unpinned (RPAL's setting), the server's answer is a sync wake-up of the client, and Linux
//!   then tends to run the client on the server's CPU: the `same CPU` column of the counts
//!   table shows it. On a shared CPU every transport pays a context switch per message (even a
//!   spinning receiver sees a message only once the sender blocks). `--pin` puts the client on
//!   CPU 0 and the server on CPU 1: the spinning modes then show the cross-core hand-off and the
//!   sleeping modes a cross-CPU wake-up.
//! * The mean (RPAL's figure) is at the mercy of preemption on a shared machine: a busy-polling
//!   server that loses its CPU for a time slice adds milliseconds to one message. The counts
//!   table gives each side's involuntary context switches (`getrusage`) so a reader can tell;
//!   p50/p99 are the robust figures.

#[path = "rpal_latency/client.rs"]
mod client;
#[path = "rpal_latency/common.rs"]
mod common;
#[path = "rpal_latency/server.rs"]
mod server;

use client::{Options, Outcome, SERVER_CPU};
use common::{pin, tsc_per_ns, Mode};

/// Recorded messages by default, as in RPAL's benchmark.
const DEFAULT_MESSAGES: u64 = 1_000_000;
/// Recorded messages with `quick`.
const QUICK_MESSAGES: u64 = 100_000;
/// Messages sent before recording starts.
const DEFAULT_WARMUP: u64 = 10_000;
/// The CPU the client is pinned to with `--pin`.
const CLIENT_CPU: usize = 0;
/// RPAL's published mean for Unix socket + epoll, in TSC cycles.
const RPAL_REF_UNIX: f64 = 19_616.0;
/// RPAL's published mean for RPAL itself, in TSC cycles.
const RPAL_REF_RPAL: f64 = 1_703.0;
/// Target: (c) at least this many times faster than (a) in the same run.
const TARGET_SPEEDUP: f64 = 20.0;

const USAGE: &str = "usage: rpal_latency [quick | --messages N] [--warmup N] \
                     [--modes a,b,c,d,e | unix-epoll,tokio-unix,rpal-spin,rpal-park,ring-floor] \
                     [--pin]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--server") {
        server::main(&args[1..]);
    }
    let (opts, modes) = match parse(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("rpal_latency: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    // Before pinning, which shrinks it to one.
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    if opts.pin {
        if let Err(e) = pin(CLIENT_CPU) {
            eprintln!("rpal_latency: --pin: {e}");
            std::process::exit(2);
        }
    }
    let ghz = tsc_per_ns();
    print_context(&opts, ghz, usable);
    let mut rows = Vec::new();
    for &m in &modes {
        eprintln!("running ({}) {} ...", m.letter(), m.name());
        let r = client::run(m, &opts);
        if let Err(e) = &r {
            eprintln!("  ({}) {} failed: {e}", m.letter(), m.name());
        }
        rows.push((m, r));
    }
    report(&rows, &opts, ghz);
}

fn parse(args: &[String]) -> Result<(Options, Vec<Mode>), String> {
    let mut o = Options {
        messages: DEFAULT_MESSAGES,
        warmup: DEFAULT_WARMUP,
        pin: false,
    };
    let mut modes = Mode::ALL.to_vec();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |what: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{what} needs a value"))
        };
        let num = |v: String| {
            v.replace('_', "")
                .parse::<u64>()
                .map_err(|e| format!("{v}: {e}"))
        };
        match a.as_str() {
            "quick" | "--quick" => o.messages = QUICK_MESSAGES,
            "--messages" => o.messages = num(value("--messages")?)?,
            "--warmup" => o.warmup = num(value("--warmup")?)?,
            "--pin" => o.pin = true,
            "--modes" => {
                modes = value("--modes")?
                    .split(',')
                    .map(|s| Mode::parse(s.trim()).ok_or_else(|| format!("unknown mode {s}")))
                    .collect::<Result<_, _>>()?;
            }
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "-h" | "--help" => return Err("help".into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.messages == 0 {
        return Err("--messages must be at least 1".into());
    }
    Ok((o, modes))
}

fn print_context(o: &Options, ghz: f64, online: usize) {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let pinned = if o.pin {
        format!("yes (client CPU {CLIENT_CPU}, server CPU {SERVER_CPU})")
    } else {
        "no".to_string()
    };
    println!("rpal_latency: RPAL's method: 32-byte messages, one-way latency = server rdtsc - client rdtsc,");
    println!("closed loop (server answers on a plain Unix socket), client and server in separate processes.");
    println!(
        "context: {cpus} CPUs online ({online} usable); pinned: {pinned}; TSC {ghz:.3} GHz \
         (rdtsc vs Instant over 50 ms); {} messages per mode after {} warm-up; load {}; kernel {}",
        sep(o.messages),
        sep(o.warmup),
        load.join(" "),
        kernel.trim()
    );
    println!(
        "RPAL reference (its paper, its machine): Unix socket + epoll {} cycles; RPAL {} cycles \
         ({:.1}x)",
        sep(RPAL_REF_UNIX as u64),
        sep(RPAL_REF_RPAL as u64),
        RPAL_REF_UNIX / RPAL_REF_RPAL
    );
    println!(
        "CONTEXT cpus={cpus} usable={online} pinned={} tsc_ghz={ghz:.4} messages={} warmup={} \
         load1={} ref_unix={} ref_rpal={}",
        u8::from(o.pin),
        o.messages,
        o.warmup,
        load.first().unwrap_or(&"?"),
        RPAL_REF_UNIX,
        RPAL_REF_RPAL
    );
}

/// Derived figures of one successful mode.
struct Row<'a> {
    mode: Mode,
    out: &'a Outcome,
    cpu_ns: f64,
    cpu_cycles: f64,
    speedup_mean: Option<f64>,
    speedup_p50: Option<f64>,
    /// Share of messages received on the CPU they were sent from.
    same_cpu_pct: f64,
}

fn report(rows: &[(Mode, Result<Outcome, String>)], o: &Options, ghz: f64) {
    let base = rows.iter().find_map(|(m, r)| match r {
        Ok(out) if *m == Mode::UnixEpoll => Some(out.server),
        _ => None,
    });
    let derived: Vec<Row<'_>> = rows
        .iter()
        .filter_map(|(m, r)| r.as_ref().ok().map(|out| (*m, out)))
        .map(|(mode, out)| {
            let cpu_ns =
                (out.client.cpu.as_nanos() as f64 + out.server.cpu_ns as f64) / o.messages as f64;
            Row {
                mode,
                out,
                cpu_ns,
                cpu_cycles: cpu_ns * ghz,
                speedup_mean: base.map(|b| b.mean / out.server.mean.max(1.0)),
                speedup_p50: base.map(|b| b.p50 as f64 / out.server.p50.max(1) as f64),
                same_cpu_pct: 100.0 * out.server.same_cpu as f64 / out.server.count.max(1) as f64,
            }
        })
        .collect();
    latency_table(&derived, rows);
    counts_table(&derived);
    for r in &derived {
        if r.out.server.negative > 0 {
            println!(
                "note: ({}) {} messages had receive stamp < send stamp (TSC skew), recorded as 0",
                r.mode.letter(),
                sep(r.out.server.negative)
            );
        }
    }
    targets(&derived);
    println!();
    result_lines(&derived, rows, o, ghz);
}

/// The main table: one-way latency, CPU per message, speedup over (a).
fn latency_table(derived: &[Row<'_>], rows: &[(Mode, Result<Outcome, String>)]) {
    println!();
    let line = |c: [&str; 12]| {
        println!(
            "{:<16} {:<6} {:>9} {:>9} {:>9} {:>10} {:>13} {:>9} {:>8} {:>9} {:>8} {:>7}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11]
        )
    };
    line([
        "mode", "recv", "mean", "p50", "p99", "p99.9", "max", "messages", "CPU ns", "CPU cyc",
        "a/mean", "a/p50",
    ]);
    let ratio = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}x"));
    for r in derived {
        let s = &r.out.server;
        line([
            &format!("({}) {}", r.mode.letter(), r.mode.name()),
            r.mode.receiver(),
            &sep(s.mean.round() as u64),
            &sep(s.p50),
            &sep(s.p99),
            &sep(s.p999),
            &sep(s.max),
            &sep(s.count),
            &sep(r.cpu_ns.round() as u64),
            &sep(r.cpu_cycles.round() as u64),
            &ratio(r.speedup_mean),
            &ratio(r.speedup_p50),
        ]);
    }
    for (m, r) in rows {
        if let Err(e) = r {
            println!("({}) {:<13} FAILED: {e}", m.letter(), m.name());
        }
    }
    let rpal = format!("RPAL paper, {:.1}x", RPAL_REF_UNIX / RPAL_REF_RPAL);
    line([
        "ref: unix+epoll",
        "sleeps",
        &sep(RPAL_REF_UNIX as u64),
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        "RPAL paper",
        "",
    ]);
    line([
        "ref: RPAL",
        "-",
        &sep(RPAL_REF_RPAL as u64),
        "",
        "",
        "",
        "",
        "",
        "",
        "",
        &rpal,
        "",
    ]);
    println!(
        "latency: one-way, TSC cycles (server rdtsc - client rdtsc); CPU = client + server \
         user+sys time per message (getrusage) over the recorded messages; a/mean, a/p50 = (a) \
         unix-epoll's figure / this mode's (speedup over the Unix socket baseline)."
    );
}

/// Where the time went: CPU sharing, context switches, doorbells, parks.
fn counts_table(derived: &[Row<'_>]) {
    println!();
    let line = |c: [&str; 7]| {
        println!(
            "{:<16} {:>9} {:>12} {:>12} {:>12} {:>17} {:>17}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        )
    };
    line([
        "counts",
        "same CPU",
        "srv sleeps",
        "srv preempt",
        "cli preempt",
        "doorbells cli/srv",
        "parks cli/srv",
    ]);
    for r in derived {
        let s = &r.out.server;
        let (dc, pc) = r.out.client_stats.unwrap_or((0, 0));
        let rpal_stats = matches!(r.mode, Mode::RpalSpin | Mode::RpalPark);
        let pair = |c: u64, s: u64| {
            if rpal_stats {
                format!("{}/{}", sep(c), sep(s))
            } else {
                "-".to_string()
            }
        };
        line([
            &format!("({}) {}", r.mode.letter(), r.mode.name()),
            &format!("{:.1}%", r.same_cpu_pct),
            &sep(s.sleeps),
            &sep(s.preempted),
            &sep(r.out.client.preempted),
            &pair(dc, s.doorbells),
            &pair(pc, s.parks),
        ]);
    }
    println!(
        "same CPU = messages the server received on the CPU the client sent them from (the \
         receiver then sees a message only after a context switch, whatever the transport; \
         unpinned, the answer socket's sync wake-up tends to put both processes on one CPU: \
         compare with --pin); sleeps/preempt = voluntary/involuntary context switches over the \
         recorded messages (getrusage); doorbells = wake-up syscalls of the RpalStream, parks = \
         times it published \"waiting\" (RpalStream::stats)."
    );
}

/// Machine-readable lines, one per mode.
fn result_lines(
    derived: &[Row<'_>],
    rows: &[(Mode, Result<Outcome, String>)],
    o: &Options,
    ghz: f64,
) {
    for r in derived {
        let s = &r.out.server;
        let (dc, pc) = r.out.client_stats.unwrap_or((0, 0));
        let opt = |v: Option<f64>| v.map_or("nan".to_string(), |x| format!("{x:.2}"));
        println!(
            "RESULT mode={} letter={} receiver={} messages={} mean={:.1} p50={} p99={} p999={} \
             max={} negative={} same_cpu_pct={:.1} cpu_ns_per_msg={:.1} cpu_cycles_per_msg={:.0} \
             wall_ns_per_roundtrip={:.1} speedup_mean={} speedup_p50={} server_sleeps={} \
             server_preempted={} client_sleeps={} client_preempted={} doorbells_client={dc} \
             doorbells_server={} parks_client={pc} parks_server={} pinned={} tsc_ghz={ghz:.4}",
            r.mode.name(),
            r.mode.letter(),
            r.mode.receiver(),
            s.count,
            s.mean,
            s.p50,
            s.p99,
            s.p999,
            s.max,
            s.negative,
            r.same_cpu_pct,
            r.cpu_ns,
            r.cpu_cycles,
            r.out.wall.as_nanos() as f64 / o.messages as f64,
            opt(r.speedup_mean),
            opt(r.speedup_p50),
            s.sleeps,
            s.preempted,
            r.out.client.sleeps,
            r.out.client.preempted,
            s.doorbells,
            s.parks,
            u8::from(o.pin),
        );
    }
    for (m, r) in rows {
        if let Err(e) = r {
            println!("RESULT mode={} letter={} error={e:?}", m.name(), m.letter());
        }
    }
}

/// Prints the targets against what this run measured (never assumed).
fn targets(rows: &[Row<'_>]) {
    let find = |m: Mode| rows.iter().find(|r| r.mode == m);
    let verdict = |ok: bool| if ok { "MET" } else { "NOT MET" };
    println!("targets:");
    match find(Mode::RpalSpin) {
        Some(c) => {
            let mean = c.out.server.mean;
            println!(
                "  (c) mean < {} cycles (RPAL): {} (measured {})",
                sep(RPAL_REF_RPAL as u64),
                verdict(mean < RPAL_REF_RPAL),
                sep(mean.round() as u64)
            );
            match c.speedup_mean {
                Some(x) => println!(
                    "  (c) >= {TARGET_SPEEDUP:.0}x (a) by mean, same run: {} (measured {x:.1}x)",
                    verdict(x >= TARGET_SPEEDUP)
                ),
                None => println!("  (c) >= {TARGET_SPEEDUP:.0}x (a): not judged, (a) did not run"),
            }
        }
        None => println!("  (c): not run"),
    }
    match (find(Mode::RpalPark), find(Mode::UnixEpoll)) {
        (Some(d), Some(a)) => println!(
            "  (d) mean no worse than (a): {} (measured {} vs {})",
            verdict(d.out.server.mean <= a.out.server.mean),
            sep(d.out.server.mean.round() as u64),
            sep(a.out.server.mean.round() as u64)
        ),
        (None, _) => println!("  (d): not run"),
        (Some(_), None) => println!("  (d) no worse than (a): not judged, (a) did not run"),
    }
}

/// `19616` -> `"19,616"`.
fn sep(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
