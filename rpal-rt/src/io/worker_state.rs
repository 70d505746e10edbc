//! Per-worker receiver state in shared memory: what each worker of this process is doing
//! (RUNNING, WAIT or CALL), published where a peer process can read it.
//!
//! One table per process, a sealed memfd of [`TABLE_LEN`] bytes: line 0 is a header (magic,
//! version, slot count), lines 1.. are one 128-byte slot per worker, each holding one `u32`
//! state word. A worker takes a slot when it is created and gives it back when it is dropped;
//! it is the **only writer** of its slot:
//!
//! | state | meaning | written |
//! |---|---|---|
//! | [`RUNNING`] | the worker runs its own tasks; it will poll its user-space sources again soon | after every park, at the end of a gate call |
//! | [`WAIT`] | the worker is (about to be) parked in its reactor; waking it needs a syscall | just before the sources' `prepare_park`, followed by `fence(SeqCst)` |
//! | [`CALL`] | the worker runs a call-gate handler for a caller on its thread | around the outermost gate call |
//!
//! A peer reads the table through its own read-only mapping ([`PeerTable`]) and rings a
//! connection's doorbell only when the worker that waits on that connection is in `WAIT`: a
//! busy worker (RUNNING or CALL) will look at its rings before it parks, so ringing it would be a
//! wasted syscall. The Dekker argument that no wake-up is lost is in rpal-net's `doorbell.rs`;
//! this side's part is: **store WAIT, then `fence(SeqCst)`, then re-check every source**
//! (`executor/worker.rs` does the first two before `SourceRegistry::prepare_park`).
//!
//! The table's memfd is sealed (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE |
//! F_SEAL_SEAL`) after this process mapped it writable, so a peer that receives the descriptor
//! can map it only read-only and cannot shrink it under anyone's mapping. A peer's table is
//! checked (size, seals, header) before it is mapped here.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use rustix::fs::SealFlags;
use rustix::mm::{MapFlags, ProtFlags};

pub use crate::gate::receiver_state::{CALL, RUNNING, WAIT};

/// Bytes per line: two cache lines, so neighbouring workers never share a prefetched pair.
const LINE: usize = 128;
/// Lines in the table, the header included.
const LINES: usize = 256;
/// Bytes of a table: 256 lines of 128 bytes.
pub const TABLE_LEN: usize = LINES * LINE;
/// Worker slots in a table (line 0 is the header).
pub const SLOTS: u32 = (LINES - 1) as u32;
/// "WSTATES1" in little-endian: the header's magic.
const MAGIC: u64 = u64::from_le_bytes(*b"WSTATES1");
/// Version of this layout.
const VERSION: u32 = 1;
/// The index a connection publishes when its waiter has no slot (the peer then decides on the
/// connection's own parking word alone).
pub const NO_SLOT: u32 = u32::MAX;

/// What a worker is doing, as read from its slot.
///
/// # Examples
/// ```
/// use rpal_rt::io::worker_state::{current_state, WorkerState};
///
/// assert_eq!(current_state(), None); // not on a worker
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// let inside = rt.block_on(async { current_state() });
/// assert_eq!(inside, Some(WorkerState::Running));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Running its own tasks.
    Running,
    /// Parked (or about to park) in its reactor.
    Wait,
    /// Running a call-gate handler.
    Call,
    /// A value no worker writes (a peer's table is not trusted).
    Invalid(u32),
}

impl WorkerState {
    /// Decodes a raw slot value.
    pub fn from_raw(v: u32) -> WorkerState {
        match v {
            RUNNING => WorkerState::Running,
            WAIT => WorkerState::Wait,
            CALL => WorkerState::Call,
            other => WorkerState::Invalid(other),
        }
    }
}

/// The header line (line 0).
#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    slots: AtomicU32,
}

/// This process's table: a writable mapping of a sealed memfd, never unmapped.
struct Table {
    fd: OwnedFd,
    /// # Invariant
    /// Start of a live, writable, `TABLE_LEN`-byte shared mapping that is never unmapped.
    base: NonNull<u8>,
    free: Mutex<Vec<u32>>,
}

// SAFETY: the mapping is process-wide and only accessed through atomics; the free list is
// behind a mutex.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

