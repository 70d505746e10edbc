//! The io_uring driver: readiness through multishot `POLL_ADD`, waits through `io_uring_enter`.
//!
//! Owns [`UringDriver`] (the ring; only the owning worker touches it) and [`UringShared`] (the
//! doorbell, the fd table and the list of requests other threads queue for the ring), plus
//! [`probe`], the feature check `DriverKind::detect` runs.
//!
//! # user_data scheme
//!
//! * [`DOORBELL_TAG`]: the multishot poll on the doorbell eventfd.
//! * a `POLL_REMOVE` request: the token it removes with bits 30 and 31 of the low word set
//!   ([`remove_user_data`]). Its CQE is 0 (removed), `-ENOENT` (the poll had ended) or
//!   `-EALREADY` (the poll was completing an event at that instant and stays armed): the last
//!   one queues the remove again, since an armed poll holds the file and a closed socket would
//!   never send its FIN. [`REMOVE_TAG`] is left for tokens whose key does not fit (none today).
//!   Ignored otherwise.
//! * [`CANCEL_TAG`]: every `ASYNC_CANCEL` of a completion operation; its own CQE is ignored (the
//!   cancelled operation posts its own final CQE).
//! * bit 31 set, bit 30 clear: a completion operation (`uring_op.rs`: generation << 32 |
//!   1 << 31 | op key, key < 2^30). Handled by the op table.
//! * anything else: the token of a registered fd (`registry.rs`: generation << 32 | slab key; keys
//!   stay below 2^29, so bits 29..31 are clear and no token reaches the tags). A CQE whose token
//!   is no longer in the table (a late event, the final `-ECANCELED` of a removed poll) is
//!   dropped.
//!
//! ```text
//!  tags       0xFFFF_FFFF_FFFF_FFFF, ..._FFFE, ..._FFFD    (low word >= 0xE000_0000)
//!  remove     gen:32 | 11 | key:30  with key < 2^29         (low word 0xC000_0000 ..= 0xDFFF_FFFF)
//!  op         gen:32 | 10 | key:30                          (low word 0x8000_0000 ..= 0xBFFF_FFFF)
//!  fd token   gen:32 | 00 | key:30  with key < 2^29         (low word < 0x2000_0000)
//! ```
//!
//! # Invariants
//!
//! * Every registered fd has exactly one live multishot poll, or one queued `POLL_ADD` to become
//!   it: a CQE without `IORING_CQE_F_MORE` (poll ended: CQ overflow, cancellation) queues a
//!   re-arm while the token is still registered.
//! * A deregistered fd's poll is removed (`POLL_REMOVE`) before or at the next park: the poll
//!   holds a reference to the file, so without it a closed socket would never send its FIN. If
//!   the `POLL_ADD` had not reached the ring yet, it is dropped instead.
//! * SQEs that name an fd are pushed **and submitted** under the state lock, so a deregistration
//!   (after which the caller closes the fd) cannot race a submission naming a closed fd number.
//! * Completion operations (`uring_op.rs`) keep their fd open themselves (they own an `Arc` of
//!   the file or socket), so their SQEs need not be submitted under the state lock; they are
//!   staged from the op table at every park.
//! * Other threads never touch the ring: they queue [`Pending`] requests and ring the doorbell if
//!   the owner is parked (`parked`, set before the owner takes the state lock to stage requests;
//!   the lock orders the two sides, so a request is either staged or sees `parked`).
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::types::{Fd, SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring, Probe};

use super::registry::{driver_gone, ready_from_events, IoRegistry};
use super::uring_bufs::{self, BufRing};
use super::uring_op::{self, OpTable};
use super::{Doorbell, ScheduledIo};
use crate::io::{Interest, Ready};
use crate::loom::sync::atomic::{AtomicBool, Ordering};
use crate::loom::sync::{Arc, Mutex, MutexGuard};

/// user_data of the doorbell's multishot poll.
const DOORBELL_TAG: u64 = u64::MAX;
/// user_data of a `POLL_REMOVE` whose token does not fit [`remove_user_data`]'s encoding.
const REMOVE_TAG: u64 = u64::MAX - 1;
/// Low-word bits marking a `POLL_REMOVE` (tags have all low bits set; tokens' keys stay below
/// 2^29, see `registry::MAX_KEY`).
const REMOVE_BITS: u64 = 0xC000_0000;
/// The low-word range of `POLL_REMOVE` user_data: `REMOVE_BITS | key` with `key < 2^29`.
const REMOVE_RANGE: std::ops::Range<u64> = REMOVE_BITS..REMOVE_BITS + (1 << 29);

