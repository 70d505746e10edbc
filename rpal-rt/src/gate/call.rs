//! The switch itself: [`Service::call`] copies the request into the callee's arena, grants the
//! callee's key, runs the handler on a pooled stack of the callee's domain as a corosensei
//! coroutine, copies the response out, and restores the caller's PKRU. The order of every step,
//! and why, is in the `gate` module essay; the guards here make each step undo itself on every
//! exit path.

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::arena::Arena;
use super::chain::ChainGuard;
use super::domain::{DomainInner, Isolation};
use super::pkey::{allow, current_mask, ProtectionMask};
use super::stack_pool::{PooledStack, TakeError};

/// The type-erased handler of a service.
pub(super) type Handler = dyn Fn(&[u8], &mut ResponseBuf<'_>);

/// What the handler coroutine returns: the response length, or the panic message.
type Outcome = Result<usize, String>;

/// Why a call failed. The caller's PKRU is restored in every case.
#[derive(Debug)]
#[non_exhaustive]
pub enum CallError {
    /// Every stack of the callee's domain is in use (too many nested or re-entrant calls);
    /// the call did not start.
    StacksExhausted,
    /// The request does not fit in the callee's arena; the call did not start.
    RequestTooLarge {
        /// Request length.
        len: usize,
        /// Arena bytes free.
        available: usize,
    },
    /// The handler panicked; the message is the panic payload if it was a string. The domain
    /// stays usable.
    Panicked(String),
    /// Mapping a new stack failed.
    Os(io::Error),
    /// A [`GateCall`] was polled again after it completed.
    Polled,
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::StacksExhausted => f.write_str("call gate: all stacks of the domain in use"),
            CallError::RequestTooLarge { len, available } => {
                write!(
                    f,
                    "call gate: request of {len} bytes, arena has {available}"
                )
            }
            CallError::Panicked(msg) => write!(f, "call gate: handler panicked: {msg}"),
            CallError::Os(e) => write!(f, "call gate: {e}"),
            CallError::Polled => f.write_str("call gate: call polled after completion"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Os(e) => Some(e),
            _ => None,
        }
    }
}

/// A write did not fit in the response buffer (see [`ResponseBuf::capacity`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseFull;

impl fmt::Display for ResponseFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("call gate: response buffer full")
    }
}

impl std::error::Error for ResponseFull {}

/// The handler's answer, written straight into the callee's arena (the gate copies it to the
/// caller once, on return).
pub struct ResponseBuf<'a> {
    /// # Invariant
    /// `cap` bytes at `ptr` are in the callee's arena, reserved for this call, and accessible
    /// under the PKRU the handler runs with; `len <= cap` bytes are initialised.
    ptr: *mut u8,
    cap: usize,
    len: usize,
    _call: PhantomData<&'a mut [u8]>,
}

impl fmt::Debug for ResponseBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBuf")
            .field("len", &self.len)
            .field("cap", &self.cap)
            .finish()
    }
}

impl ResponseBuf<'_> {
    /// Appends `data`, or fails without writing anything if it does not fit.
    pub fn write(&mut self, data: &[u8]) -> Result<(), ResponseFull> {
        if data.len() > self.cap - self.len {
            return Err(ResponseFull);
        }
        // SAFETY: len + data.len() <= cap, so the destination is inside the reserved region
        // (type invariant); the source is a caller-owned slice that cannot overlap the arena
        // region reserved for this response.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.add(self.len), data.len()) };
        self.len += data.len();
        Ok(())
    }

    /// Bytes written so far.
    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the first `len` bytes are initialised and reserved for this call.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most bytes this response can hold.
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Forgets what was written.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl io::Write for ResponseBuf<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.cap - self.len);
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, ResponseFull));
        }
        // Cannot fail: n fits.
        let _ = ResponseBuf::write(self, &buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A handle to a handler registered in a [`Domain`](super::Domain). Cloning is cheap; a clone
/// may be captured by another service's handler to make nested calls.
#[derive(Clone)]
pub struct Service {
    domain: Rc<DomainInner>,
    name: Rc<str>,
    handler: Rc<Handler>,
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name)
            .field("domain", &self.domain)
            .finish()
    }
}

