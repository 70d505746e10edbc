//! The caller side of a call: [`Service::call`] copies the request into the callee's arena,
//! grants the callee's key, resumes a resident coroutine of the callee's domain with the job
//! (see `handler.rs` for what runs there), copies the response out, and restores the caller's
//! PKRU. The async variant lives in `pending.rs`. The order of every step, and why, is in the
//! `gate` module essay; the guards here make each step undo itself on every exit path.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ptr;
use std::rc::Rc;

use corosensei::CoroutineResult;

use super::arena::Arena;
use super::chain::ChainGuard;
use super::domain::{DomainInner, Isolation};
use super::handler::{force_unwind, resume, Event, Job, Link, Resident, ResidentCo};
use super::pkey::{allow, current_mask, ProtectionMask};
use super::stack_pool::TakeError;

/// The type-erased handler of a service.
pub(super) type Handler = dyn Fn(&[u8], &mut ResponseBuf<'_>);

/// Why a call failed. The caller's PKRU is restored in every case.
///
/// # Examples
/// ```
/// use rpal_rt::gate::{CallError, Domain, DomainConfig};
///
/// let d = Domain::new(DomainConfig::new()).unwrap();
/// let bad = d.register("doc-panics", |_req, _resp| panic!("boom"));
/// match bad.call(b"") {
///     Err(CallError::Panicked(msg)) => assert!(msg.contains("boom")),
///     other => panic!("unexpected: {other:?}"),
/// }
/// // The domain stays usable.
/// let good = d.register("doc-fine", |_req, resp| resp.write(b"fine").unwrap());
/// assert_eq!(good.call(b"").unwrap(), b"fine");
/// ```
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
    /// A [`GateCall`](crate::gate::GateCall) was polled again after it completed.
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
///
/// # Examples
/// ```
/// use rpal_rt::gate::{Domain, DomainConfig, ResponseFull};
///
/// let d = Domain::new(DomainConfig::new().max_response(4)).unwrap();
/// let s = d.register("doc-full", |_req, resp| {
///     resp.write(b"abc").unwrap();
///     assert_eq!(resp.write(b"de"), Err(ResponseFull)); // nothing written
/// });
/// assert_eq!(s.call(b"").unwrap(), b"abc");
/// ```
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
///
/// # Examples
/// ```
/// use rpal_rt::gate::{Domain, DomainConfig};
///
/// let d = Domain::new(DomainConfig::new().max_response(16)).unwrap();
/// let s = d.register("doc-resp", |req, resp| {
///     assert_eq!(resp.capacity(), 16);
///     resp.write(b"draft").unwrap();
///     resp.clear();
///     resp.write(req).unwrap();
///     assert_eq!(resp.as_slice(), req);
/// });
/// assert_eq!(s.call(b"final").unwrap(), b"final");
/// ```
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
    /// An empty response over `cap` bytes at `ptr`.
    ///
    /// # Safety
    /// `cap` bytes at `ptr` must be in the callee's arena, reserved for one call for as long as
    /// the buffer lives, and writable under the PKRU the handler runs with.
    pub(super) unsafe fn from_raw(ptr: *mut u8, cap: usize) -> Self {
        ResponseBuf {
            ptr,
            cap,
            len: 0,
            _call: PhantomData,
        }
    }

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
///
/// # Examples
/// ```
/// use rpal_rt::gate::{Domain, DomainConfig};
///
/// let d = Domain::new(DomainConfig::new()).unwrap();
/// let lower = d.register("doc-lower", |req, resp| {
///     resp.write(&req.to_ascii_lowercase()).unwrap()
/// });
/// // A clone captured by another handler makes nested calls.
/// let inner = lower.clone();
/// let wrap = d.register("doc-wrap", move |req, resp| {
///     let low = inner.call(req).unwrap();
///     resp.write(b"<").unwrap();
///     resp.write(&low).unwrap();
///     resp.write(b">").unwrap();
/// });
/// assert_eq!(wrap.call(b"ABC").unwrap(), b"<abc>");
/// assert_eq!(wrap.name(), "doc-wrap");
/// ```
#[derive(Clone)]
pub struct Service {
    pub(super) domain: Rc<DomainInner>,
    name: Rc<str>,
    pub(super) handler: Rc<Handler>,
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
pub(super) struct Buffers {
    /// The region `[start, end)` to free when the call ends.
    pub(super) start: usize,
    pub(super) end: usize,
    /// Address and length of the request.
    pub(super) req: (usize, usize),
    /// Address and capacity of the response region.
    pub(super) resp: (usize, usize),
}

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
    /// cannot [`wait`](crate::gate::wait) (it panics, which the call reports as [`CallError::Panicked`]); use
    /// [`Service::call_async`] for handlers that wait.
    pub fn call(&self, request: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = Vec::new();
        self.call_into(request, &mut out)?;
        Ok(out)
    }

    /// Step 2: a parked resident coroutine of the domain, or a new one on a fresh stack. The
    /// caller holds the entry rights (creating one writes its first frame on the stack).
    pub(super) fn take_resident(&self) -> Result<Resident, CallError> {
        let domain = &*self.domain;
        if let Some(co) = domain.residents.borrow_mut().pop() {
            return Ok(co);
        }
        let stack = domain.stacks.take().map_err(|e| match e {
            TakeError::Exhausted => CallError::StacksExhausted,
            TakeError::Os(e) => CallError::Os(e),
        })?;
        Ok(ResidentCo::new(stack))
    }

    /// Gives a parked resident back to the domain for the next call.
    pub(super) fn park_resident(&self, co: Resident) {
        self.domain.residents.borrow_mut().push(co);
    }

    /// Step 3: the request copied into the arena and the response reserved after it. The
    /// caller holds the entry rights.
    pub(super) fn prepare(&self, request: &[u8]) -> Result<Buffers, CallError> {
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
    pub(super) fn begin(&self, request: &[u8]) -> Result<(Resident, Buffers), CallError> {
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
    pub(super) fn run_mask(&self) -> Option<ProtectionMask> {
        match (&self.domain.key, self.domain.config.isolation) {
            (Some(key), Isolation::Exclusive) => Some(ProtectionMask::zero().or(key)),
            _ => None,
        }
    }

    /// Step 1: the caller's rights plus the callee's key, recorded on the chain; both undone
    /// when the returned guards drop.
    pub(super) fn enter(&self) -> Option<(MaskGuard, ChainGuard)> {
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
        // This worker publishes CALL while the handler runs on its thread (see
        // `io::worker_state`); the previous state comes back when the call ends.
        let _state = crate::io::worker_state::enter_call();
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
}
