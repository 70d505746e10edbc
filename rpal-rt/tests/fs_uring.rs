//! Which path fs takes (io_uring operations on an io_uring worker, the blocking pool otherwise),
//! checked through the ring-op metrics, and clean cancellation of ring reads. Runs under the
//! driver CI chooses (RPAL_DRIVER); the assertions follow the runtime's driver.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, FutureExt};
use rpal_rt::fs::{self, File, OpenOptions};
use rpal_rt::runtime::DriverKind;
use rpal_rt::Runtime;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("rpal-fsuring-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `fut` in a task (so on a worker, whose metrics are reported) and returns its output.
fn in_task<F>(rt: &Runtime, fut: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(async move { rpal_rt::spawn(fut).await.unwrap() })
}

fn ring_ops(rt: &Runtime) -> (u64, u64) {
    let m = rt.metrics();
    (m.ring_ops_submitted_count(), m.ring_ops_completed_count())
}

/// Waits (running the runtime) until every submitted ring op has its final completion.
fn settle(rt: &Runtime) {
    let start = Instant::now();
    loop {
        let (s, c) = ring_ops(rt);
        if s == c {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "ring ops never completed: {s} submitted, {c} completed"
        );
        in_task(rt, rpal_rt::time::sleep(Duration::from_millis(1)));
    }
}

#[test]
fn every_mapped_operation_takes_the_drivers_path() {
    let dir = TempDir::new("path");
    for (name, rt) in support::each_flavor() {
        let root = dir.0.join(name);
        std::fs::create_dir_all(&root).unwrap();
        let before = ring_ops(&rt);
        let r = root.clone();
        // In a task, so it runs on a worker (whose metrics are reported).
        in_task(&rt, async move {
            fs::create_dir(r.join("d")).await.unwrap();
            let p = r.join("d/f");
            fs::write(&p, b"0123456789").await.unwrap();
            assert_eq!(fs::read(&p).await.unwrap(), b"0123456789");
            assert_eq!(fs::read_to_string(&p).await.unwrap(), "0123456789");

            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&p)
                .await
                .unwrap();
            let mut four = [0u8; 4];
            f.read_exact(&mut four).await.unwrap();
            assert_eq!(&four, b"0123");
            f.write_all(b"ab").await.unwrap(); // at the logical position 4
            f.flush().await.unwrap();
            assert_eq!(f.write_at(b"XY", 8).await.unwrap(), 2);
            let mut all = [0u8; 10];
            assert_eq!(f.read_at(&mut all, 0).await.unwrap(), 10);
            assert_eq!(&all, b"0123ab67XY");
            f.sync_data().await.unwrap();
            f.set_len(3).await.unwrap();
            f.sync_all().await.unwrap();
            assert_eq!(f.metadata().await.unwrap().len(), 3);
            f.seek(std::io::SeekFrom::Start(0)).await.unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).await.unwrap();
            assert_eq!(s, "012");
            drop(f);

            fs::rename(&p, r.join("d/g")).await.unwrap();
            let err = fs::read(&p).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            let err = File::open(&p).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
            fs::remove_file(r.join("d/g")).await.unwrap();
            let err = fs::create_dir(r.join("d")).await.unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        });
        settle(&rt);
        let after = ring_ops(&rt);
        let ran = after.0 - before.0;
        eprintln!("{name} on {:?}: {ran} ring ops", rt.driver_kind());
        match rt.driver_kind() {
            // mkdir, 2 x (openat, statx, 2 reads), openat + write, openat, read, write, 3 x
            // write_at/read_at/fsync, ftruncate (where supported), reads, renameat, unlinkat...
            DriverKind::Uring => assert!(ran >= 15, "{name}: only {ran} ring ops"),
            DriverKind::Epoll => assert_eq!(ran, 0, "{name}: ring ops on epoll"),
        }
        assert_eq!(after.0, after.1, "{name}: every ring op completed");
    }
}

#[test]
fn dropping_a_read_mid_flight_is_clean() {
    let dir = TempDir::new("cancel");
    let p = dir.0.join("big");
    // 32 MiB, so a 2 MiB read is often still in the kernel when its future drops.
    let pattern: Vec<u8> = (0..32u32 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(&p, &pattern).unwrap();
    for (name, rt) in support::each_flavor() {
        let p2 = p.clone();
        let expected = pattern.clone();
        in_task(&rt, async move {
            for round in 0..20u64 {
                let f = File::open(&p2).await.unwrap();
                // read_at: polled once (submitted), then dropped.
                let mut buf = vec![0u8; 2 << 20];
                {
                    let fut = f.read_at(&mut buf, round * 4096);
                    futures::pin_mut!(fut);
                    let _ = fut.as_mut().now_or_never();
                    if round % 2 == 1 {
                        // Let the worker park (handing the op to the kernel) before the drop.
                        rpal_rt::time::sleep(Duration::from_micros(50)).await;
                    }
                }
                // AsyncRead: one poll starts a ring read, then the File drops mid-read.
                let mut f2 = File::open(&p2).await.unwrap();
                let mut small = [0u8; 16];
                let _ = futures::poll!(f2.read(&mut small));
                if round % 2 == 0 {
                    rpal_rt::time::sleep(Duration::from_micros(50)).await;
                }
                drop(f2);
                // The file still reads correctly afterwards.
                let mut check = vec![0u8; 4096];
                let off = round * 4096;
                let n = f.read_at(&mut check, off).await.unwrap();
                assert_eq!(n, 4096);
                assert_eq!(&check[..], &expected[off as usize..off as usize + 4096]);
            }
        });
        settle(&rt);
        let (s, c) = ring_ops(&rt);
        eprintln!("{name}: {s} submitted, {c} completed");
        if rt.driver_kind() == DriverKind::Uring {
            assert!(s >= 40, "{name}: {s}");
        }
        // Whole-file read after all that churn.
        let got = in_task(&rt, fs::read(p.clone())).unwrap();
        assert!(got == pattern, "{name}: contents differ");
    }
}

#[test]
fn runtime_shutdown_with_reads_in_flight_is_clean() {
    let dir = TempDir::new("shutdown");
    let p = dir.0.join("big");
    std::fs::write(&p, vec![7u8; 8 << 20]).unwrap();
    for (_, rt) in support::each_flavor() {
        let p2 = p.clone();
        rt.block_on(async move {
            for _ in 0..8 {
                let p3 = p2.clone();
                rpal_rt::spawn(async move {
                    let f = File::open(&p3).await.unwrap();
                    let mut buf = vec![0u8; 2 << 20];
                    loop {
                        f.read_at(&mut buf, 0).await.unwrap();
                    }
                });
            }
            rpal_rt::time::sleep(Duration::from_millis(20)).await;
        });
        drop(rt); // tasks dropped with their reads in the kernel; the driver drains
    }
}