/// The user_data of the `POLL_REMOVE` of `token`'s poll: the token with [`REMOVE_BITS`] set.
fn remove_user_data(token: u64) -> u64 {
    let key = token & 0xFFFF_FFFF;
    if key < (1 << 29) {
        token | REMOVE_BITS
    } else {
        REMOVE_TAG
    }
}

/// The token a `POLL_REMOVE`'s user_data names, if it is one.
fn removed_token(user_data: u64) -> Option<u64> {
    REMOVE_RANGE
        .contains(&(user_data & 0xFFFF_FFFF))
        .then_some(user_data & !REMOVE_BITS)
}
/// user_data of every `ASYNC_CANCEL` of a completion operation.
pub(super) const CANCEL_TAG: u64 = u64::MAX - 2;
/// Submission queue entries; the SQ is flushed (submitted) whenever it fills up.
pub(crate) const RING_ENTRIES: u32 = 256;
/// Completion queue entries: every registered fd can post CQEs, so the CQ is larger than the SQ.
/// Overflow is survivable (the kernel keeps CQEs, `NODROP`) but costs extra enters.
const CQ_ENTRIES: u32 = 4 * RING_ENTRIES;
/// Entries of the throw-away ring `probe` builds.
const PROBE_ENTRIES: u32 = 4;
/// How many times one park re-enters the kernel to flush overflowed CQEs before leaving the rest
/// for the next park.
const OVERFLOW_FLUSHES: usize = 8;

/// A request another thread queued for the ring.
#[derive(Clone, Copy, Debug)]
enum Pending {
    /// Arm a multishot poll for `fd` with `mask` (poll(2) bits), user_data `token`.
    Add { token: u64, fd: RawFd, mask: u32 },
    /// Remove the poll whose user_data is `token`.
    Remove { token: u64 },
}

#[derive(Debug, Default)]
struct State {
    ios: IoRegistry,
    /// Requests not yet staged by the owner.
    pending: Vec<Pending>,
    /// The driver is gone: registrations fail.
    closed: bool,
}

/// Shared half of the io_uring driver.
#[derive(Debug)]
pub(crate) struct UringShared {
    doorbell: Doorbell,
    state: Mutex<State>,
    /// True while the owner is in (or entering) a blocking wait. Stored before the owner stages
    /// requests; read by queuers after they pushed theirs (see the module doc).
    parked: AtomicBool,
    /// Completion operations of this ring (`uring_op.rs`).
    pub(super) ops: Mutex<OpTable>,
    /// The provided-buffer ring (`uring_bufs.rs`), once registered by the owner.
    pub(super) bufs: std::sync::OnceLock<std::sync::Arc<BufRing>>,
    /// An operation asked for provided buffers: the owner registers them at its next park.
    want_bufs: AtomicBool,
    /// Registering them failed once: do not ask again.
    bufs_failed: AtomicBool,
    /// Slots in `ops` as of the last submission or taken completion (`uring_op.rs`); a load hint
    /// for `SocketIo::Adaptive`, read without the lock.
    pub(super) ops_in_flight: std::sync::atomic::AtomicUsize,
}

/// The io_uring driver, owned by one worker.
pub(crate) struct UringDriver {
    ring: IoUring,
    shared: Arc<UringShared>,
    /// The doorbell's multishot poll is live (or submitted).
    doorbell_armed: bool,
    /// Requests moved out of the shared list, plus local re-arms; reused across parks.
    staged: Vec<Pending>,
}

impl std::fmt::Debug for UringDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDriver")
            .field("shared", &self.shared)
            .field("doorbell_armed", &self.doorbell_armed)
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// poll(2) bits to watch for `interest`; hang-up and error are always reported.
fn poll_mask(interest: Interest) -> u32 {
    let mut mask = libc::POLLRDHUP as u32;
    if interest.is_readable() {
        mask |= libc::POLLIN as u32;
    }
    if interest.is_writable() {
        mask |= libc::POLLOUT as u32;
    }
    mask
}

