//! Child processes with Tokio's API shape: [`Command`] (a wrapper of
//! [`std::process::Command`] whose `spawn`, `status` and `output` fit async code), [`Child`]
//! (`wait().await`, `kill().await`, `id()`), and its piped standard streams [`ChildStdin`]
//! (`futures_io::AsyncWrite`), [`ChildStdout`] and [`ChildStderr`] (`futures_io::AsyncRead`).
//!
//! Spawning (fork/exec) runs inline like in Tokio; waiting uses a pidfd registered with the
//! worker's reactor, or the blocking pool where pidfds are unavailable (see `child.rs`).
//!
//! # Examples
//! ```
//! use futures::{AsyncReadExt, AsyncWriteExt};
//! use rpal_rt::process::{Command, Stdio};
//!
//! let rt = rpal_rt::Runtime::new_current_thread().unwrap();
//! rt.block_on(async {
//!     let mut child = Command::new("cat")
//!         .stdin(Stdio::piped())
//!         .stdout(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let mut stdin = child.stdin.take().unwrap();
//!     stdin.write_all(b"through cat").await.unwrap();
//!     drop(stdin); // EOF for cat
//!     let mut out = String::new();
//!     child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
//!     assert_eq!(out, "through cat");
//!     assert!(child.wait().await.unwrap().success());
//! });
//! ```

mod child;
mod pipe;

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output};

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::Stdio;

/// A process builder: [`std::process::Command`] plus async `status`/`output` and
/// [`kill_on_drop`](Command::kill_on_drop).
///
/// # Examples
/// ```
/// let rt = rpal_rt::Runtime::new_current_thread().unwrap();
/// rt.block_on(async {
///     let out = rpal_rt::process::Command::new("sh")
///         .arg("-c")
///         .arg("echo $GREETING")
///         .env("GREETING", "hi")
///         .output()
///         .await
///         .unwrap();
///     assert_eq!(out.stdout, b"hi\n");
/// });
/// ```
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Whether `stdin` was configured (else `output` makes it null, as `std` does).
    stdin_set: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no slash).
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// Configures the child's stdin (`Stdio::piped()` gives [`Child::stdin`]).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Configures the child's stdout (`Stdio::piped()` gives [`Child::stdout`]).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// Configures the child's stderr (`Stdio::piped()` gives [`Child::stderr`]).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Whether dropping the [`Child`] before it was reaped kills it (default: no).
    pub fn kill_on_drop(&mut self, on: bool) -> &mut Command {
        self.kill_on_drop = on;
        self
    }

    /// The standard-library command, for settings this wrapper does not forward
    /// (`uid`, `process_group`, `pre_exec`, ...).
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// The standard-library command.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// Starts the child. Stdio defaults to inherited.
    ///
    /// # Errors
    /// As [`std::process::Command::spawn`] (`NotFound` for a missing program), or making a pipe
    /// non-blocking failed.
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::new(self.std.spawn()?, self.kill_on_drop)
    }

    /// Runs the child to completion and returns its exit status.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait().await
    }

    /// Runs the child with stdout and stderr piped (and stdin null unless configured),
    /// collecting both. Like Tokio's, this leaves stdout and stderr of this `Command` piped.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait_with_output`].
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        self.std.stdout(Stdio::piped());
        self.std.stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
        }
    }
}
