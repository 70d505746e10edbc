//! What both processes share: the modes, the message layout, the TSC, the recorder the server
//! keeps, the summary line it prints, CPU time and pinning.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Bytes per message, as in RPAL's benchmark.
pub(crate) const MSG_LEN: usize = 32;
/// One message: bytes 0..8 the sender's TSC stamp, 8..16 the sequence number, 16..20 the CPU
/// the sender ran on just before stamping (little-endian; the rest is zero).
pub(crate) type Msg = [u8; MSG_LEN];
/// Byte the server sends on the answer socket once its data channel is ready for the client.
pub(crate) const READY: u8 = b'R';
/// Data capacity of each ring in the `ring-floor` mode.
pub(crate) const FLOOR_RING_CAPACITY: u64 = 64 << 10;
/// Busy-polling servers check every this many empty polls whether the client went away.
pub(crate) const PEER_CHECK_INTERVAL: u64 = 1 << 20;
/// How long the TSC is timed against `Instant` to estimate its frequency.
const TSC_CALIBRATION: Duration = Duration::from_millis(50);
/// Significant figures kept by the histograms.
const HIST_SIGFIG: u8 = 3;

/// One transport under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// (a) raw Unix stream socket, server in `epoll_wait` + `read`: RPAL's baseline.
    UnixEpoll,
    /// (b) tokio current-thread runtime, `tokio::net::UnixStream` on both sides.
    TokioUnix,
    /// (c) RpalStream, the server busy-polls `try_read` inside an rpal task.
    RpalSpin,
    /// (d) RpalStream with `spin(false)`: the server parks, the client rings the doorbell.
    RpalPark,
    /// (e) the raw shared-memory ring, the server busy-polls: the floor.
    RingFloor,
}

impl Mode {
    /// Every mode, in table order.
    pub(crate) const ALL: [Mode; 5] = [
        Mode::UnixEpoll,
        Mode::TokioUnix,
        Mode::RpalSpin,
        Mode::RpalPark,
        Mode::RingFloor,
    ];

    /// The name used on the command line, in RESULT lines and in the table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::UnixEpoll => "unix-epoll",
            Mode::TokioUnix => "tokio-unix",
            Mode::RpalSpin => "rpal-spin",
            Mode::RpalPark => "rpal-park",
            Mode::RingFloor => "ring-floor",
        }
    }

    /// The letter of the mode in the task description (`a`..`e`).
    pub(crate) fn letter(self) -> char {
        match self {
            Mode::UnixEpoll => 'a',
            Mode::TokioUnix => 'b',
            Mode::RpalSpin => 'c',
            Mode::RpalPark => 'd',
            Mode::RingFloor => 'e',
        }
    }

    /// What the receiver does while it waits for the next message.
    pub(crate) fn receiver(self) -> &'static str {
        match self {
            Mode::UnixEpoll => "sleeps",
            Mode::TokioUnix => "sleeps",
            Mode::RpalSpin => "spins",
            Mode::RpalPark => "sleeps",
            Mode::RingFloor => "spins",
        }
    }

    /// Parses a letter or a name.
    pub(crate) fn parse(s: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name() == s || s.len() == 1 && s.starts_with(m.letter()))
    }
}

/// Reads the time stamp counter (a system-wide clock on x86_64 with `constant_tsc`).
#[cfg(target_arch = "x86_64")]
pub(crate) fn tsc() -> u64 {
    // SAFETY: rdtsc has no preconditions on x86_64.
    unsafe { std::arch::x86_64::_rdtsc() }
}

/// Elsewhere: CLOCK_MONOTONIC in nanoseconds (system-wide, so it works across processes).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn tsc() -> u64 {
    // SAFETY: an all-zero timespec is valid; clock_gettime writes into our local.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The CPU the calling thread runs on (`u32::MAX` if unknown); a vDSO call, no syscall.
pub(crate) fn current_cpu() -> u32 {
    // SAFETY: sched_getcpu has no preconditions.
    let c = unsafe { libc::sched_getcpu() };
    u32::try_from(c).unwrap_or(u32::MAX)
}