/// Restores a PKRU value when dropped: the one mechanism by which every exit path (return,
/// error, caught or uncaught panic) gives the caller back its rights.
pub(super) struct MaskGuard {
    restore: ProtectionMask,
}

impl MaskGuard {
    /// Switches to `to(current)` and remembers `current`.
    pub(super) fn switch(to: impl FnOnce(ProtectionMask) -> ProtectionMask) -> MaskGuard {
        let restore = current_mask();
        allow(to(restore));
        MaskGuard { restore }
    }
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        allow(self.restore);
    }
}

/// Gives a call's arena region back when dropped.
struct ArenaRelease<'a> {
    arena: &'a Arena,
    start: usize,
    end: usize,
}

impl Drop for ArenaRelease<'_> {
    fn drop(&mut self) {
        self.arena.free(self.start, self.end);
    }
}

/// A call's buffers in the callee arena, with the request already copied in.
struct Buffers {
    /// The region `[start, end)` to free when the call ends.
    start: usize,
    end: usize,
    req: (usize, usize),
    resp: (usize, usize),
}

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
    mailbox: Rc<Cell<Resume>>,
}

/// The yielder handlers see.
type HandlerYielder = Yielder<Option<Job>, Event>;

impl Service {
    pub(super) fn new(domain: Rc<DomainInner>, name: Rc<str>, handler: Rc<Handler>) -> Service {
        Service {
            domain,
            name,
            handler,
        }
    }

    /// The name it was registered under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls the handler with `request` and returns its response.
    ///
    /// Runs on the calling thread, on one of the callee domain's stacks, under the callee's
    /// protection key; no syscall unless the domain must map a new stack. Never blocks: with all
    /// stacks in use it fails with [`CallError::StacksExhausted`]. A handler called this way
    /// cannot [`wait`] (it panics, which the call reports as [`CallError::Panicked`]); use
    /// [`Service::call_async`] for handlers that wait.
    pub fn call(&self, request: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = Vec::new();
        self.call_into(request, &mut out)?;
        Ok(out)
    }

    /// Step 2: a parked resident coroutine of the domain, or a new one on a fresh stack. The
    /// caller holds the entry rights (creating one writes its first frame on the stack).
    fn take_resident(&self) -> Result<Resident, CallError> {
        let domain = &*self.domain;
        if let Some(co) = domain.residents.borrow_mut().pop() {
            return Ok(co);
        }
        let stack = domain.stacks.take().map_err(|e| match e {
            TakeError::Exhausted => CallError::StacksExhausted,
            TakeError::Os(e) => CallError::Os(e),
        })?;
        let co = Coroutine::with_stack(stack, |y: &HandlerYielder, mut next: Option<Job>| loop {
            let outcome = match next.take() {
                Some(job) => job.run(y),
                None => Err("gate: resident resumed without a call".to_owned()),
            };
            next = y.suspend(Event::Done(outcome));
        });
        Ok(Box::new(ResidentCo {
            co,
            mailbox: Rc::new(Cell::new(Resume {
                waker: ptr::null(),
                entry: current_mask(),
            })),
        }))
    }

    /// Gives a parked resident back to the domain for the next call.
    fn park_resident(&self, co: Resident) {
        self.domain.residents.borrow_mut().push(co);
    }