impl Table {
    fn create() -> io::Result<Table> {
        let fd = rustix::fs::memfd_create(
            "rpal-worker-states",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )?;
        rustix::fs::ftruncate(&fd, TABLE_LEN as u64)?;
        // Never unmapped: the table lives as long as the process.
        let base = map_shared(&fd, ProtFlags::READ | ProtFlags::WRITE)?;
        // After this, nobody (this process included) can map it writable again, shrink or grow
        // it; the mapping above stays writable.
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::FUTURE_WRITE | SealFlags::SEAL,
        )?;
        let table = Table {
            fd,
            base,
            // Handed out from the low end first.
            free: Mutex::new((1..=SLOTS).rev().collect()),
        };
        let h = table.header();
        h.version.store(VERSION, Ordering::Relaxed);
        h.slots.store(SLOTS, Ordering::Relaxed);
        h.magic.store(MAGIC, Ordering::Release);
        Ok(table)
    }

    fn header(&self) -> &Header {
        // SAFETY: field invariant; line 0 is 128 bytes, 128-aligned (page-aligned mapping), and a
        // header of atomics accepts any bytes.
        unsafe { self.base.cast::<Header>().as_ref() }
    }

    fn word(&self, index: u32) -> &'static AtomicU32 {
        debug_assert!((1..=SLOTS).contains(&index));
        // SAFETY: field invariant (live for the process, never unmapped, hence 'static); the
        // index is in 1..=SLOTS, so the word is inside the mapping and 4-byte aligned.
        unsafe {
            &*self
                .base
                .as_ptr()
                .add(index as usize * LINE)
                .cast::<AtomicU32>()
        }
    }
}

/// The process's table, created on first use; `None` if the system refused (then workers have
/// no slot and peers fall back to per-connection parking words).
fn table() -> Option<&'static Table> {
    static TABLE: OnceLock<Option<Table>> = OnceLock::new();
    TABLE
        .get_or_init(|| match Table::create() {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!(
                    "rpal: worker state table unavailable ({e}); peers will use per-connection \
                     parking words only"
                );
                None
            }
        })
        .as_ref()
}

/// The descriptor of this process's table, to hand to a peer (it can only map it read-only).
/// `None` if the table could not be created.
pub fn table_fd() -> Option<BorrowedFd<'static>> {
    table().map(|t| t.fd.as_fd())
}

thread_local! {
    /// The slot of the worker entered on this thread (null: none).
    static CURRENT: Cell<*const WorkerSlot> = const { Cell::new(std::ptr::null()) };
}

/// The slot index of the worker running on this thread, if it has one.
pub fn current_index() -> Option<u32> {
    with_current(|s| s.index)
}

/// The state the worker on this thread has published (for diagnostics and tests).
pub fn current_state() -> Option<WorkerState> {
    with_current(|s| WorkerState::from_raw(s.word.load(Ordering::Relaxed)))
}

fn with_current<R>(f: impl FnOnce(&WorkerSlot) -> R) -> Option<R> {
    let p = CURRENT.try_with(|c| c.get()).unwrap_or(std::ptr::null());
    // SAFETY: a non-null pointer was set by `WorkerSlot::enter` from a slot that outlives the
    // returned guard, and the guard resets it before the slot can go away.
    unsafe { p.as_ref() }.map(f)
}

/// One worker's slot; the worker is its only writer.
pub(crate) struct WorkerSlot {
    index: u32,
    word: &'static AtomicU32,
}

impl fmt::Debug for WorkerSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerSlot")
            .field("index", &self.index)
            .field(
                "state",
                &WorkerState::from_raw(self.word.load(Ordering::Relaxed)),
            )
            .finish()
    }
}

impl WorkerSlot {
    /// A free slot, RUNNING; `None` when the table is unavailable or full.
    pub(crate) fn take() -> Option<WorkerSlot> {
        let t = table()?;
        let index = lock(&t.free).pop()?;
        let word = t.word(index);
        word.store(RUNNING, Ordering::Release);
        Some(WorkerSlot { index, word })
    }

    /// Publishes WAIT. The caller must issue `fence(SeqCst)` before re-checking its sources.
    pub(crate) fn set_wait(&self) {
        self.word.store(WAIT, Ordering::Relaxed);
    }

    /// Publishes RUNNING (after a park).
    pub(crate) fn set_running(&self) {
        self.word.store(RUNNING, Ordering::Release);
    }

