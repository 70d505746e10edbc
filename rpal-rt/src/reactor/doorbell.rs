//! The eventfd that wakes a parked driver, shared by both drivers and by user-space sources.
use std::io;

/// An eventfd: `ring` from any thread (or any process holding the fd) wakes the driver.
#[derive(Debug)]
pub(crate) struct Doorbell {}

impl Doorbell {
    pub(crate) fn new() -> io::Result<Doorbell> {
        todo!("reactor helper")
    }
    /// Wakes the driver parked on this doorbell (one eventfd write; never blocks).
    pub(crate) fn ring(&self) {
        todo!("reactor helper")
    }
}
