//! The call gate: call a handler in another isolation domain like a function, on the caller's
//! thread, with no syscall and no thread switch.
//!
//! Exports: [`Domain`] (a protection key, an arena, a stack pool), [`DomainConfig`],
//! [`Isolation`], [`DomainStats`], [`Service`] (a registered handler; `call`, `call_into`,
//! `call_async`), [`GateCall`] (the future of an async call), [`wait`] (await inside a handler),
//! [`ResponseBuf`] (where a handler writes its answer), [`CallError`], [`ResponseFull`], the
//! [`receiver_state`] word for the cross-thread gate, and [`pkey`] (protection keys).
//!
//! ```
//! use rpal_rt::gate::{Domain, DomainConfig};
//! let domain = Domain::new(DomainConfig::new()).unwrap();
//! let upper = domain.register("upper", |req, resp| {
//!     resp.write(&req.to_ascii_uppercase()).unwrap();
//! });
//! assert_eq!(upper.call(b"rpal").unwrap(), b"RPAL");
//! ```
//!
//! # The protocol of one call
//!
//! A call into domain D with key K, from a thread whose PKRU is `S`:
//!
//! 1. **Entry rights.** Save `S`; write `S + K` (read/write K). The caller keeps its own rights
//!    because the caller's code and stack are still in use until the switch.
//! 2. **Resident.** Take one of D's parked *resident* coroutines, each living on its own D
//!    stack and parked between calls; or create one on a new stack (from the free list, or
//!    mapped, below D's cap), which writes its first frame under the entry rights. None left:
//!    [`CallError::StacksExhausted`], nothing changed but the rights, restored at once. Taking
//!    never blocks.
//! 3. **One copy.** Copy the request into D's arena (bump allocation above the arena's mark)
//!    and reserve the response region right after it.
//! 4. **Switch.** Resume the resident with this call's job: the caller's registers go on the
//!    caller's stack, `rsp` moves to D's stack. A call is thus one resume and one suspend.
//! 5. **Run rights.** On D's stack, with [`Isolation::Exclusive`] (the default), write
//!    `key 0 + K` only: the caller's domain (when the call comes from another domain's handler)
//!    and every other domain are now unreachable. Doing this *after* the switch is what lets the
//!    caller's own stack be tagged with the caller's key. [`Isolation::Inherit`] keeps the entry
//!    rights. When the entry rights already are `key 0 + K` (a call from ordinary code, whose
//!    `S` allows key 0 only), this write and its undo in step 7 are skipped: such a call costs
//!    two PKRU writes, a nested one four.
//! 6. **Handler.** `handler(request, &mut ResponseBuf)` runs inside `catch_unwind`. A panic
//!    becomes [`CallError::Panicked`] with the message; the resident stays healthy.
//! 7. **Back.** A guard writes the entry rights again *before* the coroutine switches back,
//!    since the switch pops the caller's registers from the caller's stack. The resident
//!    suspends with the outcome and goes back to D's idle list.
//! 8. **Copy out, restore.** Copy the response into the caller's `Vec` (the second and last
//!    copy: the caller cannot read D's arena once its rights are restored), free the call's
//!    arena region, write `S` back.
//!
//! Step 1 also records the call in the thread's chain (`chain.rs`): the union of the rights of
//! every call in progress, which the gate's panic hook switches to while a backtrace walks the
//! stacks of all nesting levels.
//!
//! Every rights change in steps 1 and 5 is undone by a Drop guard, so normal return, an error
//! after step 1, a caught panic and even a panic escaping the coroutine (corosensei re-raises it
//! in the caller; the guards run while it unwinds) all leave PKRU exactly `S`. PKRU is per
//! thread, so the gate writes it explicitly on entry and on exit and never assumes what another
//! thread had.
//!
//! Nested calls are just calls: a handler in A calling B does steps 1-8 with `S` = A's run
//! rights, so B's entry rights are `A's + B`, B runs with `0 + B` (A denied), and A gets its own
//! rights back on return. Synchronous calls nest strictly on one thread, so the arena's regions
//! are freed top first, with a stack per nesting level; a re-entrant call into the same domain
//! takes another stack from the same pool. (Async calls can finish out of order: see below.)
//!
//! # Who owns what
//!
//! * D's **stacks**: tagged with K, guard page below (`PROT_NONE`). A stack is owned by exactly
//!   one running call or by the free list; only D's handlers ever run on it.
//! * D's **arena**: tagged with K. Request and response buffers live there for one call.
//! * Keys are allocated access-disabled for the allocating thread; Linux starts programs with
//!   every key but 0 denied and copies PKRU into new threads. So outside a call, ordinary code
//!   cannot touch any domain's memory, and inside a call only the callee's domain (plus key 0)
//!   is reachable.
//!
//! # What is NOT isolated
//!
//! * Key 0: the heap, globals, thread stacks, TLS and the code of the whole process are open to
//!   every handler. The gate separates domains' arenas and stacks from each other and from
//!   ordinary code, not handlers from the process; it confines mistakes, not a hostile handler
//!   (which can run WRPKRU itself: MPK is not a security boundary against code execution).
//! * Without protection keys (no `pku`, `RPAL_NO_PKEY=1`, or all 15 keys taken) domains run with
//!   no hardware isolation at all; the protocol is the same minus the PKRU writes. Detection is
//!   logged once on stderr; [`DomainConfig::require_pkey`] turns it into an error.
//! * Signals: Linux runs a signal handler on the interrupted stack with every key but 0
//!   denied. Interrupting a handler on a tagged stack therefore faults unless the signal handler
//!   uses `SA_ONSTACK` with a key-0 alternate stack; [`DomainConfig::tag_stacks`]`(false)` avoids
//!   it at the cost of leaving handler frames readable by other domains.
//! * Stack walks: a backtrace taken inside a nested exclusive handler walks into its caller's
//!   (denied) stack. The gate wraps the panic hook so panics with `RUST_BACKTRACE` work (see
//!   `chain.rs`); other stack walks from inside a handler (`Backtrace::capture`) fault.
//! * Stack overflow in a handler hits the guard page and kills the process (SIGSEGV), as on any
//!   thread.
//!
//! # Threads
//!
//! `Domain` and `Service` are `!Send`/`!Sync` (Rc inside): a domain serves calls from the thread
//! that owns it (thread-per-core). While a call runs, the worker of the calling thread publishes
//! CALL in its slot of the process's worker-state table (`io::worker_state`, values from
//! [`receiver_state`]), so peers that read the table see it busy and do not ring it. A gate that
//! borrows a parked receiver's context from another thread would claim it through the
//! [`receiver_state`] word's `WAIT -> CALL` transition, with domains placed in a shared mapping;
//! that placement is not built.
//!
//! # Async handlers
//!
//! A handler may call [`wait`]`(future)`. Called through [`Service::call_async`] (a
//! [`GateCall`] future), the handler polls the future with the waker of the task polling the
//! call; on `Pending` it switches PKRU back to the entry rights and suspends its coroutine, and
//! the `GateCall` returns `Pending` to that task. When the waker fires, the task polls the
//! `GateCall` again, which redoes step 1 (the *current* caller's rights + K, which may differ
//! from the first poll's), writes that waker and those rights into the call's mailbox and
//! resumes the coroutine; the handler re-applies its run rights and polls its future again.
//! So, while suspended, the caller runs with exactly its own rights; inside the handler the run
//! rights hold on every resume; and whatever rights the last resumer had are what the handler's
//! guard restores before its final switch.
//!
//! Owned by a `GateCall` in flight: its coroutine (one stack of D), its arena region, the
//! mailbox (on the key-0 heap, so the handler can read it under its run rights). Since calls can
//! now finish out of nesting order, the arena frees regions out of order too: a region below a
//! live one becomes a hole, merged away when the regions above it are freed.
//!
//! Dropping a pending `GateCall` redoes step 1 for the dropper, updates the mailbox and lets
//! corosensei force-unwind the coroutine: the handler's destructors run on its stack, its
//! rights guard switches to the dropper's entry rights, the stack goes back to the pool, the
//! arena region is freed, and the dropper's PKRU is restored by its guard.
//!
//! The future a handler waits on is pinned on the handler's stack, tagged with K. While the
//! call is suspended, code outside it runs with K denied, so the future must not be *linked*
//! into structures that other code walks (an intrusive waiter list whose nodes live in the
//! future): that code would fault on the node. Wakers are fine (they live on the task's heap
//! cell), and so are rpal's timers (a `Sleep` keeps its timer in the wheel's slab).
//!
//! A handler called synchronously ([`Service::call`]) has no task to return `Pending` to:
//! [`wait`] panics there, reported as [`CallError::Panicked`]. Not done yet: a domain serving
//! many suspended calls is bounded by its stack count (`max_stacks`); there is no queueing.

mod arena;
mod call;
mod chain;
mod domain;
mod handler;
mod pending;
pub mod pkey;
pub mod receiver_state;
mod stack_pool;

pub use call::{CallError, ResponseBuf, ResponseFull, Service};
pub use domain::{Domain, DomainConfig, DomainStats, Isolation};
pub use handler::wait;
pub use pending::GateCall;

/// corosensei, re-exported only so `benches/gate.rs` can print its resume/suspend baseline beside
/// the gate without the root package depending on it; not part of the API.
#[doc(hidden)]
pub use corosensei as __corosensei;
