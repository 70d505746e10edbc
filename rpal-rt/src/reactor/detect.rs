//! Driver selection: probe io_uring for every opcode we use, honour `RPAL_DRIVER`.
use std::io;

/// The I/O driver a worker uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DriverKind {
    /// io_uring (Linux 5.11+ with the opcodes the runtime uses).
    Uring,
    /// epoll, the fallback.
    Epoll,
}

impl DriverKind {
    /// The driver to use: `RPAL_DRIVER=uring|epoll` if set, else io_uring when the probe passes,
    /// else epoll. Logs the choice once per process on stderr.
    ///
    /// # Errors
    /// An unknown `RPAL_DRIVER` value, or `RPAL_DRIVER=uring` on a kernel that cannot run it.
    pub fn detect() -> io::Result<DriverKind> {
        todo!("reactor helper")
    }
}
