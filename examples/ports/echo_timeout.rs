//! Echo server that closes a connection once it has been idle for too long.
//!
//! Usage: `echo_timeout [ADDR] [IDLE_MS]` (defaults: 127.0.0.1:8080, 5000 ms). Prints
//! `listening on <addr>` once it accepts, and one line per connection when it ends.

use std::env;
use std::error::Error;
use std::time::Duration;

use futures::io::{AsyncReadExt, AsyncWriteExt};
use rpal_net::TcpListener;
use rpal_rt::spawn;
use rpal_rt::time::timeout;

#[rpal_rt::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let addr = env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let idle_ms: u64 = match env::args().nth(2) {
        Some(ms) => ms.parse()?,
        None => 5000,
    };
    let idle = Duration::from_millis(idle_ms);

    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);

    loop {
        let (mut socket, peer) = listener.accept().await?;
        spawn(async move {
            let mut buf = vec![0; 1024];
            loop {
                let n = match timeout(idle, socket.read(&mut buf)).await {
                    Ok(Ok(0)) => {
                        println!("{peer}: closed by the client");
                        return;
                    }
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => {
                        eprintln!("{peer}: read failed: {e}");
                        return;
                    }
                    Err(_) => {
                        println!("{peer}: idle for {idle_ms} ms, closing");
                        return;
                    }
                };
                if let Err(e) = socket.write_all(&buf[..n]).await {
                    eprintln!("{peer}: write failed: {e}");
                    return;
                }
            }
        });
    }
}
