//! rpal_rt::process under both drivers (CI sets RPAL_DRIVER) and both flavours: echo through a
//! piped stdout, cat with piped stdin, exit codes and signals, kill, output(), env and
//! current_dir, missing programs, and many children waited on concurrently.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use rpal_rt::process::{Command, Stdio};
use support::each_flavor;

/// Generous bound so a hang fails instead of blocking CI.
const LIMIT: Duration = Duration::from_secs(30);

async fn within<F: std::future::Future>(what: &str, f: F) -> F::Output {
    rpal_rt::time::timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: still pending after {LIMIT:?}"))
}

#[test]
fn echo_through_piped_stdout() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut child = Command::new("echo")
                .arg("hello")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut out = String::new();
            let mut stdout = child.stdout.take().unwrap();
            within(name, stdout.read_to_string(&mut out)).await.unwrap();
            assert_eq!(out, "hello\n", "{name}");
            assert!(within(name, child.wait()).await.unwrap().success());
        });
    }
}

/// More than a pipe's capacity each way: the writer and the reader both have to wait for the
/// reactor, concurrently.
#[test]
fn cat_with_piped_stdin_large() {
    const LEN: usize = 1 << 20;
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut child = Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let data: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
            let write = async {
                stdin.write_all(&data).await.unwrap();
                drop(stdin);
            };
            let read = async {
                let mut back = Vec::new();
                stdout.read_to_end(&mut back).await.unwrap();
                back
            };
            let ((), back) = within(name, futures::future::join(write, read)).await;
            assert!(back == data, "{name}: cat changed the bytes");
            assert!(child.wait().await.unwrap().success());
        });
    }
}

#[test]
fn exit_codes_and_status() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            for code in [0, 1, 3, 255] {
                let st = within(
                    name,
                    Command::new("sh")
                        .arg("-c")
                        .arg(format!("exit {code}"))
                        .status(),
                )
                .await
                .unwrap();
                assert_eq!(st.code(), Some(code), "{name}");
            }
            let mut c = Command::new("true").spawn().unwrap();
            let st = within(name, c.wait()).await.unwrap();
            // A second wait returns the cached status.
            assert_eq!(c.wait().await.unwrap(), st);
            assert_eq!(c.try_wait().unwrap(), Some(st));
            assert_eq!(c.id(), None);
        });
    }
}

#[test]
fn kill_a_sleeping_child() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
            assert!(child.id().is_some());
            assert_eq!(child.try_wait().unwrap(), None);
            within(name, child.kill()).await.unwrap();
            let st = child.wait().await.unwrap();
            assert_eq!(st.signal(), Some(libc::SIGKILL), "{name}");
            // Killing a reaped child is a no-op.
            child.start_kill().unwrap();
        });
    }
}

/// A wait that is already parked in the reactor is woken by the exit.
#[test]
fn wait_parks_until_exit() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut child = Command::new("sleep").arg("0.2").spawn().unwrap();
            let st = within(name, child.wait()).await.unwrap();
            assert!(st.success(), "{name}");
        });
    }
}

#[test]
fn output_env_and_current_dir() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let dir = std::env::temp_dir();
            let out = within(
                name,
                Command::new("sh")
                    .args(["-c", "echo \"$RPAL_X\"; pwd; echo oops >&2; exit 2"])
                    .env("RPAL_X", "x-value")
                    .current_dir(&dir)
                    .output(),
            )
            .await
            .unwrap();
            let stdout = String::from_utf8(out.stdout).unwrap();
            let mut lines = stdout.lines();
            assert_eq!(lines.next(), Some("x-value"));
            assert_eq!(
                std::fs::canonicalize(lines.next().unwrap()).unwrap(),
                std::fs::canonicalize(&dir).unwrap()
            );
            assert_eq!(out.stderr, b"oops\n");
            assert_eq!(out.status.code(), Some(2), "{name}");
            // output() gives the child a null stdin: `cat` ends at once.
            let out = within(name, Command::new("cat").output()).await.unwrap();
            assert!(out.status.success() && out.stdout.is_empty());
        });
    }
}

#[test]
fn missing_program_is_not_found() {
    let rt = support::current_thread();
    rt.block_on(async {
        let err = Command::new("/nonexistent/rpal-no-such-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}

#[test]
fn many_children_waited_concurrently() {
    for (name, rt) in each_flavor() {
        rt.block_on(async {
            let mut tasks = Vec::new();
            for i in 0..20 {
                tasks.push(rpal_rt::spawn(async move {
                    let st = Command::new("sh")
                        .arg("-c")
                        .arg(format!("exit {}", i % 5))
                        .status()
                        .await
                        .unwrap();
                    (i, st.code())
                }));
            }
            for t in tasks {
                let (i, code) = within(name, t).await.unwrap();
                assert_eq!(code, Some(i % 5), "{name}");
            }
        });
    }
}

#[test]
fn kill_on_drop_kills() {
    let rt = support::current_thread();
    rt.block_on(async {
        let child = Command::new("sleep")
            .arg("1000")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap() as i32;
        drop(child);
        // The process is killed and reaped on the blocking pool; wait (bounded) until the pid
        // no longer names our child.
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            // SAFETY: signal 0 only checks whether the pid exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            if !alive {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} survived drop"
            );
            rpal_rt::time::sleep(Duration::from_millis(5)).await;
        }
    });
}