/// Checks that this kernel runs the driver: ring setup, `EXT_ARG` timed waits, the opcodes used
/// (`POLL_ADD`, `POLL_REMOVE`) and multishot poll (tried for real on an eventfd).
///
/// # Errors
/// A sentence saying what is missing.
pub(crate) fn probe() -> Result<(), String> {
    let mut ring = IoUring::new(PROBE_ENTRIES)
        .map_err(|e| format!("io_uring_setup failed: {e} (kernel too old, disabled by sysctl kernel.io_uring_disabled, or blocked by seccomp)"))?;
    if !ring.params().is_feature_ext_arg() {
        return Err("kernel lacks IORING_FEAT_EXT_ARG (timed waits need Linux 5.11+)".into());
    }
    let mut p = Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| format!("IORING_REGISTER_PROBE failed: {e}"))?;
    for (code, name) in [
        (opcode::PollAdd::CODE, "POLL_ADD"),
        (opcode::PollRemove::CODE, "POLL_REMOVE"),
    ] {
        if !p.is_supported(code) {
            return Err(format!("opcode IORING_OP_{name} unsupported"));
        }
    }
    let bell = Doorbell::new().map_err(|e| format!("eventfd failed: {e}"))?;
    bell.ring();
    let sqe = opcode::PollAdd::new(Fd(bell.as_raw_fd()), libc::POLLIN as u32)
        .multi(true)
        .build()
        .user_data(1);
    // SAFETY: POLL_ADD carries no buffer; the eventfd outlives the ring's use of it (`bell` is
    // dropped after `ring`, and closing the ring cancels the poll).
    unsafe { ring.submission().push(&sqe) }.map_err(|_| "probe ring full".to_string())?;
    ring.submit_and_wait(1)
        .map_err(|e| format!("io_uring_enter failed: {e}"))?;
    let cqe = ring.completion().next();
    match cqe {
        Some(c) if c.result() > 0 && cqueue::more(c.flags()) => Ok(()),
        Some(c) => Err(format!(
            "multishot poll unsupported (Linux 5.13+ needed): result {}, flags {:#x}",
            c.result(),
            c.flags()
        )),
        None => Err("multishot poll posted no completion".into()),
    }
}

/// Pushes `sqe`, submitting first when the SQ is full.
pub(super) fn push(ring: &mut IoUring, sqe: &squeue::Entry) -> io::Result<()> {
    loop {
        // Our POLL_ADD/POLL_REMOVE/ASYNC_CANCEL SQEs carry no buffers and name fds valid at
        // submission (module invariants); a completion operation's SQE points only into
        // resources its op slot keeps alive, and names fds they keep open, until the final CQE.
        // SAFETY: as above (`uring_op::submit`'s contract for the operations).
        if unsafe { ring.submission().push(sqe) }.is_ok() {
            return Ok(());
        }
        submit_tolerant(ring)?;
    }
}

/// Submits, treating "try again" errors (EBUSY: CQ overflow; EAGAIN; EINTR) as done for now.
fn submit_tolerant(ring: &mut IoUring) -> io::Result<()> {
    match ring.submit() {
        Ok(_) => Ok(()),
        // The kernel could not take more now (EBUSY: CQ overflow): the entries stay in the SQ
        // and go with the next enter, after the caller reaped.
        Err(e) if is_transient(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(super) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR | libc::EBUSY | libc::EAGAIN | libc::ETIME)
    )
}

fn sqe_for(p: Pending) -> squeue::Entry {
    match p {
        Pending::Add { token, fd, mask } => opcode::PollAdd::new(Fd(fd), mask)
            .multi(true)
            .build()
            .user_data(token),
        Pending::Remove { token } => opcode::PollRemove::new(token)
            .build()
            .user_data(remove_user_data(token)),
    }
}

impl UringDriver {
    /// Sets up a ring of [`RING_ENTRIES`] and the doorbell.
    ///
    /// # Errors
    /// `io_uring_setup` or `eventfd` failed.
    pub(crate) fn new() -> io::Result<Self> {
        Self::with_sizes(RING_ENTRIES, CQ_ENTRIES)
    }

