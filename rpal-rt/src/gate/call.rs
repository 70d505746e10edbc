//! The switch itself: [`Service::call`] copies the request into the callee's arena, grants the
//! callee's key, runs the handler on a pooled stack of the callee's domain as a corosensei
//! coroutine, copies the response out, and restores the caller's PKRU. The order of every step,
//! and why, is in the `gate` module essay; the guards here make each step undo itself on every
//! exit path.

use std::convert::Infallible;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use corosensei::{Coroutine, CoroutineResult, Yielder};

use super::arena::Arena;
use super::chain::ChainGuard;
use super::domain::{DomainInner, Isolation};
use super::pkey::{allow, current_mask, ProtectionMask};
use super::stack_pool::{PooledStack, TakeError};

/// The type-erased handler of a service.
pub(super) type Handler = dyn Fn(&[u8], &mut ResponseBuf<'_>);

/// What the handler coroutine yields. Uninhabited today: handlers run to completion. The async
/// step replaces it with a `Pending` marker (see the `gate` module doc).
type Suspend = Infallible;

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
struct MaskGuard {
    restore: ProtectionMask,
}

impl MaskGuard {
    /// Switches to `to(current)` and remembers `current`.
    fn switch(to: impl FnOnce(ProtectionMask) -> ProtectionMask) -> MaskGuard {
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

/// Gives a call's arena allocations back when dropped.
struct ArenaRelease<'a> {
    arena: &'a Arena,
    mark: usize,
}

impl Drop for ArenaRelease<'_> {
    fn drop(&mut self) {
        self.arena.release(self.mark);
    }
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
    /// stacks in use it fails with [`CallError::StacksExhausted`].
    pub fn call(&self, request: &[u8]) -> Result<Vec<u8>, CallError> {
        let mut out = Vec::new();
        self.call_into(request, &mut out)?;
        Ok(out)
    }

    /// Like [`Service::call`], writing the response into `out` (cleared first) to reuse its
    /// allocation.
    pub fn call_into(&self, request: &[u8], out: &mut Vec<u8>) -> Result<(), CallError> {
        let domain = &*self.domain;
        // 1. A stack, before touching anything: exhaustion fails with no state changed.
        let stack = domain.stacks.take().map_err(|e| match e {
            TakeError::Exhausted => CallError::StacksExhausted,
            TakeError::Os(e) => CallError::Os(e),
        })?;
        // 2. Entry rights: the caller's plus the callee's key (its arena and stacks). Declared
        //    before the coroutine so that it is dropped after it on every path.
        //    The chain records it for the panic hook (see `chain.rs`).
        let _entry = domain.key.as_deref().map(|key| {
            let guard = MaskGuard::switch(|m| m.or(key));
            let chain = ChainGuard::enter(guard.restore, key);
            (guard, chain)
        });
        // 3. One copy: request into the callee arena; reserve the response right after it.
        let _arena = ArenaRelease {
            arena: &domain.arena,
            mark: domain.arena.mark(),
        };
        let req_ptr = domain
            .arena
            .alloc(request.len())
            .ok_or(CallError::RequestTooLarge {
                len: request.len(),
                available: domain.arena.remaining(),
            })?;
        // SAFETY: `req_ptr` has room for `request.len()` bytes of the callee arena, reserved
        // for this call and writable under the entry rights set in step 2; a caller slice and
        // a freshly reserved arena range cannot overlap.
        unsafe { ptr::copy_nonoverlapping(request.as_ptr(), req_ptr, request.len()) };
        let resp_cap = domain.config.max_response.min(domain.arena.remaining());
        let (resp_ptr, resp_cap) = match domain.arena.alloc(resp_cap) {
            Some(p) => (p, resp_cap),
            None => (req_ptr, 0),
        };
        // 4. The rights the handler runs with, applied on its own stack (see the essay).
        let run_mask = match (&domain.key, domain.config.isolation) {
            (Some(key), Isolation::Exclusive) => Some(ProtectionMask::zero().or(key)),
            _ => None,
        };
        let job = Job {
            handler: self.handler.clone(),
            req: (req_ptr as usize, request.len()),
            resp: (resp_ptr as usize, resp_cap),
            run_mask,
        };
        // 5. Switch: the coroutine is created (its first frame written to the callee stack)
        //    and resumed under the entry rights.
        let mut co: Coroutine<(), Suspend, Outcome, PooledStack> =
            Coroutine::with_stack(stack, move |y: &Yielder<(), Suspend>, ()| job.run(y));
        let outcome = match co.resume(()) {
            CoroutineResult::Return(outcome) => outcome,
            CoroutineResult::Yield(never) => match never {},
        };
        // The coroutine finished: its stack goes back to the pool.
        drop(co.into_stack());
        // 6. Copy the response out while the callee arena is still accessible.
        let len = outcome.map_err(CallError::Panicked)?.min(resp_cap);
        out.clear();
        if len > 0 {
            // SAFETY: the handler initialised `len <= resp_cap` bytes at `resp_ptr`, in the
            // arena range reserved for this call and readable under the entry rights.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(resp_ptr, len) });
        }
        Ok(())
        // 7. `_arena` releases the buffers, then `_entry` restores the caller's PKRU.
    }
}

/// Everything the handler coroutine needs; `'static` so corosensei can own it.
struct Job {
    handler: Rc<Handler>,
    /// Address and length of the request in the callee arena.
    req: (usize, usize),
    /// Address and capacity of the response region in the callee arena.
    resp: (usize, usize),
    /// Rights to switch to on the callee stack, when they differ from the entry rights.
    run_mask: Option<ProtectionMask>,
}

impl Job {
    /// Body of the coroutine; runs on the callee stack.
    fn run(self, _yielder: &Yielder<(), Suspend>) -> Outcome {
        // Narrow the rights now that the caller's stack is no longer in use; the guard widens
        // them back before the coroutine switches to the caller's stack again.
        let narrowed = self.run_mask.map(|m| MaskGuard::switch(|_| m));
        let req: &[u8] = if self.req.1 == 0 {
            &[]
        } else {
            // SAFETY: `req.1` bytes at `req.0` were copied in by `call_into`, stay reserved until
            // the call returns, and are readable under both the entry and the run rights.
            unsafe { std::slice::from_raw_parts(self.req.0 as *const u8, self.req.1) }
        };
        let mut resp = ResponseBuf {
            ptr: self.resp.0 as *mut u8,
            cap: self.resp.1,
            len: 0,
            _call: PhantomData,
        };
        let handler = &*self.handler;
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
