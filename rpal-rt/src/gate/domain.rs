//! [`Domain`]: one isolation unit of the call gate. It owns a protection key (or none), an arena
//! for request/response buffers and a pool of handler stacks, and hands out [`Service`] handles
//! for the handlers registered in it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::rc::Rc;

use super::arena::Arena;
use super::call::{Handler, MaskGuard, ResponseBuf, Service};
use super::chain;
use super::handler::Resident;
use super::pkey::{availability, ProtectionKey};
use super::stack_pool::StackPool;

/// Which keys a handler may touch while it runs.
///
/// # Examples
/// ```
/// use rpal_rt::gate::{Domain, DomainConfig, Isolation};
///
/// // A trusted callee that may also read its caller's memory.
/// let d = Domain::new(DomainConfig::new().isolation(Isolation::Inherit)).unwrap();
/// let echo = d.register("doc-inherit", |req, resp| resp.write(req).unwrap());
/// assert_eq!(echo.call(b"hi").unwrap(), b"hi");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Only key 0 (ordinary process memory) and the domain's own key: the caller's domain (if
    /// the call comes from another domain's handler) and every other domain are denied.
    #[default]
    Exclusive,
    /// The caller's rights plus the domain's own key (a trusted callee that may read its
    /// caller's domain memory).
    Inherit,
}

/// How to build a [`Domain`].
///
/// # Examples
/// ```
/// use rpal_rt::gate::{Domain, DomainConfig};
///
/// let config = DomainConfig::new()
///     .stack_size(128 << 10)
///     .max_stacks(4)
///     .arena_size(1 << 20)
///     .max_response(4096);
/// let d = Domain::new(config).unwrap();
/// let ok = d.register("doc-config", |_req, resp| resp.write(b"ok").unwrap());
/// assert_eq!(ok.call(b"").unwrap(), b"ok");
/// ```
#[derive(Debug, Clone)]
pub struct DomainConfig {
    pub(super) stack_size: usize,
    pub(super) max_stacks: usize,
    pub(super) arena_size: usize,
    pub(super) max_response: usize,
    pub(super) isolation: Isolation,
    pub(super) require_pkey: bool,
    pub(super) use_pkey: bool,
    pub(super) tag_stacks: bool,
}

impl Default for DomainConfig {
    fn default() -> Self {
        DomainConfig {
            stack_size: 64 * 1024,
            max_stacks: 16,
            arena_size: 1024 * 1024,
            max_response: 64 * 1024,
            isolation: Isolation::Exclusive,
            require_pkey: false,
            use_pkey: true,
            tag_stacks: true,
        }
    }
}

impl DomainConfig {
    /// The defaults: 64 KiB stacks, at most 16, a 1 MiB arena, 64 KiB responses, exclusive
    /// isolation, a key if one is available.
    pub fn new() -> DomainConfig {
        DomainConfig::default()
    }

    /// Usable bytes per handler stack (rounded up to pages; a guard page is added below).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = bytes;
        self
    }

    /// Most stacks alive at once = most calls into this domain in flight on all nesting levels.
    pub fn max_stacks(mut self, count: usize) -> Self {
        self.max_stacks = count;
        self
    }

    /// Arena bytes for requests and responses of the calls in flight.
    pub fn arena_size(mut self, bytes: usize) -> Self {
        self.arena_size = bytes;
        self
    }

    /// Most response bytes a handler may write per call.
    pub fn max_response(mut self, bytes: usize) -> Self {
        self.max_response = bytes;
        self
    }

    /// Which keys handlers may touch while they run.
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Tag handler stacks with the domain's key (the default), so no other domain can read or
    /// write a handler's frames. The price: a signal delivered while a handler runs, to a
    /// signal handler without `SA_ONSTACK` and a key-0 alternate stack, faults (Linux runs
    /// signal handlers with every key but 0 denied, on the interrupted stack). Turn it off for
    /// processes with such handlers; arenas stay tagged either way.
    pub fn tag_stacks(mut self, tag: bool) -> Self {
        self.tag_stacks = tag;
        self
    }

    /// `false` runs this domain without a protection key even where keys exist (no PKRU writes,
    /// no hardware isolation): the fallback path, chosen per domain instead of per process
    /// (`RPAL_NO_PKEY=1`). Default `true`.
    pub fn use_pkey(mut self, use_pkey: bool) -> Self {
        self.use_pkey = use_pkey;
        self
    }

    /// Fail [`Domain::new`] instead of running without a key when none can be had.
    pub fn require_pkey(mut self, require: bool) -> Self {
        self.require_pkey = require;
        self
    }
}

/// Counters for tests and diagnostics.
///
/// # Examples
/// ```
/// use rpal_rt::gate::{Domain, DomainConfig};
///
/// let d = Domain::new(DomainConfig::new()).unwrap();
/// let s = d.register("doc-stats", |_req, _resp| {});
/// s.call(b"x").unwrap();
/// let st = d.stats();
/// assert_eq!(st.arena_used, 0, "no call in flight");
/// assert!(st.idle_stacks <= st.live_stacks);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainStats {
    /// Stacks mapped (in use + idle).
    pub live_stacks: usize,
    /// Stacks mapped and idle.
    pub idle_stacks: usize,
    /// Arena bytes in use by calls in flight.
    pub arena_used: usize,
}

