//! The handshake over the setup socket, client and server side.
//!
//! ```text
//! client                                         server
//!   Hello{version, EVENTFD [| WORKER_STATES], capacity, pid}
//!     + SCM_RIGHTS [data_efd_c, room_efd_c
//!                   (, states_c)]            ->
//!                                            <-  Accept{version, EVENTFD [| WORKER_STATES],
//!                                                capacity, region_len, offsets} + SCM_RIGHTS
//!                                                [memfd, data_efd_s, room_efd_s (, states_s)]
//!                                            or  Reject{reason}: both sides go on over the socket
//! ```
//! `states_*` is the sender's worker-state table (`rpal_rt::io::worker_state`), present exactly
//! when the frame has `FLAG_WORKER_STATES`; the receiver maps it read-only after checking its
//! size, seals and header, and then rings the sender's waiters only while their worker waits.
//! Ring 0 carries client-to-server bytes, ring 1 server-to-client. Each side rings the peer's
//! `data` eventfd after publishing into a ring the peer waits on, and the peer's `room` eventfd
//! after freeing room the peer waits for.
//!
//! Frames are read exactly (header, then the announced body), so bytes that follow a `Reject`
//! (the application's own data, once both sides fell back) stay in the socket. Every value and
//! descriptor from the peer is checked: frame fields by `wire::decode`, the memfd's size and
//! seals by `SharedRegion::from_fd`, the ring headers by `Producer/Consumer::new`, and that the
//! doorbell descriptors are eventfds.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rpal_rt::io::Interest;

use super::eventfd;
use super::ring::{init_ring, Consumer, Producer, RegionLayout};
use super::shm::SharedRegion;
use super::transport::WorkerStates;
use super::transport::{Link, RingReader, RingWriter};
use super::wire::{
    self, decode, Accept, Frame, Hello, Reject, RejectReason, FLAG_EVENTFD_DOORBELL,
    FLAG_WORKER_STATES, HEADER_LEN, MAX_BODY_LEN, PROTOCOL_VERSION,
};
use super::RpalConfig;
use crate::unix::scm::{recv_with_fds, send_with_fds};
use crate::unix::UnixStream;

