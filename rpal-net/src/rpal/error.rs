//! Errors of the shared-memory transport: [`RingError`] for the byte ring and its doorbell,
//! [`WireError`] for the handshake codec, and their conversions to [`io::Error`] at the stream
//! boundary.
//!
//! Flow control (`WouldBlock`) is a `RingError` on purpose: the ring mirrors a non-blocking socket,
//! where "no data yet" and "no room yet" are errors of kind `WouldBlock` and `Ok(0)` means end of
//! stream.

use std::fmt;
use std::io;

/// A field of the shared ring header, named in [`RingError::Corrupt`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// The magic number at the start of the header.
    Magic,
    /// The layout version.
    Version,
    /// The data capacity in bytes.
    Capacity,
    /// The region or ring length given by the caller, compared with the header.
    Length,
    /// The consumer's free-running index.
    Head,
    /// The producer's free-running index.
    Tail,
    /// The flag the producer sets when it will write no more.
    WriterClosed,
    /// The flag the consumer sets when it will read no more.
    ReaderClosed,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Magic => "magic",
            Field::Version => "version",
            Field::Capacity => "capacity",
            Field::Length => "length",
            Field::Head => "head",
            Field::Tail => "tail",
            Field::WriterClosed => "writer_closed",
            Field::ReaderClosed => "reader_closed",
        })
    }
}

/// What went wrong on a ring endpoint.
///
/// `Corrupt` is sticky: once an endpoint has returned it, every later call returns the same error
/// (the endpoint is poisoned). Nothing a peer writes into shared memory can make an endpoint panic,
/// touch memory outside the mapping or spin forever; the worst it can do is this error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingError {
    /// Read: the ring is empty and the writer is still open. Write: the ring is full.
    /// Wait on the doorbell and retry.
    WouldBlock,
    /// This endpoint was closed by its owner ([`Producer::close`](super::ring::Producer::close)).
    Closed,
    /// The reader closed its end: nothing written will ever be read.
    PeerClosed,
    /// A value read from shared memory breaks the ring's invariants: the peer is faulty or
    /// malicious. `value` is what was read, `bound` the limit or the value expected.
    Corrupt {
        /// The header field that holds the bad value.
        what: Field,
        /// The value read from shared memory (or given by the caller for [`Field::Length`]).
        value: u64,
        /// The limit the value broke, or the value that was expected.
        bound: u64,
        /// Which invariant was broken, in words.
        reason: &'static str,
    },
}

impl RingError {
    pub(crate) const fn corrupt(what: Field, value: u64, bound: u64, reason: &'static str) -> Self {
        RingError::Corrupt {
            what,
            value,
            bound,
            reason,
        }
    }

    /// True for [`RingError::Corrupt`].
    pub fn is_corrupt(&self) -> bool {
        matches!(self, RingError::Corrupt { .. })
    }
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::WouldBlock => {
                f.write_str("ring not ready (empty for a read, full for a write)")
            }
            RingError::Closed => f.write_str("ring endpoint already closed by this side"),
            RingError::PeerClosed => f.write_str("the reader closed its end of the ring"),
            RingError::Corrupt {
                what,
                value,
                bound,
                reason,
            } => write!(
                f,
                "shared ring corrupt: {what} = {value} ({reason}; bound {bound}); the peer is \
                 faulty or malicious, drop the connection"
            ),
        }
    }
}

impl std::error::Error for RingError {}

impl From<RingError> for io::Error {
    fn from(e: RingError) -> io::Error {
        let kind = match e {
            RingError::WouldBlock => io::ErrorKind::WouldBlock,
            RingError::Closed | RingError::PeerClosed => io::ErrorKind::BrokenPipe,
            RingError::Corrupt { .. } => io::ErrorKind::ConnectionReset,
        };
        io::Error::new(kind, e)
    }
}

/// A handshake frame that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes do not start with the RPAL magic: the peer is not an RPAL peer (a plain Unix
    /// client); the listener should fall back to a plain stream. Holds the first bytes seen.
    BadMagic {
        /// Up to the first four bytes received.
        got: [u8; 4],
        /// How many of `got` are meaningful.
        len: u8,
    },
    /// The buffer holds only part of a frame: read at least `needed` bytes in total and retry.
    Truncated {
        /// Total bytes the frame needs (known so far).
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The length prefix announces a body longer than any frame this version knows.
    Oversized {
        /// The announced body length.
        len: usize,
        /// The largest body length accepted.
        max: usize,
    },
    /// The frame kind byte is not one this version knows.
    UnknownKind(u8),
    /// The body length does not match the fixed size of the frame kind.
    BadLength {
        /// The frame kind.
        kind: u8,
        /// The announced body length.
        len: usize,
        /// The fixed body length of that kind.
        expected: usize,
    },
    /// The peer speaks a protocol version we do not.
    UnsupportedVersion {
        /// The version the peer announced.
        got: u16,
        /// The version this build speaks.
        supported: u16,
    },
    /// A field holds a value outside its allowed range.
    BadField {
        /// The field name.
        field: &'static str,
        /// The value received.
        value: u64,
        /// The rule it broke.
        reason: &'static str,
    },
}

impl WireError {
    /// True when the bytes are not from an RPAL peer at all (bad magic): fall back to a plain
    /// stream instead of failing the connection.
    pub fn is_not_rpal_peer(&self) -> bool {
        matches!(self, WireError::BadMagic { .. })
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BadMagic { got, len } => write!(
                f,
                "not an RPAL peer: first bytes {:?} are not the magic \"RPAL\"",
                &got[..usize::from(*len).min(4)]
            ),
            WireError::Truncated { needed, got } => {
                write!(
                    f,
                    "handshake frame truncated: have {got} bytes, need {needed}"
                )
            }
            WireError::Oversized { len, max } => {
                write!(
                    f,
                    "handshake frame body of {len} bytes exceeds the maximum {max}"
                )
            }
            WireError::UnknownKind(k) => write!(f, "unknown handshake frame kind {k}"),
            WireError::BadLength {
                kind,
                len,
                expected,
            } => write!(
                f,
                "handshake frame kind {kind} has body length {len}, expected {expected}"
            ),
            WireError::UnsupportedVersion { got, supported } => write!(
                f,
                "peer speaks RPAL protocol version {got}, this build speaks {supported}"
            ),
            WireError::BadField {
                field,
                value,
                reason,
            } => write!(f, "handshake field {field} = {value}: {reason}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<WireError> for io::Error {
    fn from(e: WireError) -> io::Error {
        let kind = match e {
            WireError::Truncated { .. } => io::ErrorKind::UnexpectedEof,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_kinds() {
        let c = RingError::corrupt(Field::Tail, 9, 4, "tail moved backwards");
        let e = io::Error::from(c);
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert!(e.to_string().contains("tail = 9"), "{e}");
        assert_eq!(
            io::Error::from(RingError::PeerClosed).kind(),
            io::ErrorKind::BrokenPipe
        );
        assert_eq!(
            io::Error::from(RingError::WouldBlock).kind(),
            io::ErrorKind::WouldBlock
        );
        let t = WireError::Truncated { needed: 8, got: 3 };
        assert_eq!(io::Error::from(t).kind(), io::ErrorKind::UnexpectedEof);
        let m = WireError::BadMagic {
            got: *b"GET ",
            len: 4,
        };
        assert!(m.is_not_rpal_peer());
        assert_eq!(io::Error::from(m).kind(), io::ErrorKind::InvalidData);
    }
}
