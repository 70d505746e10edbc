//! Services: one client API whether the service runs in this process, behind the call gate,
//! or in another process, behind an [`RpalStream`].
//!
//! Exports: [`ServiceClient`] (connect by name, `call`), [`publish`]/[`unpublish`] (make an
//! in-process [`Service`] reachable by name on this thread), [`service_addr`] (the socket name
//! a service process listens on), [`serve`] and [`serve_connection`] (run a service as its own
//! process).
//!
//! # Placement is chosen at connect time
//!
//! [`ServiceClient::connect`]`(name)` looks for `name` among the services published on the
//! calling thread; if it finds one, every call goes through the gate (same thread, callee's
//! stack and protection key, no syscall). Otherwise it connects to the abstract Unix name
//! [`service_addr`]`(name)`, where another process runs [`serve`], and every call is one framed
//! request and one framed response over the shared-memory ring of an [`RpalStream`]. The code
//! that calls does not change. Both placements run the *same* handler: the service process
//! registers it in a gate domain of its own and [`serve`] calls it through the gate, so the
//! handler is isolated from the server's network code there too. Handlers may wait
//! (`rpal_rt::gate::wait`): in process the calling task gets `Pending` and is resumed by the
//! reactor; in a service process the connection's task does.
//!
//! # Receiver state across processes
//!
//! A cross-process caller rings the callee's doorbell only when the callee waits. Each worker
//! publishes RUNNING / WAIT / CALL in its process's worker-state table
//! (`rpal_rt::io::worker_state`), which the handshake hands to the peer read-only; a waiting
//! stream end arms its ring's parking line with its worker's slot, and the writer makes the
//! wake-up syscall only while that slot reads WAIT (`RpalStats::doorbells_sent` counts rings,
//! `doorbells_skipped_busy` the skips; `RpalStream::peer_worker_state` shows the state). So a
//! callee worker busy with any of its connections, or inside a gate call, is never rung. The
//! CALL state of RPAL's design, in which a caller runs the callee's handler on the caller's
//! thread, exists here in-process (the gate); across processes it would need the callee's
//! domain mapped into the caller, which separate address spaces do not allow.
//!
//! # Threads
//!
//! An in-process client holds a gate [`Service`], which is `!Send`: keep it on the thread that
//! published the service (a current-thread runtime, or tasks made with `rpal_rt::spawn_local`).
//! A remote client is `Send`.
//!
//! # Examples
//! ```
//! use rpal_net::service::{self, ServiceClient};
//! use rpal_rt::gate::{Domain, DomainConfig};
//!
//! let rt = rpal_rt::Runtime::new_current_thread().unwrap();
//! rt.block_on(async {
//!     let domain = Domain::new(DomainConfig::new()).unwrap();
//!     let upper = domain.register("doc-upper", |req, resp| {
//!         resp.write(&req.to_ascii_uppercase()).unwrap();
//!     });
//!     service::publish(&upper);
//!     let mut client = ServiceClient::connect("doc-upper").await.unwrap();
//!     assert!(client.is_in_process());
//!     assert_eq!(client.call(b"rpal").await.unwrap(), b"RPAL");
//! });
//! ```

mod server;
mod wire;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;

use rpal_rt::gate::{CallError, Service};

use crate::rpal::{RpalConfig, RpalStats, RpalStream};
use crate::unix::UnixAddr;

pub use server::{serve, serve_connection};

/// Prefix of the abstract socket name of a service process.
const ADDR_PREFIX: &str = "rpal-service/";

thread_local! {
    /// Services published on this thread, by name.
    static LOCAL: RefCell<HashMap<String, Service>> = RefCell::new(HashMap::new());
}

/// Makes `service` reachable by [`ServiceClient::connect`] from this thread under its name
/// (replacing an earlier one of that name).
pub fn publish(service: &Service) {
    LOCAL.with(|l| {
        l.borrow_mut()
            .insert(service.name().to_owned(), service.clone())
    });
}

/// Removes a published service; returns whether one was published under `name`. Clients
/// already connected keep calling it.
pub fn unpublish(name: &str) -> bool {
    LOCAL.with(|l| l.borrow_mut().remove(name).is_some())
}

/// The abstract Unix socket name (bytes, no leading NUL) that a process serving `name` binds:
/// `rpal-service/<name>`. Bind it with `RpalListener::bind(UnixAddr::Abstract(&addr))`.
pub fn service_addr(name: &str) -> Vec<u8> {
    let mut addr = ADDR_PREFIX.as_bytes().to_vec();
    addr.extend_from_slice(name.as_bytes());
    addr
}

