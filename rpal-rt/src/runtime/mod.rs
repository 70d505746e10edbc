//! The runtime: [`Runtime`], its [`Builder`], and the per-thread context.
mod builder;
pub(crate) mod context;
mod handle;

pub use builder::{Builder, Flavor};
pub use handle::Handle;
pub use crate::reactor::DriverKind;

/// An rpal runtime. See the crate docs.
#[derive(Debug)]
pub struct Runtime {}
