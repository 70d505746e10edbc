//! A second process for the multi-process tests: this test binary run again with a role in
//! its environment (the test named `entry` does nothing unless the role variable is set), its
//! stdout forwarded line by line so the parent can wait for what the child says, killed with
//! SIGKILL when dropped so a failing test leaves nothing behind.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// A child process of this test binary.
pub struct ChildProc {
    child: Option<Child>,
    lines: Receiver<String>,
    role: String,
}

impl ChildProc {
    /// Runs the test `entry` of this binary with `vars` set (one of them names the role).
    pub fn start(entry: &str, role: &str, vars: &[(&str, String)]) -> ChildProc {
        let exe = std::env::current_exe().expect("current_exe");
        let mut cmd = Command::new(exe);
        cmd.args([entry, "--exact", "--nocapture", "--test-threads=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start child process");
        let out = BufReader::new(child.stdout.take().expect("child stdout"));
        let (tx, rx) = std::sync::mpsc::channel();
        // Keep draining the child's stdout so it never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in out.lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        ChildProc {
            child: Some(child),
            lines: rx,
            role: role.to_owned(),
        }
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    /// Blocks (at most `limit`) until the child prints a line starting with `token`; returns
    /// the rest of that line.
    pub fn wait_line(&self, token: &str, limit: Duration) -> String {
        loop {
            match self.lines.recv_timeout(limit) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(token) {
                        return rest.trim().to_owned();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("child {}: no {token} line within {limit:?}", self.role)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("child {}: exited before printing {token}", self.role)
                }
            }
        }
    }

    /// SIGKILL and reap; asserts it died of the signal (it had not exited on its own).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("kill child");
            let status = c.wait().expect("reap child");
            assert!(
                !status.success(),
                "child {} should have died of SIGKILL: {status}",
                self.role
            );
        }
    }

    /// Waits for the child to exit on its own; asserts success.
    pub fn wait_success(&mut self) {
        if let Some(mut c) = self.child.take() {
            let status = c.wait().expect("reap child");
            assert!(status.success(), "child {} failed: {status}", self.role);
        }
    }
}

impl Drop for ChildProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
