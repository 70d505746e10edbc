//! Timers (work in progress).
#![allow(dead_code)]
mod clock;
mod handle;
mod wheel;
pub(crate) use handle::TimeHandle;
