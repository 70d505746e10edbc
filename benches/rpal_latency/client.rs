//! The client process (the bench itself): starts the server process for one mode, sends it the
//! messages in a closed loop (stamp, send, wait for the answer on the plain Unix answer socket)
//! and collects the server's summary.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rpal_net::rpal::ring::{init_ring, Producer, RegionLayout};
use rpal_net::rpal::shm::SharedRegion;

use crate::common::{
    seq_of, stamp, Mode, Msg, Summary, Usage, FLOOR_RING_CAPACITY, MSG_LEN, READY,
};

/// How long the client waits for one answer (or the ready byte) before it declares the server
/// stuck.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a failed client waits for the server process to exit by itself before killing it.
const STOP_GRACE: Duration = Duration::from_secs(1);
/// The CPU the server is pinned to with `--pin` (the client takes CPU 0).
pub(crate) const SERVER_CPU: usize = 1;

/// How one run is done.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    /// Recorded messages.
    pub(crate) messages: u64,
    /// Messages sent before recording starts.
    pub(crate) warmup: u64,
    /// Pin the server to [`SERVER_CPU`] (the caller pins the client).
    pub(crate) pin: bool,
}

/// What one mode measured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    /// The server's latency summary and CPU time.
    pub(crate) server: Summary,
    /// Client resource use (CPU time, context switches) over the recorded messages.
    pub(crate) client: Usage,
    /// Wall time of the recorded messages (closed loop: one round trip each).
    pub(crate) wall: Duration,
    /// Doorbells sent and parks of the client's RpalStream (modes c and d).
    pub(crate) client_stats: Option<(u64, u64)>,
}

/// Runs `mode` once: starts the server process, drives the closed loop, reads the summary.
pub(crate) fn run(mode: Mode, o: &Options) -> Result<Outcome, String> {
    let path = std::env::temp_dir().join(format!(
        "rpal_latency.{}.{}.sock",
        std::process::id(),
        mode.name()
    ));
    let _ = std::fs::remove_file(&path);
    let r = run_at(mode, o, &path);
    let _ = std::fs::remove_file(&path);
    r
}

fn run_at(mode: Mode, o: &Options, path: &Path) -> Result<Outcome, String> {
    let (mut answer, answer_srv) = UnixStream::pair().map_err(err("answer socket"))?;
    let answer_child = inheritable(answer_srv.as_fd()).map_err(err("answer socket"))?;
    let mut ring = match mode {
        Mode::RingFloor => Some(FloorRing::create().map_err(err("ring-floor region"))?),
        _ => None,
    };
    let exe = std::env::current_exe().map_err(err("current_exe"))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--server")
        .arg(mode.name())
        .arg(path)
        .arg("--answer-fd")
        .arg(answer_child.as_raw_fd().to_string())
        .arg("--messages")
        .arg((o.warmup + o.messages).to_string())
        .arg("--warmup")
        .arg(o.warmup.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if o.pin {
        cmd.arg("--pin-cpu").arg(SERVER_CPU.to_string());
    }
    if let Some(fd) = ring.as_ref().and_then(|r| r.child_fd.as_ref()) {
        cmd.arg("--ring-fd").arg(fd.as_raw_fd().to_string());
    }
    let mut child = cmd.spawn().map_err(err("starting the server process"))?;
    // The server has its copies now; ours must go so a dead server is seen as a hang-up.
    drop((answer_child, answer_srv));
    if let Some(r) = &mut ring {
        r.child_fd = None;
    }
    answer
        .set_read_timeout(Some(ANSWER_TIMEOUT))
        .map_err(err("answer socket"))?;

    let res = catch_unwind(AssertUnwindSafe(|| {
        let mut ready = [0u8; 1];
        answer.read_exact(&mut ready)?;
        if ready[0] != READY {
            return Err(io::Error::other("server sent a bad ready byte"));
        }
        let mut lp = ClosedLoop::new(o, &mut answer);
        let stats = match mode {
            Mode::UnixEpoll => unix_blocking(path, &mut lp)?,
            Mode::TokioUnix => tokio_unix(path, &mut lp)?,
            Mode::RpalSpin => rpal(path, true, &mut lp)?,
            Mode::RpalPark => rpal(path, false, &mut lp)?,
            Mode::RingFloor => match ring {
                Some(r) => r.drive(&mut lp)?,
                None => return Err(io::Error::other("ring-floor without its region")),
            },
        };
        Ok((lp.finish(), stats))
    }));
    let ((client, wall), client_stats) = match res {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(format!("client side: {e}{}", stop(&mut child))),
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            return Err(format!("client side panicked: {msg}{}", stop(&mut child)));
        }
    };
    drop(answer);
    let out = child
        .wait_with_output()
        .map_err(err("waiting for the server"))?;
    if !out.status.success() {
        return Err(format!(
            "server process failed ({}); see its stderr above",
            out.status
        ));
    }
    let server = Summary::parse(&String::from_utf8_lossy(&out.stdout))?;
    if server.count != o.messages {
        return Err(format!(
            "server recorded {} messages, expected {}",
            server.count, o.messages
        ));
    }
    Ok(Outcome {
        server,
        client,
        wall,
        client_stats,
    })
}

/// Prefixes an OS error with what was being done.
fn err(what: &'static str) -> impl Fn(io::Error) -> String {
    move |e| format!("{what}: {e}")
}

