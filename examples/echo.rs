//! An echo server on rpal: every byte a client sends comes back.
//!
//! ```text
//! cargo run --release --example echo                      # serve TCP on 127.0.0.1:7878
//! cargo run --release --example echo -- 0.0.0.0:9000      # another address
//! cargo run --release --example echo -- --unix /tmp/echo.sock
//! cargo run --release --example echo -- --demo            # serve, run clients against it, exit
//! ```
//! Try it with `nc 127.0.0.1 7878` or `socat - UNIX-CONNECT:/tmp/echo.sock`.

use std::io;
use std::time::Instant;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use rpal_net::unix::UnixListener;
use rpal_net::{TcpListener, TcpStream};

/// Copies everything read from `stream` back to it until the peer closes.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

async fn serve_tcp(listener: TcpListener) -> io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        rpal_rt::spawn(async move {
            if let Err(e) = echo(stream).await {
                eprintln!("echo: {peer}: {e}");
            }
        });
    }
}

async fn serve_unix(listener: UnixListener) -> io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        rpal_rt::spawn(async move {
            if let Err(e) = echo(stream).await {
                eprintln!("echo: unix peer: {e}");
            }
        });
    }
}

/// Serves on an ephemeral port, runs concurrent clients against it, checks every byte.
async fn demo() -> io::Result<()> {
    const CLIENTS: usize = 8;
    const ROUND_TRIPS: usize = 2_000;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("echo: serving on {addr} ({CLIENTS} clients x {ROUND_TRIPS} round trips)");
    let server = rpal_rt::spawn(serve_tcp(listener));
    let start = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            rpal_rt::spawn(async move {
                let mut s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let mut back = [0u8; 64];
                for i in 0..ROUND_TRIPS {
                    let mut msg = [b'.'; 64];
                    let tag = format!("client {c} message {i}");
                    msg[..tag.len()].copy_from_slice(tag.as_bytes());
                    let msg = &msg[..];
                    s.write_all(msg).await?;
                    s.read_exact(&mut back).await?;
                    if &back[..] != msg {
                        return Err(io::Error::other(format!(
                            "client {c}: echo mismatch at {i}"
                        )));
                    }
                }
                io::Result::Ok(())
            })
        })
        .collect();
    for c in clients {
        c.await.map_err(io::Error::from)??;
    }
    let elapsed = start.elapsed();
    let n = CLIENTS * ROUND_TRIPS;
    println!(
        "echo: {n} round trips of 64 B verified in {:.1} ms ({:.1} us per round trip per client)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 * CLIENTS as f64 / n as f64
    );
    server.abort();
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = rpal_rt::Runtime::new()?;
    println!(
        "echo: rpal runtime, {} workers, {:?} driver",
        rt.worker_count(),
        rt.driver_kind()
    );
    match args.first().map(String::as_str) {
        Some("--demo") => rt.block_on(demo()),
        Some("--unix") => {
            let path = args
                .get(1)
                .ok_or_else(|| io::Error::other("--unix needs a socket path"))?;
            let _ = std::fs::remove_file(path);
            let listener = UnixListener::bind(path.as_str())?;
            println!("echo: serving on unix:{path}");
            rt.block_on(serve_unix(listener))
        }
        Some("-h") | Some("--help") => {
            println!("usage: echo [ADDR | --unix PATH | --demo]");
            Ok(())
        }
        addr => {
            let addr = addr.unwrap_or("127.0.0.1:7878");
            rt.block_on(async {
                let listener = TcpListener::bind(addr).await?;
                println!("echo: serving on {}", listener.local_addr()?);
                serve_tcp(listener).await
            })
        }
    }
}
