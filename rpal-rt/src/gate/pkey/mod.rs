//! Memory protection keys (Intel MPK / AMD PKU) for call-gate domains.
//!
//! This module only selects a twin: on x86_64 Linux the [`enabled`](self) twin is compiled and
//! decides at run time (CPUID + a `pkey_alloc` probe, see `detect`) whether keys really exist;
//! elsewhere the `disabled` twin is compiled, with the same names, no-op functions and an
//! uninhabited [`ProtectionKey`], so code that uses a key is provably dead there. Callers never
//! write `cfg`.
//!
//! Exports: [`ProtectionKey`] (an owned hardware key, freed on drop), [`ProtectionMask`] (which
//! keys a thread may read/write: a PKRU value), [`allow`], [`current_mask`], [`keys`],
//! [`availability`] and [`Availability`].

mod detect;
pub use detect::{availability, Availability, Unavailable};

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod enabled;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod pkru;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod sys;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
pub use enabled::{allow, current_mask, keys, ProtectionKey, ProtectionMask};

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod disabled;
#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
pub use disabled::{allow, current_mask, keys, ProtectionKey, ProtectionMask};