    /// Makes this the current thread's slot until the guard drops.
    pub(crate) fn enter(&self) -> SlotGuard {
        let prev = CURRENT.with(|c| c.replace(self as *const WorkerSlot));
        SlotGuard { prev }
    }
}

impl Drop for WorkerSlot {
    fn drop(&mut self) {
        self.word.store(RUNNING, Ordering::Release);
        if let Some(t) = table() {
            lock(&t.free).push(self.index);
        }
    }
}

/// Restores the previous current slot on drop.
#[derive(Debug)]
pub(crate) struct SlotGuard {
    prev: *const WorkerSlot,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// While alive, the current worker (if any) publishes CALL; the previous state comes back on
/// drop. Taken by the call gate around a call; nested calls keep CALL.
#[derive(Debug)]
pub(crate) struct CallGuard {
    word: Option<(&'static AtomicU32, u32)>,
}

/// Publishes CALL for the current worker until the guard drops.
pub(crate) fn enter_call() -> CallGuard {
    // The worker is the only writer of its word: a load and a store, no read-modify-write.
    let word = with_current(|s| s.word).map(|w| {
        let prev = w.load(Ordering::Relaxed);
        w.store(CALL, Ordering::Relaxed);
        (w, prev)
    });
    CallGuard { word }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some((w, prev)) = self.word {
            w.store(prev, Ordering::Release);
        }
    }
}

/// A peer process's table, mapped read-only here.
///
/// # Examples
/// ```
/// use rpal_rt::io::worker_state::{current_index, table_fd, PeerTable, WorkerState};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     // A peer would receive this descriptor over a Unix socket; here we map our own table.
///     let fd = table_fd().unwrap().try_clone_to_owned().unwrap();
///     let table = PeerTable::map(fd).unwrap();
///     let me = current_index().unwrap();
///     assert_eq!(table.state(me), Some(WorkerState::Running));
///     assert_eq!(table.state(0), None, "slot 0 is the header");
/// });
/// ```
pub struct PeerTable {
    /// # Invariant
    /// Start of a live, readable, `TABLE_LEN`-byte mapping, unmapped only in `Drop`; the file
    /// behind it is sealed against shrinking, so every byte stays backed.
    base: NonNull<u8>,
}

// SAFETY: a read-only mapping accessed only through atomic loads.
unsafe impl Send for PeerTable {}
// SAFETY: as above.
unsafe impl Sync for PeerTable {}

impl fmt::Debug for PeerTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerTable")
            .field("base", &self.base)
            .finish()
    }
}

impl PeerTable {
    /// Checks and maps a table a peer sent: exactly [`TABLE_LEN`] bytes, sealed against
    /// shrinking and growing, with a valid header.
    ///
    /// # Errors
    /// `InvalidData` naming what is wrong, or the OS error of `fstat`/`mmap`.
    pub fn map(fd: OwnedFd) -> io::Result<PeerTable> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_owned());
        let seals = rustix::fs::fcntl_get_seals(&fd)
            .map_err(|_| bad("peer's worker-state table is not a sealable memfd"))?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            return Err(bad(
                "peer's worker-state table is not sealed against resizing",
            ));
        }
        let st = rustix::fs::fstat(&fd)?;
        if st.st_size != TABLE_LEN as i64 {
            return Err(bad("peer's worker-state table has the wrong size"));
        }
        // Read-only, of a file sealed at exactly TABLE_LEN bytes; unmapped in Drop.
        let table = PeerTable {
            base: map_shared(&fd, ProtFlags::READ)?,
        };
        // SAFETY: field invariant; line 0 of the mapping, aligned, any bytes valid for atomics
        // (atomic loads of read-only memory are allowed).
        let h = unsafe { table.base.cast::<Header>().as_ref() };
        if h.magic.load(Ordering::Acquire) != MAGIC
            || h.version.load(Ordering::Relaxed) != VERSION
            || h.slots.load(Ordering::Relaxed) != SLOTS
        {
            return Err(bad("peer's worker-state table has a bad header"));
        }
        Ok(table)
    }

    /// The raw state word of slot `index`, or `None` if the index is out of range (a peer's
    /// index is not trusted).
    pub fn word(&self, index: u32) -> Option<&AtomicU32> {
        if !(1..=SLOTS).contains(&index) {
            return None;
        }
        // SAFETY: field invariant; the index is in range, so the word lies inside the mapping,
        // 4-byte aligned; only atomic loads are made through it.
        Some(unsafe {
            &*self
                .base
                .as_ptr()
                .add(index as usize * LINE)
                .cast::<AtomicU32>()
        })
    }

    /// The state of slot `index` (`None` if out of range).
    pub fn state(&self, index: u32) -> Option<WorkerState> {
        self.word(index)
            .map(|w| WorkerState::from_raw(w.load(Ordering::Relaxed)))
    }
}

