//! What a process holds, read from `/proc/self`: open descriptors, mappings of ring memfds
//! (named `rpal-ring` by `rpal/shm.rs`), resident memory. The fault, soak and hostile tests
//! compare these before and after, to show that nothing leaks.

use std::time::{Duration, Instant};

/// The name `SharedRegion::create` gives its memfd; `/proc/<pid>/maps` shows
/// `/memfd:rpal-ring (deleted)` for every mapping of one.
pub const RING_MEMFD: &str = "memfd:rpal-ring";

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .count()
}

/// Lines of `/proc/self/maps` that map a ring memfd.
pub fn ring_maps() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .expect("read /proc/self/maps")
        .lines()
        .filter(|l| l.contains(RING_MEMFD))
        .count()
}

/// Descriptor numbers of this process that are ring memfds.
pub fn ring_memfds() -> Vec<i32> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").expect("read /proc/self/fd") {
        let Ok(e) = e else { continue };
        let Ok(link) = std::fs::read_link(e.path()) else {
            continue;
        };
        if link.to_string_lossy().contains(RING_MEMFD) {
            if let Some(n) = e.file_name().to_str().and_then(|s| s.parse().ok()) {
                v.push(n);
            }
        }
    }
    v
}

/// Resident set size in bytes (`/proc/self/statm`, second field, in pages).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = s
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm resident field");
    // SAFETY: sysconf has no memory arguments.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    pages * page
}

/// A snapshot of descriptors and ring mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held {
    /// Open descriptors.
    pub fds: usize,
    /// Mappings of ring memfds.
    pub ring_maps: usize,
    /// Ring memfds among the descriptors.
    pub ring_memfds: usize,
}

impl Held {
    /// What this process holds now.
    pub fn now() -> Held {
        Held {
            fds: fd_count(),
            ring_maps: ring_maps(),
            ring_memfds: ring_memfds().len(),
        }
    }
}

/// Waits (yielding to the runtime, which may still have closes to complete: with io_uring a
/// socket's close finishes once the worker runs again) until this process holds exactly
/// `baseline` again, for at most `limit`; panics naming `what` with both snapshots otherwise.
pub async fn settle_to(baseline: Held, limit: Duration, what: &str) {
    let start = Instant::now();
    loop {
        let now = Held::now();
        if now == baseline {
            return;
        }
        if start.elapsed() > limit {
            let fds: Vec<String> = std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| e.ok())
                .map(|e| {
                    format!(
                        "{}->{}",
                        e.file_name().to_string_lossy(),
                        std::fs::read_link(e.path())
                            .map(|l| l.display().to_string())
                            .unwrap_or_default()
                    )
                })
                .collect();
            panic!("{what}: leaked: baseline {baseline:?}, now {now:?}; fds: {fds:?}");
        }
        rpal_rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Aborts the whole process if it is still armed after `limit`: a test of "never hangs" cannot
/// rely on a timer of the runtime that may be the one hanging.
pub struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

impl Watchdog {
    /// Arms the watchdog; dropping it disarms.
    pub fn arm(limit: Duration, what: String) -> Watchdog {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("WATCHDOG: {what}: still running after {limit:?} (a hang); aborting");
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.take();
    }
}
