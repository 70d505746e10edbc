//! [`RpalListener`]: accepts RPAL clients over shared memory and plain Unix clients as they are.

use std::future::{poll_fn, Future};
use std::io;
use std::os::unix::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use futures::stream::{FuturesUnordered, StreamExt};

use super::handshake::{self, Detect, Outcome};
use super::{RpalConfig, RpalStream};
use crate::unix::{UnixAddr, UnixListener, UnixStream};

/// Most new connections taken from the socket in one poll of `accept`.
const ACCEPT_BATCH: usize = 64;

type Handshake = Pin<Box<dyn Future<Output = io::Result<(RpalStream, SocketAddr)>> + Send>>;

/// Listens on a Unix socket; each accepted connection is an [`RpalStream`] over shared memory
/// when the client speaks RPAL, or over the socket itself when it does not.
///
/// Handshakes run concurrently inside `accept`, so a slow or silent client never holds up the
/// others. `accept` never fails because of one bad client: a malformed or hostile handshake, a
/// refused uid, or a client that disappears mid-handshake is closed and counted
/// ([`RpalListener::rejected_handshakes`]). A client that sends nothing for the detect timeout
/// is served as a plain client (it may be waiting for the server to speak first).
#[derive(Debug)]
pub struct RpalListener {
    inner: UnixListener,
    config: Arc<RpalConfig>,
    pending: Mutex<PendingSet>,
    rejected: Arc<AtomicU64>,
}

struct PendingSet(FuturesUnordered<Handshake>);

impl std::fmt::Debug for PendingSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} handshakes in progress", self.0.len())
    }
}

impl RpalListener {
    /// Binds a path (`&str`, `&Path`) or an abstract name ([`UnixAddr::Abstract`]).
    ///
    /// # Errors
    /// As `bind(2)`/`listen(2)`.
    pub fn bind<'a>(addr: impl Into<UnixAddr<'a>>) -> io::Result<RpalListener> {
        RpalListener::bind_with(addr, RpalConfig::default())
    }

    /// Binds with explicit settings.
    ///
    /// # Errors
    /// As `bind(2)`/`listen(2)`.
    pub fn bind_with<'a>(
        addr: impl Into<UnixAddr<'a>>,
        config: RpalConfig,
    ) -> io::Result<RpalListener> {
        Ok(RpalListener {
            inner: UnixListener::bind(addr)?,
            config: Arc::new(config),
            pending: Mutex::new(PendingSet(FuturesUnordered::new())),
            rejected: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Accepts the next connection whose handshake completed (or that fell back).
    ///
    /// # Errors
    /// Only errors of the listening socket itself (e.g. `EMFILE`).
    pub async fn accept(&self) -> io::Result<(RpalStream, SocketAddr)> {
        poll_fn(|cx| {
            let mut pending = match self.pending.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let mut listen_err = None;
            for _ in 0..ACCEPT_BATCH {
                match self.inner.poll_accept(cx) {
                    Poll::Ready(Ok((sock, addr))) => pending.0.push(Box::pin(serve(
                        sock,
                        addr,
                        self.config.clone(),
                        self.rejected.clone(),
                    ))),
                    Poll::Ready(Err(e)) => {
                        listen_err = Some(e);
                        break;
                    }
                    Poll::Pending => break,
                }
            }
            while let Poll::Ready(Some(done)) = pending.0.poll_next_unpin(cx) {
                match done {
                    Ok(conn) => return Poll::Ready(Ok(conn)),
                    Err(_) => {
                        self.rejected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            match listen_err {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// The address this listener is bound to.
    ///
    /// # Errors
    /// As `getsockname(2)`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Connections closed during the handshake (malformed, refused uid, timed out, vanished).
    pub fn rejected_handshakes(&self) -> u64 {
        self.rejected.load(Ordering::Relaxed)
    }
}

/// One connection's admission: uid filter, detection, handshake, all under the deadline.
async fn serve(
    sock: UnixStream,
    addr: SocketAddr,
    config: Arc<RpalConfig>,
    _rejected: Arc<AtomicU64>,
) -> io::Result<(RpalStream, SocketAddr)> {
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
        let outcome = match handshake::detect(&sock, &config).await? {
            Detect::Plain => Outcome::Plain(sock),
            Detect::Rpal => handshake::server(sock, &config).await?,
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
