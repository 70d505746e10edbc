//! Declarative macros: [`select!`](crate::select), [`join!`](crate::join),
//! [`try_join!`](crate::try_join) (and [`task_local!`](crate::task_local), in `task::local_key`).
//!
//! All are `macro_rules!`, exported at the crate root; what the expansions need at run time is
//! in [`support`], reached as `$crate::__macro_support` and hidden from the docs.

mod join;
mod select;

/// Run-time helpers of the macro expansions. Not a public API.
pub mod support {
    use std::cell::Cell;

    pub use futures::future::maybe_done;

    thread_local! {
        /// xorshift32 state; seeded per thread from the address of a local and the clock.
        static RNG: Cell<u32> = const { Cell::new(0) };
    }

    fn seed() -> u32 {
        let local = 0u8;
        let addr = std::ptr::addr_of!(local) as usize as u64;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
        let mixed = (addr ^ nanos.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((mixed >> 32) as u32) | 1
    }

    /// A cheap pseudo-random number in `0..n` (`n > 0`), for `select!`'s starting branch.
    pub fn thread_rng_n(n: u32) -> u32 {
        RNG.try_with(|rng| {
            let mut x = rng.get();
            if x == 0 {
                x = seed();
            }
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            rng.set(x);
            // Multiply-shift: maps x uniformly enough onto 0..n without a division.
            ((u64::from(x) * u64::from(n)) >> 32) as u32
        })
        .unwrap_or(0)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn rng_covers_the_range() {
            let mut seen = [false; 5];
            for _ in 0..1000 {
                let v = super::thread_rng_n(5);
                seen[v as usize] = true;
            }
            assert!(seen.iter().all(|s| *s));
        }
    }
}
