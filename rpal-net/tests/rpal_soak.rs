//! Soak: 64 RpalStreams between two processes carry checksummed messages of random sizes
//! (1 B ..= 256 KiB, from a seeded generator; the seed is printed and can be forced with
//! `RPAL_SOAK_SEED`) in both directions at once for a bounded time: 30 s with `CI=true`, 5 s
//! otherwise, `RPAL_SOAK_SECS` overrides.
//!
//! Every message is `| magic u32 | len u32 | seq u64 | sum u64 | payload |`. The receiver
//! knows the sender's size sequence (same seed), so it checks the sequence number (a lost,
//! duplicated or reordered message shows as a gap or repeat), the length, the checksum over
//! sequence number and payload, and the payload bytes themselves. Any mismatch fails the test;
//! the count of each is asserted to be zero. Both processes report per-stream totals and the
//! parent checks that every message one side sent the other received.
//!
//! Resources: resident memory after warm-up and at the end differ by less than
//! [`RSS_SLACK`], and after every stream is dropped the parent holds exactly the descriptors
//! and ring mappings it held before (checked against `/proc/self`).
//!
//! The server is this test binary run again (`child_entry`, idle unless `RPAL_SOAK_CHILD` is
//! set). Both processes use a current-thread runtime: two busy cores at most.

mod support;

use std::io;
use std::time::{Duration, Instant};

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use rpal_net::rpal::{RpalReadHalf, RpalWriteHalf};
use rpal_net::{RpalListener, RpalStream};
use support::child::ChildProc;
use support::proc::{rss_bytes, settle_to, Held};
use support::{within, within_for, SockPath, XorShift};

const CHILD_ENV: &str = "RPAL_SOAK_CHILD";
const PATH_ENV: &str = "RPAL_SOAK_PATH";
const SEED_ENV: &str = "RPAL_SOAK_SEED";
const COUNT_ENV: &str = "RPAL_SOAK_STREAMS";
/// Streams soaked at once.
const STREAMS: u32 = 64;
/// Id of the warm-up stream (opened and closed before the baseline is taken).
const WARMUP_ID: u32 = STREAMS;
/// Largest message payload.
const MAX_MSG: usize = 256 * 1024;
/// Bytes of random data payloads are cut from (each payload is a window of it).
const POOL: usize = 2 * MAX_MSG;
const MAGIC: u32 = u32::from_le_bytes(*b"SOAK");
const HEADER: usize = 24;
/// Allowed RSS growth between warm-up and the end.
const RSS_SLACK: u64 = 64 << 20;
/// Soak length unless `RPAL_SOAK_SECS` says otherwise.
const DEFAULT_SECS_CI: u64 = 30;
const DEFAULT_SECS_LOCAL: u64 = 5;

fn soak_secs() -> u64 {
    if let Some(s) = std::env::var("RPAL_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return s;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        DEFAULT_SECS_CI
    } else {
        DEFAULT_SECS_LOCAL
    }
}

fn pool(seed: u64) -> Vec<u8> {
    support::pattern(POOL, seed ^ 0x5eed_9001)
}

/// The sizes and payload windows of one direction of one stream: both ends derive the same.
fn sizes(seed: u64, stream: u32, dir: u32) -> XorShift {
    XorShift(
        (seed ^ (u64::from(stream) << 8 | u64::from(dir)).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1,
    )
}

/// Next (len, offset into the pool): half the messages small (up to 4 KiB), half up to 256 KiB.
fn next_msg(rng: &mut XorShift) -> (usize, usize) {
    let len = match rng.next() % 8 {
        0 => 1,
        1 => MAX_MSG,
        2..=4 => rng.range(1, 4096),
        _ => rng.range(1, MAX_MSG),
    };
    let off = rng.range(0, POOL - len);
    (len, off)
}

/// Word-wise checksum over the sequence number and the payload.
fn checksum(seq: u64, payload: &[u8]) -> u64 {
    let mut h = seq ^ 0xcbf2_9ce4_8422_2325 ^ ((payload.len() as u64) << 32);
    let mut words = payload.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h ^ u64::from_le_bytes(b)).wrapping_mul(0x0000_0100_0000_01b3);
        h ^= h >> 29;
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// What one direction of one stream carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    msgs: u64,
    bytes: u64,
}

