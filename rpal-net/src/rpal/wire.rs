//! Pure encode/decode of the RpalStream handshake frames; no I/O. The `wire` fuzz target.
//!
//! (Over 600 lines only because its unit tests, round trips, field errors and a random-bytes
//! property test, stay beside the codec they pin down; the codec itself is under 400.)
//!
//! Exports [`Frame`] ([`Hello`], [`Accept`], [`Reject`]), [`decode`] and the protocol constants.
//!
//! Every frame is an 8-byte header followed by a fixed-size body, all little-endian:
//!
//! ```text
//! header: magic "RPAL" (4) | kind u8 | reserved u8 = 0 | body_len u16
//! Hello  (kind 1, 12 bytes): version u16 | flags u16 | capacity u32 | pid u32
//! Accept (kind 2, 32 bytes): version u16 | flags u16 | capacity u32 | region_len u64
//!                            | ring0_offset u64 | ring1_offset u64
//! Reject (kind 3,  4 bytes): reason u16 | reserved u16 = 0
//! ```
//!
//! The magic comes first so that a plain Unix client, whose first bytes are its own protocol,
//! decodes to [`WireError::BadMagic`] as soon as one byte differs
//! ([`WireError::is_not_rpal_peer`]): the listener then falls back to a plain stream. Decoding
//! checks, in order: magic, header length, reserved byte, body length bound, kind, body length of
//! the kind, body present, then each field. Ring 0 carries client-to-server bytes, ring 1
//! server-to-client (see [`RegionLayout`]).

use crate::rpal::error::WireError;
use crate::rpal::ring::layout::{ring_len, LINE};
use crate::rpal::shm::MAX_REGION_LEN;

#[cfg(doc)]
use crate::rpal::ring::RegionLayout;

/// The first four bytes of every frame.
pub const MAGIC: [u8; 4] = *b"RPAL";

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 1;

/// Bytes of the frame header.
pub const HEADER_LEN: usize = 8;

/// Largest body any frame kind has; longer announced bodies are [`WireError::Oversized`].
pub const MAX_BODY_LEN: usize = ACCEPT_LEN;

/// Largest encoded frame.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_BODY_LEN;

/// Smallest ring capacity a peer may ask for or grant (4 KiB).
pub const MIN_RING_CAPACITY: u32 = 4 << 10;

/// Largest ring capacity a peer may ask for or grant (64 MiB).
pub const MAX_RING_CAPACITY: u32 = 64 << 20;

/// Flag: the sender can wait and wake on futex words in the shared region.
pub const FLAG_FUTEX_DOORBELL: u16 = 1 << 0;

/// Flag: the sender can wait on an eventfd and wants one for its doorbell.
pub const FLAG_EVENTFD_DOORBELL: u16 = 1 << 1;

/// Flag: the sender attached its process's worker-state table (one more descriptor, after the
/// others): the receiver may ring the sender's waiters only while their worker is in WAIT.
pub const FLAG_WORKER_STATES: u16 = 1 << 2;

/// Every flag this version knows; other bits are rejected.
pub const KNOWN_FLAGS: u16 = FLAG_FUTEX_DOORBELL | FLAG_EVENTFD_DOORBELL | FLAG_WORKER_STATES;

const KIND_HELLO: u8 = 1;
const KIND_ACCEPT: u8 = 2;
const KIND_REJECT: u8 = 3;
const HELLO_LEN: usize = 12;
const ACCEPT_LEN: usize = 32;
const REJECT_LEN: usize = 4;

/// Page size the region length must be a multiple of.
const PAGE: u64 = 4096;

/// Client to server: "I speak RPAL, give me rings of this size".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub version: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// Ring capacity wanted, a power of two in [`MIN_RING_CAPACITY`, `MAX_RING_CAPACITY`].
    pub capacity: u32,
    /// The client's pid, informative (trust `SO_PEERCRED`, not this).
    pub pid: u32,
}

