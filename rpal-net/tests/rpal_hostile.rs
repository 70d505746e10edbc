//! A hostile peer, played by hand, never makes our side crash, hang, leak or touch memory
//! outside the mapping. It returns errors (or, at worst, garbage bytes or an early end of
//! stream from a peer that lies), and the listener keeps serving good clients.
//!
//! * **Shared ring**: with our stream busy reading and writing, the peer writes random values
//!   (zero, one, all ones, near the current value, multiples of the capacity, fully random)
//!   over every word of both ring headers (identity line: magic, version, padding, capacity;
//!   `tail`, `writer_closed`, `head`, `reader_closed`; both parking words), one field at a time
//!   and all at once, while also publishing and consuming honestly now and then. Then it
//!   closes; our reader and writer must finish with end of stream or `ConnectionReset` /
//!   `BrokenPipe` within [`NOTICE`].
//! * **Handshakes to our listener**: randomly mutated, truncated, oversized and wrong-version
//!   Hellos carrying random descriptors (eventfds, a regular file, a pipe, a socket, a memfd,
//!   a directory, too many): every one is closed, rejected or admitted, never hangs the client,
//!   never fails `accept`.
//! * **Accepts to our client**: the wrong kind of region descriptor (regular file, pipe,
//!   socket, eventfd), a memfd too small, larger than announced, unsealed, sealed without
//!   `F_SEAL_SEAL`, write-sealed, one that is truncated after it was sent, and randomly
//!   mutated Accept frames: `connect` fails cleanly (or falls back on a Reject).
//!
//! A process-wide [`Watchdog`] aborts the test binary if anything hangs (a hung worker could
//! not fire the runtime's own timeouts). Every phase ends with the descriptors and ring
//! mappings this process held before it. Each phase prints how many hostile inputs it tried.

mod support;

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use rpal_net::rpal::ring::layout::{HEADER_LEN, LINE};
use rpal_net::rpal::ring::{init_ring, RegionLayout};
use rpal_net::rpal::shm::SharedRegion;
use rpal_net::rpal::wire::{self, Accept, Frame, Hello, FLAG_EVENTFD_DOORBELL, PROTOCOL_VERSION};
use rpal_net::unix::scm::{recv_with_fds, send_with_fds};
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use support::proc::{settle_to, Held, Watchdog};
use support::{within, within_for, SockPath, XorShift};

const CAP: u32 = 4096;
/// How long our side may take to finish once the hostile peer is gone.
const NOTICE: Duration = Duration::from_secs(10);
/// Random values written per field (one at a time) and rounds of "all at once".
const VALUES_PER_FIELD: usize = 300;

fn eventfd() -> OwnedFd {
    // SAFETY: plain syscall; the result is checked before it is owned.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    assert!(fd >= 0, "eventfd: {}", io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn ring_eventfd(fd: &OwnedFd) {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from our buffer to an eventfd we hold.
    let r = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), 8) };
    assert!(r == 8 || io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock);
}

