//! The handshake played by hand with the protocol's own pieces (`wire`, `scm`, `shm`), for the
//! hostile-peer tests: eventfds, a Hello, exact frame reads with their descriptors, and
//! [`Hostile`], a client that did the handshake itself and holds the shared memory (test files
//! add their own methods to it).

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::time::Duration;

use rpal_net::rpal::ring::layout::HEADER_LEN;
use rpal_net::rpal::ring::RegionLayout;
use rpal_net::rpal::shm::SharedRegion;
use rpal_net::rpal::wire::{self, Accept, Frame, Hello, FLAG_EVENTFD_DOORBELL, PROTOCOL_VERSION};
use rpal_net::unix::scm::{recv_with_fds, send_with_fds};

/// The ring capacity the hand-written peers ask for.
pub const CAP: u32 = 4096;

/// A fresh non-blocking eventfd.
pub fn eventfd() -> OwnedFd {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0, "eventfd: {}", io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Rings an eventfd (a saturated counter is fine).
pub fn ring_eventfd(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from our buffer to an eventfd we hold.
    let r = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), 8) };
    assert!(r == 8 || io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock);
}

/// A valid Hello asking for rings of `capacity` bytes (no worker-state table).
pub fn hello(capacity: u32) -> Vec<u8> {
    Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        flags: FLAG_EVENTFD_DOORBELL,
        capacity,
        pid: std::process::id(),
    })
    .to_bytes()
}

/// A valid Accept of rings of [`CAP`] bytes, with its layout.
pub fn good_accept() -> (RegionLayout, Accept) {
    let layout = RegionLayout::new(CAP.into()).unwrap();
    let a = Accept {
        version: PROTOCOL_VERSION,
        flags: FLAG_EVENTFD_DOORBELL,
        capacity: CAP,
        region_len: layout.region_len as u64,
        offsets: [layout.offsets[0] as u64, layout.offsets[1] as u64],
    };
    (layout, a)
}

/// Reads exactly `n` bytes (blocking), collecting descriptors.
pub fn read_exact_fds(s: &StdUnixStream, n: usize, fds: &mut Vec<OwnedFd>) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = recv_with_fds(s.as_fd(), &mut buf[got..], fds)?;
        if k == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        got += k;
    }
    Ok(buf)
}

/// Reads one frame (header, then its body) and its descriptors.
pub fn read_frame(s: &StdUnixStream, fds: &mut Vec<OwnedFd>) -> io::Result<Frame> {
    let mut bytes = read_exact_fds(s, wire::HEADER_LEN, fds)?;
    let body = usize::from(u16::from_le_bytes([bytes[6], bytes[7]]));
    bytes.extend(read_exact_fds(s, body, fds)?);
    wire::decode(&bytes)
        .map(|(f, _)| f)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// A client that did the handshake by hand and now holds the shared memory.
pub struct Hostile {
    /// The setup socket: kept open, since its hang-up means "peer gone" to the server.
    pub sock: StdUnixStream,
    pub region: SharedRegion,
    pub accept: Accept,
    /// The server's doorbells: ring `data` after publishing into ring 0, `room` after freeing
    /// room in ring 1.
    pub server_data: OwnedFd,
    pub server_room: OwnedFd,
    pub mine: [OwnedFd; 2],
}

impl Hostile {
    /// Connects and performs the handshake (blocking; run it off the runtime's thread).
    pub fn connect(path: &std::path::Path) -> Hostile {
        let sock = StdUnixStream::connect(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mine = [eventfd(), eventfd()];
        let h = hello(CAP);
        let n = send_with_fds(sock.as_fd(), &h, &[mine[0].as_fd(), mine[1].as_fd()]).unwrap();
        (&sock).write_all(&h[n..]).unwrap();
        let mut fds = Vec::new();
        let accept = match read_frame(&sock, &mut fds).unwrap() {
            Frame::Accept(a) => a,
            other => panic!("expected Accept, got {other:?}"),
        };
        let states = usize::from(accept.flags & wire::FLAG_WORKER_STATES != 0);
        assert_eq!(
            fds.len(),
            3 + states,
            "Accept carries memfd + 2 eventfds (+ the worker-state table when flagged)"
        );
        let mut fds = fds.into_iter();
        let memfd = fds.next().unwrap();
        let (server_data, server_room) = (fds.next().unwrap(), fds.next().unwrap());
        let region = SharedRegion::from_fd(memfd, accept.region_len as usize, None).unwrap();
        Hostile {
            sock,
            region,
            accept,
            server_data,
            server_room,
            mine,
        }
    }

    /// The start of ring `ring`'s header in the mapping.
    pub fn ring_base(&self, ring: usize) -> *mut u8 {
        let off = self.accept.offsets[ring] as usize;
        assert!(off + HEADER_LEN + CAP as usize <= self.region.len());
        // SAFETY: inside the mapping (checked above).
        unsafe { self.region.as_ptr().as_ptr().add(off) }
    }
}