/// Sends messages until `until`, then half-closes. Writes are cut in random pieces so message
/// boundaries never line up with ring writes.
async fn pump_out(
    w: &mut RpalWriteHalf,
    pool: &[u8],
    mut rng: XorShift,
    until: Instant,
) -> io::Result<Tally> {
    let mut t = Tally::default();
    let mut cut = XorShift(rng.0 ^ 0xabcdef);
    let mut seq = 0u64;
    // At least one message, so even a zero-length soak exercises the path.
    while seq == 0 || Instant::now() < until {
        let (len, off) = next_msg(&mut rng);
        let payload = &pool[off..off + len];
        let mut hdr = [0u8; HEADER];
        hdr[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        hdr[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        hdr[8..16].copy_from_slice(&seq.to_le_bytes());
        hdr[16..24].copy_from_slice(&checksum(seq, payload).to_le_bytes());
        w.write_all(&hdr).await?;
        if cut.next().is_multiple_of(4) && len > 1 {
            let at = cut.range(1, len - 1);
            w.write_all(&payload[..at]).await?;
            w.write_all(&payload[at..]).await?;
        } else {
            w.write_all(payload).await?;
        }
        seq += 1;
        t.msgs += 1;
        t.bytes += (HEADER + len) as u64;
    }
    w.close().await?;
    Ok(t)
}

/// Reads `buf.len()` bytes, through `read` or, every other time, through the lending path
/// (`fill_buf`/`consume`).
async fn read_full(r: &mut RpalReadHalf, buf: &mut [u8], lend: bool) -> io::Result<()> {
    if !lend {
        return r.read_exact(buf).await;
    }
    let mut got = 0;
    while got < buf.len() {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = avail.len().min(buf.len() - got);
        buf[got..got + n].copy_from_slice(&avail[..n]);
        r.consume_unpin(n);
        got += n;
    }
    Ok(())
}

/// Bad messages seen by a receiver, by kind. All must stay zero. (A header that is out of
/// frame ends the stream with an error at once: nothing after it can be trusted.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Bad {
    seq: u64,
    len: u64,
    sum: u64,
    bytes: u64,
}

/// Reads and checks messages until end of stream.
async fn pump_in(
    r: &mut RpalReadHalf,
    pool: &[u8],
    mut rng: XorShift,
    what: &str,
) -> io::Result<(Tally, Bad)> {
    let mut t = Tally::default();
    let mut bad = Bad::default();
    let mut buf = vec![0u8; MAX_MSG];
    let mut how = XorShift(rng.0 ^ 0x1234_5678);
    loop {
        let mut hdr = [0u8; HEADER];
        // End of stream is clean only between messages.
        let n = r.read(&mut hdr).await?;
        if n == 0 {
            return Ok((t, bad));
        }
        read_full(r, &mut hdr[n..], false).await?;
        let magic = u32::from_le_bytes(hdr[0..4].try_into().unwrap());
        let len = u32::from_le_bytes(hdr[4..8].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(hdr[8..16].try_into().unwrap());
        let sum = u64::from_le_bytes(hdr[16..24].try_into().unwrap());
        let (want_len, off) = next_msg(&mut rng);
        if magic != MAGIC || len > MAX_MSG {
            return Err(io::Error::other(format!(
                "{what}: message {}: bad header {hdr:?} (stream out of frame)",
                t.msgs
            )));
        }
        if seq != t.msgs {
            bad.seq += 1;
            eprintln!("{what}: expected seq {}, got {seq}", t.msgs);
        }
        if len != want_len {
            bad.len += 1;
            eprintln!("{what}: seq {seq}: len {len}, expected {want_len}");
        }
        let payload = &mut buf[..len];
        read_full(r, payload, how.next().is_multiple_of(2)).await?;
        if checksum(seq, payload) != sum {
            bad.sum += 1;
            eprintln!("{what}: seq {seq}: checksum mismatch");
        }
        if len == want_len && payload != &pool[off..off + len] {
            bad.bytes += 1;
            eprintln!("{what}: seq {seq}: payload differs from what was sent");
        }
        t.msgs += 1;
        t.bytes += (HEADER + len) as u64;
    }
}

/// Both directions of one stream, from this side (`dir_out` is the direction it sends).
async fn run_stream(
    s: RpalStream,
    id: u32,
    dir_out: u32,
    seed: u64,
    until: Instant,
    pool: std::sync::Arc<Vec<u8>>,
) -> io::Result<(Tally, Tally, Bad, RpalReadHalf, RpalWriteHalf)> {
    let (mut r, mut w) = s.into_split();
    let p = pool.clone();
    let writer = rpal_rt::spawn(async move {
        let t = pump_out(&mut w, &p, sizes(seed, id, dir_out), until).await;
        (t, w)
    });
    let what = format!("stream {id} dir {}", 1 - dir_out);
    let got = pump_in(&mut r, &pool, sizes(seed, id, 1 - dir_out), &what).await;
    let (sent, w) = writer
        .await
        .map_err(|e| io::Error::other(format!("writer task: {e}")))?;
    let sent = sent?;
    let (recv, bad) = got?;
    Ok((sent, recv, bad, r, w))
}

/// The server process: accepts `RPAL_SOAK_STREAMS` streams; each starts with `id u32,
/// millis u64` from the client; reports each stream's totals, then waits to be killed.
#[test]
fn child_entry() {
    if std::env::var(CHILD_ENV).is_err() {
        return;
    }
    let path = std::env::var(PATH_ENV).unwrap();
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let count: u32 = std::env::var(COUNT_ENV).unwrap().parse().unwrap();
    let pool = std::sync::Arc::new(pool(seed));
    support::current_thread().block_on(async move {
        let l = RpalListener::bind(path.as_str()).unwrap();
        println!("\nSOAK-READY");
        let mut tasks = Vec::new();
        for _ in 0..count {
            let (mut s, _) = l.accept().await.unwrap();
            assert!(s.is_shared_memory());
            let pool = pool.clone();
            tasks.push(rpal_rt::spawn(async move {
                let mut pre = [0u8; 12];
                s.read_exact(&mut pre).await.unwrap();
                let id = u32::from_le_bytes(pre[..4].try_into().unwrap());
                let ms = u64::from_le_bytes(pre[4..].try_into().unwrap());
                let until = Instant::now() + Duration::from_millis(ms);
                let (sent, recv, bad, _r, _w) = run_stream(s, id, 1, seed, until, pool)
                    .await
                    .unwrap_or_else(|e| panic!("server stream {id}: {e}"));
                println!(
                    "\nSOAK-STREAM {id} {} {} {} {} {}",
                    sent.msgs,
                    sent.bytes,
                    recv.msgs,
                    recv.bytes,
                    bad.seq + bad.len + bad.sum + bad.bytes
                );
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        println!("\nSOAK-DONE");
        // Stay alive (holding our end of the stdout pipe) until the parent has compared its
        // descriptors with the baseline and kills us.
        rpal_rt::time::sleep(Duration::from_secs(120)).await;
    });
}

/// Opens a stream to the child and sends its preamble.
async fn open(path: &SockPath, id: u32, millis: u64) -> RpalStream {
    let mut s = within("connect", RpalStream::connect(path.path()))
        .await
        .unwrap_or_else(|e| panic!("connect #{id}: {e}"));
    assert!(s.is_shared_memory(), "stream {id} fell back to the socket");
    let mut pre = [0u8; 12];
    pre[..4].copy_from_slice(&id.to_le_bytes());
    pre[4..].copy_from_slice(&millis.to_le_bytes());
    s.write_all(&pre).await.unwrap();
    s
}

#[test]
fn soak_64_streams_two_processes() {
    let secs = soak_secs();
    let seed: u64 = std::env::var(SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("soak: {STREAMS} streams, {secs} s, seed {seed} (rerun with {SEED_ENV}={seed})");
    let pool = std::sync::Arc::new(pool(seed));
    support::current_thread().block_on(async move {
        let path = SockPath::new("soak");
        let child = ChildProc::start(
            "child_entry",
            "soak server",
            &[
                (CHILD_ENV, "1".into()),
                (PATH_ENV, path.as_str().into()),
                (SEED_ENV, seed.to_string()),
                (COUNT_ENV, (STREAMS + 1).to_string()),
            ],
        );
        child.wait_line("SOAK-READY", support::LIMIT);

        // Warm-up stream: the runtime's per-worker pieces exist before the baseline.
        let w = open(&path, WARMUP_ID, 0).await;
        let (_, _, bad, r, w) = within(
            "warm-up stream",
            run_stream(w, WARMUP_ID, 0, seed, Instant::now(), pool.clone()),
        )
        .await
        .unwrap();
        assert_eq!(bad, Bad::default());
        drop((r, w));
        rpal_rt::time::sleep(Duration::from_millis(100)).await;
        let baseline = Held::now();
        eprintln!("baseline before the soak: {baseline:?}");

        let start = Instant::now();
        let until = start + Duration::from_secs(secs);
        let mut tasks = Vec::new();
        for id in 0..STREAMS {
            let left = until.saturating_duration_since(Instant::now()).as_millis() as u64;
            let s = open(&path, id, left).await;
            tasks.push(rpal_rt::spawn(run_stream(
                s,
                id,
                0,
                seed,
                until,
                pool.clone(),
            )));
        }
        // Resident memory once every stream is busy and has carried large messages.
        let warm = Duration::from_secs(secs)
            .mul_f64(0.2)
            .max(Duration::from_millis(500));
        rpal_rt::time::sleep(warm.min(until.saturating_duration_since(Instant::now()))).await;
        let rss_warm = rss_bytes();
        let mut ours = Vec::new();
        let mut keep = Vec::new();
        for (id, t) in tasks.into_iter().enumerate() {
            let (sent, recv, bad, r, w) =
                within_for(support::LIMIT + Duration::from_secs(secs), "soak stream", t)
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("client stream {id}: {e} (seed {seed})"));
            assert_eq!(
                bad,
                Bad::default(),
                "stream {id}: bad messages (seed {seed})"
            );
            ours.push((sent, recv));
            keep.push((r, w));
        }
        let rss_end = rss_bytes();
        let took = start.elapsed();
        drop(keep);

        // The child's view of each stream.
        let (child, lines) = within(
            "child report",
            rpal_rt::spawn_blocking(move || {
                let mut lines = Vec::new();
                for _ in 0..=STREAMS {
                    lines.push(child.wait_line("SOAK-STREAM", support::LIMIT));
                }
                child.wait_line("SOAK-DONE", support::LIMIT);
                (child, lines)
            }),
        )
        .await
        .unwrap();
        let mut theirs = vec![None; STREAMS as usize];
        for l in lines {
            let f: Vec<u64> = l.split_whitespace().map(|x| x.parse().unwrap()).collect();
            assert_eq!(f[5], 0, "child saw bad messages on stream {}", f[0]);
            if f[0] < u64::from(STREAMS) {
                theirs[f[0] as usize] = Some((
                    Tally {
                        msgs: f[1],
                        bytes: f[2],
                    },
                    Tally {
                        msgs: f[3],
                        bytes: f[4],
                    },
                ));
            }
        }
        let mut up = Tally::default();
        let mut down = Tally::default();
        for (id, ((sent, recv), t)) in ours.iter().zip(&theirs).enumerate() {
            let (c_sent, c_recv) = t.unwrap_or_else(|| panic!("child did not report {id}"));
            assert_eq!(*sent, c_recv, "stream {id}: client sent vs server received");
            assert_eq!(c_sent, *recv, "stream {id}: server sent vs client received");
            up.msgs += sent.msgs;
            up.bytes += sent.bytes;
            down.msgs += recv.msgs;
            down.bytes += recv.bytes;
        }
        settle_to(
            baseline,
            Duration::from_secs(10),
            "after dropping every stream",
        )
        .await;
        let mut child = child;
        rpal_rt::spawn_blocking(move || child.kill()).await.unwrap();
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        eprintln!(
            "soak ({secs} s, seed {seed}, {took:.1?}): client->server {} messages, {:.1} MiB \
             checked; server->client {} messages, {:.1} MiB checked; 0 lost, duplicated, \
             reordered or corrupt",
            up.msgs,
            mib(up.bytes),
            down.msgs,
            mib(down.bytes)
        );
        eprintln!(
            "soak: RSS {:.1} MiB after warm-up, {:.1} MiB at the end; descriptors and ring \
             mappings back to {baseline:?}",
            mib(rss_warm),
            mib(rss_end)
        );
        assert!(up.msgs > 0 && down.msgs > 0);
        assert!(
            rss_end <= rss_warm + RSS_SLACK,
            "RSS grew from {:.1} MiB to {:.1} MiB",
            mib(rss_warm),
            mib(rss_end)
        );
    });
}
