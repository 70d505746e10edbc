//! Helpers shared by the RpalStream integration tests: runtimes of each flavour (on the driver
//! `RPAL_DRIVER` picks), unique socket addresses that clean up after themselves, a deterministic
//! byte source and a stream checksum, a bounded-await helper, an echo loop, and the "skip loudly
//! unless CI" rule for external tools.
#![allow(dead_code, unreachable_pub)]

pub mod child;
pub mod proc;
pub mod raw;

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rpal_rt::runtime::Builder;
use rpal_rt::Runtime;

/// Bound on any single await that could hang: generous, so a noisy machine never trips it, but
/// a bug fails the test instead of hanging CI.
pub const LIMIT: Duration = Duration::from_secs(20);

/// A current-thread runtime.
pub fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .build()
        .expect("build current-thread runtime")
}

/// A thread-per-core runtime with `n` workers.
pub fn thread_per_core(n: usize) -> Runtime {
    Builder::new_thread_per_core()
        .worker_threads(n)
        .build()
        .expect("build thread-per-core runtime")
}

/// Both flavours, named, for tests that must hold on each.
pub fn each_flavor() -> Vec<(&'static str, Runtime)> {
    vec![
        ("current_thread", current_thread()),
        ("thread_per_core", thread_per_core(2)),
    ]
}

/// Awaits `fut` for at most [`LIMIT`]; panics naming `what` if it takes longer.
pub async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    within_for(LIMIT, what, fut).await
}

/// Awaits `fut` for at most `limit`; panics naming `what` if it takes longer.
pub async fn within_for<F: Future>(limit: Duration, what: &str, fut: F) -> F::Output {
    match rpal_rt::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: still pending after {limit:?} (a hang or a lost wake-up)"),
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A socket path unique to this process and call, removed on drop.
#[derive(Debug)]
pub struct SockPath(PathBuf);

impl SockPath {
    /// A fresh path under the temp dir, tagged with `tag`, the pid and a counter.
    pub fn new(tag: &str) -> SockPath {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("rpal-{tag}-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        SockPath(p)
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The path as a string (for command lines).
    pub fn as_str(&self) -> &str {
        self.0.to_str().expect("temp paths are UTF-8 here")
    }
}

impl Drop for SockPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A Linux abstract socket name unique to this process and call (nothing to clean up).
pub fn abstract_name(tag: &str) -> Vec<u8> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("rpal-test-{tag}-{}-{n}", std::process::id()).into_bytes()
}

/// A deterministic xorshift64* generator.
#[derive(Clone, Debug)]
pub struct XorShift(pub u64);

impl XorShift {
    /// Next value.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// Fills `buf` with pseudo-random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `len` pseudo-random bytes from `seed` (never zero: xorshift needs a non-zero state).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    XorShift(seed | 1).fill(&mut v);
    v
}

/// 64-bit FNV-1a over a stream, fed piecewise.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fnv(pub u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Adds bytes.
    pub fn add(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }

    /// The checksum of `bytes`.
    pub fn of(bytes: &[u8]) -> Fnv {
        let mut f = Fnv::default();
        f.add(bytes);
        f
    }
}

/// Copies everything read back to the writer until end of stream, then half-closes. Returns the
/// bytes echoed and their checksum.
pub async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> io::Result<(u64, Fnv)> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    let mut sum = Fnv::default();
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            s.close().await?;
            return Ok((total, sum));
        }
        sum.add(&buf[..n]);
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// Raises `RLIMIT_NOFILE` to at least `want` (up to the hard limit); returns the soft limit now
/// in force.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our local struct.
    let r = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(r, 0, "getrlimit: {}", io::Error::last_os_error());
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    lim.rlim_cur = want.min(lim.rlim_max);
    // SAFETY: setrlimit reads our local struct.
    let r = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(r, 0, "setrlimit: {}", io::Error::last_os_error());
    lim.rlim_cur
}

/// True if `tool` runs (`tool probe_arg` exits at all). When it is missing: with `CI=true` the
/// test fails (CI installs it); otherwise it prints why and the caller skips.
pub fn tool_available(test: &str, tool: &str, probe_arg: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg(probe_arg)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if ok {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: `{tool}` is not installed, and CI=true requires it (CI installs it)");
    }
    eprintln!("SKIPPED {test}: `{tool}` is not installed (set CI=true to make this a failure)");
    false
}

/// Our effective uid.
pub fn uid() -> u32 {
    // SAFETY: getuid has no arguments and cannot fail.
    unsafe { libc::getuid() }
}

/// Connects a client to `listener` at `path` and accepts it, both at once (the handshake needs
/// both sides polled). Returns (client, server).
pub async fn connect_accept(
    listener: &rpal_net::RpalListener,
    path: &Path,
    cfg: &rpal_net::RpalConfig,
) -> (rpal_net::RpalStream, rpal_net::RpalStream) {
    let (c, s) = within(
        "connect + accept",
        futures::future::join(
            rpal_net::RpalStream::connect_with(path, cfg),
            listener.accept(),
        ),
    )
    .await;
    let c = c.unwrap_or_else(|e| panic!("connect: {e} ({:?})", e.kind()));
    let (s, _) = s.unwrap_or_else(|e| panic!("accept: {e} ({:?})", e.kind()));
    (c, s)
}