/// What the handshake produced.
pub(crate) enum Outcome {
    /// Shared memory is set up.
    Ring(Box<(RingReader, RingWriter)>),
    /// The connection goes on as a plain Unix stream.
    Plain(UnixStream),
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Writes `bytes` with `fds` attached to the first byte.
async fn write_frame(
    sock: &UnixStream,
    bytes: &[u8],
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        let with: &[std::os::fd::BorrowedFd<'_>] = if sent == 0 { fds } else { &[] };
        let n = poll_fn(|cx| {
            sock.poll_io(cx, Interest::WRITABLE, |s| {
                send_with_fds(s.as_fd(), &bytes[sent..], with)
            })
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        sent += n;
    }
    Ok(())
}

/// Reads exactly `buf.len()` bytes, collecting any descriptors that come with them.
async fn read_exact_fds(
    sock: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<()> {
    let mut got = 0;
    while got < buf.len() {
        let n = poll_fn(|cx| {
            sock.poll_io(cx, Interest::READABLE, |s| {
                recv_with_fds(s.as_fd(), &mut buf[got..], fds)
            })
        })
        .await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "peer closed during the RPAL handshake",
            ));
        }
        got += n;
        if fds.len() > crate::unix::scm::MAX_FDS {
            return Err(invalid("peer sent too many descriptors"));
        }
    }
    Ok(())
}

/// Reads one frame (exactly its bytes) and the descriptors sent with it.
async fn read_frame(sock: &UnixStream, fds: &mut Vec<OwnedFd>) -> io::Result<Frame> {
    let mut buf = [0u8; HEADER_LEN + MAX_BODY_LEN];
    let header = &mut buf[..HEADER_LEN];
    read_exact_fds(sock, header, fds).await?;
    let mut h = [0u8; HEADER_LEN];
    h.copy_from_slice(header);
    // Validates magic and header fields (the same checks as `decode`).
    let body_len = wire::decode_header(&h)?;
    read_exact_fds(sock, &mut buf[HEADER_LEN..HEADER_LEN + body_len], fds).await?;
    let (frame, _) = decode(&buf[..HEADER_LEN + body_len])?;
    Ok(frame)
}

/// This process's worker-state table, if it has one, and the flag announcing it.
fn our_states() -> (u16, Option<std::os::fd::BorrowedFd<'static>>) {
    match rpal_rt::io::worker_state::table_fd() {
        Some(fd) => (FLAG_WORKER_STATES, Some(fd)),
        None => (0, None),
    }
}

/// Splits the descriptors of a frame into the `N` fixed ones and the peer's worker-state
/// table (present exactly when `flags` has `FLAG_WORKER_STATES`); a wrong count is an error.
fn split_fds<const N: usize>(
    mut fds: Vec<OwnedFd>,
    flags: u16,
    frame: &str,
) -> io::Result<([OwnedFd; N], Option<OwnedFd>)> {
    // The count was checked against the flags by `wire::check_attachments`.
    let states = (flags & FLAG_WORKER_STATES != 0)
        .then(|| fds.pop())
        .flatten();
    let fixed: [OwnedFd; N] = fds
        .try_into()
        .map_err(|_| invalid(format!("{frame}: descriptor count")))?;
    Ok((fixed, states))
}

/// Maps the peer's worker-state table, if it sent one.
fn map_peer_states(fd: Option<OwnedFd>, sent_ours: bool) -> io::Result<WorkerStates> {
    let peer = match fd {
        Some(fd) => Some(Arc::new(rpal_rt::io::worker_state::PeerTable::map(fd)?)),
        None => None,
    };
    Ok(WorkerStates { peer, sent_ours })
}

/// Client side: asks for rings; falls back to the plain socket if the server rejects.
pub(crate) async fn client(sock: UnixStream, config: &RpalConfig) -> io::Result<Outcome> {
    let data_efd = eventfd::new()?;
    let room_efd = eventfd::new()?;
    let (states_flag, states_fd) = our_states();
    let hello = Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        flags: FLAG_EVENTFD_DOORBELL | states_flag,
        capacity: config.ring_capacity as u32,
        pid: std::process::id(),
    });
    let mut out_fds = vec![data_efd.as_fd(), room_efd.as_fd()];
    out_fds.extend(states_fd);
    write_frame(&sock, &hello.to_bytes(), &out_fds).await?;
    let mut fds = Vec::new();
    let frame = read_frame(&sock, &mut fds).await?;
    wire::check_attachments(&frame, fds.len())?;
    match frame {
        Frame::Reject(_) => Ok(Outcome::Plain(sock)),
        Frame::Hello(_) => Err(invalid("server answered a Hello with a Hello")),
        Frame::Accept(a) => {
            let ([memfd, peer_data, peer_room], peer_states) =
                split_fds::<3>(fds, a.flags, "Accept")?;
            eventfd::check_peer_eventfd(&peer_data)?;
            eventfd::check_peer_eventfd(&peer_room)?;
            let states = map_peer_states(peer_states, states_flag != 0)?;
            let region = Arc::new(SharedRegion::from_fd(
                memfd,
                a.region_len as usize,
                super::protect::ring_key_index(),
            )?);
            let ring_len = RegionLayout::new(u64::from(a.capacity))?.ring_len;
            let prod = Producer::new(&region, a.offsets[0] as usize, ring_len)?;
            let cons = Consumer::new(&region, a.offsets[1] as usize, ring_len)?;
            let link = Link::new(region, sock, states);
            let reader = RingReader::new(cons, peer_room, data_efd, link.clone(), config.spin)?;
            let writer = RingWriter::new(prod, peer_data, room_efd, link, config.spin)?;
            Ok(Outcome::Ring(Box::new((reader, writer))))
        }
    }
}

