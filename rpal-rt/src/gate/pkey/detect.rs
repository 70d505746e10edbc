//! Are protection keys usable in this process? Decided once, cached, logged once.
//!
//! Order: `RPAL_NO_PKEY=1` forces them off; otherwise CPUID leaf 7 (sub-leaf 0) must report PKU
//! (ECX bit 3: the CPU has keys) and OSPKE (ECX bit 4: the OS set CR4.PKE, so RDPKRU/WRPKRU are
//! legal), on any vendor; finally a `pkey_alloc` probe must succeed (a kernel built without
//! `X86_INTEL_MEMORY_PROTECTION_KEYS` answers `EINVAL`; a process whose keys are all taken answers
//! `ENOSPC`). The probe key is freed at once.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;

/// Whether call-gate domains get hardware isolation in this process.
///
/// # Examples
/// ```
/// use rpal_rt::gate::pkey::{availability, Availability};
///
/// match availability() {
///     Availability::Available => println!("domains are isolated by hardware"),
///     Availability::Unavailable(why) => println!("no protection keys: {why}"),
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Keys can be allocated and PKRU can be written.
    Available,
    /// Keys cannot be used; domains run without hardware isolation.
    Unavailable(Unavailable),
}

/// Why protection keys are unavailable.
///
/// # Examples
/// ```
/// use rpal_rt::gate::pkey::{availability, Availability, Unavailable};
///
/// if let Availability::Unavailable(why) = availability() {
///     // One of the reasons; `RPAL_NO_PKEY=1` gives `ForcedOff`.
///     let _known = matches!(
///         why,
///         Unavailable::ForcedOff
///             | Unavailable::Platform
///             | Unavailable::CpuLacksPku
///             | Unavailable::OsDisabled
///             | Unavailable::KernelRefused(_)
///     );
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// `RPAL_NO_PKEY=1` was set.
    ForcedOff,
    /// Not x86_64 Linux: the disabled twin is compiled.
    Platform,
    /// CPUID reports no PKU.
    CpuLacksPku,
    /// The CPU has PKU but the OS did not enable it (no OSPKE).
    OsDisabled,
    /// `pkey_alloc` failed with this errno.
    KernelRefused(i32),
}

impl Availability {
    /// True when keys can be used.
    pub fn is_available(self) -> bool {
        matches!(self, Availability::Available)
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Availability::Available => f.write_str(
                "protection keys available (cpu has PKU, os enabled it, pkey_alloc works); \
                 call-gate domains are isolated by hardware",
            ),
            Availability::Unavailable(why) => write!(
                f,
                "protection keys unavailable ({why}); call-gate domains run without hardware \
                 isolation"
            ),
        }
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::ForcedOff => f.write_str("RPAL_NO_PKEY=1"),
            Unavailable::Platform => f.write_str("not x86_64 Linux"),
            Unavailable::CpuLacksPku => f.write_str("cpu lacks PKU"),
            Unavailable::OsDisabled => f.write_str("os did not enable PKU (no OSPKE)"),
            Unavailable::KernelRefused(errno) => {
                write!(
                    f,
                    "pkey_alloc failed: {}",
                    std::io::Error::from_raw_os_error(*errno)
                )
            }
        }
    }
}

/// The cached decision; the first call probes and prints one line on stderr.
pub fn availability() -> Availability {
    static CACHE: OnceLock<Availability> = OnceLock::new();
    *CACHE.get_or_init(|| {
        let found = probe();
        // The stderr handle, not eprintln!, so test harness capture cannot hide it.
        let _ = writeln!(std::io::stderr(), "rpal: {found}");
        found
    })
}

fn probe() -> Availability {
    if std::env::var_os("RPAL_NO_PKEY").is_some_and(|v| v == "1") {
        return Availability::Unavailable(Unavailable::ForcedOff);
    }
    hardware()
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn hardware() -> Availability {
    const PKU: u32 = 1 << 3;
    const OSPKE: u32 = 1 << 4;
    // SAFETY: CPUID exists on every x86_64 CPU; leaf 0 gives the highest basic leaf.
    #[allow(unused_unsafe)]
    let max_leaf = unsafe { core::arch::x86_64::__cpuid(0) }.eax;
    if max_leaf < 7 {
        return Availability::Unavailable(Unavailable::CpuLacksPku);
    }
    // SAFETY: leaf 7 is within the range the CPU just reported.
    #[allow(unused_unsafe)]
    let ecx = unsafe { core::arch::x86_64::__cpuid_count(7, 0) }.ecx;
    if ecx & PKU == 0 {
        return Availability::Unavailable(Unavailable::CpuLacksPku);
    }
    if ecx & OSPKE == 0 {
        return Availability::Unavailable(Unavailable::OsDisabled);
    }
    match super::sys::pkey_alloc(0) {
        Ok(key) => {
            // A failure to free the probe key only costs one key; nothing to undo.
            let _ = super::sys::pkey_free(key);
            Availability::Available
        }
        Err(e) => {
            Availability::Unavailable(Unavailable::KernelRefused(e.raw_os_error().unwrap_or(0)))
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
fn hardware() -> Availability {
    Availability::Unavailable(Unavailable::Platform)
}