/// Writes sequence number `seq`, the current CPU and, last, the TSC stamp into `msg`.
pub(crate) fn stamp(msg: &mut Msg, seq: u64) {
    msg[8..16].copy_from_slice(&seq.to_le_bytes());
    msg[16..20].copy_from_slice(&current_cpu().to_le_bytes());
    msg[..8].copy_from_slice(&tsc().to_le_bytes());
}

fn word(msg: &Msg, at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&msg[at..at + 8]);
    u64::from_le_bytes(w)
}

/// The sequence number carried by `msg`.
pub(crate) fn seq_of(msg: &Msg) -> u64 {
    word(msg, 8)
}

/// TSC cycles per nanosecond, timed against `Instant` over [`TSC_CALIBRATION`].
pub(crate) fn tsc_per_ns() -> f64 {
    let (t0, c0) = (Instant::now(), tsc());
    while t0.elapsed() < TSC_CALIBRATION {
        std::hint::spin_loop();
    }
    let (c1, dt) = (tsc(), t0.elapsed());
    c1.wrapping_sub(c0) as f64 / dt.as_nanos() as f64
}

/// This process's resource use so far (`getrusage(RUSAGE_SELF)`), or a difference of two.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Usage {
    /// User + system CPU time.
    pub(crate) cpu: Duration,
    /// Voluntary context switches: times a thread blocked in the kernel (slept).
    pub(crate) sleeps: u64,
    /// Involuntary context switches: times a thread was preempted.
    pub(crate) preempted: u64,
}

impl Usage {
    /// Resource use of this process until now.
    pub(crate) fn now() -> Usage {
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into our local; RUSAGE_SELF cannot fail with a valid pointer.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        Usage {
            cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
            sleeps: ru.ru_nvcsw as u64,
            preempted: ru.ru_nivcsw as u64,
        }
    }

    /// What was used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Usage) -> Usage {
        Usage {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            sleeps: self.sleeps.saturating_sub(earlier.sleeps),
            preempted: self.preempted.saturating_sub(earlier.preempted),
        }
    }
}

/// Pins the calling thread (and the threads and processes it starts later) to `cpu`.
pub(crate) fn pin(cpu: usize) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!("cannot pin to CPU {cpu}")));
    }
    // SAFETY: `cpu` was checked to be below CPU_SETSIZE, so the bit lies inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a pointer to our local set and its exact size.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("pinning to CPU {cpu}: {e}"),
        ));
    }
    Ok(())
}

/// The server's record of one run: one-way latency of every message after the warm-up, and the
/// proof that none was lost (consecutive sequence numbers).
pub(crate) struct Recorder {
    hist: Histogram<u64>,
    sum: u128,
    /// Messages whose receive stamp was below the send stamp (TSC skew between CPUs); counted
    /// as 0 cycles.
    negative: u64,
    /// Recorded messages received on the CPU the client sent them from (the two processes
    /// shared a CPU, so the receiver only saw the message after a context switch).
    same_cpu: u64,
    next_seq: u64,
    warmup: u64,
    /// This process's resource use when the first recorded message was about to arrive.
    at_start: Usage,
}

