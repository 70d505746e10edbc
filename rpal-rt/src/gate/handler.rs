//! The callee side of a call: what runs on a domain's stack. A [`Resident`] coroutine per
//! stack runs one [`Job`] per call and parks between calls; [`wait`] lets a handler suspend it
//! on a pending future; [`Frame`] and [`RunRights`] keep PKRU right on every switch (run rights
//! inside, the latest resumer's entry rights whenever control goes back to a caller's stack).
//!
//! Invariant: `CURRENT` points to the frame of the handler running on this thread's current
//! stack, or is null; [`resume`] and [`force_unwind`] put back the resumer's value whenever a
//! coroutine switches out.

use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::call::{Handler, ResponseBuf};
use super::pkey::{allow, current_mask, ProtectionMask};
use super::stack_pool::PooledStack;

/// What the handler coroutine returns: the response length, or the panic message.
pub(super) type Outcome = Result<usize, String>;

/// What a resident coroutine reports when it switches back to its resumer.
pub(super) enum Event {
    /// The handler waits on a pending future (see [`wait`]); resume it with `None`.
    Pending,
    /// The handler finished; the coroutine is parked, ready for the next call.
    Done(Outcome),
}

/// A resident handler coroutine: created once per stack, it runs one [`Job`] per call, passed
/// in as `Some(job)` on the resume that starts the call (`None` resumes a suspended handler),
/// and parks between calls in `Event::Done`. Reusing it makes a call one resume and one
/// suspend, instead of building and tearing down a coroutine each time.
///
/// Boxed: a call moves it in and out of the domain's idle list, and moving the coroutine
/// itself (several words, just written) costs store-forwarding stalls on every call.
pub(super) type Resident = Box<ResidentCo>;

/// A resident coroutine and the mailbox its async calls use (allocated once, with it).
pub(super) struct ResidentCo {
    co: Coroutine<Option<Job>, Event, Infallible, PooledStack>,
    pub(super) mailbox: Rc<Cell<Resume>>,
}

impl ResidentCo {
    /// A resident on `stack`, not started yet. The caller holds rights to the stack's key:
    /// this writes the coroutine's first frame there.
    pub(super) fn new(stack: PooledStack) -> Resident {
        let co = Coroutine::with_stack(stack, |y: &HandlerYielder, mut next: Option<Job>| loop {
            let outcome = match next.take() {
                Some(job) => job.run(y),
                None => Err("gate: resident resumed without a call".to_owned()),
            };
            next = y.suspend(Event::Done(outcome));
        });
        Box::new(ResidentCo {
            co,
            mailbox: Rc::new(Cell::new(Resume {
                waker: ptr::null(),
                entry: current_mask(),
            })),
        })
    }
}

/// The yielder handlers see.
type HandlerYielder = Yielder<Option<Job>, Event>;

/// What an async call's coroutine reads each time it runs: the waker of the task polling the
/// call (null while it is being dropped) and the entry rights of whoever resumed it, which the
/// handler restores before it switches back. Written by the resumer just before each resume.
#[derive(Clone, Copy)]
pub(super) struct Resume {
    pub(super) waker: *const Waker,
    pub(super) entry: ProtectionMask,
}

/// How a handler's frame learns its resumer's state.
pub(super) enum Link {
    /// A synchronous call: resumed exactly once, by the caller whose entry rights these are.
    Sync { entry: ProtectionMask },
    /// An async call: the mailbox its [`GateCall`] writes before every resume. On the heap
    /// (key 0), so the handler can read it under its run rights.
    Async(Rc<Cell<Resume>>),
}

impl Link {
    fn get(&self) -> Resume {
        match self {
            Link::Sync { entry } => Resume {
                waker: ptr::null(),
                entry: *entry,
            },
            Link::Async(mailbox) => mailbox.get(),
        }
    }
}

/// Resumes a handler coroutine, keeping this thread's current-handler pointer as it was (the
/// coroutine sets its own while it runs, see [`wait`]).
pub(super) fn resume(co: &mut Resident, job: Option<Job>) -> CoroutineResult<Event, Infallible> {
    let prev = CURRENT.with(Cell::get);
    let r = co.co.resume(job);
    CURRENT.with(|c| c.set(prev));
    r
}

/// Unwinds a suspended handler coroutine (its destructors run on its stack), keeping this
/// thread's current-handler pointer as it was. The caller holds the entry rights.
pub(super) fn force_unwind(co: &mut Resident) {
    let prev = CURRENT.with(Cell::get);
    co.co.force_unwind();
    CURRENT.with(|c| c.set(prev));
}

thread_local! {
    /// The frame of the handler running on this thread's current stack, or null outside
    /// handlers. Set by the handler's coroutine when it starts and after every suspension;
    /// put back by [`resume`] when the coroutine switches out.
    static CURRENT: Cell<*const Frame> = const { Cell::new(ptr::null()) };
}

/// A running handler's view of its call, on the callee stack.
struct Frame {
    yielder: *const HandlerYielder,
    link: Link,
    run_mask: Option<ProtectionMask>,
}

