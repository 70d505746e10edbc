//! Runs each Tokio port in `examples/ports/` (and, for comparison, its Tokio original) and
//! checks what it does: the pipeline's sum, the JoinSet's results and error counts, the echo
//! server's echo and idle timeout, the shutdown server's graceful exit on SIGTERM and SIGINT (Ctrl-C).
//!
//! Timeouts here only bound a hang (generous, for a loaded machine); nothing asserts a duration.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// Upper bound on any wait below (a hang, not a measurement).
const HANG: Duration = Duration::from_secs(30);

/// The example binary cargo built next to this test (`target/<profile>/examples/<name>`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let bin = profile_dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} not built (cargo builds examples for tests; or `cargo build --examples`)",
        bin.display()
    );
    bin
}

/// A running example: stdout lines arrive on a channel; killed and reaped on drop.
struct Proc {
    name: String,
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Proc {
    fn start(name: &str, args: &[&str]) -> Proc {
        let mut child = Command::new(example(name))
            .args(args)
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            name: name.to_owned(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line starting with `prefix`; returns the rest of it.
    fn expect_line(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + HANG;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(e) => panic!(
                    "{}: no line starting with {prefix:?} ({e}); saw {:?}",
                    self.name, self.seen
                ),
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child, which has not been reaped yet (we reap only in
        // `wait`/drop), so the pid cannot have been reused.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill: {}", std::io::Error::last_os_error());
    }

    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + HANG;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{}: did not exit", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(HANG)).expect("read timeout");
    s
}

fn echo_once(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write");
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).expect("read the echo");
    assert_eq!(back, msg);
}

/// The rpal port first, then the Tokio original.
fn both(name: &str) -> [String; 2] {
    [name.to_owned(), format!("tokio_{name}")]
}

#[test]
fn pipeline_sums_the_squares() {
    for bin in both("pipeline") {
        let out = Command::new(example(&bin))
            .arg("1000")
            .output()
            .expect("run pipeline");
        assert!(out.status.success(), "{bin}: {:?}", out.status);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // 1^2 + ... + 1000^2 = 1000 * 1001 * 2001 / 6
        assert!(
            stdout.contains("1000 squares, sum 333833500"),
            "{bin}: {stdout}"
        );
    }
}

#[test]
fn join_set_reports_results_panic_and_abort() {
    for bin in both("join_set") {
        let out = Command::new(example(&bin))
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("run join_set");
        assert!(out.status.success(), "{bin}: {:?}", out.status);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let list = stdout
            .lines()
            .find_map(|l| l.strip_prefix("finished in order: "))
            .unwrap_or_else(|| panic!("{bin}: {stdout}"));
        let mut got: Vec<u64> = list
            .trim_matches(|c| c == '[' || c == ']')
            .split(", ")
            .map(|v| v.parse().expect("a number"))
            .collect();
        // The order depends on timers on a possibly loaded machine; the set of results does not.
        got.sort();
        assert_eq!(got, [0, 1, 4, 9, 16, 25, 36, 49], "{bin}");
        assert!(
            stdout.contains("1 panicked, 1 cancelled"),
            "{bin}: {stdout}"
        );
    }
}

#[test]
fn echo_timeout_echoes_then_closes_idle_connections() {
    for bin in both("echo_timeout") {
        let mut server = Proc::start(&bin, &["127.0.0.1:0", "300"]);
        let addr = server.expect_line("listening on ");

        // A client that closes by itself.
        let mut polite = connect(&addr);
        echo_once(&mut polite, b"hello");
        drop(polite);
        let line = server.expect_line("127.0.0.1:");
        assert!(line.ends_with(": closed by the client"), "{bin}: {line}");

        // A client that goes quiet: the server closes the connection (EOF here).
        let mut idle = connect(&addr);
        echo_once(&mut idle, b"are you there?");
        let mut byte = [0u8; 1];
        let n = idle.read(&mut byte).expect("read until the server closes");
        assert_eq!(n, 0, "{bin}: expected EOF after the idle timeout");
        let line = server.expect_line("127.0.0.1:");
        assert!(
            line.ends_with(": idle for 300 ms, closing"),
            "{bin}: {line}"
        );
    }
}

#[test]
fn shutdown_on_sigterm_lets_the_open_connection_finish() {
    for bin in both("shutdown") {
        let mut server = Proc::start(&bin, &["127.0.0.1:0"]);
        let addr = server.expect_line("listening on ");
        let mut client = connect(&addr);
        echo_once(&mut client, b"before the signal");

        server.signal(libc::SIGTERM);
        server.expect_line("SIGTERM received");
        let open = server.expect_line("shutting down: ");
        assert_eq!(open, "1 connection(s) open", "{bin}");
        // The open connection is still served during the grace period.
        echo_once(&mut client, b"after the signal");
        drop(client);

        server.expect_line("goodbye");
        let status = server.wait();
        assert_eq!(status.code(), Some(0), "{bin}: {status:?}");
    }
}

#[test]
fn shutdown_on_ctrl_c() {
    for bin in both("shutdown") {
        let mut server = Proc::start(&bin, &["127.0.0.1:0"]);
        let addr = server.expect_line("listening on ");
        // The example listens for SIGINT before it prints its address, so the signal can come
        // at once; a client stays open across it to check the "open connections" count.
        let mut client = connect(&addr);
        echo_once(&mut client, b"ping");

        server.signal(libc::SIGINT);
        server.expect_line("Ctrl-C received");
        let open = server.expect_line("shutting down: ");
        assert_eq!(open, "1 connection(s) open", "{bin}");
        drop(client);
        server.expect_line("goodbye");
        let status = server.wait();
        assert_eq!(status.code(), Some(0), "{bin}: {status:?}");
    }
}