/// After a client-side failure: gives the server process we started a moment to exit on its
/// own (a server failure is usually the cause), else kills it; reaps it and says which it was.
fn stop(child: &mut std::process::Child) -> String {
    let until = Instant::now() + STOP_GRACE;
    while Instant::now() < until {
        if let Ok(Some(st)) = child.try_wait() {
            return format!(" (the server process exited first: {st}; see its stderr above)");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    " (the server process was still running and was killed)".to_string()
}

/// A duplicate of `fd` without `FD_CLOEXEC`, so the server process inherits it.
fn inheritable(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    // SAFETY: plain fcntl on an open fd; F_DUPFD returns a new fd with FD_CLOEXEC clear.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD, 3) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fcntl just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// The closed loop every mode shares: stamp and hand out the next message, then wait for its
/// answer; takes the CPU and wall clock start at the end of the warm-up.
struct ClosedLoop<'a> {
    answer: &'a mut UnixStream,
    next: u64,
    total: u64,
    warmup: u64,
    at_start: Usage,
    t0: Instant,
}

impl<'a> ClosedLoop<'a> {
    fn new(o: &Options, answer: &'a mut UnixStream) -> Self {
        ClosedLoop {
            answer,
            next: 0,
            total: o.warmup + o.messages,
            warmup: o.warmup,
            at_start: Usage::now(),
            t0: Instant::now(),
        }
    }

    /// The next message, stamped now; `None` when all were sent.
    fn next_msg(&mut self) -> Option<Msg> {
        if self.next == self.total {
            return None;
        }
        if self.next == self.warmup {
            self.at_start = Usage::now();
            self.t0 = Instant::now();
        }
        let mut m: Msg = [0; MSG_LEN];
        stamp(&mut m, self.next);
        Some(m)
    }

    /// Blocks on the plain Unix answer socket until the server answered the last message.
    fn wait_answer(&mut self) -> io::Result<()> {
        let mut m: Msg = [0; MSG_LEN];
        self.answer.read_exact(&mut m).map_err(|e| {
            io::Error::new(e.kind(), format!("answer to message {}: {e}", self.next))
        })?;
        if seq_of(&m) != self.next {
            return Err(io::Error::other(format!(
                "answer carries message {}, expected {}",
                seq_of(&m),
                self.next
            )));
        }
        self.next += 1;
        Ok(())
    }

    /// Client resource use and wall time of the recorded messages.
    fn finish(&self) -> (Usage, Duration) {
        (Usage::now().since(self.at_start), self.t0.elapsed())
    }
}

/// (a) plain blocking `write(2)` on a connected Unix stream socket.
fn unix_blocking(path: &Path, lp: &mut ClosedLoop<'_>) -> io::Result<Option<(u64, u64)>> {
    let mut s = UnixStream::connect(path)?;
    while let Some(m) = lp.next_msg() {
        s.write_all(&m)?;
        lp.wait_answer()?;
    }
    Ok(None)
}

/// (b) tokio current-thread runtime, `tokio::net::UnixStream::write_all`.
fn tokio_unix(path: &Path, lp: &mut ClosedLoop<'_>) -> io::Result<Option<(u64, u64)>> {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut s = tokio::net::UnixStream::connect(path).await?;
        while let Some(m) = lp.next_msg() {
            s.write_all(&m).await?;
            lp.wait_answer()?;
        }
        Ok(None)
    })
}

/// (c)/(d) RpalStream in an rpal current-thread runtime, `write_all` + `flush`.
fn rpal(path: &Path, spin: bool, lp: &mut ClosedLoop<'_>) -> io::Result<Option<(u64, u64)>> {
    use futures::AsyncWriteExt;
    let rt = rpal_rt::Runtime::new_current_thread()?;
    let cfg = rpal_net::RpalConfig::default().spin(spin);
    rt.block_on(async {
        let mut s = rpal_net::RpalStream::connect_with(path, &cfg).await?;
        if !s.is_shared_memory() {
            return Err(io::Error::other(
                "the RpalStream fell back to the Unix socket; expected shared memory",
            ));
        }
        while let Some(m) = lp.next_msg() {
            s.write_all(&m).await?;
            s.flush().await?;
            lp.wait_answer()?;
        }
        let st = s.stats();
        s.close().await?;
        Ok(Some((st.doorbells_sent, st.parks)))
    })
}

/// (e) the raw ring: the client creates the region and hands the server an inheritable memfd.
struct FloorRing {
    region: Arc<SharedRegion>,
    layout: RegionLayout,
    /// The duplicate the server process inherits; closed here once it started.
    child_fd: Option<OwnedFd>,
}

impl FloorRing {
    fn create() -> io::Result<FloorRing> {
        let layout = RegionLayout::new(FLOOR_RING_CAPACITY)?;
        let region = Arc::new(SharedRegion::create(layout.region_len, None)?);
        for off in layout.offsets {
            init_ring(&region, off, layout.ring_len, layout.capacity)?;
        }
        let child_fd = Some(inheritable(region.as_fd())?);
        Ok(FloorRing {
            region,
            layout,
            child_fd,
        })
    }

    /// Writes every message into ring 0 (the server busy-polls it).
    fn drive(self, lp: &mut ClosedLoop<'_>) -> io::Result<Option<(u64, u64)>> {
        use rpal_net::rpal::error::RingError;
        let l = self.layout;
        let mut tx = Producer::new(&self.region, l.offsets[0], l.ring_len)?;
        while let Some(m) = lp.next_msg() {
            let mut off = 0;
            while off < MSG_LEN {
                match tx.write(&m[off..]) {
                    Ok(n) => off += n,
                    Err(RingError::WouldBlock) => std::hint::spin_loop(),
                    Err(e) => return Err(e.into()),
                }
            }
            lp.wait_answer()?;
        }
        tx.close();
        Ok(None)
    }
}
