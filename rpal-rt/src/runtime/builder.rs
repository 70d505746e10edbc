//! [`Builder`]: flavour, workers, driver, timer tick, blocking pool.

use std::io;
use std::time::Duration;

use super::config::{self, Config};
use super::{set_timer_slack, Runtime};
use crate::executor::{Core, RtShared};
use crate::io::uring::SocketIo;
use crate::reactor::DriverKind;
use std::sync::Arc;

/// Which executor a runtime uses.
///
/// # Examples
/// ```
/// use rpal_rt::runtime::{Builder, Flavor};
///
/// for flavor in [Flavor::CurrentThread, Flavor::ThreadPerCore] {
///     let builder = match flavor {
///         Flavor::CurrentThread => Builder::new_current_thread(),
///         Flavor::ThreadPerCore => Builder::new_thread_per_core().worker_threads(2),
///     };
///     assert_eq!(builder.build().unwrap().block_on(async { 1 + 1 }), 2);
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Everything runs on the thread that calls `block_on`.
    CurrentThread,
    /// One worker thread per core, each with its own queue, reactor and timer wheel; no work
    /// stealing.
    ThreadPerCore,
}

/// Builds a [`Runtime`].
///
/// # Examples
/// ```
/// use rpal_rt::runtime::{Builder, DriverKind};
/// let rt = Builder::new_thread_per_core()
///     .worker_threads(2)
///     .driver(DriverKind::Epoll)
///     .timer_tick(std::time::Duration::from_micros(20))
///     .build()
///     .unwrap();
/// assert_eq!(rt.driver_kind(), DriverKind::Epoll);
/// assert_eq!(rt.worker_count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    config: Config,
}

impl Builder {
    fn with_flavor(flavor: Flavor) -> Builder {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        Builder {
            config: Config {
                flavor,
                worker_threads: if flavor == Flavor::CurrentThread {
                    1
                } else {
                    workers
                },
                driver: None,
                timer_tick: crate::time::DEFAULT_TICK,
                pin_workers: false,
                max_blocking_threads: config::DEFAULT_MAX_BLOCKING_THREADS,
                blocking_keep_alive: config::DEFAULT_BLOCKING_KEEP_ALIVE,
                thread_name: "rpal-worker".to_owned(),
                uring_socket_io: None,
            },
        }
    }

    /// A single-thread runtime: tasks run on the thread inside `block_on`.
    pub fn new_current_thread() -> Builder {
        Builder::with_flavor(Flavor::CurrentThread)
    }

    /// A thread-per-core runtime: one worker per available CPU unless set otherwise.
    pub fn new_thread_per_core() -> Builder {
        Builder::with_flavor(Flavor::ThreadPerCore)
    }

    /// Number of worker threads (thread-per-core only; values below 1 count as 1).
    pub fn worker_threads(mut self, n: usize) -> Builder {
        if self.config.flavor == Flavor::ThreadPerCore {
            self.config.worker_threads = n.max(1);
        }
        self
    }

    /// Forces an I/O driver. Without this, the runtime probes io_uring and honours the
    /// `RPAL_DRIVER=uring|epoll` environment variable.
    pub fn driver(mut self, kind: DriverKind) -> Builder {
        self.config.driver = Some(kind);
        self
    }

    /// The timer wheel's tick: deadlines are rounded up to a multiple of it (default 10 µs).
    pub fn timer_tick(mut self, tick: Duration) -> Builder {
        self.config.timer_tick = tick.max(Duration::from_nanos(1));
        self
    }

    /// Pins worker `i` to CPU `i % cpus` (thread-per-core only; default off).
    pub fn pin_workers(mut self, pin: bool) -> Builder {
        self.config.pin_workers = pin;
        self
    }

    /// Upper bound on blocking-pool threads (default 512).
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.config.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread waits for work before it exits (default 10 s).
    pub fn blocking_keep_alive(mut self, d: Duration) -> Builder {
        self.config.blocking_keep_alive = d;
        self
    }