fn seed() -> u64 {
    std::env::var("RPAL_HOSTILE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

fn hello(capacity: u32) -> Vec<u8> {
    Frame::Hello(Hello {
        version: PROTOCOL_VERSION,
        flags: FLAG_EVENTFD_DOORBELL,
        capacity,
        pid: std::process::id(),
    })
    .to_bytes()
}

/// Reads exactly `n` bytes (blocking), collecting descriptors.
fn read_exact_fds(s: &StdUnixStream, n: usize, fds: &mut Vec<OwnedFd>) -> io::Result<Vec<u8>> {
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

/// Reads one frame and its descriptors.
fn read_frame(s: &StdUnixStream, fds: &mut Vec<OwnedFd>) -> io::Result<Frame> {
    let mut bytes = read_exact_fds(s, wire::HEADER_LEN, fds)?;
    let body = usize::from(u16::from_le_bytes([bytes[6], bytes[7]]));
    bytes.extend(read_exact_fds(s, body, fds)?);
    wire::decode(&bytes)
        .map(|(f, _)| f)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

// ---- the shared ring -------------------------------------------------------------------------

/// One word of a ring header: name, byte offset in the header, width in bytes.
#[derive(Clone, Copy, Debug)]
struct Field {
    name: &'static str,
    off: usize,
    width: usize,
}

/// Every word of the header table in `rpal/ring/layout.rs`.
const FIELDS: [Field; 12] = [
    field("magic", 0, 8),
    field("version", 8, 4),
    field("pad", 12, 4),
    field("capacity", 16, 8),
    field("tail", LINE, 8),
    field("writer_closed", LINE + 8, 4),
    field("head", 2 * LINE, 8),
    field("reader_closed", 2 * LINE + 8, 4),
    field("consumer_waiting", 3 * LINE, 4),
    field("consumer_waiting.slot", 3 * LINE + 4, 4),
    field("producer_waiting", 4 * LINE, 4),
    field("producer_waiting.slot", 4 * LINE + 4, 4),
];

const fn field(name: &'static str, off: usize, width: usize) -> Field {
    Field { name, off, width }
}

fn all_fields() -> Vec<Field> {
    FIELDS.to_vec()
}

/// A client that did the handshake by hand and now holds the shared memory.
struct Hostile {
    /// The setup socket: its hang-up means "peer gone" to our side.
    _sock: StdUnixStream,
    region: SharedRegion,
    accept: Accept,
    server_data: OwnedFd,
    server_room: OwnedFd,
    _mine: [OwnedFd; 2],
}

impl Hostile {
    fn connect(path: &std::path::Path) -> Hostile {
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
            _sock: sock,
            region,
            accept,
            server_data,
            server_room,
            _mine: mine,
        }
    }

    fn base(&self, ring: usize) -> *mut u8 {
        let off = self.accept.offsets[ring] as usize;
        assert!(off + HEADER_LEN + CAP as usize <= self.region.len());
        // SAFETY: inside the mapping (checked above).
        unsafe { self.region.as_ptr().as_ptr().add(off) }
    }

    fn load(&self, ring: usize, f: Field) -> u64 {
        // SAFETY: an aligned word of the shared header, inside the mapping; atomics accept any
        // bytes.
        unsafe {
            let p = self.base(ring).add(f.off);
            if f.width == 8 {
                AtomicU64::from_ptr(p.cast()).load(Ordering::Acquire)
            } else {
                u64::from(AtomicU32::from_ptr(p.cast()).load(Ordering::Acquire))
            }
        }
    }

    fn store(&self, ring: usize, f: Field, v: u64) {
        // SAFETY: as in load.
        unsafe {
            let p = self.base(ring).add(f.off);
            if f.width == 8 {
                AtomicU64::from_ptr(p.cast()).store(v, Ordering::Release)
            } else {
                AtomicU32::from_ptr(p.cast()).store(v as u32, Ordering::Release)
            }
        }
    }

    fn ring_both(&self) {
        ring_eventfd(&self.server_data);
        ring_eventfd(&self.server_room);
    }

    /// Honest-looking moves: publish a few bytes into ring 0 at its tail, release everything
    /// published in ring 1. The values come from the (possibly scribbled) header; the bytes
    /// are written inside the data area whatever they are.
    fn honest_step(&self, rng: &mut XorShift) {
        let tail = FIELDS[4];
        let head = FIELDS[6];
        let t0 = self.load(0, tail);
        let h0 = self.load(0, head);
        let room = u64::from(CAP).saturating_sub(t0.wrapping_sub(h0));
        let n = (rng.range(1, 512) as u64).min(room);
        if n > 0 {
            let pos = (t0 % u64::from(CAP)) as usize;
            let k = (n as usize).min(CAP as usize - pos);
            // SAFETY: [pos, pos + k) is inside ring 0's data area.
            unsafe { std::ptr::write_bytes(self.base(0).add(HEADER_LEN + pos), 0x6b, k) };
            self.store(0, tail, t0.wrapping_add(k as u64));
        }
        self.store(1, head, self.load(1, tail));
        self.ring_both();
    }
}

/// A hostile value for a word that holds `cur`.
fn hostile_value(rng: &mut XorShift, cur: u64, width: usize) -> u64 {
    let cap = u64::from(CAP);
    let v = match rng.next() % 9 {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => rng.next(),
        4 => cur.wrapping_add(rng.range(1, 2 * CAP as usize) as u64),
        5 => cur.wrapping_sub(rng.range(1, 2 * CAP as usize) as u64),
        6 => cap * (rng.next() % 8),
        7 => cur.wrapping_add(cap),
        _ => rng.next() % 4,
    };
    if width == 4 {
        v & 0xffff_ffff
    } else {
        v
    }
}

/// Our side's busy stream ends: a reader that alternates `read` and `fill_buf`, and a writer.
fn busy(
    s: RpalStream,
) -> (
    rpal_rt::JoinHandle<io::Result<u64>>,
    rpal_rt::JoinHandle<io::Error>,
) {
    let (mut r, mut w) = s.into_split();
    let reader = rpal_rt::spawn(async move {
        let mut buf = [0u8; 777];
        let mut total = 0u64;
        let mut i = 0u64;
        loop {
            i += 1;
            let n = if i.is_multiple_of(2) {
                let n = r.read(&mut buf).await?;
                assert!(
                    n <= buf.len(),
                    "read returned {n} for a {}-byte buffer",
                    buf.len()
                );
                n
            } else {
                let lent = r.fill_buf().await?;
                let n = lent.len();
                assert!(n <= CAP as usize, "lent {n} bytes from a {CAP}-byte ring");
                r.consume_unpin(n);
                n
            };
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let writer = rpal_rt::spawn(async move {
        let chunk = [0x3cu8; 700];
        loop {
            match w.write(&chunk).await {
                Ok(n) => assert!(n <= chunk.len() && n > 0, "write returned {n}"),
                Err(e) => return e,
            }
        }
    });
    (reader, writer)
}

/// Does the hostile handshake while the listener accepts.
async fn hostile_pair(listener: &RpalListener, path: &SockPath) -> (Hostile, RpalStream) {
    let p = path.path().to_path_buf();
    let (h, s) = within(
        "hostile handshake",
        futures::future::join(
            rpal_rt::spawn_blocking(move || Hostile::connect(&p)),
            listener.accept(),
        ),
    )
    .await;
    let (s, _) = s.unwrap();
    assert!(s.is_shared_memory());
    (h.unwrap(), s)
}

/// After an attack, the listener still serves a good client over shared memory.
async fn still_serves(listener: &RpalListener, path: &SockPath) {
    let (mut c, mut s) =
        support::connect_accept(listener, path.path(), &RpalConfig::default()).await;
    assert!(c.is_shared_memory() && s.is_shared_memory());
    c.write_all(b"good client").await.unwrap();
    c.close().await.unwrap();
    let mut got = Vec::new();
    within("good client read", s.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, b"good client");
}

/// Scribbles `targets` (ring, field) with `rounds` hostile values each round while our stream
/// is busy; returns the values written.
async fn attack(
    l: &RpalListener,
    path: &SockPath,
    targets: Vec<(usize, Field)>,
    rounds: usize,
    seed: u64,
    what: &str,
) -> usize {
    let (h, s) = hostile_pair(l, path).await;
    let (reader, writer) = busy(s);
    let scribbler = rpal_rt::spawn_blocking(move || {
        let mut rng = XorShift(seed | 1);
        let mut n = 0;
        for i in 0..rounds {
            for &(ring, f) in &targets {
                let v = hostile_value(&mut rng, h.load(ring, f), f.width);
                h.store(ring, f, v);
                n += 1;
            }
            h.ring_both();
            if rng.next().is_multiple_of(3) {
                h.honest_step(&mut rng);
            }
            if i % 32 == 31 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        (h, n)
    });
    let (h, n) = within("scribbler", scribbler).await.unwrap();
    // The peer goes away: our ends must finish.
    drop(h);
    let r = within_for(NOTICE, &format!("{what}: reader"), reader)
        .await
        .unwrap();
    let e = within_for(NOTICE, &format!("{what}: writer"), writer)
        .await
        .unwrap();
    if let Err(e) = &r {
        assert_eq!(
            e.kind(),
            io::ErrorKind::ConnectionReset,
            "{what}: reader: {e}"
        );
    }
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ),
        "{what}: writer: {e}"
    );
    n
}

#[test]
fn every_ring_word_scribbled_one_at_a_time_and_all_at_once() {
    let seed = seed();
    eprintln!("hostile ring: seed {seed} (rerun with RPAL_HOSTILE_SEED={seed})");
    for (flavor, rt) in support::each_flavor() {
        rt.block_on(async {
            let path = SockPath::new("hostile-ring");
            let cfg = RpalConfig::default().ring_capacity(CAP as usize);
            let l = RpalListener::bind_with(path.path(), cfg).unwrap();
            still_serves(&l, &path).await;
            let baseline = Held::now();
            let mut inputs = 0;
            let mut targets = 0;
            for ring in 0..2 {
                for (i, f) in all_fields().into_iter().enumerate() {
                    let what = format!("{flavor}: ring {ring} {}", f.name);
                    let _dog = Watchdog::arm(3 * NOTICE, what.clone());
                    let s = seed ^ ((ring * 16 + i) as u64) << 32;
                    inputs += attack(&l, &path, vec![(ring, f)], VALUES_PER_FIELD, s, &what).await;
                    targets += 1;
                    still_serves(&l, &path).await;
                }
            }
            let every: Vec<(usize, Field)> = (0..2)
                .flat_map(|r| all_fields().into_iter().map(move |f| (r, f)))
                .collect();
            let what = format!("{flavor}: every word at once");
            let _dog = Watchdog::arm(3 * NOTICE, what.clone());
            inputs += attack(&l, &path, every, VALUES_PER_FIELD, seed ^ 0xa11, &what).await;
            targets += 1;
            still_serves(&l, &path).await;
            settle_to(
                baseline,
                NOTICE,
                &format!("{flavor}: after the ring attacks"),
            )
            .await;
            eprintln!(
                "hostile ring ({flavor}): {inputs} hostile values written over {targets} \
                 targets (each of the 10 header words of both rings alone, then all 20 at \
                 once); no crash, no hang, no leak"
            );
        });
    }
}

/// CPU time (user + system) this process uses while the runtime sleeps `d`.
async fn cpu_during(d: Duration) -> (Duration, Duration) {
    fn cpu() -> Duration {
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into our local.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(u.ru_utime) + tv(u.ru_stime)
    }
    let (c0, t0) = (cpu(), std::time::Instant::now());
    rpal_rt::time::sleep(d).await;
    (t0.elapsed(), cpu() - c0)
}

/// The peer rewrites the words only *our* end writes (our consumer's `head` in ring 0, our
/// producer's `tail` in ring 1) so that a probe reading them from shared memory would say
/// "ready" while our end has nothing to do. Our waiting reader and writer must stay parked
/// (not spin inside one poll, which would hang the worker) and still notice the peer leaving.
#[test]
fn our_own_indices_rewritten_by_the_peer_do_not_spin() {
    for (flavor, rt) in support::each_flavor() {
        rt.block_on(async {
            let path = SockPath::new("hostile-own");
            let cfg = RpalConfig::default().ring_capacity(CAP as usize);
            let l = RpalListener::bind_with(path.path(), cfg).unwrap();
            let baseline = Held::now();
            let _dog = Watchdog::arm(3 * NOTICE, format!("{flavor}: own indices"));
            let (h, s) = hostile_pair(&l, &path).await;
            let (reader, writer) = busy(s);
            let tail = FIELDS[4];
            let head = FIELDS[6];
            // Let the writer fill ring 1 and both ends park.
            for _ in 0..2000 {
                if h.load(1, tail) >= u64::from(CAP) {
                    break;
                }
                rpal_rt::time::sleep(Duration::from_millis(1)).await;
            }
            assert_eq!(h.load(1, tail), u64::from(CAP), "ring 1 full");
            rpal_rt::time::sleep(Duration::from_millis(50)).await;
            // Ring 0 is empty (tail 0): claim our head moved; ring 1 is full: claim our tail
            // moved back to the head.
            h.store(0, head, 100);
            h.store(1, tail, 0);
            h.ring_both();
            rpal_rt::time::sleep(Duration::from_millis(20)).await;
            // The runtime still runs timers (we got here). Both ends must be parked, not woken
            // over and over: this process stays mostly idle while the forged words stay.
            let (wall, cpu) = cpu_during(Duration::from_millis(300)).await;
            eprintln!("{flavor}: {cpu:?} of CPU in {wall:?} with forged indices");
            assert!(
                cpu < wall / 2,
                "{flavor}: {cpu:?} of CPU in {wall:?}: our ends spin on forged indices"
            );
            assert!(!reader.is_finished() && !writer.is_finished());
            drop(h);
            let r = within_for(NOTICE, "reader", reader).await.unwrap();
            let e = within_for(NOTICE, "writer", writer).await.unwrap();
            eprintln!("{flavor}: reader {r:?}, writer {e}");
            if let Err(e) = &r {
                assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}");
            }
            still_serves(&l, &path).await;
            settle_to(baseline, NOTICE, "own indices").await;
        });
    }
}