    /// A driver with `sq` submission and `cq` completion entries (tests use tiny rings to force
    /// SQ flushes and CQ overflow).
    pub(crate) fn with_sizes(sq: u32, cq: u32) -> io::Result<Self> {
        // COOP_TASKRUN: completions are posted when the worker next enters the kernel instead of
        // by interrupting it (no IPI, and no EINTR in a blocking syscall that user code makes on
        // a worker thread); TASKRUN_FLAG tells the busy path when such work waits (5.19+; older
        // kernels get the default mode).
        let ring = match IoUring::builder()
            .setup_cqsize(cq)
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(sq)
        {
            Ok(ring) => ring,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                IoUring::builder().setup_cqsize(cq).build(sq)?
            }
            Err(e) => return Err(e),
        };
        let shared = Arc::new(UringShared {
            doorbell: Doorbell::new()?,
            state: Mutex::new(State::default()),
            parked: AtomicBool::new(false),
            ops: Mutex::new(OpTable::default()),
            bufs: std::sync::OnceLock::new(),
            want_bufs: AtomicBool::new(false),
            bufs_failed: AtomicBool::new(false),
            ops_in_flight: std::sync::atomic::AtomicUsize::new(0),
        });
        Ok(UringDriver {
            ring,
            shared,
            doorbell_armed: false,
            staged: Vec::new(),
        })
    }

    pub(crate) fn shared(&self) -> Arc<UringShared> {
        self.shared.clone()
    }

    /// Moves queued requests into the SQ and submits them, under the state lock (module doc).
    /// Staged completion operations go into the SQ first; they are submitted with the next
    /// enter (this one if other requests were pushed, else the wait's).
    fn stage_and_submit(&mut self) -> io::Result<()> {
        if self.shared.want_bufs.load(Ordering::Relaxed) && self.shared.bufs.get().is_none() {
            self.register_bufs();
        }
        {
            let ring = &mut self.ring;
            let mut wake = Vec::new();
            let staged = uring_op::lock(&self.shared.ops).stage(|sqe| push(ring, sqe), &mut wake);
            wake.into_iter().for_each(std::task::Waker::wake);
            staged?;
        }
        let mut state = lock(&self.shared.state);
        self.staged.append(&mut state.pending);
        // A re-arm queued by the last reap for an fd deregistered since must not be armed.
        let ios = &state.ios;
        self.staged.retain(|p| match p {
            Pending::Add { token, .. } => ios.get(*token).is_some(),
            Pending::Remove { .. } => true,
        });
        let mut pushed = !self.staged.is_empty();
        let ring = &mut self.ring;
        let res = self
            .staged
            .iter()
            .try_for_each(|p| push(ring, &sqe_for(*p)));
        // Cleared even on error: entries already in the SQ must not be pushed twice.
        self.staged.clear();
        res?;
        if !self.doorbell_armed {
            let sqe =
                opcode::PollAdd::new(Fd(self.shared.doorbell.as_raw_fd()), libc::POLLIN as u32)
                    .multi(true)
                    .build()
                    .user_data(DOORBELL_TAG);
            push(&mut self.ring, &sqe)?;
            self.doorbell_armed = true;
            pushed = true;
        }
        if pushed {
            submit_tolerant(&mut self.ring)?;
        }
        drop(state);
        Ok(())
    }

    /// Registers the provided-buffer ring (`uring_bufs.rs`); on failure, multishot receives are
    /// not offered again (callers use single `RECV`s).
    fn register_bufs(&mut self) {
        self.shared.want_bufs.store(false, Ordering::Relaxed);
        let registered = BufRing::new().and_then(|b| {
            // SAFETY: the ring memory and its buffers live in `UringShared`, which outlives the
            // ring fd (this driver holds an `Arc` of it and closes the ring first), and are
            // leaked if the kernel may still use them at shutdown (`uring_op::shutdown`).
            unsafe {
                self.ring.submitter().register_buf_ring_with_flags(
                    b.ring_addr(),
                    uring_bufs::ENTRIES,
                    uring_bufs::GROUP,
                    0,
                )
            }
            .map(|()| b)
        });
        match registered {
            Ok(b) => {
                let _ = self.shared.bufs.set(std::sync::Arc::new(b));
            }
            Err(_) => self.shared.bufs_failed.store(true, Ordering::Relaxed),
        }
    }

    /// Submits queued requests, waits up to `timeout` (`None`: forever; `Some(ZERO)`: not at
    /// all) for a completion, then dispatches every completion.
    pub(crate) fn park(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let blocking = timeout != Some(Duration::ZERO);
        if blocking {
            self.shared.parked.store(true, Ordering::SeqCst);
        }
        let res = self.stage_and_submit().and_then(|()| self.wait(timeout));
        if blocking {
            self.shared.parked.store(false, Ordering::Relaxed);
        }
        res?;
        self.reap()
    }

    fn wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let res = match timeout {
            Some(d) if d.is_zero() => {
                // With COOP_TASKRUN, readiness completions wait as task work until we enter the
                // kernel; the kernel sets the TASKRUN flag then. Enter only if that flag is set,
                // the SQ holds entries, or the CQ overflowed: a busy worker with nothing pending
                // makes no syscall here.
                let mut sq = self.ring.submission();
                if sq.is_empty() && !sq.cq_overflow() && !sq.taskrun() {
                    return Ok(());
                }
                sq.sync();
                drop(sq);
                self.ring.submitter().submit()
            }
            None => self.ring.submitter().submit_and_wait(1),
            Some(d) => {
                let ts = Timespec::new().sec(d.as_secs()).nsec(d.subsec_nanos());
                let args = SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(1, &args)
            }
        };
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Dispatches every completion; re-enters to flush overflowed CQEs a bounded number of times.
    fn reap(&mut self) -> io::Result<()> {
        for _ in 0..OVERFLOW_FLUSHES {
            let mut cq = self.ring.completion();
            cq.sync();
            for cqe in &mut cq {
                dispatch(
                    &self.shared,
                    &mut self.doorbell_armed,
                    &mut self.staged,
                    cqe.user_data(),
                    cqe.result(),
                    cqe.flags(),
                );
            }
            drop(cq);
            if !self.ring.submission().cq_overflow() {
                break;
            }
            // The kernel holds overflowed CQEs; an enter with GETEVENTS moves them into the CQ.
            submit_tolerant(&mut self.ring)?;
        }
        Ok(())
    }
}

