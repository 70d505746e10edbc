//! Plain Unix-socket clients against an RpalListener get a working plain stream (server side
//! `is_shared_memory() == false`): python3 speaking first and waiting for the server to speak
//! first, socat with piped stdin, and a Tokio `UnixStream` on its own thread and runtime. Also
//! `shared_memory(false)` on either side gives a plain but working stream for an RPAL client.
//!
//! python3 and socat are external tools: when missing, the tests say so and skip, unless
//! `CI=true` (CI installs them), where a missing tool is a failure.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_net::{RpalConfig, RpalListener, RpalStream};
use support::{pattern, within, SockPath};

/// Serves exactly one connection: optionally greets first, then echoes until end of stream.
/// Returns whether the accepted stream was shared memory and how many bytes it echoed.
fn serve_one(
    listener: RpalListener,
    greet: Option<&'static [u8]>,
) -> rpal_rt::JoinHandle<(bool, u64)> {
    rpal_rt::spawn(async move {
        let (mut s, _) = listener.accept().await.expect("accept");
        let shm = s.is_shared_memory();
        if let Some(g) = greet {
            s.write_all(g).await.expect("greet");
        }
        let (n, _) = support::echo(s).await.expect("echo");
        (shm, n)
    })
}

/// Runs `cmd` with `stdin` piped in on the blocking pool; returns its stdout (asserting success).
async fn run_client(mut cmd: Command, stdin: Vec<u8>) -> Vec<u8> {
    let what = format!("{cmd:?}");
    let out = rpal_rt::spawn_blocking(move || {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn client");
        let mut pipe = child.stdin.take().unwrap();
        let feeder = std::thread::spawn(move || {
            let _ = pipe.write_all(&stdin);
        });
        let out = child.wait_with_output().expect("wait client");
        feeder.join().unwrap();
        out
    });
    let out = within(&what, out).await.unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const PY_SENDS_FIRST: &str = r#"
import socket, sys
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(data)
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.buffer.write(out)
"#;

const PY_WAITS_FOR_SERVER: &str = r#"
import socket, sys
data = sys.stdin.buffer.read()
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
greeting = b""
while not greeting.endswith(b"\n"):
    b = s.recv(1)
    if not b:
        sys.exit("server closed before greeting")
    greeting += b
s.sendall(data)
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.buffer.write(greeting + out)
"#;

#[test]
fn python_client_speaks_first() {
    if !support::tool_available("python_client_speaks_first", "python3", "--version") {
        return;
    }
    support::current_thread().block_on(async {
        let path = SockPath::new("fb-py1");
        let listener = RpalListener::bind(path.path()).unwrap();
        let server = serve_one(listener, None);
        let payload = [&b"hello from python\n"[..], &pattern(200_000, 3)].concat();
        let mut cmd = Command::new("python3");
        cmd.args(["-c", PY_SENDS_FIRST, path.as_str()]);
        let out = run_client(cmd, payload.clone()).await;
        assert_eq!(out.len(), payload.len());
        assert!(out == payload, "python got a different echo");
        let (shm, n) = within("server", server).await.unwrap();
        assert!(!shm, "a python client cannot be shared memory");
        assert_eq!(n, payload.len() as u64);
    });
}

#[test]
fn python_client_waits_for_server_to_speak_first() {
    if !support::tool_available("python_client_waits_for_server", "python3", "--version") {
        return;
    }
    support::current_thread().block_on(async {
        let path = SockPath::new("fb-py2");
        let cfg = RpalConfig::default().detect_timeout(Duration::from_millis(100));
        let listener = RpalListener::bind_with(path.path(), cfg).unwrap();
        let server = serve_one(listener, Some(b"welcome, plain client\n"));
        let payload = b"my request after your greeting".to_vec();
        let mut cmd = Command::new("python3");
        cmd.args(["-c", PY_WAITS_FOR_SERVER, path.as_str()]);
        let out = run_client(cmd, payload.clone()).await;
        assert_eq!(out, [&b"welcome, plain client\n"[..], &payload].concat());
        let (shm, n) = within("server", server).await.unwrap();
        assert!(!shm);
        assert_eq!(n, payload.len() as u64);
    });
}

#[test]
fn socat_client() {
    if !support::tool_available("socat_client", "socat", "-V") {
        return;
    }
    support::current_thread().block_on(async {
        let path = SockPath::new("fb-socat");
        let listener = RpalListener::bind(path.path()).unwrap();
        let server = serve_one(listener, None);
        let payload = [&b"hello from socat\n"[..], &pattern(100_000, 4)].concat();
        let mut cmd = Command::new("socat");
        // -t: after stdin's EOF, wait up to 10 s for the echo to end.
        cmd.args(["-t", "10", "-", &format!("UNIX-CONNECT:{}", path.as_str())]);
        let out = run_client(cmd, payload.clone()).await;
        assert_eq!(out.len(), payload.len());
        assert!(out == payload, "socat got a different echo");
        let (shm, n) = within("server", server).await.unwrap();
        assert!(!shm);
        assert_eq!(n, payload.len() as u64);
    });
}

/// A Tokio client on its own thread and runtime; `greeted` makes it wait for the server's first
/// line before it writes.
fn tokio_client(
    path: std::path::PathBuf,
    payload: Vec<u8>,
    greeted: bool,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
            let io = async {
                let s = tokio::net::UnixStream::connect(&path).await?;
                let mut s = BufReader::new(s);
                let mut out = Vec::new();
                if greeted {
                    s.read_until(b'\n', &mut out).await?;
                }
                s.get_mut().write_all(&payload).await?;
                s.get_mut().shutdown().await?;
                s.read_to_end(&mut out).await?;
                std::io::Result::Ok(out)
            };
            tokio::time::timeout(Duration::from_secs(20), io)
                .await
                .expect("tokio client timed out")
                .expect("tokio client")
        })
    })
}

