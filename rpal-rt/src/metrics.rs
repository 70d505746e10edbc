//! Runtime metrics: per-worker counters, read as a snapshot with [`crate::Runtime::metrics`].
//!
//! # Cost
//! Each worker owns a `WorkerCounters` (in its shared half). Every counter has exactly one
//! writer, the worker's own thread, which bumps it with a relaxed load and a relaxed store (no
//! read-modify-write, no lock prefix, no cache line shared with another writer). Readers on any
//! thread load the counters relaxed: a snapshot is not atomic across counters and may lag the
//! worker by a few events, which is all monitoring needs.
//!
//! # What is counted
//! * spawned: tasks that became owned by this worker (spawned on it, from it or from elsewhere);
//! * polled: task polls (the `block_on` future not included);
//! * parks: times the worker blocked in its driver;
//! * local schedules: wake-ups (and yields) of this worker's tasks from its own thread;
//! * remote schedules: tasks that arrived through the inject queue (wake-ups and spawns from
//!   other threads);
//! * I/O registrations: [`crate::io::Registration`]s created on the worker;
//! * timer fires: timers that expired on the worker's wheel;
//! * live timers (a gauge, not a counter): timers on the worker's wheel that have neither fired
//!   nor been cancelled when the snapshot is taken (read under the wheel's lock).
//! * ring ops submitted / completed: io_uring completion operations (file and socket operations
//!   as SQEs) the worker handed to the kernel, and their final CQEs the worker reaped (cancelled
//!   ones included; an operation dropped before it reached the kernel counts in neither). Both
//!   stay 0 on epoll and where the blocking pool ran.
//!
//! A thread-per-core runtime's `block_on` thread runs a core of its own for the main future; it
//! is not one of the workers and is not reported.

use std::fmt;

use crate::loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crate::reactor::DriverKind;
use crate::runtime::Flavor;

/// The counters of one worker. Written only by the worker's thread.
pub(crate) struct WorkerCounters {
    spawned: AtomicU64,
    polled: AtomicU64,
    parks: AtomicU64,
    local_schedules: AtomicU64,
    remote_schedules: AtomicU64,
    io_registrations: AtomicU64,
    timer_fires: AtomicU64,
    ring_ops_submitted: AtomicU64,
    ring_ops_completed: AtomicU64,
}

/// Adds `n` to a counter that only the calling thread writes.
fn bump(counter: &AtomicU64, n: u64) {
    counter.store(counter.load(Relaxed).wrapping_add(n), Relaxed);
}

impl WorkerCounters {
    pub(crate) fn new() -> WorkerCounters {
        WorkerCounters {
            spawned: AtomicU64::new(0),
            polled: AtomicU64::new(0),
            parks: AtomicU64::new(0),
            local_schedules: AtomicU64::new(0),
            remote_schedules: AtomicU64::new(0),
            io_registrations: AtomicU64::new(0),
            timer_fires: AtomicU64::new(0),
            ring_ops_submitted: AtomicU64::new(0),
            ring_ops_completed: AtomicU64::new(0),
        }
    }
    /// Owner thread only (as every method below).
    pub(crate) fn task_spawned(&self) {
        bump(&self.spawned, 1);
    }
    pub(crate) fn task_polled(&self) {
        bump(&self.polled, 1);
    }
    pub(crate) fn parked(&self) {
        bump(&self.parks, 1);
    }
    pub(crate) fn local_schedule(&self) {
        bump(&self.local_schedules, 1);
    }
    pub(crate) fn remote_schedules(&self, n: usize) {
        bump(&self.remote_schedules, n as u64);
    }
    pub(crate) fn io_registered(&self) {
        bump(&self.io_registrations, 1);
    }
    pub(crate) fn timers_fired(&self, n: usize) {
        bump(&self.timer_fires, n as u64);
    }
    pub(crate) fn ring_op_submitted(&self) {
        bump(&self.ring_ops_submitted, 1);
    }
    pub(crate) fn ring_op_completed(&self) {
        bump(&self.ring_ops_completed, 1);
    }

    /// This worker's counters, with `live_timers` read from its wheel by the caller.
    pub(crate) fn snapshot(&self, index: usize, live_timers: usize) -> WorkerMetrics {
        WorkerMetrics {
            index,
            live_timers: live_timers as u64,
            spawned: self.spawned.load(Relaxed),
            polled: self.polled.load(Relaxed),
            parks: self.parks.load(Relaxed),
            local_schedules: self.local_schedules.load(Relaxed),
            remote_schedules: self.remote_schedules.load(Relaxed),
            io_registrations: self.io_registrations.load(Relaxed),
            timer_fires: self.timer_fires.load(Relaxed),
            ring_ops_submitted: self.ring_ops_submitted.load(Relaxed),
            ring_ops_completed: self.ring_ops_completed.load(Relaxed),
        }
    }
}

impl fmt::Debug for WorkerCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot(0, 0).fmt(f)
    }
}