/// Server to client, sent with the region's memfd: the granted layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accept {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub version: u16,
    /// `FLAG_*` bits: the doorbell chosen.
    pub flags: u16,
    /// Capacity of each ring, a power of two in [`MIN_RING_CAPACITY`, `MAX_RING_CAPACITY`].
    pub capacity: u32,
    /// Length of the memfd, a multiple of 4096, at most [`MAX_REGION_LEN`].
    pub region_len: u64,
    /// Offsets of ring 0 (client to server) and ring 1 (server to client): 128-byte aligned,
    /// inside the region, not overlapping.
    pub offsets: [u64; 2],
}

/// Why a server refused the shared-memory transport (the client falls back or gives up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The server does not speak the client's version.
    UnsupportedVersion,
    /// The Hello was malformed.
    BadRequest,
    /// The capacity asked for is not allowed.
    Capacity,
    /// The server is out of memory, fds or connections.
    Resources,
    /// The client is not allowed (credentials).
    Denied,
    /// A code this version does not know.
    Other(u16),
}

impl RejectReason {
    fn code(self) -> u16 {
        match self {
            RejectReason::UnsupportedVersion => 1,
            RejectReason::BadRequest => 2,
            RejectReason::Capacity => 3,
            RejectReason::Resources => 4,
            RejectReason::Denied => 5,
            RejectReason::Other(c) => c,
        }
    }

    fn from_code(c: u16) -> Self {
        match c {
            1 => RejectReason::UnsupportedVersion,
            2 => RejectReason::BadRequest,
            3 => RejectReason::Capacity,
            4 => RejectReason::Resources,
            5 => RejectReason::Denied,
            c => RejectReason::Other(c),
        }
    }
}

/// Server to client: no shared memory for this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reject {
    /// Why.
    pub reason: RejectReason,
}

/// One handshake frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Client to server.
    Hello(Hello),
    /// Server to client, with the memfd.
    Accept(Accept),
    /// Server to client.
    Reject(Reject),
}

impl Frame {
    /// Encodes the frame (header and body). Values are written as given; [`decode`] is where
    /// they are checked.
    ///
    /// # Examples
    ///
    /// ```
    /// use rpal_net::rpal::wire::{decode, Frame, Hello, PROTOCOL_VERSION};
    /// let f = Frame::Hello(Hello { version: PROTOCOL_VERSION, flags: 1, capacity: 65536, pid: 42 });
    /// let bytes = f.to_bytes();
    /// assert_eq!(decode(&bytes).unwrap(), (f, bytes.len()));
    /// ```
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_FRAME_LEN);
        let (kind, len) = match self {
            Frame::Hello(_) => (KIND_HELLO, HELLO_LEN),
            Frame::Accept(_) => (KIND_ACCEPT, ACCEPT_LEN),
            Frame::Reject(_) => (KIND_REJECT, REJECT_LEN),
        };
        out.extend_from_slice(&MAGIC);
        out.push(kind);
        out.push(0);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        match self {
            Frame::Hello(h) => {
                out.extend_from_slice(&h.version.to_le_bytes());
                out.extend_from_slice(&h.flags.to_le_bytes());
                out.extend_from_slice(&h.capacity.to_le_bytes());
                out.extend_from_slice(&h.pid.to_le_bytes());
            }
            Frame::Accept(a) => {
                out.extend_from_slice(&a.version.to_le_bytes());
                out.extend_from_slice(&a.flags.to_le_bytes());
                out.extend_from_slice(&a.capacity.to_le_bytes());
                out.extend_from_slice(&a.region_len.to_le_bytes());
                out.extend_from_slice(&a.offsets[0].to_le_bytes());
                out.extend_from_slice(&a.offsets[1].to_le_bytes());
            }
            Frame::Reject(r) => {
                out.extend_from_slice(&r.reason.code().to_le_bytes());
                out.extend_from_slice(&0u16.to_le_bytes());
            }
        }
        debug_assert_eq!(out.len(), HEADER_LEN + len);
        out
    }
}

/// Little-endian reader over a body whose length was checked first.
struct Body<'a>(&'a [u8]);

impl Body<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        let n = N.min(self.0.len());
        a[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        a
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
}

