//! One worker: its shared half ([`WorkerShared`]: inject queue, parked flag, reactor and timer
//! handles, user sources) and the loop that runs on its thread ([`Core`]).
//!
//! # The loop
//! 1. poll the `block_on` future if it was woken;
//! 2. run up to [`EVENT_INTERVAL`] tasks from the local queue (refilled from the inject queue);
//! 3. fire due timers, poll user-space sources (no syscall);
//! 4. if work remains, poll the reactor without blocking and go on; otherwise park:
//!    ask the wheel for the timeout, let sources publish "waiting" (`prepare_park`), publish
//!    `parked` (SeqCst), re-check the inject queue and the main future's flag, then park the
//!    driver until an event, a doorbell ring, or the next timer.
//!
//! # No lost wake-up
//! A remote waker publishes its work (inject push, or the main flag), issues `fence(SeqCst)`,
//! then reads `parked`; the worker stores `parked`, issues `fence(SeqCst)`, then re-reads the
//! queue length and the flag. The two fences are totally ordered: whichever comes second sees
//! the other side's store, so either the worker sees the work and does not park, or the waker
//! sees `parked` and rings the doorbell (once per park, guarded by `notified`, which the worker
//! clears before it publishes `parked`, so a claim from an earlier park never suppresses a ring).
//! The loom models in `tests::loom_park` check this, over one park and over two parks in a row.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::remote::Inject;
use super::RtShared;
use crate::io::worker_state::WorkerSlot;
use crate::metrics::WorkerCounters;
use crate::reactor::{self, source::SourceRegistry, Driver};
use crate::runtime::context::{self, WorkerCx};
use crate::sync::{AdaptiveSpin, SPIN_CHECK_EVERY};
use crate::task::{coop, Notified, PollOutcome};
use crate::time::TimeHandle;
use std::sync::atomic::{fence, AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

/// Tasks run between two non-blocking polls of the reactor, timers and sources.
pub(crate) const EVENT_INTERVAL: u32 = 61;

/// The part of a worker other threads touch.
pub(crate) struct WorkerShared {
    pub(crate) index: usize,
    /// Unique in the process, never reused (see `io::current_worker_id`).
    pub(crate) id: u64,
    inject: Inject<Notified>,
    /// The worker is parked (or about to): wakers must ring the doorbell.
    parked: AtomicBool,
    /// The doorbell was rung for the current park; later wakers need not ring again.
    notified: AtomicBool,
    /// Asks the worker's loop to return (dedicated workers at runtime shutdown).
    shutdown: AtomicBool,
    pub(crate) io: reactor::Handle,
    pub(crate) time: TimeHandle,
    pub(crate) sources: SourceRegistry,
    /// Counters read by `Runtime::metrics` (taskx); written only by this worker's thread.
    pub(crate) metrics: WorkerCounters,
    /// This worker's RUNNING / WAIT / CALL word in the process's worker-state table (none if
    /// the table is unavailable or full); written only by this worker's thread.
    pub(crate) state: Option<WorkerSlot>,
}

impl std::fmt::Debug for WorkerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerShared")
            .field("index", &self.index)
            .field("driver", &self.io.kind())
            .finish()
    }
}

impl WorkerShared {
    /// Queues a task from any thread; rings the doorbell if the worker parks.
    pub(crate) fn push_remote(&self, task: Notified) -> Result<(), Notified> {
        self.inject.push(task)?;
        self.unpark_if_parked();
        Ok(())
    }

    /// Rings the doorbell if the worker has published that it parks (after the caller made its
    /// work visible with a SeqCst operation).
    pub(crate) fn unpark_if_parked(&self) {
        fence(SeqCst);
        if self.parked.load(SeqCst) && !self.notified.swap(true, SeqCst) {
            self.io.unpark();
        }
    }

    /// Asks the worker's loop to finish.
    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, SeqCst);
        self.io.unpark();
    }
}

/// The part of a worker owned by the thread that runs it.
pub(crate) struct Core {
    driver: Driver,
    pub(crate) cx: WorkerCx,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("worker", &self.cx.worker)
            .finish()
    }
}

/// Wakes the `block_on` future.
struct MainWaker {
    woken: AtomicBool,
    worker: Arc<WorkerShared>,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        // On the worker's own thread (typically: the reactor dispatching events inside `park`)
        // the loop re-checks `woken` before it parks again: ringing our own doorbell would only
        // cost a write and a read per wake-up.
        let own_thread = context::with(|cx| {
            cx.is_some_and(|cx| std::ptr::eq(Arc::as_ptr(&cx.worker), Arc::as_ptr(&self.worker)))
        });
        if !own_thread {
            self.worker.unpark_if_parked();
        }
    }
}