/// A connection to one service, in this process or another (see the module doc).
///
/// # Examples
/// ```
/// use rpal_net::service::ServiceClient;
/// use rpal_rt::gate::{Domain, DomainConfig};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let domain = Domain::new(DomainConfig::new()).unwrap();
///     let rev = domain.register("doc-reverse", |req, resp| {
///         let mut v = req.to_vec();
///         v.reverse();
///         resp.write(&v).unwrap();
///     });
///     // Held directly: always in-process. `ServiceClient::connect(name)` finds a published
///     // service in this process, or else connects to the process serving `name`.
///     let mut client = ServiceClient::in_process(&rev);
///     assert!(client.is_in_process() && client.stream_stats().is_none());
///     assert_eq!(client.call(b"abc").await.unwrap(), b"cba");
/// });
/// ```
pub struct ServiceClient {
    placement: Placement,
}

enum Placement {
    /// Through the gate, on this thread.
    InProcess(Service),
    /// Over a stream to a service process; `frame` is reused for every request. Boxed: a
    /// stream is large and the in-process variant is the hot one.
    Remote {
        stream: Box<RpalStream>,
        frame: Vec<u8>,
    },
}

impl fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.placement {
            Placement::InProcess(s) => f.debug_tuple("ServiceClient::InProcess").field(s).finish(),
            Placement::Remote { stream, .. } => f
                .debug_tuple("ServiceClient::Remote")
                .field(stream)
                .finish(),
        }
    }
}

impl ServiceClient {
    /// Connects to the service `name`: through the gate if it is published on this thread,
    /// else over an [`RpalStream`] to the process serving it (default [`RpalConfig`]).
    ///
    /// # Errors
    /// As [`RpalStream::connect`] (`ConnectionRefused` or `NotFound` when no process serves
    /// `name` yet).
    pub async fn connect(name: &str) -> io::Result<ServiceClient> {
        ServiceClient::connect_with(name, &RpalConfig::default()).await
    }

    /// Like [`ServiceClient::connect`], with explicit stream settings for the remote case.
    ///
    /// # Errors
    /// As [`ServiceClient::connect`].
    pub async fn connect_with(name: &str, config: &RpalConfig) -> io::Result<ServiceClient> {
        if let Some(local) = LOCAL.with(|l| l.borrow().get(name).cloned()) {
            return Ok(ServiceClient::in_process(&local));
        }
        let addr = service_addr(name);
        let stream = RpalStream::connect_with(UnixAddr::Abstract(&addr), config).await?;
        Ok(ServiceClient::remote(stream))
    }

    /// A client that calls `service` through the gate (no lookup).
    pub fn in_process(service: &Service) -> ServiceClient {
        ServiceClient {
            placement: Placement::InProcess(service.clone()),
        }
    }

    /// A client over an already connected stream to a process running [`serve`].
    pub fn remote(stream: RpalStream) -> ServiceClient {
        ServiceClient {
            placement: Placement::Remote {
                stream: Box::new(stream),
                frame: Vec::new(),
            },
        }
    }

    /// True when calls go through the gate in this process.
    pub fn is_in_process(&self) -> bool {
        matches!(self.placement, Placement::InProcess(_))
    }

    /// Counters of the stream to a service process (doorbells rung, parks); `None` in process.
    pub fn stream_stats(&self) -> Option<RpalStats> {
        match &self.placement {
            Placement::InProcess(_) => None,
            Placement::Remote { stream, .. } => Some(stream.stats()),
        }
    }

    /// Calls the service with `request` and returns its response.
    ///
    /// # Errors
    /// A handler failure (panic, exhausted stacks, request too large for the callee's arena):
    /// kind `Other`, with the gate's [`CallError`] as the inner error in process and its
    /// message when remote. Remote only: stream errors, and `InvalidData` for a malformed
    /// response or a frame over 16 MiB.
    pub async fn call(&mut self, request: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.call_into(request, &mut out).await?;
        Ok(out)
    }

    /// Like [`ServiceClient::call`], writing the response into `out` (cleared first).
    ///
    /// # Errors
    /// As [`ServiceClient::call`].
    pub async fn call_into(&mut self, request: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match &mut self.placement {
            Placement::InProcess(service) => {
                // call_async, so a handler that waits (`gate::wait`) suspends this task only.
                let buf = std::mem::take(out);
                *out = service
                    .call_async_with_buffer(request, buf)
                    .await
                    .map_err(gate_error)?;
                Ok(())
            }
            Placement::Remote { stream, frame } => {
                wire::encode(frame, None, request)?;
                wire::write_frame(&mut **stream, frame).await?;
                wire::read_response(&mut **stream, out).await
            }
        }
    }
}

fn gate_error(e: CallError) -> io::Error {
    io::Error::other(e)
}