/// Waits, inside a gate handler, for `future`: polls it with the waker of the task that drives
/// the call; while it is pending, suspends the handler's coroutine so that
/// [`Service::call_async`](crate::gate::Service::call_async)'s future returns `Pending`, and polls again when that task resumes
/// it. Outside async handlers there is nobody to return `Pending` to.
///
/// The future is polled under the handler's rights; while suspended, the caller runs with its
/// own rights (the handler switches back to the entry rights before it suspends, and to its
/// run rights again when resumed).
///
/// # Examples
/// ```
/// use rpal_rt::gate::{wait, Domain, DomainConfig};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let domain = Domain::new(DomainConfig::new()).unwrap();
///     let slow = domain.register("slow", |req, resp| {
///         // Suspends the handler; the task awaiting `call_async` gets Pending meanwhile.
///         wait(rpal_rt::time::sleep(std::time::Duration::from_millis(1)));
///         resp.write(req).unwrap();
///     });
///     assert_eq!(slow.call_async(b"late").await.unwrap(), b"late");
/// });
/// ```
///
/// # Panics
/// Outside a gate handler, or in a handler called synchronously ([`Service::call`](crate::gate::Service::call)); the gate
/// reports the latter as [`CallError::Panicked`](crate::gate::CallError::Panicked).
pub fn wait<F: Future>(future: F) -> F::Output {
    let frame = CURRENT.with(Cell::get);
    assert!(!frame.is_null(), "gate::wait called outside a gate handler");
    // SAFETY: CURRENT is non-null only while a handler's coroutine runs on this thread, pointing
    // to its `Frame` on the coroutine's stack (alive until the coroutine ends); we run inside that
    // handler (nested handlers set their own frame and `resume` restores this one).
    let frame = unsafe { &*frame };
    let mut future = pin!(future);
    loop {
        let now = frame.link.get();
        if now.waker.is_null() {
            panic!(
                "gate::wait in a handler called synchronously (Service::call); \
                 call it with Service::call_async to let it wait"
            );
        }
        // SAFETY: the resumer wrote a waker that outlives this resume (the `&Waker` of its
        // `poll`, which is blocked in `resume` until the coroutine switches back).
        let waker = unsafe { &*now.waker };
        if let Poll::Ready(v) = future.as_mut().poll(&mut Context::from_waker(waker)) {
            return v;
        }
        // Pending: back to the entry rights, so the switch can use the resumer's stack.
        frame.widen();
        // SAFETY: the yielder belongs to this handler's coroutine, which is running (we are on
        // its stack), so it is alive.
        let next = unsafe { &*frame.yielder }.suspend(Event::Pending);
        debug_assert!(
            next.is_none(),
            "a suspended handler is resumed without a new job"
        );
        CURRENT.with(|c| c.set(frame));
        frame.narrow();
    }
}

/// One call's work for a resident coroutine.
pub(super) struct Job {
    pub(super) handler: Rc<Handler>,
    /// Address and length of the request in the callee arena.
    pub(super) req: (usize, usize),
    /// Address and capacity of the response region in the callee arena.
    pub(super) resp: (usize, usize),
    /// Rights to switch to on the callee stack, when they differ from the entry rights.
    pub(super) run_mask: Option<ProtectionMask>,
    pub(super) link: Link,
}

/// Narrows PKRU to the run rights; on drop (return, caught panic, forced unwind) widens it to
/// the entry rights of the *latest* resumer, which may differ from the first one's.
struct RunRights<'a> {
    frame: &'a Frame,
}

impl<'a> RunRights<'a> {
    fn enter(frame: &'a Frame) -> RunRights<'a> {
        frame.narrow();
        RunRights { frame }
    }
}

impl Drop for RunRights<'_> {
    fn drop(&mut self) {
        self.frame.widen();
    }
}

impl Frame {
    /// Entry rights -> run rights. Skips the WRPKRU when they are equal, as for a call from
    /// ordinary code (entry = key 0 + K = run rights), which saves two of the four PKRU writes
    /// of such a call.
    fn narrow(&self) {
        if let Some(m) = self.run_mask {
            if m != self.link.get().entry {
                allow(m);
            }
        }
    }

    /// Run rights -> the latest resumer's entry rights (same skip as [`Frame::narrow`]).
    fn widen(&self) {
        if let Some(m) = self.run_mask {
            let entry = self.link.get().entry;
            if m != entry {
                allow(entry);
            }
        }
    }
}

impl Job {
    /// Body of the coroutine; runs on the callee stack.
    fn run(self, yielder: &HandlerYielder) -> Outcome {
        let frame = Frame {
            yielder,
            link: self.link,
            run_mask: self.run_mask,
        };
        CURRENT.with(|c| c.set(&frame));
        // Narrow the rights now that the caller's stack is no longer in use; the guard widens
        // them back before the coroutine switches to the caller's stack again.
        let narrowed = RunRights::enter(&frame);
        let req: &[u8] = if self.req.1 == 0 {
            &[]
        } else {
            // SAFETY: `req.1` bytes at `req.0` were copied in by `prepare`, stay reserved until
            // the call ends, and are readable under both the entry and the run rights.
            unsafe { std::slice::from_raw_parts(self.req.0 as *const u8, self.req.1) }
        };
        // SAFETY: `prepare` reserved `resp.1` bytes at `resp.0` in the callee arena for this
        // call; they stay reserved until it ends and are writable under the run rights.
        let mut resp = unsafe { ResponseBuf::from_raw(self.resp.0 as *mut u8, self.resp.1) };
        let handler = &*self.handler;
        // Also catches a forced unwind (a dropped `GateCall`); corosensei accepts the normal
        // return that follows and discards the outcome.
        let result = catch_unwind(AssertUnwindSafe(|| handler(req, &mut resp)));
        let outcome = match result {
            Ok(()) => Ok(resp.len()),
            Err(payload) => Err(panic_message(&*payload)),
        };
        drop(narrowed);
        outcome
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