fn bad(field: &'static str, value: u64, reason: &'static str) -> WireError {
    WireError::BadField {
        field,
        value,
        reason,
    }
}

fn check_version(v: u16) -> Result<(), WireError> {
    if v != PROTOCOL_VERSION {
        return Err(WireError::UnsupportedVersion {
            got: v,
            supported: PROTOCOL_VERSION,
        });
    }
    Ok(())
}

fn check_flags(f: u16) -> Result<(), WireError> {
    if f & !KNOWN_FLAGS != 0 {
        return Err(bad("flags", f.into(), "unknown flag bits set"));
    }
    Ok(())
}

fn check_capacity(c: u32) -> Result<(), WireError> {
    if !c.is_power_of_two() || !(MIN_RING_CAPACITY..=MAX_RING_CAPACITY).contains(&c) {
        return Err(bad(
            "capacity",
            c.into(),
            "must be a power of two in [4 KiB, 64 MiB]",
        ));
    }
    Ok(())
}

/// Decodes one frame from the start of `buf`, returning it and the bytes it used (trailing bytes
/// are left to the caller).
///
/// # Errors
///
/// [`WireError::BadMagic`] if the bytes present do not start with [`MAGIC`] (not an RPAL peer);
/// [`WireError::Truncated`] if more bytes are needed (read more and retry); otherwise the first
/// failed check, as listed in the module doc.
pub fn decode(buf: &[u8]) -> Result<(Frame, usize), WireError> {
    let m = buf.len().min(MAGIC.len());
    if buf[..m] != MAGIC[..m] {
        let mut got = [0; 4];
        got[..m].copy_from_slice(&buf[..m]);
        return Err(WireError::BadMagic { got, len: m as u8 });
    }
    if buf.len() < HEADER_LEN {
        return Err(WireError::Truncated {
            needed: HEADER_LEN,
            got: buf.len(),
        });
    }
    let kind = buf[4];
    if buf[5] != 0 {
        return Err(bad("header.reserved", buf[5].into(), "must be 0"));
    }
    let body_len = usize::from(u16::from_le_bytes([buf[6], buf[7]]));
    if body_len > MAX_BODY_LEN {
        return Err(WireError::Oversized {
            len: body_len,
            max: MAX_BODY_LEN,
        });
    }
    let expected = match kind {
        KIND_HELLO => HELLO_LEN,
        KIND_ACCEPT => ACCEPT_LEN,
        KIND_REJECT => REJECT_LEN,
        k => return Err(WireError::UnknownKind(k)),
    };
    if body_len != expected {
        return Err(WireError::BadLength {
            kind,
            len: body_len,
            expected,
        });
    }
    let total = HEADER_LEN + body_len;
    if buf.len() < total {
        return Err(WireError::Truncated {
            needed: total,
            got: buf.len(),
        });
    }
    let mut b = Body(&buf[HEADER_LEN..total]);
    let frame = match kind {
        KIND_HELLO => Frame::Hello(decode_hello(&mut b)?),
        KIND_ACCEPT => Frame::Accept(decode_accept(&mut b)?),
        _ => Frame::Reject(decode_reject(&mut b)?),
    };
    Ok((frame, total))
}

/// Checks a frame header alone (the first step of reading a frame from a socket) and returns
/// the length of the body to read next. Agrees with [`decode`]: an error here is the error
/// `decode` gives for every buffer starting with this header, and `Ok(n)` means `decode` of the
/// header plus any `n` body bytes fails only on a body field, never on the header.
///
/// # Errors
///
/// The header checks of [`decode`] (magic, reserved byte, body length bound, kind, body length
/// of the kind).
///
/// # Examples
///
/// ```
/// use rpal_net::rpal::wire::{decode_header, Frame, Reject, RejectReason, HEADER_LEN};
/// let bytes = Frame::Reject(Reject { reason: RejectReason::Denied }).to_bytes();
/// let header: [u8; HEADER_LEN] = bytes[..HEADER_LEN].try_into().unwrap();
/// assert_eq!(decode_header(&header), Ok(bytes.len() - HEADER_LEN));
/// ```
pub fn decode_header(header: &[u8; HEADER_LEN]) -> Result<usize, WireError> {
    match decode(header) {
        Err(WireError::Truncated { needed, .. }) => Ok(needed - HEADER_LEN),
        Err(e) => Err(e),
        // Every kind has a body, so this arm is not reached; it would mean "no body to read".
        Ok((_, used)) => Ok(used - HEADER_LEN),
    }
}