    /// Step 3: the request copied into the arena and the response reserved after it. The
    /// caller holds the entry rights.
    fn prepare(&self, request: &[u8]) -> Result<Buffers, CallError> {
        let domain = &*self.domain;
        let start = domain.arena.mark();
        let req_ptr = domain
            .arena
            .alloc(request.len())
            .ok_or(CallError::RequestTooLarge {
                len: request.len(),
                available: domain.arena.remaining(),
            })?;
        // SAFETY: `req_ptr` has room for `request.len()` bytes of the callee arena, reserved
        // for this call and writable under the entry rights the caller holds; a caller slice and
        // a freshly reserved arena range cannot overlap.
        unsafe { ptr::copy_nonoverlapping(request.as_ptr(), req_ptr, request.len()) };
        let resp_cap = domain.config.max_response.min(domain.arena.remaining());
        let resp = match domain.arena.alloc(resp_cap) {
            Some(p) => (p as usize, resp_cap),
            None => (req_ptr as usize, 0),
        };
        Ok(Buffers {
            start,
            end: domain.arena.mark(),
            req: (req_ptr as usize, request.len()),
            resp,
        })
    }

    /// Steps 2 and 3 together; on failure nothing is held.
    fn begin(&self, request: &[u8]) -> Result<(Resident, Buffers), CallError> {
        let co = self.take_resident()?;
        match self.prepare(request) {
            Ok(bufs) => Ok((co, bufs)),
            Err(e) => {
                self.park_resident(co);
                Err(e)
            }
        }
    }

    /// The rights the handler runs with when they differ from the entry rights.
    fn run_mask(&self) -> Option<ProtectionMask> {
        match (&self.domain.key, self.domain.config.isolation) {
            (Some(key), Isolation::Exclusive) => Some(ProtectionMask::zero().or(key)),
            _ => None,
        }
    }

    /// Step 1: the caller's rights plus the callee's key, recorded on the chain; both undone
    /// when the returned guards drop.
    fn enter(&self) -> Option<(MaskGuard, ChainGuard)> {
        self.domain.key.as_deref().map(|key| {
            let guard = MaskGuard::switch(|m| m.or(key));
            let chain = ChainGuard::enter(guard.restore, key);
            (guard, chain)
        })
    }

    /// Like [`Service::call`], writing the response into `out` (cleared first) to reuse its
    /// allocation.
    pub fn call_into(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), CallError> {
        // 1. Entry rights, declared before the resident so they are dropped after it.
        let _entry = self.enter();
        // 2 + 3. A resident coroutine and the buffers; a failure changed nothing but the
        //    rights, restored by `_entry`.
        let (mut co, bufs) = self.begin(request)?;
        let _arena = ArenaRelease {
            arena: &self.domain.arena,
            start: bufs.start,
            end: bufs.end,
        };
        let job = Job {
            handler: self.handler.clone(),
            req: bufs.req,
            resp: bufs.resp,
            run_mask: self.run_mask(),
            link: Link::Sync {
                entry: current_mask(),
            },
        };
        // 4-5. Switch: resume the resident with the job, under the entry rights.
        let outcome = match resume(&mut co, Some(job)) {
            CoroutineResult::Yield(Event::Done(outcome)) => {
                self.park_resident(co);
                outcome
            }
            // `wait` never suspends a synchronous call (it panics instead); should a handler
            // suspend anyway, unwind it here, under the entry rights; its stack goes back to
            // the pool.
            CoroutineResult::Yield(Event::Pending) => {
                force_unwind(&mut co);
                Err("handler suspended in a synchronous call".to_owned())
            }
            CoroutineResult::Return(never) => match never {},
        };
        // 7-8. Copy the response out while the callee arena is still accessible.
        let len = outcome.map_err(CallError::Panicked)?.min(bufs.resp.1);
        out.clear();
        if len > 0 {
            // SAFETY: the handler initialised `len <= resp cap` bytes at the response address,
            // in the arena range reserved for this call and readable under the entry rights.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(bufs.resp.0 as *const u8, len)
            });
        }
        Ok(())
        // 8. `_arena` frees the buffers, then `_entry` restores the caller's PKRU.
    }

    /// Calls the handler as a future: a handler that [`wait`]s on a pending future suspends
    /// its coroutine, and the returned [`GateCall`] returns `Pending` to the polling task, which
    /// the future's waker resumes (see the `gate` module doc, "Async handlers").
    ///
    /// The request is copied and the coroutine created now; the handler first runs on the
    /// first poll. Failures before the start (stacks, arena) are reported by that poll.
    pub fn call_async(&self, request: &[u8]) -> GateCall {
        self.call_async_with_buffer(request, Vec::new())
    }

    /// Like [`Service::call_async`], returning the response in `out` (cleared first) to reuse
    /// its allocation.
    pub fn call_async_with_buffer(&self, request: &[u8], out: Vec<u8>) -> GateCall {
        let entry = self.enter();
        let state = match self.begin(request) {
            Err(e) => CallState::Failed(Some(e)),
            Ok((co, bufs)) => {
                let mailbox = co.mailbox.clone();
                mailbox.set(Resume {
                    waker: ptr::null(),
                    entry: current_mask(),
                });
                let job = Job {
                    handler: self.handler.clone(),
                    req: bufs.req,
                    resp: bufs.resp,
                    run_mask: self.run_mask(),
                    link: Link::Async(mailbox.clone()),
                };
                CallState::Running(Running {
                    service: self.clone(),
                    co: Some(co),
                    job: Some(job),
                    mailbox,
                    bufs,
                    out,
                })
            }
        };
        drop(entry);
        GateCall { state }
    }
}

