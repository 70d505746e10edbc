//! The handshake decoder on arbitrary bytes: never panics, and whatever it accepts re-encodes to
//! the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rpal_net::rpal::wire::{decode, MAGIC};

fuzz_target!(|data: &[u8]| {
    match decode(data) {
        Ok((frame, used)) => assert_eq!(frame.to_bytes(), data[..used]),
        Err(e) => {
            // Anything not starting with the magic is reported as "not an RPAL peer".
            let m = data.len().min(4);
            assert_eq!(e.is_not_rpal_peer(), data[..m] != MAGIC[..m]);
            let _ = e.to_string();
        }
    }
});