    /// Prefix of worker thread names (default `rpal-worker`).
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.config.thread_name = name.into();
        self
    }

    /// How sockets (rpal-net) do I/O on io_uring workers ([`SocketIo`]): completion operations
    /// on the ring or readiness plus non-blocking syscalls. Without this call
    /// `RPAL_URING_SOCKET_OPS=ring|ring-plain|readiness` decides, else the default
    /// ([`SocketIo::Readiness`]: in `benches/uring_ops.rs` its echo p50 is a few per cent lower
    /// than `Ring`'s, while `Ring` streams up to ~5% faster; see `DEFAULT_URING_SOCKET_IO` in
    /// `runtime/config.rs` for the figures). No effect on epoll.
    ///
    /// # Examples
    /// ```
    /// use rpal_rt::io::uring::SocketIo;
    /// let rt = rpal_rt::runtime::Builder::new_current_thread()
    ///     .uring_socket_io(SocketIo::Readiness)
    ///     .build()
    ///     .unwrap();
    /// # drop(rt);
    /// ```
    pub fn uring_socket_io(mut self, io: SocketIo) -> Builder {
        self.config.uring_socket_io = Some(io);
        self
    }

    /// Creates the runtime: probes (or takes) the driver, creates every worker's driver and
    /// timer wheel, and starts the worker threads.
    ///
    /// # Errors
    /// An invalid `RPAL_DRIVER` or `RPAL_URING_SOCKET_OPS`, a driver that cannot be created (e.g. `RPAL_DRIVER=uring` where
    /// io_uring is disabled), or a worker thread that cannot start.
    pub fn build(&self) -> io::Result<Runtime> {
        let mut config = self.config.clone();
        if config.driver.is_none() {
            config.driver = Some(DriverKind::detect()?);
        }
        if config.uring_socket_io.is_none() {
            let var = std::env::var(crate::io::uring::SOCKET_OPS_ENV).ok();
            config.uring_socket_io = Some(
                config::parse_socket_ops_env(var.as_deref())?
                    .unwrap_or(config::DEFAULT_URING_SOCKET_IO),
            );
        }
        let mut parts = Vec::with_capacity(config.worker_threads);
        for i in 0..config.worker_threads {
            parts.push(Core::new_parts(i, &config)?);
        }
        let workers: Box<[_]> = parts.iter().map(|(_, w)| w.clone()).collect();
        let blocking = crate::blocking::PoolShared::new(&config);
        let shared = Arc::new(RtShared::new(workers, blocking, config.clone()));
        let mut cores: Vec<Core> = parts
            .into_iter()
            .map(|(driver, worker)| Core::new(driver, worker, shared.clone(), false))
            .collect();
        match config.flavor {
            Flavor::CurrentThread => Ok(Runtime::from_parts(shared, cores.pop(), Vec::new())),
            Flavor::ThreadPerCore => {
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                let mut threads = Vec::with_capacity(cores.len());
                for (i, mut core) in cores.into_iter().enumerate() {
                    let pin = config.pin_workers.then_some(i % cpus);
                    let spawned = std::thread::Builder::new()
                        .name(format!("{}-{i}", config.thread_name))
                        .spawn(move || {
                            set_timer_slack();
                            if let Some(cpu) = pin {
                                pin_to_cpu(cpu);
                            }
                            core.run_until_shutdown();
                            core.shutdown();
                        });
                    match spawned {
                        Ok(t) => threads.push(t),
                        Err(e) => {
                            // Stop what started; the Runtime drop below joins them.
                            drop(Runtime::from_parts(shared, None, threads));
                            return Err(e);
                        }
                    }
                }
                Ok(Runtime::from_parts(shared, None, threads))
            }
        }
    }
}

fn pin_to_cpu(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; CPU_SET writes within it for cpu < CPU_SETSIZE, and
    // sched_setaffinity(0, ..) affects only the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if cpu < libc::CPU_SETSIZE as usize {
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    }
}