/// What an async call's coroutine reads each time it runs: the waker of the task polling the
/// call (null while it is being dropped) and the entry rights of whoever resumed it, which the
/// handler restores before it switches back. Written by the resumer just before each resume.
#[derive(Clone, Copy)]
struct Resume {
    waker: *const Waker,
    entry: ProtectionMask,
}

/// How a handler's frame learns its resumer's state.
enum Link {
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
fn resume(co: &mut Resident, job: Option<Job>) -> CoroutineResult<Event, Infallible> {
    let prev = CURRENT.with(Cell::get);
    let r = co.co.resume(job);
    CURRENT.with(|c| c.set(prev));
    r
}

/// Unwinds a suspended handler coroutine (its destructors run on its stack), keeping this
/// thread's current-handler pointer as it was. The caller holds the entry rights.
fn force_unwind(co: &mut Resident) {
    let prev = CURRENT.with(Cell::get);
    co.co.force_unwind();
    CURRENT.with(|c| c.set(prev));
}

/// The future of [`Service::call_async`]: the response, or why the call failed.
///
/// Dropping it while the handler is suspended unwinds the handler's stack (its destructors run,
/// under the callee's rights), gives the stack and the arena region back and leaves the
/// dropper's PKRU as it was.
#[must_use = "a gate call does nothing unless polled"]
pub struct GateCall {
    state: CallState,
}

impl fmt::Debug for GateCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            CallState::Failed(_) => "failed",
            CallState::Running(_) => "running",
            CallState::Done => "done",
        };
        f.debug_struct("GateCall").field("state", &state).finish()
    }
}

enum CallState {
    /// Failed before the handler started; the error is taken by the first poll.
    Failed(Option<CallError>),
    Running(Running),
    Done,
}

/// An async call in flight: its coroutine (on a callee stack), its arena region and the
/// mailbox through which each resume tells the handler its waker and entry rights.
struct Running {
    service: Service,
    /// `None` once the call completed (the resident is parked again).
    co: Option<Resident>,
    /// The call, until the first poll hands it to the resident.
    job: Option<Job>,
    mailbox: Rc<Cell<Resume>>,
    bufs: Buffers,
    /// Where the response goes (a caller's buffer, reused).
    out: Vec<u8>,
}