/// A snapshot of one worker's counters (see the [module docs](self) for what each counts).
/// Counters only grow (wrapping at `u64::MAX`); the live-timer gauge goes up and down.
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new().unwrap();
/// rt.block_on(async { rpal_rt::spawn(async {}).await.unwrap() });
/// let polls: u64 = rt.metrics().workers().iter().map(|w| w.poll_count()).sum();
/// assert!(polls >= 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerMetrics {
    index: usize,
    spawned: u64,
    polled: u64,
    parks: u64,
    local_schedules: u64,
    remote_schedules: u64,
    io_registrations: u64,
    timer_fires: u64,
    live_timers: u64,
    ring_ops_submitted: u64,
    ring_ops_completed: u64,
}

impl WorkerMetrics {
    /// The worker's index in the runtime (`0..num_workers`).
    pub fn index(&self) -> usize {
        self.index
    }
    /// Tasks that became owned by this worker.
    pub fn spawned_tasks(&self) -> u64 {
        self.spawned
    }
    /// Task polls run by this worker.
    pub fn poll_count(&self) -> u64 {
        self.polled
    }
    /// Times the worker blocked in its driver.
    pub fn park_count(&self) -> u64 {
        self.parks
    }
    /// Wake-ups of this worker's tasks made on its own thread.
    pub fn local_schedule_count(&self) -> u64 {
        self.local_schedules
    }
    /// Tasks that reached the worker through its inject queue (wake-ups and spawns from other
    /// threads).
    pub fn remote_schedule_count(&self) -> u64 {
        self.remote_schedules
    }
    /// I/O registrations created on this worker.
    pub fn io_registration_count(&self) -> u64 {
        self.io_registrations
    }
    /// Timers that fired on this worker's wheel.
    pub fn timer_fire_count(&self) -> u64 {
        self.timer_fires
    }
    /// Timers on this worker's wheel that had neither fired nor been cancelled when the
    /// snapshot was taken (a gauge: dropping a `Sleep` or aborting its task lowers it).
    pub fn live_timer_count(&self) -> u64 {
        self.live_timers
    }
    /// io_uring completion operations (file and socket operations as SQEs) submitted by tasks on
    /// this worker; 0 on epoll.
    pub fn ring_ops_submitted_count(&self) -> u64 {
        self.ring_ops_submitted
    }
    /// Final completions of io_uring operations reaped by this worker (cancelled ones included).
    pub fn ring_ops_completed_count(&self) -> u64 {
        self.ring_ops_completed
    }
}

/// A snapshot of a runtime's metrics, taken by [`crate::Runtime::metrics`].
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     rpal_rt::spawn(async {}).await.unwrap();
/// });
/// let m = rt.metrics();
/// assert_eq!(m.num_workers(), 1);
/// assert!(m.spawned_tasks_count() >= 1);
/// assert!(m.worker(0).unwrap().poll_count() >= 1);
/// println!("driver {:?}: {m:?}", m.driver());
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeMetrics {
    flavor: Flavor,
    driver: DriverKind,
    workers: Vec<WorkerMetrics>,
}

impl RuntimeMetrics {
    pub(crate) fn new(flavor: Flavor, driver: DriverKind, workers: Vec<WorkerMetrics>) -> Self {
        RuntimeMetrics {
            flavor,
            driver,
            workers,
        }
    }

    /// The runtime's flavour.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }
    /// The I/O driver the workers use.
    pub fn driver(&self) -> DriverKind {
        self.driver
    }
    /// Number of workers.
    pub fn num_workers(&self) -> usize {
        self.workers.len()
    }
    /// Every worker's snapshot, by index.
    pub fn workers(&self) -> &[WorkerMetrics] {
        &self.workers
    }
    /// One worker's snapshot.
    pub fn worker(&self, index: usize) -> Option<&WorkerMetrics> {
        self.workers.get(index)
    }
    /// Tasks spawned, summed over the workers.
    pub fn spawned_tasks_count(&self) -> u64 {
        self.sum(WorkerMetrics::spawned_tasks)
    }
    /// Task polls, summed over the workers.
    pub fn poll_count(&self) -> u64 {
        self.sum(WorkerMetrics::poll_count)
    }
    /// Parks, summed over the workers.
    pub fn park_count(&self) -> u64 {
        self.sum(WorkerMetrics::park_count)
    }
    /// Remote schedules, summed over the workers.
    pub fn remote_schedule_count(&self) -> u64 {
        self.sum(WorkerMetrics::remote_schedule_count)
    }
    /// Timer fires, summed over the workers.
    pub fn timer_fire_count(&self) -> u64 {
        self.sum(WorkerMetrics::timer_fire_count)
    }
    /// I/O registrations, summed over the workers.
    pub fn io_registration_count(&self) -> u64 {
        self.sum(WorkerMetrics::io_registration_count)
    }
    /// Live timers (set, neither fired nor cancelled), summed over the workers.
    pub fn live_timer_count(&self) -> u64 {
        self.sum(WorkerMetrics::live_timer_count)
    }

    /// io_uring completion operations submitted, summed over the workers.
    pub fn ring_ops_submitted_count(&self) -> u64 {
        self.sum(WorkerMetrics::ring_ops_submitted_count)
    }
    /// io_uring operation completions reaped, summed over the workers.
    pub fn ring_ops_completed_count(&self) -> u64 {
        self.sum(WorkerMetrics::ring_ops_completed_count)
    }

    fn sum(&self, f: fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.iter().map(f).fold(0, u64::wrapping_add)
    }
}
