//! Driver selection: probe io_uring for every feature we use, honour `RPAL_DRIVER`.
//!
//! Owns [`DriverKind`] and the policy: `RPAL_DRIVER=uring|epoll` forces a driver (unset or empty:
//! automatic); otherwise io_uring when [`super::uring::probe`] passes, else epoll. The probe runs
//! at most once per process (cached in a `OnceLock`), and the choice is logged once per process on
//! stderr as one line. The parsing and the choice are pure functions, tested on strings.
use std::io;
use std::sync::{Once, OnceLock};

/// The environment variable that forces a driver.
pub(crate) const DRIVER_ENV: &str = "RPAL_DRIVER";

/// The I/O driver a worker uses.
///
/// # Examples
/// ```
/// use rpal_rt::runtime::{Builder, DriverKind};
///
/// // Force epoll (RPAL_DRIVER=epoll does the same without code); the default probes io_uring.
/// let rt = Builder::new_current_thread().driver(DriverKind::Epoll).build().unwrap();
/// rt.block_on(async {});
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DriverKind {
    /// io_uring (Linux 5.13+: `EXT_ARG` timed waits and multishot poll).
    Uring,
    /// epoll, the fallback.
    Epoll,
}

/// The cached io_uring probe result: `Err` holds the reason io_uring is unusable.
pub(crate) fn uring_probe() -> &'static Result<(), String> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(super::uring::probe)
}

/// Parses a `RPAL_DRIVER` value: `None` or empty means automatic.
///
/// # Errors
/// Any other value than `uring` or `epoll`, with the valid values in the message.
pub(crate) fn parse_driver_env(value: Option<&str>) -> io::Result<Option<DriverKind>> {
    match value {
        None | Some("") => Ok(None),
        Some("uring") => Ok(Some(DriverKind::Uring)),
        Some("epoll") => Ok(Some(DriverKind::Epoll)),
        Some(other) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{DRIVER_ENV}={other:?} is not a driver: valid values are \"uring\" and \"epoll\" \
                 (or leave it unset to probe)"
            ),
        )),
    }
}

/// Picks the driver from the forced choice and the probe result; returns it with the log line.
///
/// # Errors
/// `uring` forced while the probe failed, with the probe's reason.
pub(crate) fn choose(
    forced: Option<DriverKind>,
    probe: &Result<(), String>,
) -> io::Result<(DriverKind, String)> {
    match (forced, probe) {
        (Some(DriverKind::Uring), Err(why)) => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{DRIVER_ENV}=uring but io_uring is unavailable: {why}; unset it to fall back to epoll"),
        )),
        (Some(DriverKind::Uring), Ok(())) => Ok((
            DriverKind::Uring,
            format!("rpal: I/O driver io_uring (forced by {DRIVER_ENV})"),
        )),
        (Some(DriverKind::Epoll), _) => Ok((
            DriverKind::Epoll,
            format!("rpal: I/O driver epoll (forced by {DRIVER_ENV})"),
        )),
        (None, Ok(())) => Ok((DriverKind::Uring, "rpal: I/O driver io_uring (probe ok)".into())),
        (None, Err(why)) => Ok((
            DriverKind::Epoll,
            format!("rpal: I/O driver epoll (io_uring unavailable: {why})"),
        )),
    }
}

impl DriverKind {
    /// The driver to use: `RPAL_DRIVER=uring|epoll` if set, else io_uring when the probe passes,
    /// else epoll. Logs the choice once per process on stderr.
    ///
    /// # Errors
    /// An unknown `RPAL_DRIVER` value, or `RPAL_DRIVER=uring` on a kernel that cannot run it.
    pub fn detect() -> io::Result<DriverKind> {
        let var = std::env::var(DRIVER_ENV).ok();
        let forced = parse_driver_env(var.as_deref())?;
        // Forcing epoll skips the probe (and its io_uring_setup) entirely.
        let probe = match forced {
            Some(DriverKind::Epoll) => &Ok(()),
            _ => uring_probe(),
        };
        let (kind, line) = choose(forced, probe)?;
        static LOGGED: Once = Once::new();
        LOGGED.call_once(|| eprintln!("{line}"));
        Ok(kind)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn parses_env_values() {
        assert_eq!(parse_driver_env(None).unwrap(), None);
        assert_eq!(parse_driver_env(Some("")).unwrap(), None);
        assert_eq!(
            parse_driver_env(Some("uring")).unwrap(),
            Some(DriverKind::Uring)
        );
        assert_eq!(
            parse_driver_env(Some("epoll")).unwrap(),
            Some(DriverKind::Epoll)
        );
        let err = parse_driver_env(Some("kqueue")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let msg = err.to_string();
        assert!(
            msg.contains("kqueue") && msg.contains("uring") && msg.contains("epoll"),
            "{msg}"
        );
        assert!(
            parse_driver_env(Some("URING")).is_err(),
            "values are case-sensitive"
        );
    }

    #[test]
    fn chooses_by_probe_and_override() {
        let ok = Ok(());
        let bad = Err("no EXT_ARG".to_string());
        assert_eq!(choose(None, &ok).unwrap().0, DriverKind::Uring);
        let (k, line) = choose(None, &bad).unwrap();
        assert_eq!(k, DriverKind::Epoll);
        assert!(line.contains("no EXT_ARG"), "{line}");
        assert_eq!(
            choose(Some(DriverKind::Epoll), &ok).unwrap().0,
            DriverKind::Epoll
        );
        assert_eq!(
            choose(Some(DriverKind::Uring), &ok).unwrap().0,
            DriverKind::Uring
        );
        let err = choose(Some(DriverKind::Uring), &bad).unwrap_err();
        assert!(err.to_string().contains("no EXT_ARG"), "{err}");
    }
}