impl Running {
    /// Resumes the handler under the entry rights; `Some` when it returned.
    fn step(&mut self, waker: &Waker, out: &mut Vec<u8>) -> Option<Result<(), CallError>> {
        let _entry = self.service.enter();
        self.mailbox.set(Resume {
            waker: waker as *const Waker,
            entry: current_mask(),
        });
        let co = self.co.as_mut()?;
        let outcome = match resume(co, self.job.take()) {
            CoroutineResult::Yield(Event::Pending) => return None,
            CoroutineResult::Yield(Event::Done(outcome)) => outcome,
            CoroutineResult::Return(never) => match never {},
        };
        if let Some(co) = self.co.take() {
            self.service.park_resident(co);
        }
        let len = match outcome {
            Ok(len) => len.min(self.bufs.resp.1),
            Err(msg) => return Some(Err(CallError::Panicked(msg))),
        };
        out.clear();
        if len > 0 {
            // SAFETY: the handler initialised `len <= resp cap` bytes at the response address,
            // in the arena region of this call (still reserved: freed only when `self` drops),
            // readable under the entry rights held by `_entry`.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(self.bufs.resp.0 as *const u8, len)
            });
        }
        Some(Ok(()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut co) = self.co.take() {
            if self.job.take().is_some() {
                // Never polled: the resident is still parked and clean.
                self.service.park_resident(co);
            } else {
                // Suspended in the handler: unwind it under the entry rights of whoever drops
                // it, which the handler's guard switches to before it switches back (see
                // `Job::run`). The resident dies; its stack goes back to the pool.
                let _entry = self.service.enter();
                self.mailbox.set(Resume {
                    waker: ptr::null(),
                    entry: current_mask(),
                });
                force_unwind(&mut co);
                drop(co);
            }
        }
        self.service
            .domain
            .arena
            .free(self.bufs.start, self.bufs.end);
    }
}

impl Future for GateCall {
    type Output = Result<Vec<u8>, CallError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let result = match &mut this.state {
            CallState::Failed(e) => Err(e.take().unwrap_or(CallError::Polled)),
            CallState::Done => Err(CallError::Polled),
            CallState::Running(running) => {
                let mut out = std::mem::take(&mut running.out);
                match running.step(cx.waker(), &mut out) {
                    None => {
                        running.out = out;
                        return Poll::Pending;
                    }
                    Some(r) => r.map(|()| out),
                }
            }
        };
        // Drops `Running`: frees the arena region.
        this.state = CallState::Done;
        Poll::Ready(result)
    }
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
/// [`Service::call_async`]'s future returns `Pending`, and polls again when that task resumes
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
/// Outside a gate handler, or in a handler called synchronously ([`Service::call`]); the gate
/// reports the latter as [`CallError::Panicked`].
pub fn wait<F: Future>(future: F) -> F::Output {
    let frame = CURRENT.with(Cell::get);
    assert!(!frame.is_null(), "gate::wait called outside a gate handler");
    // SAFETY: CURRENT is non-null only while a handler's coroutine runs on this thread, and
    // then points to that handler's `Frame`, which lives on the coroutine's stack until the
    // coroutine ends; this code runs inside that handler (nested handlers set their own frame
    // and `resume` puts this one back when they switch out).
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
    handler: Rc<Handler>,
    /// Address and length of the request in the callee arena.
    req: (usize, usize),
    /// Address and capacity of the response region in the callee arena.
    resp: (usize, usize),
    /// Rights to switch to on the callee stack, when they differ from the entry rights.
    run_mask: Option<ProtectionMask>,
    link: Link,
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
        let mut resp = ResponseBuf {
            ptr: self.resp.0 as *mut u8,
            cap: self.resp.1,
            len: 0,
            _call: PhantomData,
        };
        let handler = &*self.handler;
        // Also catches a forced unwind (a dropped `GateCall`); corosensei accepts the normal
        // return that follows and discards the outcome.
        let result = catch_unwind(AssertUnwindSafe(|| handler(req, &mut resp)));
        let outcome = match result {
            Ok(()) => Ok(resp.len),
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