#[test]
fn tokio_unix_stream_client() {
    for greeted in [false, true] {
        support::current_thread().block_on(async {
            let path = SockPath::new("fb-tokio");
            let listener = RpalListener::bind(path.path()).unwrap();
            let greet: Option<&'static [u8]> = greeted.then_some(b"hi tokio\n");
            let server = serve_one(listener, greet);
            let payload = [&b"tokio says hello "[..], &pattern(300_000, 5)].concat();
            let client = tokio_client(path.path().to_path_buf(), payload.clone(), greeted);
            let (shm, n) = within("server", server).await.unwrap();
            let out = within(
                "tokio client thread",
                rpal_rt::spawn_blocking(move || client.join().unwrap()),
            )
            .await
            .unwrap();
            let want = if greeted {
                [&b"hi tokio\n"[..], &payload].concat()
            } else {
                payload.clone()
            };
            assert_eq!(out.len(), want.len(), "greeted={greeted}");
            assert!(out == want, "greeted={greeted}: tokio got a different echo");
            assert!(!shm, "greeted={greeted}");
            assert_eq!(n, payload.len() as u64);
        });
    }
}

/// Several plain clients at once, interleaved with RPAL clients, on one listener.
#[test]
fn plain_and_rpal_clients_mixed() {
    support::thread_per_core(2).block_on(async {
        let path = SockPath::new("fb-mixed");
        let listener = RpalListener::bind(path.path()).unwrap();
        rpal_rt::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                rpal_rt::spawn(support::echo(s));
            }
        });
        let mut plain = Vec::new();
        for i in 0..4u64 {
            plain.push((
                i,
                tokio_client(path.path().to_path_buf(), pattern(50_000, i + 100), false),
            ));
        }
        for i in 0..4u64 {
            let c = within("connect", RpalStream::connect(path.path()))
                .await
                .unwrap();
            assert!(c.is_shared_memory());
            let data = pattern(70_000, i + 200);
            let (mut r, mut w) = c.into_split();
            let d2 = data.clone();
            let wt = rpal_rt::spawn(async move {
                w.write_all(&d2).await.unwrap();
                w.close().await.unwrap();
            });
            let mut back = Vec::new();
            within("rpal echo", r.read_to_end(&mut back)).await.unwrap();
            within("writer", wt).await.unwrap();
            assert!(back == data);
        }
        for (i, t) in plain {
            let out = within(
                "tokio client",
                rpal_rt::spawn_blocking(move || t.join().unwrap()),
            )
            .await
            .unwrap();
            assert!(out == pattern(50_000, i + 100), "plain client {i}");
        }
    });
}

/// `shared_memory(false)` on the listener: an RPAL client still connects and works, over the
/// socket, and both ends say so.
#[test]
fn listener_without_shared_memory_gives_plain_stream_to_rpal_client() {
    for (flavor, rt) in support::each_flavor() {
        eprintln!("flavor {flavor}");
        rt.block_on(async {
            let path = SockPath::new("fb-noshm");
            let cfg = RpalConfig::default().shared_memory(false);
            let listener = RpalListener::bind_with(path.path(), cfg).unwrap();
            let server = serve_one(listener, None);
            let c = within("connect", RpalStream::connect(path.path()))
                .await
                .unwrap();
            assert!(!c.is_shared_memory(), "listener said no shared memory");
            let data = pattern(100_000, 6);
            let (mut r, mut w) = c.into_split();
            let d2 = data.clone();
            let wt = rpal_rt::spawn(async move {
                w.write_all(&d2).await.unwrap();
                w.close().await.unwrap();
            });
            let mut back = Vec::new();
            within("read echo", r.read_to_end(&mut back)).await.unwrap();
            within("writer", wt).await.unwrap();
            assert!(back == data);
            let (shm, n) = within("server", server).await.unwrap();
            assert!(!shm);
            assert_eq!(n, data.len() as u64);
        });
    }
}

/// `shared_memory(false)` on the client: it talks plainly to an RPAL listener, which falls back.
#[test]
fn client_without_shared_memory_gives_plain_stream() {
    support::current_thread().block_on(async {
        let path = SockPath::new("fb-client-noshm");
        let listener = RpalListener::bind(path.path()).unwrap();
        let server = serve_one(listener, None);
        let cfg = RpalConfig::default().shared_memory(false);
        let mut c = within("connect", RpalStream::connect_with(path.path(), &cfg))
            .await
            .unwrap();
        assert!(!c.is_shared_memory());
        c.write_all(b"plain hello").await.unwrap();
        c.close().await.unwrap();
        let mut back = Vec::new();
        within("read echo", c.read_to_end(&mut back)).await.unwrap();
        assert_eq!(back, b"plain hello");
        let (shm, n) = within("server", server).await.unwrap();
        assert!(!shm);
        assert_eq!(n, 11);
    });
}
