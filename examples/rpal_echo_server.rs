//! An RpalStream echo server: every byte a client sends comes back. RPAL clients get shared
//! memory; plain Unix-socket clients (socat, nc -U, Python) are served over the socket.
//!
//! ```text
//! cargo run --release --example rpal_echo_server                      # /tmp/rpal-echo.sock
//! cargo run --release --example rpal_echo_server -- /tmp/other.sock
//! cargo run --release --example rpal_echo_client -- /tmp/rpal-echo.sock 100000 64
//! socat - UNIX-CONNECT:/tmp/rpal-echo.sock                            # a plain client
//! ```

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{RpalListener, RpalStream};

/// Socket path used when none is given.
const DEFAULT_PATH: &str = "/tmp/rpal-echo.sock";
/// Size of the echo buffer per connection.
const BUF: usize = 64 * 1024;

/// Copies everything read back to the writer until the peer closes; returns the bytes echoed.
async fn echo(mut s: RpalStream) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF];
    let mut total = 0;
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            s.close().await?;
            return Ok(total);
        }
        s.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

fn main() -> io::Result<()> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| DEFAULT_PATH.into()),
    );
    // A socket file left by an earlier run would make bind fail with AddrInUse.
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(&path)?;
        } else {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} exists and is not a socket; pick another path",
                    path.display()
                ),
            ));
        }
    }
    let rt = rpal_rt::Runtime::new()?;
    rt.block_on(async move {
        let listener = RpalListener::bind(path.as_path())?;
        println!("rpal_echo_server: listening on {}", path.display());
        loop {
            let (stream, _) = listener.accept().await?;
            let shm = stream.is_shared_memory();
            let who = match stream.peer_cred() {
                Ok(c) => format!("pid {} uid {}", c.pid, c.uid),
                Err(e) => format!("unknown peer ({e})"),
            };
            println!(
                "client {who}: {}",
                if shm {
                    "shared memory"
                } else {
                    "plain Unix socket (fallback)"
                }
            );
            rpal_rt::spawn(async move {
                match echo(stream).await {
                    Ok(n) => println!("client {who}: closed after {n} bytes"),
                    Err(e) => eprintln!("client {who}: {e}"),
                }
            });
            if listener.rejected_handshakes() > 0 {
                eprintln!(
                    "rejected handshakes so far: {}",
                    listener.rejected_handshakes()
                );
            }
        }
    })
}
