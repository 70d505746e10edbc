//! [`Child`]: a running child process, and how its exit is awaited.
//!
//! # Waiting
//! The standard library's `Child` stays the only reaper (its `try_wait` = `waitpid(WNOHANG)`
//! caches the status). To learn *when* to call it:
//! * **pidfd** (Linux 5.3+): `pidfd_open(pid)` becomes readable when the child exits; it is
//!   registered with the reactor of the worker that waits, on either driver.
//! * **fallback** (no pidfd, for example `ENOSYS` or a seccomp filter): a blocking-pool thread
//!   runs `waitid(WEXITED | WNOWAIT)`, which returns at exit without reaping.
//!
//! A dropped `Child` is not waited for (as in `std`): its process may stay a zombie until the
//! parent exits, unless `kill_on_drop` was set, in which case it is killed and reaped on the
//! blocking pool.

use std::future::poll_fn;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{ExitStatus, Output};

use futures::io::AsyncReadExt;

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use crate::io::{Interest, Registration};

/// A spawned child process, from [`Command::spawn`](super::Command::spawn).
///
/// # Examples
/// ```
/// use rpal_rt::process::Command;
///
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let mut child = Command::new("sh").arg("-c").arg("exit 7").spawn().unwrap();
///     assert!(child.id().is_some());
///     let status = child.wait().await.unwrap();
///     assert_eq!(status.code(), Some(7));
///     assert_eq!(child.id(), None); // reaped
/// });
/// ```
#[derive(Debug)]
pub struct Child {
    /// The child's stdin, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, if it was piped.
    pub stderr: Option<ChildStderr>,
    std: std::process::Child,
    /// The exit status once reaped.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
}

/// A pidfd and its registration.
///
/// # Invariant
/// `reg` is declared before `fd`, so it deregisters before the fd closes.
struct PidFd {
    reg: Registration,
    _fd: OwnedFd,
}

impl Child {
    pub(super) fn new(mut std: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let stdin = std.stdin.take().map(ChildStdin::from_std).transpose()?;
        let stdout = std.stdout.take().map(ChildStdout::from_std).transpose()?;
        let stderr = std.stderr.take().map(ChildStderr::from_std).transpose()?;
        Ok(Child {
            stdin,
            stdout,
            stderr,
            std,
            status: None,
            kill_on_drop,
        })
    }

    /// The process id, or `None` once the child has been reaped (the id may then belong to
    /// another process).
    pub fn id(&self) -> Option<u32> {
        match self.status {
            Some(_) => None,
            None => Some(self.std.id()),
        }
    }