impl Drop for PeerTable {
    fn drop(&mut self) {
        // SAFETY: field invariant: our own mapping of TABLE_LEN bytes; no reference into it
        // outlives `self` (`word` borrows self).
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr().cast(), TABLE_LEN) };
    }
}

/// A fresh shared mapping of the first `TABLE_LEN` bytes of `fd`, at an address the kernel
/// picks. The caller owns it (unmaps it, or keeps it for the process's life).
fn map_shared(fd: &OwnedFd, prot: ProtFlags) -> io::Result<NonNull<u8>> {
    // SAFETY: a new mapping at a kernel-chosen address cannot alias existing Rust objects; the
    // kernel checks `prot` against the descriptor's mode and seals.
    let ptr = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            TABLE_LEN,
            prot,
            MapFlags::SHARED,
            fd,
            0,
        )?
    };
    NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn dup_table() -> OwnedFd {
        table_fd()
            .expect("table")
            .try_clone_to_owned()
            .expect("dup")
    }

    #[test]
    fn slot_states_are_visible_through_a_peer_mapping() {
        let slot = WorkerSlot::take().expect("slot");
        let peer = PeerTable::map(dup_table()).expect("map");
        assert_eq!(peer.state(slot.index), Some(WorkerState::Running));
        slot.set_wait();
        assert_eq!(peer.state(slot.index), Some(WorkerState::Wait));
        {
            let _g = slot.enter();
            assert_eq!(current_index(), Some(slot.index));
            let _c = enter_call();
            assert_eq!(peer.state(slot.index), Some(WorkerState::Call));
            {
                let _nested = enter_call();
                assert_eq!(current_state(), Some(WorkerState::Call));
            }
            assert_eq!(current_state(), Some(WorkerState::Call));
        }
        assert_eq!(peer.state(slot.index), Some(WorkerState::Wait));
        assert_eq!(current_index(), None);
        slot.set_running();
        assert_eq!(peer.state(slot.index), Some(WorkerState::Running));
        assert_eq!(peer.state(0), None, "the header is not a slot");
        assert_eq!(peer.state(SLOTS + 1), None);
        assert_eq!(peer.state(NO_SLOT), None);
    }

    #[test]
    fn the_table_cannot_be_mapped_writable_or_resized_by_a_peer() {
        let fd = dup_table();
        match map_shared(&fd, ProtFlags::READ | ProtFlags::WRITE) {
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM), "fd {}", fd.as_raw_fd()),
            Ok(p) => {
                // SAFETY: the mapping just made.
                let _ = unsafe { rustix::mm::munmap(p.as_ptr().cast(), TABLE_LEN) };
                panic!("a writable mapping of the sealed table succeeded");
            }
        }
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
        assert!(rustix::fs::ftruncate(&fd, 2 * TABLE_LEN as u64).is_err());
    }

    #[test]
    fn bad_tables_are_refused() {
        // Not a memfd.
        let f = std::fs::File::open("/proc/self/status").unwrap();
        assert!(PeerTable::map(f.into()).is_err());
        // Unsealed memfd of the right size.
        let fd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, TABLE_LEN as u64).unwrap();
        let err = PeerTable::map(fd.try_clone().unwrap()).unwrap_err();
        assert!(err.to_string().contains("sealed"), "{err}");
        // Sealed but with an empty header.
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).unwrap();
        let err = PeerTable::map(fd).unwrap_err();
        assert!(err.to_string().contains("header"), "{err}");
        // Wrong size.
        let fd = rustix::fs::memfd_create("t", rustix::fs::MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, 4096).unwrap();
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).unwrap();
        assert!(PeerTable::map(fd).is_err());
    }
}
