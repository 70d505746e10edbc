//! [`RpalListener`]: accepts RPAL clients over shared memory and plain Unix clients as they are.
//!
//! # Admission
//! On the first [`RpalListener::accept`], the listener starts an admission task on the current
//! worker. It accepts connections and runs their admission (uid filter, plain-client detection,
//! handshake) concurrently, each under the handshake deadline, and queues the finished streams
//! (at most [`ADMITTED_BACKLOG`]; beyond that it stops accepting and the kernel's listen backlog
//! holds new clients). So handshakes progress even while the application is busy serving and
//! not inside `accept`, as a plain listen backlog would. Dropping the listener stops the task
//! and closes what it held.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::os::unix::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::stream::{FuturesUnordered, StreamExt};

use super::handshake::{self, Detect, Outcome};
use super::{RpalConfig, RpalStream};
use crate::unix::{UnixAddr, UnixListener, UnixStream};

/// Most admitted connections waiting for `accept`; beyond it the admission task pauses.
pub const ADMITTED_BACKLOG: usize = 128;
/// Most handshakes in progress at once; beyond it new connections wait in the kernel backlog.
pub const MAX_HANDSHAKES: usize = 256;
/// Pause after an error of the listening socket (e.g. `EMFILE`) before accepting again.
const LISTEN_ERROR_BACKOFF: Duration = Duration::from_millis(10);
/// `listen(2)` backlog; the kernel caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

type Handshake = Pin<Box<dyn Future<Output = io::Result<(RpalStream, SocketAddr)>> + Send>>;

/// Listens on a Unix socket; each accepted connection is an [`RpalStream`] over shared memory
/// when the client speaks RPAL, or over the socket itself when it does not.
///
/// `accept` never fails because of one bad client: a malformed or hostile handshake, a refused
/// uid, or a client that disappears mid-handshake is closed and counted
/// ([`RpalListener::rejected_handshakes`]). A client that sends nothing for the detect timeout
/// is served as a plain client (it may be waiting for the server to speak first). See the
/// module docs for how admission runs.
///
/// # Examples
/// ```
/// use futures::{AsyncReadExt, AsyncWriteExt};
/// use rpal_net::unix::UnixAddr;
/// use rpal_net::{RpalConfig, RpalListener, RpalStream};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let name = format!("rpal-doc-listener-{}", std::process::id());
///     let config = RpalConfig::default().allow_uids(vec![rustix::process::getuid().as_raw()]);
///     let listener = RpalListener::bind_with(UnixAddr::Abstract(name.as_bytes()), config).unwrap();
///     let server = rpal_rt::spawn(async move {
///         let (mut s, _) = listener.accept().await.unwrap();
///         let mut req = [0u8; 4];
///         s.read_exact(&mut req).await.unwrap();
///         s.write_all(b"pong").await.unwrap();
///     });
///     let mut c = RpalStream::connect(UnixAddr::Abstract(name.as_bytes())).await.unwrap();
///     c.write_all(b"ping").await.unwrap();
///     let mut resp = [0u8; 4];
///     c.read_exact(&mut resp).await.unwrap();
///     assert_eq!(&resp, b"pong");
///     server.await.unwrap();
/// });
/// ```
#[derive(Debug)]
pub struct RpalListener {
    shared: Arc<Shared>,
    task: Mutex<Option<rpal_rt::JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    inner: UnixListener,
    config: RpalConfig,
    rejected: AtomicU64,
    admitted: Mutex<Admitted>,
}

/// Finished admissions and whoever waits for them.
#[derive(Debug, Default)]
struct Admitted {
    ready: VecDeque<io::Result<(RpalStream, SocketAddr)>>,
    /// The `accept` caller waiting for `ready`.
    acceptor: Option<Waker>,
    /// The admission task, paused because `ready` is full.
    admitter: Option<Waker>,
}

impl RpalListener {
    /// Binds a path (`&str`, `&Path`) or an abstract name ([`UnixAddr::Abstract`]).
    ///
    /// # Errors
    /// As `bind(2)`/`listen(2)`.
    pub fn bind<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<RpalListener> {
        RpalListener::bind_with(addr, RpalConfig::default())
    }

