//! An RpalStream echo client: sends checksummed messages to `rpal_echo_server`, verifies every
//! echo, and prints the round-trip latency (p50, p99, max) and whether shared memory was used.
//!
//! ```text
//! cargo run --release --example rpal_echo_server &
//! cargo run --release --example rpal_echo_client -- [path] [messages] [size]
//! # defaults: /tmp/rpal-echo.sock 100000 64
//! ```
//! Each message is `seq: u64 | payload | fnv64(seq, payload): u64` (size counts all of it, at
//! least 16 bytes); the client checks the echo byte for byte and the checksum it carries.

use std::io;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use hdrhistogram::Histogram;
use rpal_net::RpalStream;

/// Socket path used when none is given.
const DEFAULT_PATH: &str = "/tmp/rpal-echo.sock";
/// Messages sent when no count is given.
const DEFAULT_COUNT: u64 = 100_000;
/// Message size when none is given.
const DEFAULT_SIZE: usize = 64;
/// Smallest message: sequence number and checksum.
const MIN_SIZE: usize = 16;
/// Bound on connecting and on each round trip, so a dead server fails the client.
const STEP_LIMIT: Duration = Duration::from_secs(10);

fn fnv64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Fills `msg` for sequence number `seq`: header, pseudo-random payload, checksum.
fn build(msg: &mut [u8], seq: u64) {
    let n = msg.len();
    msg[..8].copy_from_slice(&seq.to_le_bytes());
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for b in &mut msg[8..n - 8] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let sum = fnv64(&msg[..n - 8]);
    msg[n - 8..].copy_from_slice(&sum.to_le_bytes());
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

fn arg<T: std::str::FromStr>(i: usize, default: T, name: &str) -> io::Result<T> {
    match std::env::args().nth(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("bad {name}: {s:?}"))),
    }
}

async fn within<T>(
    what: &str,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    rpal_rt::time::timeout(STEP_LIMIT, f).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what}: no answer in {STEP_LIMIT:?}"),
        )
    })?
}

fn main() -> io::Result<()> {
    let path: String = arg(1, DEFAULT_PATH.to_string(), "path")?;
    let count: u64 = arg(2, DEFAULT_COUNT, "message count")?;
    let size: usize = arg(3, DEFAULT_SIZE, "message size")?.max(MIN_SIZE);
    let rt = rpal_rt::Runtime::new_current_thread()?;
    rt.block_on(async move {
        let mut s = within("connect", RpalStream::connect(path.as_str())).await?;
        println!(
            "rpal_echo_client: connected to {path} over {}",
            if s.is_shared_memory() {
                "shared memory"
            } else {
                "a plain Unix socket (fallback)"
            }
        );
        let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let mut msg = vec![0u8; size];
        let mut back = vec![0u8; size];
        let start = Instant::now();
        for seq in 0..count {
            build(&mut msg, seq);
            let t = Instant::now();
            within("echo", async {
                s.write_all(&msg).await?;
                s.read_exact(&mut back).await
            })
            .await?;
            let rtt = t.elapsed().as_nanos() as u64;
            if back != msg {
                return Err(bad(format!(
                    "message {seq}: echo differs from what was sent"
                )));
            }
            let carried = u64::from_le_bytes(back[size - 8..].try_into().unwrap_or_default());
            if carried != fnv64(&back[..size - 8]) {
                return Err(bad(format!("message {seq}: checksum mismatch")));
            }
            let _ = hist.record(rtt.max(1));
        }
        let elapsed = start.elapsed();
        s.close().await?;
        let stats = s.stats();
        println!(
            "{count} round trips of {size} B in {elapsed:.2?} ({:.0} per second)",
            count as f64 / elapsed.as_secs_f64().max(1e-9)
        );
        println!(
            "round-trip latency: p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us, max {:.2} us",
            hist.value_at_quantile(0.50) as f64 / 1e3,
            hist.value_at_quantile(0.99) as f64 / 1e3,
            hist.value_at_quantile(0.999) as f64 / 1e3,
            hist.max() as f64 / 1e3,
        );
        println!(
            "shared memory: {}; doorbells sent {}, parks {}",
            if s.is_shared_memory() { "yes" } else { "no" },
            stats.doorbells_sent,
            stats.parks
        );
        Ok(())
    })
}