pub(super) struct DomainInner {
    pub(super) config: DomainConfig,
    pub(super) arena: Arena,
    pub(super) stacks: StackPool,
    /// Idle handler coroutines, each parked on its own stack between calls (see `call.rs`);
    /// their stacks count as idle in [`DomainStats`].
    pub(super) residents: RefCell<Vec<Resident>>,
    /// Services by name (the latest registration wins).
    services: RefCell<HashMap<Rc<str>, Rc<Handler>>>,
    /// Also held by `arena` and `stacks`; freed after both unmapped their memory.
    pub(super) key: Option<Rc<ProtectionKey>>,
}

impl fmt::Debug for DomainInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Domain")
            .field("key", &self.key.as_ref().map(|k| k.index()))
            .field("arena", &self.arena)
            .field("stacks", &self.stacks)
            .finish_non_exhaustive()
    }
}

impl Drop for DomainInner {
    fn drop(&mut self) {
        let residents = std::mem::take(self.residents.get_mut());
        if residents.is_empty() {
            return;
        }
        // Dropping a parked coroutine unwinds its stack, which is tagged with the key.
        let _rights = self
            .key
            .as_deref()
            .map(|key| MaskGuard::switch(|m| m.or(key)));
        drop(residents);
    }
}

/// An isolation domain of the call gate. Single-threaded: `!Send`, `!Sync` (see the module doc
/// of `gate` for the cross-thread plan); clones of its [`Service`]s keep it alive.
///
/// ```compile_fail
/// fn must_be_send<T: Send>() {}
/// must_be_send::<rpal_rt::gate::Domain>();
/// ```
///
/// ```compile_fail
/// fn must_be_send<T: Send>() {}
/// must_be_send::<rpal_rt::gate::Service>();
/// ```
#[derive(Debug, Clone)]
pub struct Domain {
    pub(super) inner: Rc<DomainInner>,
}

impl Domain {
    /// Creates a domain: allocates a key when available (or fails if `config.require_pkey`),
    /// maps and tags the arena, and sets up an empty stack pool.
    ///
    /// # Errors
    /// `InvalidInput` when `require_pkey` and not `use_pkey`; `Unsupported` when a key is
    /// required and the host has none; the OS error of `pkey_alloc`, `mmap` or `pkey_mprotect`.
    pub fn new(config: DomainConfig) -> io::Result<Domain> {
        if config.require_pkey && !config.use_pkey {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "DomainConfig: require_pkey(true) contradicts use_pkey(false)",
            ));
        }
        let key = if !config.use_pkey {
            None
        } else if availability().is_available() {
            match ProtectionKey::new() {
                Ok(k) => Some(Rc::new(k)),
                Err(e) if config.require_pkey => return Err(e),
                Err(_) => None,
            }
        } else if config.require_pkey {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{}", availability()),
            ));
        } else {
            None
        };
        let arena = Arena::new(config.arena_size, key.clone())?;
        let stack_key = key.clone().filter(|_| config.tag_stacks);
        if stack_key.is_some() {
            chain::install_panic_hook();
        }
        let stacks = StackPool::new(config.stack_size, config.max_stacks, stack_key);
        Ok(Domain {
            inner: Rc::new(DomainInner {
                config,
                arena,
                stacks,
                residents: RefCell::new(Vec::new()),
                services: RefCell::new(HashMap::new()),
                key,
            }),
        })
    }

    /// Registers `handler` under `name` and returns a handle that calls it. The handler reads
    /// the request and writes its answer into the [`ResponseBuf`]; it may call other services.
    pub fn register<F>(&self, name: &str, handler: F) -> Service
    where
        F: Fn(&[u8], &mut ResponseBuf<'_>) + 'static,
    {
        let name: Rc<str> = Rc::from(name);
        let handler: Rc<Handler> = Rc::new(handler);
        self.inner
            .services
            .borrow_mut()
            .insert(name.clone(), handler.clone());
        Service::new(self.inner.clone(), name, handler)
    }

    /// The service registered last under `name`.
    pub fn service(&self, name: &str) -> Option<Service> {
        let services = self.inner.services.borrow();
        let (name, handler) = services.get_key_value(name)?;
        Some(Service::new(
            self.inner.clone(),
            name.clone(),
            handler.clone(),
        ))
    }

    /// The domain's key, if it has one (then its arena and stacks are hardware-isolated).
    pub fn protection_key(&self) -> Option<&ProtectionKey> {
        self.inner.key.as_deref()
    }

    /// Start address and length of the arena (for tests that probe isolation).
    pub fn arena_range(&self) -> (usize, usize) {
        (self.inner.arena.base_addr(), self.inner.arena.capacity())
    }

    /// Stack and arena counters.
    pub fn stats(&self) -> DomainStats {
        DomainStats {
            live_stacks: self.inner.stacks.live(),
            idle_stacks: self.inner.stacks.idle() + self.inner.residents.borrow().len(),
            arena_used: self.inner.arena.used(),
        }
    }
}
