//! The handshake decoder on arbitrary bytes, through every entry point `rpal/handshake.rs` uses:
//!
//! * `decode` on the whole input: never panics; whatever it accepts re-encodes to the same
//!   bytes; anything not starting with the magic is "not an RPAL peer" (the listener's plain
//!   fallback);
//! * the socket path, `decode_header` on the first 8 bytes and then `decode` on the header plus
//!   exactly the announced body: agrees with the one-shot `decode` (same header errors, and a good
//!   header fails later only on a body field);
//! * `check_attachments` on an accepted frame with a descriptor count taken from the byte after
//!   the frame (none: the count the kind expects): Hello 2, Accept 3, Reject 0, eventfd flag
//!   required;
//! * an accepted Accept: the ring layout the client then builds from its capacity
//!   (`RegionLayout::new`) fits both rings inside the announced region, without overlap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpal_net::rpal::error::WireError;
use rpal_net::rpal::ring::RegionLayout;
use rpal_net::rpal::wire::{
    check_attachments, decode, decode_header, expected_fds, Frame, FLAG_EVENTFD_DOORBELL,
    HEADER_LEN, MAGIC,
};

fuzz_target!(|data: &[u8]| {
    let whole = decode(data);
    match &whole {
        Ok((frame, used)) => {
            assert_eq!(frame.to_bytes(), data[..*used]);
            attachments(frame, data.get(*used).copied());
            if let Frame::Accept(a) = frame {
                let layout =
                    RegionLayout::new(u64::from(a.capacity)).expect("decode accepted the capacity");
                let ring = layout.ring_len as u64;
                for off in a.offsets {
                    assert!(off.checked_add(ring).is_some_and(|end| end <= a.region_len));
                }
                assert!(a.offsets[0].abs_diff(a.offsets[1]) >= ring);
            }
        }
        Err(e) => {
            // Anything not starting with the magic is reported as "not an RPAL peer".
            let m = data.len().min(4);
            assert_eq!(e.is_not_rpal_peer(), data[..m] != MAGIC[..m]);
            let _ = e.to_string();
            let _ = std::io::Error::from(*e);
        }
    }

    // The socket path: header first, then exactly the announced body.
    let Some(header) = data.first_chunk::<HEADER_LEN>() else {
        return;
    };
    match decode_header(header) {
        Err(e) => assert_eq!(whole.as_ref().err(), Some(&e), "header error differs"),
        Ok(body) => {
            let total = HEADER_LEN + body;
            if data.len() < total {
                assert!(
                    matches!(whole, Err(WireError::Truncated { needed, .. }) if needed == total)
                );
                return;
            }
            match decode(&data[..total]) {
                Ok((frame, used)) => {
                    assert_eq!(used, total);
                    assert_eq!(whole.as_ref().ok(), Some(&(frame, used)));
                }
                Err(e) => {
                    assert!(
                        matches!(
                            e,
                            WireError::BadField { .. } | WireError::UnsupportedVersion { .. }
                        ),
                        "a good header failed on {e:?}"
                    );
                    assert_eq!(whole.as_ref().err(), Some(&e));
                }
            }
        }
    }
});

/// `check_attachments` with `fds` descriptors (the kind's own count when `None`).
fn attachments(frame: &Frame, fds: Option<u8>) {
    let fds = fds.map_or(expected_fds(frame), |b| usize::from(b % 5));
    let flags = match frame {
        Frame::Hello(h) => h.flags,
        Frame::Accept(a) => a.flags,
        Frame::Reject(_) => FLAG_EVENTFD_DOORBELL,
    };
    let ok = fds == expected_fds(frame) && flags & FLAG_EVENTFD_DOORBELL != 0;
    match check_attachments(frame, fds) {
        Ok(()) => assert!(ok, "{frame:?} with {fds} descriptors passed"),
        Err(e) => {
            assert!(!ok, "{frame:?} with {fds} descriptors failed: {e}");
            assert!(matches!(e, WireError::BadField { .. }));
        }
    }
}