impl Core {
    /// Creates the parts of a worker: its driver, and the shared half with the timer wheel and
    /// source registry. [`Core::new`] joins them once the runtime's shared state exists.
    pub(crate) fn new_parts(
        index: usize,
        config: &crate::runtime::Config,
    ) -> io::Result<(Driver, Arc<WorkerShared>)> {
        let driver = Driver::new(config.driver)?;
        let io = driver.handle();
        let time = TimeHandle::new(config.timer_tick, io.clone());
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let worker = Arc::new(WorkerShared {
            index,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            inject: Inject::new(),
            parked: AtomicBool::new(false),
            notified: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            io,
            time,
            sources: SourceRegistry::new(),
            metrics: WorkerCounters::new(),
            state: WorkerSlot::take(),
        });
        Ok((driver, worker))
    }

    /// A worker core for `rt`. `round_robin`: `spawn` on this thread spreads over the runtime's
    /// workers instead of staying here.
    pub(crate) fn new(
        driver: Driver,
        worker: Arc<WorkerShared>,
        rt: Arc<RtShared>,
        round_robin: bool,
    ) -> Core {
        Core {
            driver,
            cx: WorkerCx::new(worker, rt, round_robin),
        }
    }

    /// Runs `f` with this core's context entered on the current thread.
    pub(crate) fn enter<R>(&mut self, f: impl FnOnce(&mut Driver, &WorkerCx) -> R) -> R {
        let _guard = context::enter(&self.cx);
        let _slot = self.cx.worker.state.as_ref().map(WorkerSlot::enter);
        f(&mut self.driver, &self.cx)
    }

    /// Runs `future` to completion on this thread, running this worker's tasks meanwhile.
    pub(crate) fn block_on<F: Future>(&mut self, future: F) -> F::Output {
        self.enter(|driver, cx| block_on(driver, cx, future))
    }

    /// Runs tasks until [`WorkerShared::request_shutdown`].
    pub(crate) fn run_until_shutdown(&mut self) {
        self.enter(|driver, cx| run(driver, cx, None, &mut |_| false));
    }

    /// Cancels every task of this worker (dropping the futures on this thread) and closes its
    /// inject queue.
    pub(crate) fn shutdown(&mut self) {
        self.enter(shutdown);
    }
}

fn block_on<F: Future>(driver: &mut Driver, cx: &WorkerCx, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let main = Arc::new(MainWaker {
        woken: AtomicBool::new(true),
        worker: cx.worker.clone(),
    });
    let waker = Waker::from(main.clone());
    let mut out = None;
    run(driver, cx, Some(&main.woken), &mut |_| {
        let mut task_cx = Context::from_waker(&waker);
        match future.as_mut().poll(&mut task_cx) {
            Poll::Ready(v) => {
                out = Some(v);
                true
            }
            Poll::Pending => false,
        }
    });
    match out {
        Some(v) => v,
        None => unreachable!("run returns only once the main future is ready"),
    }
}

fn run(
    driver: &mut Driver,
    cx: &WorkerCx,
    main_woken: Option<&AtomicBool>,
    poll_main: &mut dyn FnMut(&WorkerCx) -> bool,
) {
    let worker = cx.worker.clone();
    let main_pending = || main_woken.is_some_and(|w| w.load(SeqCst));
    loop {
        if let Some(w) = main_woken {
            // taskx: the main future gets a fresh cooperative budget per poll, like a task.
            if w.swap(false, SeqCst) && coop::with_budget(|| poll_main(cx)) {
                return;
            }
        } else if worker.shutdown.load(SeqCst) {
            return;
        }

        let mut ran = 0;
        while ran < EVENT_INTERVAL {
            let Some(task) = next_task(cx, &worker) else {
                break;
            };
            run_task(cx, task);
            ran += 1;
            if main_pending() {
                break;
            }
        }

        let now = Instant::now();
        let fired = worker.time.process(now);
        worker.metrics.timers_fired(fired);
        worker.sources.poll();

        let busy = !cx.local.borrow().is_empty() || !worker.inject.is_empty() || main_pending();
        if busy {
            park_driver(driver, Some(Duration::ZERO));
            continue;
        }
        if main_woken.is_none() && worker.shutdown.load(SeqCst) {
            return;
        }

        // Idle. If a source expects data soon, poll it for a bounded, adaptive time first:
        // a reply that arrives meanwhile costs neither side a syscall.
        if worker.sources.wants_spin()
            && spin_on_sources(&worker, &main_pending, now, &mut cx.spin.borrow_mut())
        {
            continue;
        }

        // Park.
        let timeout = worker.time.park_timeout(now);
        // WAIT, then a full fence, then the sources re-check their rings: a peer that publishes
        // and then reads WAIT rings us; one that read RUNNING published before our re-check.
        if let Some(slot) = &worker.state {
            slot.set_wait();
            fence(SeqCst);
        }
        if worker.sources.prepare_park() {
            worker.sources.after_park();
            if let Some(slot) = &worker.state {
                slot.set_running();
            }
            worker.time.unparked();
            continue;
        }
        // A fresh claim for this park, cleared *before* `parked` is published: a waker that saw
        // an earlier park's `parked` may swap `notified` after that park ended and ring a
        // doorbell that a non-blocking park then drains; cleared after the park (as it once
        // was), that stale claim outlived the reset and made the next park's waker skip its
        // ring, leaving the worker asleep with tasks queued (found by a hang hunt: parked = 1,
        // notified = 1, 4,998 tasks in the inject queue, epoll_wait(-1)).
        worker.notified.store(false, SeqCst);
        worker.parked.store(true, SeqCst);
        // The worker's half of the handshake in the module doc (and in the loom models): a
        // SeqCst store followed by loads needs this fence to be ordered before them in every
        // memory model, not only on x86 where the store is already a full barrier.
        fence(SeqCst);
        let raced = !worker.inject.is_empty()
            || main_pending()
            || (main_woken.is_none() && worker.shutdown.load(SeqCst));
        if !raced {
            worker.metrics.parked();
            #[cfg(feature = "tracing")]
            tracing::trace!(worker = worker.index, ?timeout, "rpal worker parks");
            park_driver(driver, timeout);
            #[cfg(feature = "tracing")]
            tracing::trace!(worker = worker.index, "rpal worker unparked");
        }
        worker.parked.store(false, SeqCst);
        if let Some(slot) = &worker.state {
            slot.set_running();
        }
        worker.sources.after_park();
        worker.time.unparked();
        let fired = worker.time.process(Instant::now());
        worker.metrics.timers_fired(fired);
    }
}

