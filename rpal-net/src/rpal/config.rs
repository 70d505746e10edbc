//! [`RpalConfig`]: knobs of RpalListener and RpalStream.

use std::time::Duration;

/// Default capacity of each direction's ring.
pub const DEFAULT_RING_CAPACITY: usize = 256 * 1024;
/// Default bound on the whole handshake (connect to mapped rings).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time the listener waits for a new connection's first bytes before it decides the
/// client is a plain Unix-socket client that waits for the server to speak first.
pub const DEFAULT_DETECT_TIMEOUT: Duration = Duration::from_millis(50);
/// Default permission bits of the socket file an [`super::RpalListener`] binds at a path:
/// read and write for the owner only, so only processes of the listener's uid (and root) can
/// connect. Abstract names have no file and no permissions: use [`RpalConfig::allow_uids`].
pub const DEFAULT_SOCKET_MODE: u32 = 0o600;

/// Settings for [`super::RpalListener`] and [`super::RpalStream::connect_with`].
///
/// # Examples
/// ```
/// use rpal_net::RpalConfig;
/// let cfg = RpalConfig::default().ring_capacity(1 << 20).allow_uids(vec![0, 1000]);
/// assert_eq!(cfg.get_ring_capacity(), 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct RpalConfig {
    pub(crate) ring_capacity: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) detect_timeout: Duration,
    pub(crate) allowed_uids: Option<Vec<u32>>,
    pub(crate) shared_memory: bool,
    pub(crate) spin: bool,
    pub(crate) socket_mode: u32,
}

impl Default for RpalConfig {
    fn default() -> Self {
        RpalConfig {
            ring_capacity: DEFAULT_RING_CAPACITY,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            detect_timeout: DEFAULT_DETECT_TIMEOUT,
            allowed_uids: None,
            shared_memory: true,
            spin: true,
            socket_mode: DEFAULT_SOCKET_MODE,
        }
    }
}

impl RpalConfig {
    /// Capacity of each ring in bytes: rounded up to a power of two within 4 KiB..=64 MiB.
    pub fn ring_capacity(mut self, bytes: usize) -> Self {
        self.ring_capacity = bytes.clamp(4096, 64 << 20).next_power_of_two();
        self
    }

    /// The ring capacity that will be asked for.
    pub fn get_ring_capacity(&self) -> usize {
        self.ring_capacity
    }

    /// Bound on the handshake (default 5 s); a peer that stalls longer gets `TimedOut`.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// How long the listener waits for a new client's first bytes before treating it as a plain
    /// client that expects the server to speak first (default 50 ms).
    pub fn detect_timeout(mut self, d: Duration) -> Self {
        self.detect_timeout = d;
        self
    }

    /// Listener only: accept peers whose uid (SO_PEERCRED) is in `uids`; others are refused.
    /// A refused peer is closed before any descriptor (ring memfd, eventfd) is sent to it, and
    /// counted in [`super::RpalListener::rejected_handshakes`].
    pub fn allow_uids(mut self, uids: Vec<u32>) -> Self {
        self.allowed_uids = Some(uids);
        self
    }

    /// Listener only: permission bits (`0o777` mask; other bits are ignored) of the socket file
    /// when binding at a path. Default [`DEFAULT_SOCKET_MODE`] (`0o600`): connecting needs
    /// write permission on the file, so only the owner (and root) can connect. Widen it (for
    /// example `0o660` for a group, together with [`RpalConfig::allow_uids`]) to admit other
    /// users. The mode is set between `bind` and `listen`, so no client ever connects while the
    /// file has the umask's mode. Does not apply to abstract names (no file).
    ///
    /// # Examples
    /// ```
    /// use rpal_net::RpalConfig;
    /// let cfg = RpalConfig::default().socket_mode(0o660);
    /// assert_eq!(cfg.get_socket_mode(), 0o660);
    /// assert_eq!(RpalConfig::default().get_socket_mode(), 0o600);
    /// ```
    pub fn socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = mode & 0o777;
        self
    }

    /// The permission bits the listener gives its socket file.
    pub fn get_socket_mode(&self) -> u32 {
        self.socket_mode
    }

    /// `false` turns shared memory off: every connection is a plain Unix stream.
    pub fn shared_memory(mut self, on: bool) -> Self {
        self.shared_memory = on;
        self
    }

    /// Whether an idle worker may spin on this stream before parking (default true). With
    /// `false` a waiting reader parks at once and the writer rings its doorbell.
    pub fn spin(mut self, on: bool) -> Self {
        self.spin = on;
        self
    }
}