/// Descriptors a frame travels with (`SCM_RIGHTS`): a Hello carries the client's data and room
/// eventfds, an Accept the memfd and the server's data and room eventfds, a Reject none; a Hello
/// or Accept with [`FLAG_WORKER_STATES`] carries the sender's worker-state table last.
pub fn expected_fds(frame: &Frame) -> usize {
    let states = |flags: u16| usize::from(flags & FLAG_WORKER_STATES != 0);
    match frame {
        Frame::Hello(h) => 2 + states(h.flags),
        Frame::Accept(a) => 3 + states(a.flags),
        Frame::Reject(_) => 0,
    }
}

/// Checks what a decoded frame came with: exactly [`expected_fds`] descriptors, and for a
/// Hello or an Accept the eventfd doorbell flag (the only doorbell this version uses).
///
/// # Errors
///
/// [`WireError::BadField`] naming `descriptors` or `flags`.
///
/// # Examples
///
/// ```
/// use rpal_net::rpal::wire::{check_attachments, Frame, Reject, RejectReason};
/// let reject = Frame::Reject(Reject { reason: RejectReason::Denied });
/// assert!(check_attachments(&reject, 0).is_ok());
/// assert!(check_attachments(&reject, 1).is_err());
/// ```
pub fn check_attachments(frame: &Frame, fds: usize) -> Result<(), WireError> {
    let flags = match frame {
        Frame::Hello(h) => Some(h.flags),
        Frame::Accept(a) => Some(a.flags),
        Frame::Reject(_) => None,
    };
    if flags.is_some_and(|f| f & FLAG_EVENTFD_DOORBELL == 0) {
        return Err(bad(
            "flags",
            flags.unwrap_or(0).into(),
            "the eventfd doorbell flag is required",
        ));
    }
    if fds != expected_fds(frame) {
        return Err(bad(
            "descriptors",
            fds as u64,
            "a Hello comes with 2 descriptors, an Accept with 3 (each one more with the \
             worker-state flag), a Reject with none",
        ));
    }
    Ok(())
}

fn decode_hello(b: &mut Body<'_>) -> Result<Hello, WireError> {
    let h = Hello {
        version: b.u16(),
        flags: b.u16(),
        capacity: b.u32(),
        pid: b.u32(),
    };
    check_version(h.version)?;
    check_flags(h.flags)?;
    check_capacity(h.capacity)?;
    if h.pid == 0 || h.pid > i32::MAX as u32 {
        return Err(bad("pid", h.pid.into(), "must be in 1..=i32::MAX"));
    }
    Ok(h)
}

fn decode_accept(b: &mut Body<'_>) -> Result<Accept, WireError> {
    let a = Accept {
        version: b.u16(),
        flags: b.u16(),
        capacity: b.u32(),
        region_len: b.u64(),
        offsets: [b.u64(), b.u64()],
    };
    check_version(a.version)?;
    check_flags(a.flags)?;
    check_capacity(a.capacity)?;
    if a.region_len == 0
        || !a.region_len.is_multiple_of(PAGE)
        || a.region_len > MAX_REGION_LEN as u64
    {
        return Err(bad(
            "region_len",
            a.region_len,
            "must be a non-zero multiple of 4096 no larger than MAX_REGION_LEN",
        ));
    }
    let ring = ring_len(a.capacity.into()) as u64;
    for (off, name) in a.offsets.iter().zip(["ring0_offset", "ring1_offset"]) {
        if !off.is_multiple_of(LINE as u64)
            || off.checked_add(ring).is_none_or(|end| end > a.region_len)
        {
            return Err(bad(
                name,
                *off,
                "must be 128-byte aligned with the ring inside the region",
            ));
        }
    }
    if a.offsets[0].abs_diff(a.offsets[1]) < ring {
        return Err(bad("ring1_offset", a.offsets[1], "rings overlap"));
    }
    Ok(a)
}

