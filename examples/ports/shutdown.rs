//! Echo server that shuts down gracefully: on Ctrl-C or SIGTERM it stops accepting, gives open
//! connections a grace period to finish, aborts what is left, and exits with status 0.
//!
//! Usage: `shutdown [ADDR]` (default 127.0.0.1:8080). Prints `listening on <addr>`, then on a
//! signal `shutting down: <n> connection(s) open` and finally `goodbye`.

use std::env;
use std::error::Error;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{TcpListener, TcpStream};
use rpal_rt::select;
use rpal_rt::signal::unix::{signal, SignalKind};
use rpal_rt::task::JoinSet;
use rpal_rt::time::timeout;

/// How long open connections may take to finish after a shutdown signal.
const GRACE: Duration = Duration::from_secs(5);

#[rpal_rt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    // Listen for SIGTERM and SIGINT (Ctrl-C) before announcing the address: from here on
    // neither kills the process, and one that arrives early is not missed.
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);

    let mut connections = JoinSet::new();
    loop {
        select! {
            accepted = listener.accept() => {
                let (socket, _) = accepted?;
                connections.spawn(serve(socket));
            }
            // Reap connections that ended, so the set does not grow.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = interrupt.recv() => {
                println!("Ctrl-C received");
                break;
            }
            _ = terminate.recv() => {
                println!("SIGTERM received");
                break;
            }
        }
    }
    drop(listener);

    println!("shutting down: {} connection(s) open", connections.len());
    let drained = timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        println!(
            "grace period over, aborting {} connection(s)",
            connections.len()
        );
        connections.shutdown().await;
    }
    println!("goodbye");
    Ok(())
}

/// Echoes until the client closes the connection.
async fn serve(mut socket: TcpStream) {
    let mut buf = [0u8; 1024];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}
