//! Raw access to the PKRU register (x86_64).
//!
//! PKRU is a 32-bit, per-thread register holding two bits for each of the 16 protection keys:
//!
//! ```text
//!  bit: 31 30  29 28  ...   5  4   3  2   1  0
//!      +-----+-----+-----+-----+-----+-----+-----+
//!      |WD AD|WD AD| ... |WD AD|WD AD|WD AD|WD AD|
//!      +-----+-----+-----+-----+-----+-----+-----+
//!  key:  15    14   ...    2     1     0
//!
//!  AD (bit 2k)     access disable: no data read or write to pages tagged with key k
//!  WD (bit 2k + 1) write disable:  reads allowed, writes fault (user mode)
//! ```
//!
//! A fault caused by PKRU is a SIGSEGV with `si_code == SEGV_PKUERR` and `si_pkey` set. Linux
//! starts every thread of a new program with `0x5555_5554` (every key but 0 access-disabled) and
//! copies PKRU to threads it clones. Instruction fetches are not checked.
//!
//! Both instructions exist only when CPUID.7.0:ECX.OSPKE is set; the callers in this crate only
//! reach them after `detect` has confirmed it (otherwise they raise #UD, i.e. SIGILL).

/// Reads PKRU.
///
/// # Safety
///
/// The CPU must support PKU and the OS must have enabled it (CPUID.7.0:ECX bit 4, OSPKE).
#[inline]
pub(super) unsafe fn read() -> u32 {
    let pkru: u32;
    // SAFETY: the caller guarantees OSPKE; RDPKRU only reads a register.
    unsafe {
        core::arch::asm!(
            // RDPKRU requires ECX = 0 (else #GP); it writes PKRU to EAX and zeroes EDX.
            "rdpkru",
            in("ecx") 0u32,
            out("eax") pkru,
            out("edx") _,
            options(nomem, nostack, preserves_flags),
        );
    }
    pkru
}

/// Writes PKRU.
///
/// # Safety
///
/// The CPU must support PKU with OSPKE set, and the new value must not deny access to memory the
/// current code still needs without a plan for the fault (the stack and data of the running code
/// must stay accessible, or the next access faults).
#[inline]
pub(super) unsafe fn write(pkru: u32) {
    // SAFETY: the caller guarantees OSPKE and that the new rights suit the code that runs next.
    // Not `nomem`: the compiler must not move memory accesses across the rights change.
    unsafe {
        core::arch::asm!(
            // WRPKRU requires ECX = 0 and EDX = 0 (else #GP); it loads PKRU from EAX. It is
            // ordered with respect to later loads and stores, so no fence is needed after it.
            "wrpkru",
            in("eax") pkru,
            in("ecx") 0u32,
            in("edx") 0u32,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn roundtrip_restores_original_value() {
        if !super::super::availability().is_available() {
            eprintln!("pkru: host has no pkeys; roundtrip checked in the QEMU guest");
            return;
        }
        // SAFETY: availability() confirmed PKU + OSPKE; writing back the value just read (or
        // one that only toggles write-disable of key 15, which nothing here uses) is harmless.
        unsafe {
            let before = super::read();
            super::write(before ^ (1 << 31));
            assert_eq!(super::read(), before ^ (1 << 31));
            super::write(before);
            assert_eq!(super::read(), before);
        }
    }
}