fn decode_reject(b: &mut Body<'_>) -> Result<Reject, WireError> {
    let code = b.u16();
    let reserved = b.u16();
    if code == 0 {
        return Err(bad("reason", 0, "0 is not a reason code"));
    }
    if reserved != 0 {
        return Err(bad("reject.reserved", reserved.into(), "must be 0"));
    }
    Ok(Reject {
        reason: RejectReason::from_code(code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpal::ring::RegionLayout;

    fn hello() -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            flags: FLAG_FUTEX_DOORBELL,
            capacity: 1 << 16,
            pid: 1234,
        }
    }

    fn accept() -> Accept {
        let l = RegionLayout::new(1 << 16).unwrap();
        Accept {
            version: PROTOCOL_VERSION,
            flags: FLAG_FUTEX_DOORBELL,
            capacity: 1 << 16,
            region_len: l.region_len as u64,
            offsets: [l.offsets[0] as u64, l.offsets[1] as u64],
        }
    }

    fn frames() -> Vec<Frame> {
        let mut v = vec![Frame::Hello(hello()), Frame::Accept(accept())];
        for shift in 12..=26 {
            let l = RegionLayout::new(1 << shift).unwrap();
            v.push(Frame::Accept(Accept {
                capacity: 1 << shift,
                region_len: l.region_len as u64,
                offsets: [l.offsets[1] as u64, l.offsets[0] as u64],
                flags: KNOWN_FLAGS,
                ..accept()
            }));
            v.push(Frame::Hello(Hello {
                capacity: 1 << shift,
                flags: 0,
                ..hello()
            }));
        }
        for code in [1, 2, 3, 4, 5, 6, u16::MAX] {
            v.push(Frame::Reject(Reject {
                reason: RejectReason::from_code(code),
            }));
        }
        v
    }

    #[test]
    fn round_trip() {
        for f in frames() {
            let mut bytes = f.to_bytes();
            assert_eq!(decode(&bytes), Ok((f, bytes.len())));
            // Trailing bytes are left alone.
            let n = bytes.len();
            bytes.extend_from_slice(b"tail");
            assert_eq!(decode(&bytes), Ok((f, n)));
            // Every proper prefix is truncated (never another error).
            for cut in 0..n {
                match decode(&bytes[..cut]) {
                    Err(WireError::Truncated { needed, got }) => {
                        assert_eq!(got, cut);
                        assert!(needed > cut && needed <= n);
                    }
                    Err(WireError::BadMagic { len: 0, .. }) if cut == 0 => {}
                    other => panic!("prefix {cut} of {f:?}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn plain_clients_are_not_rpal_peers() {
        for bytes in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"{\"jsonrpc\":\"2.0\"}",
            b"X",
            b"RPA!",
            b"\0\0\0\0\0\0\0\0",
            b"rpal",
        ] {
            let e = decode(bytes).unwrap_err();
            assert!(e.is_not_rpal_peer(), "{bytes:?}: {e:?}");
        }
        // A prefix of the magic is not (yet) a verdict.
        assert!(matches!(decode(b"RP"), Err(WireError::Truncated { .. })));
    }

    #[test]
    fn field_errors() {
        let enc = |f: Frame| f.to_bytes();
        let h = |f: fn(&mut Hello)| {
            let mut x = hello();
            f(&mut x);
            decode(&enc(Frame::Hello(x))).unwrap_err()
        };
        assert_eq!(
            h(|x| x.version = 2),
            WireError::UnsupportedVersion {
                got: 2,
                supported: 1
            }
        );
        assert!(matches!(
            h(|x| x.flags = 0x80),
            WireError::BadField { field: "flags", .. }
        ));
        for cap in [0, 1, 2048, 3 << 12, 128 << 20, u32::MAX] {
            let mut x = hello();
            x.capacity = cap;
            let e = decode(&enc(Frame::Hello(x))).unwrap_err();
            assert!(
                matches!(
                    e,
                    WireError::BadField {
                        field: "capacity",
                        ..
                    }
                ),
                "{cap}: {e}"
            );
        }
        assert!(matches!(
            h(|x| x.pid = 0),
            WireError::BadField { field: "pid", .. }
        ));

        let a = |f: fn(&mut Accept)| {
            let mut x = accept();
            f(&mut x);
            decode(&enc(Frame::Accept(x))).unwrap_err()
        };
        assert!(matches!(
            a(|x| x.region_len = 4095),
            WireError::BadField {
                field: "region_len",
                ..
            }
        ));
        assert!(matches!(
            a(|x| x.region_len = 1 << 40),
            WireError::BadField {
                field: "region_len",
                ..
            }
        ));
        assert!(matches!(
            a(|x| x.offsets[0] = 64),
            WireError::BadField {
                field: "ring0_offset",
                ..
            }
        ));
        assert!(matches!(
            a(|x| x.offsets[1] = u64::MAX - 127),
            WireError::BadField {
                field: "ring1_offset",
                ..
            }
        ));
        assert!(matches!(
            a(|x| x.offsets[1] = 128),
            WireError::BadField {
                reason: "rings overlap",
                ..
            }
        ));
        assert!(matches!(
            a(|x| x.offsets[1] = x.region_len),
            WireError::BadField {
                field: "ring1_offset",
                ..
            }
        ));

        let mut b = enc(Frame::Reject(Reject {
            reason: RejectReason::Denied,
        }));
        b[8] = 0;
        b[9] = 0;
        assert!(matches!(
            decode(&b),
            Err(WireError::BadField {
                field: "reason",
                ..
            })
        ));

        // Header-level errors.
        let mut b = enc(Frame::Hello(hello()));
        b[5] = 1;
        assert!(matches!(
            decode(&b),
            Err(WireError::BadField {
                field: "header.reserved",
                ..
            })
        ));
        let mut b = enc(Frame::Hello(hello()));
        b[4] = 9;
        assert_eq!(decode(&b), Err(WireError::UnknownKind(9)));
        let mut b = enc(Frame::Hello(hello()));
        b[6] = 200;
        assert_eq!(
            decode(&b),
            Err(WireError::Oversized {
                len: 200,
                max: MAX_BODY_LEN
            })
        );
        let mut b = enc(Frame::Hello(hello()));
        b[6] = 13;
        assert!(matches!(
            decode(&b),
            Err(WireError::BadLength {
                len: 13,
                expected: 12,
                ..
            })
        ));
    }

    /// A tiny xorshift64* generator: deterministic, no crates.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            self.0 = x;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let valid: Vec<Vec<u8>> = frames().iter().map(Frame::to_bytes).collect();
        let mut accepted = 0;
        for i in 0..200_000 {
            let mut buf: Vec<u8> = if i % 2 == 0 {
                // Pure noise.
                let n = (rng.next() % 64) as usize;
                (0..n).map(|_| rng.next() as u8).collect()
            } else {
                // A valid frame with a few bytes flipped.
                let mut b = valid[(rng.next() % valid.len() as u64) as usize].clone();
                for _ in 0..1 + rng.next() % 3 {
                    let at = (rng.next() % b.len() as u64) as usize;
                    b[at] ^= 1 << (rng.next() % 8);
                }
                b
            };
            if i % 7 == 0 {
                buf.truncate((rng.next() % (buf.len() as u64 + 1)) as usize);
            }
            match decode(&buf) {
                Ok((f, n)) => {
                    // Whatever decodes re-encodes to the same bytes.
                    assert_eq!(f.to_bytes(), buf[..n]);
                    accepted += 1;
                }
                Err(e) => {
                    if !buf.is_empty() && buf[0] != b'R' {
                        assert!(e.is_not_rpal_peer(), "{buf:?}: {e}");
                    }
                    let _ = e.to_string();
                }
            }
        }
        assert!(accepted > 0);
    }
}