    /// Reaps the child if it has exited, without waiting.
    ///
    /// # Errors
    /// As `waitpid(2)`.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let s = self.std.try_wait()?;
        self.status = s;
        Ok(s)
    }

    /// Waits for the child to exit and reaps it. Closes the child's stdin first (if piped), so
    /// a child reading it to the end cannot deadlock with us.
    ///
    /// Cancel safe: dropping the future leaves the child running and waitable.
    ///
    /// # Errors
    /// As `waitpid(2)`/`pidfd_open(2)`, or registering with the reactor failed.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        let pid = rustix::process::Pid::from_child(&self.std);
        match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK) {
            Ok(fd) => self.wait_pidfd(fd).await,
            // No pidfd (old kernel, seccomp): the blocking pool.
            Err(_) => self.wait_blocking().await,
        }
    }

    /// Waits for readability of the child's pidfd (`fd`) on the reactor, then reaps.
    async fn wait_pidfd(&mut self, fd: OwnedFd) -> io::Result<ExitStatus> {
        let pidfd = PidFd {
            reg: Registration::new(fd.as_raw_fd(), Interest::READABLE)?,
            _fd: fd,
        };
        poll_fn(|cx| {
            pidfd
                .reg
                .poll_io(cx, Interest::READABLE, || match self.try_wait()? {
                    Some(s) => Ok(s),
                    None => Err(io::ErrorKind::WouldBlock.into()),
                })
        })
        .await
    }

    /// Waits for the exit on the blocking pool with `waitid(WNOWAIT)` (which does not reap),
    /// then reaps through `std`.
    async fn wait_blocking(&mut self) -> io::Result<ExitStatus> {
        let raw = rustix::process::Pid::from_child(&self.std)
            .as_raw_nonzero()
            .get();
        let waited = crate::spawn_blocking(move || {
            let pid = rustix::process::Pid::from_raw(raw).ok_or(rustix::io::Errno::INVAL)?;
            let opts =
                rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
            loop {
                match rustix::process::waitid(rustix::process::WaitId::Pid(pid), opts) {
                    Err(rustix::io::Errno::INTR) => {}
                    other => return other.map(drop),
                }
            }
        })
        .await
        .map_err(|e| io::Error::other(format!("waiting for a child on the blocking pool: {e}")))?;
        waited?;
        match self.try_wait()? {
            Some(s) => Ok(s),
            None => Err(io::Error::other(
                "waitid reported the child's exit but waitpid did not find it",
            )),
        }
    }

    /// Sends `SIGKILL` without waiting (a child already reaped is left alone).
    ///
    /// # Errors
    /// As `kill(2)`.
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.try_wait()?.is_some() {
            return Ok(());
        }
        self.std.kill()
    }

    /// Sends `SIGKILL` and waits for the child to exit.
    ///
    /// # Errors
    /// As [`start_kill`](Self::start_kill) and [`wait`](Self::wait).
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Closes stdin, reads stdout and stderr to the end (those that are piped) while waiting
    /// for the exit, and returns all three.
    ///
    /// # Errors
    /// Reading a pipe or waiting failed.
    ///
    /// # Examples
    /// ```
    /// use rpal_rt::process::{Command, Stdio};
    ///
    /// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
    /// rt.block_on(async {
    ///     let child = Command::new("sh")
    ///         .args(["-c", "echo out; echo err >&2"])
    ///         .stdout(Stdio::piped())
    ///         .stderr(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let out = child.wait_with_output().await.unwrap();
    ///     assert_eq!(out.stdout, b"out\n");
    ///     assert_eq!(out.stderr, b"err\n");
    ///     assert!(out.status.success());
    /// });
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (mut out, mut err) = (self.stdout.take(), self.stderr.take());
        let read_out = async {
            let mut v = Vec::new();
            if let Some(p) = out.as_mut() {
                p.read_to_end(&mut v).await?;
            }
            io::Result::Ok(v)
        };
        let read_err = async {
            let mut v = Vec::new();
            if let Some(p) = err.as_mut() {
                p.read_to_end(&mut v).await?;
            }
            io::Result::Ok(v)
        };
        let (stdout, stderr) = futures::future::try_join(read_out, read_err).await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.kill_on_drop && matches!(self.try_wait(), Ok(None)) && self.std.kill().is_ok() {
            // Reap on the blocking pool when a runtime is around; otherwise leave it (as std).
            let pid = self.std.id();
            let reap = move || {
                let pid = rustix::process::Pid::from_raw(pid as i32);
                let _ = rustix::process::waitpid(pid, rustix::process::WaitOptions::empty());
            };
            if crate::runtime::Handle::try_current().is_ok() {
                drop(crate::spawn_blocking(reap));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Command;

    /// The fallback used where pidfds are unavailable: exit code and a kill, both seen.
    #[test]
    fn blocking_pool_fallback_waits_and_reaps() {
        let rt = crate::Runtime::new_current_thread().unwrap();
        rt.block_on(async {
            let mut c = Command::new("sh").args(["-c", "exit 4"]).spawn().unwrap();
            assert_eq!(c.wait_blocking().await.unwrap().code(), Some(4));
            assert_eq!(c.id(), None);
            let mut c = Command::new("sleep").arg("1000").spawn().unwrap();
            c.start_kill().unwrap();
            let st = c.wait_blocking().await.unwrap();
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&st),
                Some(libc::SIGKILL)
            );
        });
    }
}
