//! The settings a runtime was built with (from the builder and the environment).

use std::time::Duration;

use super::Flavor;
use crate::reactor::DriverKind;

/// Default upper bound on blocking-pool threads.
pub(crate) const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// Default time an idle blocking-pool thread waits for work before it exits.
pub(crate) const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// A runtime's settings.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) flavor: Flavor,
    pub(crate) worker_threads: usize,
    /// `None`: probe, honouring `RPAL_DRIVER`.
    pub(crate) driver: Option<DriverKind>,
    pub(crate) timer_tick: Duration,
    pub(crate) pin_workers: bool,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) thread_name: String,
}
