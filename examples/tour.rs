//! The README's API tour, compiled and run: `cargo run --example tour`.
use futures::{AsyncReadExt, AsyncWriteExt};
use std::time::Duration;

#[rpal_rt::main] // thread-per-core; `flavor = "current_thread"`, `worker_threads = N`, `driver = "epoll"`
async fn main() -> std::io::Result<()> {
    // Tasks: spawn (Send, stays on the current worker), spawn_local (!Send), abort, panics as errors.
    let h = rpal_rt::spawn(async { 40 + 2 });
    assert_eq!(h.await.unwrap(), 42);
    let stuck = rpal_rt::spawn(std::future::pending::<()>());
    stuck.abort();
    assert!(stuck.await.unwrap_err().is_cancelled());

    // Timers with sub-millisecond resolution (10 µs wheel tick by default).
    rpal_rt::time::sleep(Duration::from_micros(250)).await;
    let late = rpal_rt::time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await;
    assert!(late.is_err());

    // Blocking work off the workers.
    let n = rpal_rt::spawn_blocking(|| std::fs::read_dir(".").map(|d| d.count()))
        .await
        .unwrap()?;

    // Sockets.
    let listener = rpal_net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    rpal_rt::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.unwrap();
        s.write_all(&buf).await.unwrap();
    });
    let mut c = rpal_net::TcpStream::connect(addr).await?;
    c.write_all(b"hello").await?;
    let mut back = [0u8; 5];
    c.read_exact(&mut back).await?;
    println!("{n} entries; echoed {:?}", std::str::from_utf8(&back));
    Ok(())
}