/// Polls the sources until one wakes a task, other work arrives, the spin budget runs out, or
/// the next timer is due. Returns true if work was found.
fn spin_on_sources(
    worker: &WorkerShared,
    main_pending: &dyn Fn() -> bool,
    start: Instant,
    spin: &mut AdaptiveSpin,
) -> bool {
    let mut deadline = start + spin.budget();
    if let Some(until) = worker.time.until_next_due(start) {
        deadline = deadline.min(start + until);
    }
    let mut polls = 0u32;
    loop {
        if worker.sources.poll() || !worker.inject.is_empty() || main_pending() {
            spin.record(true);
            return true;
        }
        polls += 1;
        if polls.is_multiple_of(SPIN_CHECK_EVERY) && Instant::now() >= deadline {
            spin.record(false);
            return false;
        }
        std::hint::spin_loop();
    }
}

fn park_driver(driver: &mut Driver, timeout: Option<Duration>) {
    if let Err(e) = driver.park(timeout) {
        // A driver that cannot wait is not recoverable; say why instead of spinning.
        panic!("rpal: the {:?} driver failed to park: {e}", driver.kind());
    }
}

fn shutdown(driver: &mut Driver, cx: &WorkerCx) {
    let mut pending: VecDeque<Notified> = cx.worker.inject.close();
    loop {
        pending.extend(cx.local.borrow_mut().drain(..));
        let had_queued = !pending.is_empty();
        for task in pending.drain(..) {
            cx.register(&task);
            drop(task);
        }
        let owned = cx.take_registry();
        if owned.is_empty() && !had_queued && cx.local.borrow().is_empty() {
            break;
        }
        for task in owned {
            task.shutdown();
        }
    }
    // Let the driver see deregistrations made while dropping futures.
    let _ = driver.park(Some(Duration::ZERO));
}

fn next_task(cx: &WorkerCx, worker: &WorkerShared) -> Option<Notified> {
    let mut local = cx.local.borrow_mut();
    if local.is_empty() {
        worker.inject.drain_into(&mut local);
        worker.metrics.remote_schedules(local.len());
    }
    local.pop_front()
}

fn run_task(cx: &WorkerCx, task: Notified) {
    cx.register(&task);
    let key = task.registry_key();
    cx.worker.metrics.task_polled();
    // taskx: every poll starts with a fresh cooperative budget (task::coop).
    // SAFETY: tasks in this worker's queues are owned by this worker, and this is its thread.
    let (outcome, requeue) = coop::with_budget(|| unsafe { task.run() });
    match outcome {
        PollOutcome::Completed => {
            let owned = cx.registry.borrow_mut().try_remove(key);
            drop(owned);
        }
        PollOutcome::Requeue => {
            if let Some(task) = requeue {
                cx.worker.metrics.local_schedule();
                cx.local.borrow_mut().push_back(task);
            }
        }
        PollOutcome::Idle | PollOutcome::Stale => {}
    }
}
