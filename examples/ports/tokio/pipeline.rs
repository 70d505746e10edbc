//! A pipeline of tasks connected by bounded channels: two producers send numbers, a stage
//! squares them, a last stage sums the squares.
//!
//! Usage: `pipeline [N]` (default 1000): the producers send 1..=N between them; prints
//! `<count> squares, sum <sum>`.

use std::env;

use tokio::spawn;
use tokio::sync::mpsc;

/// Capacity of each channel between two stages.
const CAPACITY: usize = 16;

#[tokio::main]
async fn main() {
    let n: u64 = env::args()
        .nth(1)
        .map_or(1000, |s| s.parse().expect("N is a number"));
    let (numbers_tx, mut numbers_rx) = mpsc::channel::<u64>(CAPACITY);
    let (squares_tx, mut squares_rx) = mpsc::channel::<u64>(CAPACITY);

    // Stage 1: two producers, odd and even numbers, into one channel.
    let mut producers = Vec::new();
    for first in [1, 2] {
        let tx = numbers_tx.clone();
        producers.push(spawn(async move {
            for i in (first..=n).step_by(2) {
                if tx.send(i).await.is_err() {
                    break;
                }
            }
        }));
    }
    drop(numbers_tx);

    // Stage 2: square.
    let squarer = spawn(async move {
        while let Some(i) = numbers_rx.recv().await {
            if squares_tx.send(i * i).await.is_err() {
                break;
            }
        }
    });

    // Stage 3: sum; ends when every sender upstream is gone.
    let summer = spawn(async move {
        let (mut count, mut sum) = (0u64, 0u64);
        while let Some(square) = squares_rx.recv().await {
            count += 1;
            sum += square;
        }
        (count, sum)
    });

    for p in producers {
        p.await.expect("producer panicked");
    }
    squarer.await.expect("squarer panicked");
    let (count, sum) = summer.await.expect("summer panicked");
    println!("{count} squares, sum {sum}");
}
