//! The caller side of an async call: [`Service::call_async`] and its future, [`GateCall`],
//! which owns a suspended handler's resident coroutine, its arena region and its mailbox
//! between polls (see "Async handlers" in the `gate` module essay).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::ptr;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corosensei::CoroutineResult;

use super::call::{Buffers, CallError, Service};
use super::handler::{force_unwind, resume, Event, Job, Link, Resident, Resume};
use super::pkey::current_mask;

impl Service {
    /// Calls the handler as a future: a handler that [`wait`](crate::gate::wait)s on a pending future suspends
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

/// The future of [`Service::call_async`]: the response, or why the call failed.
///
/// Dropping it while the handler is suspended unwinds the handler's stack (its destructors run,
/// under the callee's rights), gives the stack and the arena region back and leaves the
/// dropper's PKRU as it was.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use rpal_rt::gate::{self, Domain, DomainConfig};
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let d = Domain::new(DomainConfig::new()).unwrap();
///     let slow = d.register("doc-slow", |req, resp| {
///         // Suspends the handler; the reactor resumes it when the timer fires.
///         gate::wait(rpal_rt::time::sleep(Duration::from_millis(1)));
///         resp.write(req).unwrap();
///     });
///     assert_eq!(slow.call_async(b"later").await.unwrap(), b"later");
/// });
/// ```
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
        // This worker publishes CALL while the handler runs on its thread.
        let _state = crate::io::worker_state::enter_call();
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
                let _state = crate::io::worker_state::enter_call();
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
