//! Ring endpoints over an arbitrary image of the shared region, with the "peer" scribbling on the
//! header between calls: nothing may crash, and (under ASan) nothing may touch memory outside the
//! ring's allocation.
//!
//! Input: one mode byte (bit 0 set: keep the image's identity line as is, otherwise force a valid
//! one), the header + data image, then operations, each an opcode byte and its arguments.
#![no_main]

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

use libfuzzer_sys::fuzz_target;
use rpal_net::rpal::ring::layout::{LAYOUT_VERSION, RING_MAGIC};
use rpal_net::rpal::ring::{Consumer, Producer, HEADER_LEN, MIN_CAPACITY};

/// Capacity of the fuzzed ring (the smallest, so indices wrap quickly).
const CAP: usize = MIN_CAPACITY as usize;
/// Bytes of the ring: header and data, allocated exactly so ASan sees any overrun.
const LEN: usize = HEADER_LEN + CAP;
/// Offsets of the shared words the peer may write (see the layout table).
const FIELDS: [usize; 10] = [0, 8, 16, 128, 136, 256, 264, 384, 512, 20];

struct Input<'a>(&'a [u8]);
impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u64(&mut self) -> u64 {
        let mut v = [0u8; 8];
        for b in &mut v {
            *b = self.byte().unwrap_or(0);
        }
        u64::from_le_bytes(v)
    }
    fn u16(&mut self) -> usize {
        usize::from(self.byte().unwrap_or(0)) | usize::from(self.byte().unwrap_or(0)) << 8
    }
}

struct Mem(NonNull<u8>);
impl Mem {
    fn layout() -> Layout {
        Layout::from_size_align(LEN, 128).unwrap()
    }
    fn new() -> Self {
        // SAFETY: non-zero size.
        Mem(NonNull::new(unsafe { alloc_zeroed(Self::layout()) }).unwrap())
    }
    /// A write by the "peer": raw, unaligned-tolerant, inside the allocation.
    fn poke(&self, off: usize, v: u64, width: usize) {
        let bytes = v.to_le_bytes();
        let off = off.min(LEN - width);
        // SAFETY: off + width <= LEN.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.0.as_ptr().add(off), width) };
    }
}
impl Drop for Mem {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with the same layout.
        unsafe { dealloc(self.0.as_ptr(), Self::layout()) };
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let mode = input.byte().unwrap_or(0);
    let mem = Mem::new();
    let image = input.0.len().min(LEN);
    // SAFETY: image <= LEN bytes into our allocation.
    unsafe { std::ptr::copy_nonoverlapping(input.0.as_ptr(), mem.0.as_ptr(), image) };
    input.0 = &input.0[image..];
    if mode & 1 == 0 {
        mem.poke(0, RING_MAGIC, 8);
        mem.poke(8, LAYOUT_VERSION.into(), 4);
        mem.poke(16, CAP as u64, 8);
    }
    // SAFETY: 128-aligned, LEN bytes, alive until `mem` drops (after both endpoints).
    let mut c = unsafe { Consumer::from_raw(mem.0, LEN) }.ok();
    // SAFETY: as above.
    let mut p = unsafe { Producer::from_raw(mem.0, LEN) }.ok();
    let mut buf = vec![0u8; 2 * CAP];
    let mut tail = 0u64;
    while let Some(op) = input.byte() {
        match op % 10 {
            0 => {
                if let Some(c) = &mut c {
                    let n = input.u16() % buf.len();
                    let _ = c.read(&mut buf[..n]);
                }
            }
            1 => {
                if let Some(c) = &mut c {
                    let k = input.u16();
                    if let Ok(mut s) = c.peek() {
                        let (a, b) = s.as_slices();
                        assert!(a.len() + b.len() <= CAP);
                        let sum: u32 = a.iter().chain(b).map(|&x| u32::from(x)).sum();
                        std::hint::black_box(sum);
                        let n = k % (s.len() + 1);
                        s.consume(n);
                    }
                }
            }
            2 => {
                if let Some(c) = &mut c {
                    let k = input.u16();
                    if let Ok((a, b)) = c.lend() {
                        let n = k % (a.len() + b.len() + 1);
                        c.consume(n);
                    }
                }
            }
            3 => {
                if let Some(c) = &mut c {
                    let _ = c.is_ready();
                }
            }
            4 => {
                // The peer scribbles a shared word.
                let f = FIELDS[usize::from(input.byte().unwrap_or(0)) % FIELDS.len()];
                let v = input.u64();
                mem.poke(f, v, if f % 8 == 0 { 8 } else { 4 });
            }
            5 => {
                // An honest-looking producer step: move tail forward a little.
                tail = tail.wrapping_add(input.u16() as u64 % (CAP as u64 + 2));
                mem.poke(128, tail, 8);
            }
            6 => {
                if let Some(p) = &mut p {
                    let n = input.u16() % buf.len();
                    let _ = p.write(&buf[..n]);
                }
            }
            7 => {
                if let Some(p) = &mut p {
                    let n = input.u16() % buf.len();
                    let _ = p.write_buffered(&buf[..n]);
                    let _ = p.writable_len();
                    let _ = p.is_ready();
                    p.publish();
                }
            }
            8 => {
                if input.byte().unwrap_or(0) & 1 == 0 {
                    if let Some(p) = &mut p {
                        p.close();
                    }
                } else if let Some(c) = &mut c {
                    c.close();
                }
            }
            _ => {
                // The peer writes into the data area.
                let off = HEADER_LEN + input.u16() % CAP;
                mem.poke(off, input.u64(), 8);
            }
        }
    }
    drop(c);
    drop(p);
});