/// Handles one CQE (see the user_data scheme in the module doc).
fn dispatch(
    shared: &UringShared,
    doorbell_armed: &mut bool,
    staged: &mut Vec<Pending>,
    user_data: u64,
    result: i32,
    flags: u32,
) {
    let more = cqueue::more(flags);
    match user_data {
        DOORBELL_TAG => {
            shared.doorbell.drain();
            if !more {
                *doorbell_armed = false; // re-armed by the next park
            }
        }
        REMOVE_TAG | CANCEL_TAG => {}
        ud if removed_token(ud).is_some() => {
            if result == -libc::EALREADY {
                if let Some(token) = removed_token(ud) {
                    // The poll was posting an event and stays armed: remove it again.
                    staged.push(Pending::Remove { token });
                }
            }
        }
        ud if uring_op::is_op(ud) => uring_op::complete(shared, ud, result, flags),
        token => {
            let (io, rearm) = {
                let state = lock(&shared.state);
                match state.ios.get(token) {
                    Some(e) => (e.io.clone(), (!more).then_some((e.fd, e.mask))),
                    None => return, // late CQE of a deregistered fd
                }
            };
            let rearm = if result >= 0 {
                io.set_readiness(ready_from_events(result as u32));
                rearm
            } else if result == -libc::ECANCELED {
                rearm
            } else {
                // The poll cannot run on this fd (e.g. EBADF): report an error, do not re-arm.
                io.set_readiness(Ready::ERROR);
                None
            };
            if let Some((fd, mask)) = rearm {
                staged.push(Pending::Add { token, fd, mask });
            }
        }
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        let ios: Vec<Arc<ScheduledIo>> = {
            let mut state = lock(&self.shared.state);
            state.closed = true;
            state.pending.clear();
            state.ios.drain().map(|e| e.io).collect()
        };
        // Closing the ring (after this) cancels every poll and releases their files.
        for io in ios {
            io.shutdown();
        }
        uring_op::shutdown(&self.shared, &mut self.ring);
    }
}

impl UringShared {
    pub(crate) fn doorbell(&self) -> &Doorbell {
        &self.doorbell
    }

    /// The provided-buffer ring, if registered; otherwise asks the owner to register it at its
    /// next park (and returns `None` now).
    pub(crate) fn buffers(&self) -> Option<&std::sync::Arc<BufRing>> {
        if let Some(b) = self.bufs.get() {
            return Some(b);
        }
        if !self.bufs_failed.load(Ordering::Relaxed) {
            self.want_bufs.store(true, Ordering::Relaxed);
        }
        None
    }

