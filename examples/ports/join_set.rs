//! A JoinSet of tasks: results are collected in the order the tasks finish; one task panics
//! and one is aborted, and the set reports each.
//!
//! Prints the results in completion order, then how many tasks panicked and were cancelled.

use std::time::Duration;

use rpal_rt::task::JoinSet;
use rpal_rt::time::sleep;

#[rpal_rt::main]
async fn main() {
    let mut set = JoinSet::new();
    for i in 0..8u64 {
        set.spawn(async move {
            // Later tasks sleep less, so they finish first.
            sleep(Duration::from_millis(20 * (8 - i))).await;
            i * i
        });
    }
    set.spawn(async { panic!("this task fails on purpose") });
    let stuck = set.spawn(async {
        sleep(Duration::from_secs(3600)).await;
        u64::MAX
    });
    stuck.abort();

    let mut finished = Vec::new();
    let (mut panicked, mut cancelled) = (0, 0);
    while let Some(res) = set.join_next().await {
        match res {
            Ok(v) => finished.push(v),
            Err(e) if e.is_panic() => panicked += 1,
            Err(e) if e.is_cancelled() => cancelled += 1,
            Err(e) => eprintln!("unexpected join error: {e}"),
        }
    }
    println!("finished in order: {finished:?}");
    println!("{panicked} panicked, {cancelled} cancelled");
}
