//! Channel throughput: one producer task sends `n` `u64`s through each runtime's own mpsc
//! channel (bounded with capacity [`CHAN_CAPACITY`], or unbounded), one consumer task receives
//! them; million messages per second from the first send to the last receive.

use std::time::Instant;

use super::{median, spawn, Kind, Rt, RUNS};

/// Capacity of the bounded channel (the same for both runtimes).
pub(crate) const CHAN_CAPACITY: usize = 1024;

/// Sends `$n` values through `$chan` from a spawned producer to the current task; evaluates to
/// million messages per second. `$send` is `send_async` (bounded) or `send_sync` (unbounded).
macro_rules! pump {
    ($kind:expr, $chan:expr, $n:expr, $send:ident) => {{
        let (tx, mut rx) = $chan;
        let n = $n as u64;
        let start = Instant::now();
        spawn($kind, async move {
            for i in 0..n {
                $send!(tx, i);
            }
        });
        let mut sum = 0u64;
        while let Some(v) = rx.recv().await {
            sum = sum.wrapping_add(v);
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(sum, n * (n - 1) / 2, "lost or duplicated messages");
        n as f64 / secs / 1e6
    }};
}

macro_rules! send_async {
    ($tx:ident, $v:expr) => {
        $tx.send($v).await.expect("receiver alive")
    };
}

macro_rules! send_sync {
    ($tx:ident, $v:expr) => {
        $tx.send($v).expect("receiver alive")
    };
}

/// Million messages per second through a bounded channel of capacity [`CHAN_CAPACITY`].
pub(crate) fn bounded<R: Rt>(rt: &R, kind: Kind, n: usize) -> f64 {
    let runs = (0..RUNS)
        .map(|_| {
            rt.run(move || async move {
                match kind {
                    Kind::Rpal => pump!(
                        kind,
                        rpal_rt::sync::mpsc::channel::<u64>(CHAN_CAPACITY),
                        n,
                        send_async
                    ),
                    Kind::Tokio => pump!(
                        kind,
                        tokio::sync::mpsc::channel::<u64>(CHAN_CAPACITY),
                        n,
                        send_async
                    ),
                }
            })
        })
        .collect();
    median(runs)
}

/// Million messages per second through an unbounded channel.
pub(crate) fn unbounded<R: Rt>(rt: &R, kind: Kind, n: usize) -> f64 {
    let runs = (0..RUNS)
        .map(|_| {
            rt.run(move || async move {
                match kind {
                    Kind::Rpal => pump!(
                        kind,
                        rpal_rt::sync::mpsc::unbounded_channel::<u64>(),
                        n,
                        send_sync
                    ),
                    Kind::Tokio => pump!(
                        kind,
                        tokio::sync::mpsc::unbounded_channel::<u64>(),
                        n,
                        send_sync
                    ),
                }
            })
        })
        .collect();
    median(runs)
}
