//! Stress of the park/ring races: two tasks on different workers of a thread-per-core runtime,
//! with spinning off (`spin(false)`) so nearly every wait parks and every wake-up goes through a
//! doorbell. A lost wake-up shows up as a stall: a watchdog thread (which does not poll or wake
//! anything, so it cannot mask the bug) fails the test when no progress is made for a while, and
//! a timeout bounds the whole run.

mod support;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use support::{within, within_for, Fnv, SockPath, XorShift};

/// No progress for this long is taken as a lost wake-up.
const STALL: Duration = Duration::from_secs(15);
/// Bound on a whole run.
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// Watches a progress counter; if it stops moving for [`STALL`] while the run is on, prints
/// what it knows and aborts the process (the stuck task would otherwise never be woken).
struct Watchdog {
    progress: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn start(what: &'static str) -> Watchdog {
        let progress = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let (p, d) = (progress.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            let mut last = p.load(Ordering::Relaxed);
            let mut since = Instant::now();
            while !d.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                let now = p.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    since = Instant::now();
                } else if since.elapsed() > STALL {
                    eprintln!(
                        "LOST WAKE-UP? {what}: no progress for {STALL:?} at step {now}; aborting"
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog {
            progress,
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn config(ring: usize) -> RpalConfig {
    RpalConfig::default().ring_capacity(ring).spin(false)
}

/// Connects a client on worker 1 to a server accepted on worker 0; returns (server, client).
async fn pair(path: &SockPath, ring: usize) -> (RpalStream, RpalStream) {
    let listener = RpalListener::bind_with(path.path(), config(ring)).unwrap();
    let h = rpal_rt::runtime::Handle::current();
    let p = path.path().to_path_buf();
    let client = h.spawn_on(1, async move {
        RpalStream::connect_with(&p, &config(ring)).await
    });
    let server = h.spawn_on(0, async move { listener.accept().await.map(|(s, _)| s) });
    let s = within("accept", server).await.unwrap().unwrap();
    let c = within("connect", client).await.unwrap().unwrap();
    assert!(s.is_shared_memory() && c.is_shared_memory());
    (s, c)
}

fn round_trips(n: u64) {
    let rt = support::thread_per_core(2);
    let wd = Watchdog::start("ping-pong");
    let progress = wd.progress.clone();
    rt.block_on(async move {
        let path = SockPath::new("lw-pp");
        let (mut s, mut c) = pair(&path, 64 * 1024).await;
        let h = rpal_rt::runtime::Handle::current();
        // Server on worker 0: echo each message.
        let server = h.spawn_on(0, async move {
            let mut buf = [0u8; 64];
            loop {
                let k = s.read(&mut buf).await?;
                if k == 0 {
                    s.close().await?;
                    return io::Result::Ok(s.stats());
                }
                s.write_all(&buf[..k]).await?;
            }
        });
        // Client on worker 1: n round trips of 1..=64 bytes.
        let client = h.spawn_on(1, async move {
            let mut rng = XorShift(0xfeed);
            let mut msg = [0u8; 64];
            let mut back = [0u8; 64];
            for i in 0..n {
                let k = rng.range(1, 64);
                rng.fill(&mut msg[..k]);
                c.write_all(&msg[..k]).await?;
                c.read_exact(&mut back[..k]).await?;
                if back[..k] != msg[..k] {
                    return Err(io::Error::other(format!("round trip {i}: wrong echo")));
                }
                progress.store(i + 1, Ordering::Relaxed);
            }
            c.close().await?;
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).await?;
            assert!(rest.is_empty());
            io::Result::Ok(c.stats())
        });
        let start = Instant::now();
        let cs = within_for(RUN_LIMIT, "client round trips", client)
            .await
            .unwrap()
            .unwrap();
        let ss = within("server", server).await.unwrap().unwrap();
        eprintln!(
            "{n} round trips in {:?}; client {cs:?}; server {ss:?}",
            start.elapsed()
        );
        assert_eq!(cs.bytes_written, cs.bytes_read);
        assert_eq!(ss.bytes_read, cs.bytes_written);
        // With spinning off, the waits really parked (this is what the test is about).
        assert!(
            cs.parks + ss.parks > 0,
            "no side ever parked: the stress did not stress"
        );
    });
    drop(wd);
}

#[test]
fn ping_pong_100k_round_trips_across_workers_no_spin() {
    round_trips(100_000);
}

/// Full-duplex bulk transfer through the smallest ring with random read and write sizes: the
/// writers keep filling the ring, so room doorbells (reader wakes writer) are exercised as much
/// as data doorbells.
#[test]
fn full_ring_room_doorbells_across_workers_no_spin() {
    const LEN: usize = 24 << 20;
    let rt = support::thread_per_core(2);
    let wd = Watchdog::start("full ring");
    let progress = wd.progress.clone();
    rt.block_on(async move {
        let path = SockPath::new("lw-full");
        let (s, c) = pair(&path, 4096).await;
        let h = rpal_rt::runtime::Handle::current();
        let (sr, sw) = s.into_split();
        let (cr, cw) = c.into_split();

        async fn writer_task(
            mut w: rpal_net::rpal::RpalWriteHalf,
            seed: u64,
            progress: Arc<AtomicU64>,
        ) -> io::Result<Fnv> {
            let mut rng = XorShift(seed);
            let mut buf = vec![0u8; 9000];
            let mut sum = Fnv::default();
            let mut sent = 0;
            while sent < LEN {
                let k = rng.range(1, 9000).min(LEN - sent);
                rng.fill(&mut buf[..k]);
                sum.add(&buf[..k]);
                w.write_all(&buf[..k]).await?;
                sent += k;
                progress.fetch_add(1, Ordering::Relaxed);
            }
            w.close().await?;
            Ok(sum)
        }
        async fn reader_task(
            mut r: rpal_net::rpal::RpalReadHalf,
            seed: u64,
            progress: Arc<AtomicU64>,
        ) -> io::Result<(usize, Fnv)> {
            let mut rng = XorShift(seed);
            let mut buf = vec![0u8; 5000];
            let mut sum = Fnv::default();
            let mut got = 0;
            loop {
                let k = rng.range(1, 5000);
                let n = r.read(&mut buf[..k]).await?;
                if n == 0 {
                    return Ok((got, sum));
                }
                sum.add(&buf[..n]);
                got += n;
                progress.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Each worker runs one writer and one reader, of different streams' directions.
        let up_w = h.spawn_on(1, writer_task(cw, 3, progress.clone()));
        let down_w = h.spawn_on(0, writer_task(sw, 5, progress.clone()));
        let up_r = h.spawn_on(0, reader_task(sr, 7, progress.clone()));
        let down_r = h.spawn_on(1, reader_task(cr, 9, progress.clone()));
        let start = Instant::now();
        let up_sum = within_for(RUN_LIMIT, "up writer", up_w)
            .await
            .unwrap()
            .unwrap();
        let down_sum = within_for(RUN_LIMIT, "down writer", down_w)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            within("up reader", up_r).await.unwrap().unwrap(),
            (LEN, up_sum)
        );
        assert_eq!(
            within("down reader", down_r).await.unwrap().unwrap(),
            (LEN, down_sum)
        );
        eprintln!(
            "2 x {LEN} bytes through 4 KiB rings in {:?}",
            start.elapsed()
        );
    });
    drop(wd);
}