/// Server side, after the listener saw the RPAL magic: reads the Hello, sets up the rings.
pub(crate) async fn server(sock: UnixStream, config: &RpalConfig) -> io::Result<Outcome> {
    let mut fds = Vec::new();
    let hello = match read_frame(&sock, &mut fds).await {
        Ok(Frame::Hello(h)) => h,
        Ok(_) => {
            reject(&sock, RejectReason::BadRequest).await;
            return Err(invalid("client sent a frame other than Hello"));
        }
        Err(e) => {
            if e.kind() == io::ErrorKind::InvalidData {
                let reason = match e
                    .get_ref()
                    .and_then(|r| r.downcast_ref::<super::error::WireError>())
                {
                    Some(super::error::WireError::UnsupportedVersion { .. }) => {
                        RejectReason::UnsupportedVersion
                    }
                    _ => RejectReason::BadRequest,
                };
                reject(&sock, reason).await;
            }
            return Err(e);
        }
    };
    if !config.shared_memory {
        drop(fds);
        reject(&sock, RejectReason::Resources).await;
        return Ok(Outcome::Plain(sock));
    }
    let hello_frame = Frame::Hello(hello);
    if let Err(e) = wire::check_attachments(&hello_frame, fds.len()) {
        reject(&sock, RejectReason::BadRequest).await;
        return Err(e.into());
    }
    let (states_flag, states_fd) = our_states();
    let checked = split_fds::<2>(fds, hello.flags, "Hello").and_then(|(fixed, peer_states)| {
        let [peer_data, peer_room] = fixed;
        eventfd::check_peer_eventfd(&peer_data)?;
        eventfd::check_peer_eventfd(&peer_room)?;
        Ok((
            peer_data,
            peer_room,
            map_peer_states(peer_states, states_flag != 0)?,
        ))
    });
    let (peer_data, peer_room, states) = match checked {
        Ok(c) => c,
        Err(e) => {
            reject(&sock, RejectReason::BadRequest).await;
            return Err(e);
        }
    };
    // The server's configured capacity is the upper bound; both are powers of two.
    let capacity = u64::from(hello.capacity).min(config.ring_capacity as u64);
    let layout = RegionLayout::new(capacity)?;
    let region = match SharedRegion::create(layout.region_len, super::protect::ring_key_index()) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            reject(&sock, RejectReason::Resources).await;
            return Err(e);
        }
    };
    for off in layout.offsets {
        init_ring(&region, off, layout.ring_len, capacity)?;
    }
    let cons = Consumer::new(&region, layout.offsets[0], layout.ring_len)?;
    let prod = Producer::new(&region, layout.offsets[1], layout.ring_len)?;
    let data_efd = eventfd::new()?;
    let room_efd = eventfd::new()?;
    let accept = Frame::Accept(Accept {
        version: PROTOCOL_VERSION,
        flags: FLAG_EVENTFD_DOORBELL | states_flag,
        capacity: capacity as u32,
        region_len: layout.region_len as u64,
        offsets: [layout.offsets[0] as u64, layout.offsets[1] as u64],
    });
    let memfd = region.try_clone_fd()?;
    let mut out_fds = vec![memfd.as_fd(), data_efd.as_fd(), room_efd.as_fd()];
    out_fds.extend(states_fd);
    write_frame(&sock, &accept.to_bytes(), &out_fds).await?;
    drop(memfd);
    let link = Link::new(region, sock, states);
    let reader = RingReader::new(cons, peer_room, data_efd, link.clone(), config.spin)?;
    let writer = RingWriter::new(prod, peer_data, room_efd, link, config.spin)?;
    Ok(Outcome::Ring(Box::new((reader, writer))))
}

/// Best effort: tell the client why (it may be gone already).
async fn reject(sock: &UnixStream, reason: RejectReason) {
    let _ = write_frame(sock, &Frame::Reject(Reject { reason }).to_bytes(), &[]).await;
}

/// The first bytes of `sock` (peeked, not consumed) say whether the client speaks RPAL.
pub(crate) enum Detect {
    /// Starts with the RPAL magic.
    Rpal,
    /// Anything else, or silence until the detect timeout.
    Plain,
}

/// Peeks the first bytes, waiting at most `config.detect_timeout` for them.
pub(crate) async fn detect(sock: &UnixStream, config: &RpalConfig) -> io::Result<Detect> {
    let peek = poll_fn(|cx| {
        sock.poll_io(cx, Interest::READABLE, |s| {
            let mut b = [0u8; 4];
            let (n, _) = rustix::net::recv(s, &mut b, rustix::net::RecvFlags::PEEK)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "client closed before speaking",
                ));
            }
            if b[..n] != wire::MAGIC[..n] {
                return Ok(Detect::Plain);
            }
            if n == wire::MAGIC.len() {
                return Ok(Detect::Rpal);
            }
            // A prefix of the magic: wait for more bytes.
            Err(io::ErrorKind::WouldBlock.into())
        })
    });
    match rpal_rt::time::timeout(config.detect_timeout, peek).await {
        Ok(r) => r,
        Err(_) => Ok(Detect::Plain),
    }
}