    /// Gives provided buffers back to the kernel.
    pub(super) fn recycle(&self, bids: &[u16]) {
        if let Some(b) = self.bufs.get() {
            for &bid in bids {
                b.recycle(bid);
            }
        }
    }

    /// Wakes the owner if it is parked, so it stages what was just queued.
    pub(super) fn nudge(&self) {
        if self.parked.load(Ordering::SeqCst) {
            self.doorbell.ring();
        }
    }

    pub(crate) fn register(&self, fd: RawFd, interest: Interest) -> io::Result<Arc<ScheduledIo>> {
        let mask = poll_mask(interest);
        let io = {
            let mut state = lock(&self.state);
            if state.closed {
                return Err(driver_gone());
            }
            let io = state.ios.insert(fd, mask)?;
            let token = io.token();
            state.pending.push(Pending::Add { token, fd, mask });
            io
        };
        self.nudge();
        Ok(io)
    }

    pub(crate) fn deregister(&self, io: &Arc<ScheduledIo>, _fd: RawFd) -> io::Result<()> {
        let token = io.token();
        let queued = {
            let mut state = lock(&self.state);
            if state.ios.remove(token).is_none() {
                false
            } else if let Some(i) = state
                .pending
                .iter()
                .position(|p| matches!(p, Pending::Add { token: t, .. } if *t == token))
            {
                // Never reached the ring: nothing to remove.
                state.pending.swap_remove(i);
                false
            } else {
                state.pending.push(Pending::Remove { token });
                true
            }
        };
        io.shutdown();
        if queued {
            self.nudge();
        }
        Ok(())
    }

    #[cfg(test)]
    /// Number of registered fds (tests).
    pub(crate) fn registered(&self) -> usize {
        lock(&self.state).ios.len()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::task::{Context, Poll};
    use std::time::Instant;

    use crate::reactor::Direction;

    /// Parks until every `io` is readable; panics after 5 s.
    fn park_until_all_readable(d: &mut UringDriver, ios: &[Arc<ScheduledIo>]) {
        let start = Instant::now();
        while !ios.iter().all(|io| io.readiness().is_readable()) {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "not all fds reported"
            );
            d.park(Some(Duration::from_millis(1))).unwrap();
        }
    }

    /// 64 fds ready at once on a 4-entry SQ and 8-entry CQ: the SQ is flushed when full, the CQ
    /// overflows, multishot polls that the kernel ends are re-armed, and every fd keeps reporting.
    #[test]
    fn tiny_ring_survives_sq_full_and_cq_overflow() {
        if let Err(why) = crate::reactor::detect::uring_probe() {
            eprintln!("SKIPPED: io_uring unavailable: {why}");
            return;
        }
        let mut d = UringDriver::with_sizes(4, 8).unwrap();
        let shared = d.shared();
        let pairs: Vec<(UnixStream, UnixStream)> =
            (0..64).map(|_| UnixStream::pair().unwrap()).collect();
        for (a, b) in &pairs {
            a.set_nonblocking(true).unwrap();
            (&*b).write_all(b"x").unwrap();
        }
        let ios: Vec<Arc<ScheduledIo>> = pairs
            .iter()
            .map(|(a, _)| shared.register(a.as_raw_fd(), Interest::READABLE).unwrap())
            .collect();
        park_until_all_readable(&mut d, &ios);

        // Second round: consume, clear, and produce again; the polls must still be live.
        let mut cx = Context::from_waker(futures::task::noop_waker_ref());
        for ((a, _), io) in pairs.iter().zip(&ios) {
            assert_eq!((&*a).read(&mut [0u8; 4]).unwrap(), 1);
            let Poll::Ready(ev) = io.poll_ready(&mut cx, Direction::Read) else {
                panic!()
            };
            io.clear_readiness(ev);
            assert!(!io.readiness().is_readable());
        }
        for (_, b) in &pairs {
            (&*b).write_all(b"y").unwrap();
        }
        park_until_all_readable(&mut d, &ios);
        for ((a, _), io) in pairs.iter().zip(&ios) {
            shared.deregister(io, a.as_raw_fd()).unwrap();
        }
        assert_eq!(shared.registered(), 0);
        d.park(Some(Duration::ZERO)).unwrap();
    }
}
