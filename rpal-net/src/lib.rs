//! placeholder
mod loom;
pub mod rpal;