impl Recorder {
    /// A recorder that ignores the first `warmup` messages.
    pub(crate) fn new(warmup: u64) -> io::Result<Recorder> {
        let hist = Histogram::new(HIST_SIGFIG).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Recorder {
            hist,
            sum: 0,
            negative: 0,
            same_cpu: 0,
            next_seq: 0,
            warmup,
            at_start: Usage::now(),
        })
    }

    /// Records `msg`, received at TSC `now`; call right after taking `now`.
    ///
    /// # Errors
    /// `InvalidData` when the sequence number is not the next one: a message was lost,
    /// duplicated or reordered.
    pub(crate) fn on_message(&mut self, msg: &Msg, now: u64) -> io::Result<()> {
        let seq = seq_of(msg);
        if seq != self.next_seq {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "sequence gap: expected message {}, got {seq} (a message was lost, \
                     duplicated or reordered)",
                    self.next_seq
                ),
            ));
        }
        self.next_seq += 1;
        if seq < self.warmup {
            if seq + 1 == self.warmup {
                self.at_start = Usage::now();
            }
            return Ok(());
        }
        let cycles = now.checked_sub(word(msg, 0)).unwrap_or_else(|| {
            self.negative += 1;
            0
        });
        let mut cpu = [0u8; 4];
        cpu.copy_from_slice(&msg[16..20]);
        if u32::from_le_bytes(cpu) == current_cpu() {
            self.same_cpu += 1;
        }
        self.sum += u128::from(cycles);
        self.hist
            .record(cycles)
            .map_err(|e| io::Error::other(format!("histogram: {e}")))
    }

    /// The summary to print once every message has arrived.
    pub(crate) fn summary(&self, doorbells: u64, parks: u64) -> Summary {
        let count = self.hist.len();
        let used = Usage::now().since(self.at_start);
        Summary {
            count,
            mean: if count == 0 {
                0.0
            } else {
                self.sum as f64 / count as f64
            },
            p50: self.hist.value_at_quantile(0.50),
            p99: self.hist.value_at_quantile(0.99),
            p999: self.hist.value_at_quantile(0.999),
            max: self.hist.max(),
            negative: self.negative,
            same_cpu: self.same_cpu,
            cpu_ns: used.cpu.as_nanos() as u64,
            sleeps: used.sleeps,
            preempted: used.preempted,
            doorbells,
            parks,
        }
    }
}

/// What the server reports on its stdout as one line: `SUMMARY key=value ...`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Summary {
    /// Recorded messages.
    pub(crate) count: u64,
    /// Mean one-way latency in TSC cycles (exact, not from the histogram).
    pub(crate) mean: f64,
    pub(crate) p50: u64,
    pub(crate) p99: u64,
    pub(crate) p999: u64,
    pub(crate) max: u64,
    /// Messages with a negative one-way time (TSC skew), recorded as 0.
    pub(crate) negative: u64,
    /// Messages received on the CPU they were sent from.
    pub(crate) same_cpu: u64,
    /// Server CPU time (user + sys) over the recorded messages.
    pub(crate) cpu_ns: u64,
    /// Server voluntary context switches over the recorded messages.
    pub(crate) sleeps: u64,
    /// Server involuntary context switches (preemptions) over the recorded messages.
    pub(crate) preempted: u64,
    /// Doorbells the server's stream rang (RpalStream modes; else 0).
    pub(crate) doorbells: u64,
    /// Times the server's stream parked (RpalStream modes; else 0).
    pub(crate) parks: u64,
}

impl Summary {
    /// The line the server prints.
    pub(crate) fn to_line(self) -> String {
        format!(
            "SUMMARY count={} mean={:.1} p50={} p99={} p999={} max={} negative={} same_cpu={} \
             cpu_ns={} sleeps={} preempted={} doorbells={} parks={}",
            self.count,
            self.mean,
            self.p50,
            self.p99,
            self.p999,
            self.max,
            self.negative,
            self.same_cpu,
            self.cpu_ns,
            self.sleeps,
            self.preempted,
            self.doorbells,
            self.parks
        )
    }

    /// Finds and parses the `SUMMARY` line in the server's stdout.
    pub(crate) fn parse(out: &str) -> Result<Summary, String> {
        let line = out
            .lines()
            .find_map(|l| l.strip_prefix("SUMMARY "))
            .ok_or_else(|| format!("server printed no SUMMARY line; stdout was {out:?}"))?;
        let kv: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|f| f.split_once('='))
            .collect();
        let int = |k: &str| -> Result<u64, String> {
            kv.get(k)
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("SUMMARY line lacks a number for {k}: {line}"))
        };
        Ok(Summary {
            count: int("count")?,
            mean: kv
                .get("mean")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("SUMMARY line lacks mean: {line}"))?,
            p50: int("p50")?,
            p99: int("p99")?,
            p999: int("p999")?,
            max: int("max")?,
            negative: int("negative")?,
            same_cpu: int("same_cpu")?,
            cpu_ns: int("cpu_ns")?,
            sleeps: int("sleeps")?,
            preempted: int("preempted")?,
            doorbells: int("doorbells")?,
            parks: int("parks")?,
        })
    }
}