    /// Binds with explicit settings. At a path, the socket file gets
    /// [`RpalConfig::socket_mode`] (default `0o600`: only this uid and root can connect).
    ///
    /// # Errors
    /// As `bind(2)`/`chmod(2)`/`listen(2)`.
    pub fn bind_with<'a>(
        addr: impl Into<UnixAddr<'a>>,
        config: RpalConfig,
    ) -> io::Result<RpalListener> {
        let inner = bind_socket(addr.into(), config.socket_mode)?;
        Ok(RpalListener {
            shared: Arc::new(Shared {
                inner,
                config,
                rejected: AtomicU64::new(0),
                admitted: Mutex::new(Admitted::default()),
            }),
            task: Mutex::new(None),
        })
    }

    /// Accepts the next connection whose admission finished (shared memory or plain).
    ///
    /// # Errors
    /// Errors of the listening socket itself (e.g. `EMFILE`), or outside an rpal runtime.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection is taken from the queue only when this returns it.
    pub async fn accept(&self) -> io::Result<(RpalStream, SocketAddr)> {
        self.start()?;
        poll_fn(|cx| {
            let mut a = lock(&self.shared.admitted);
            if let Some(next) = a.ready.pop_front() {
                if let Some(w) = a.admitter.take() {
                    w.wake();
                }
                return Poll::Ready(next);
            }
            a.acceptor = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }

    /// Starts the admission task once.
    fn start(&self) -> io::Result<()> {
        let mut task = lock(&self.task);
        if task.is_none() {
            let shared = self.shared.clone();
            let handle = rpal_rt::runtime::Handle::try_current()?;
            *task = Some(handle.spawn(admit(shared)));
        }
        Ok(())
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.shared.inner.local_addr()
    }

    /// Connections closed during admission (malformed, refused uid, timed out, vanished).
    pub fn rejected_handshakes(&self) -> u64 {
        self.shared.rejected.load(Ordering::Relaxed)
    }
}

impl Drop for RpalListener {
    fn drop(&mut self) {
        if let Some(t) = lock(&self.task).take() {
            t.abort();
        }
    }
}

/// Binds a listening socket. At a path: `bind`, then `chmod` to `mode`, then `listen`, so
/// the file never accepts a connection while it has the umask's (possibly wider) mode.
fn bind_socket(addr: UnixAddr<'_>, mode: u32) -> io::Result<UnixListener> {
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    use std::os::unix::fs::PermissionsExt;
    let UnixAddr::Path(path) = addr else {
        return UnixListener::bind(addr);
    };
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )?;
    rustix::net::bind(&fd, &rustix::net::SocketAddrUnix::new(path)?)?;
    let listening = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .and_then(|()| Ok(rustix::net::listen(&fd, LISTEN_BACKLOG)?));
    if let Err(e) = listening {
        // Our bind created the file: do not leave it behind.
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    UnixListener::from_std(std::os::unix::net::UnixListener::from(fd))
}

/// The admission task: accept, run admissions concurrently, queue the finished ones.
async fn admit(shared: Arc<Shared>) {
    let mut running: FuturesUnordered<Handshake> = FuturesUnordered::new();
    loop {
        let listen_err = poll_fn(|cx| admit_step(&shared, &mut running, cx)).await;
        if let Some(e) = listen_err {
            push(&shared, Err(e));
            rpal_rt::time::sleep(LISTEN_ERROR_BACKOFF).await;
        }
    }
}

/// One round: accept while there is room, drive the handshakes. Ready(Some(e)) on an error of
/// the listening socket.
fn admit_step(
    shared: &Arc<Shared>,
    running: &mut FuturesUnordered<Handshake>,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Error>> {
    loop {
        let mut progressed = false;
        while let Poll::Ready(Some(done)) = running.poll_next_unpin(cx) {
            progressed = true;
            match done {
                Ok(conn) => push(shared, Ok(conn)),
                Err(_) => {
                    shared.rejected.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let room = {
            let mut a = lock(&shared.admitted);
            let room = a.ready.len() < ADMITTED_BACKLOG;
            if !room {
                a.admitter = Some(cx.waker().clone());
            }
            room
        };
        if room && running.len() < MAX_HANDSHAKES {
            match shared.inner.poll_accept(cx) {
                Poll::Ready(Ok((sock, addr))) => {
                    running.push(Box::pin(serve(sock, addr, shared.clone())));
                    progressed = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Some(e)),
                Poll::Pending => {}
            }
        }
        if !progressed {
            return Poll::Pending;
        }
    }
}

fn push(shared: &Shared, conn: io::Result<(RpalStream, SocketAddr)>) {
    let mut a = lock(&shared.admitted);
    a.ready.push_back(conn);
    if let Some(w) = a.acceptor.take() {
        w.wake();
    }
}

/// One connection's admission: uid filter, detection, handshake, all under the deadline.
async fn serve(
    sock: UnixStream,
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> io::Result<(RpalStream, SocketAddr)> {
    let config = &shared.config;
    if let Some(uids) = &config.allowed_uids {
        let uid = sock.peer_cred()?.uid;
        if !uids.contains(&uid) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!("uid {uid} is not allowed"),
            ));
        }
    }
    let work = async {
        let outcome = match handshake::detect(&sock, config).await? {
            Detect::Plain => Outcome::Plain(sock),
            Detect::Rpal => handshake::server(sock, config).await?,
        };
        Ok(RpalStream::from_outcome(outcome))
    };
    match rpal_rt::time::timeout(config.handshake_timeout, work).await {
        Ok(Ok(stream)) => Ok((stream, addr)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "RPAL handshake timed out",
        )),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
