//! Child processes that cannot outlive the test, free loopback ports and bounded waits.

use std::future::Future;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{HarnessError, Result};

/// A child process started in its own process group; dropping the guard kills the whole group
/// (chromedriver and the Chromium processes it started), then reaps the child.
#[derive(Debug)]
pub struct ChildGuard {
    program: String,
    child: Child,
    /// Set once the child's exit was collected here: its pid (and group id) may then be reused, so
    /// the group is not signalled any more.
    reaped: bool,
}

impl ChildGuard {
    /// Starts `command` in a new process group (stdin as the command sets it; the default inherits).
    pub fn spawn(mut command: Command) -> Result<ChildGuard> {
        let program = command.get_program().to_string_lossy().into_owned();
        command.process_group(0);
        let child = command.spawn().map_err(|source| HarnessError::Spawn {
            program: program.clone(),
            source,
        })?;
        Ok(ChildGuard {
            program,
            child,
            reaped: false,
        })
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the child is still running (false once it has exited).
    pub fn is_running(&mut self) -> bool {
        match self.child.try_wait() {
            Ok(None) => true,
            Ok(Some(_)) => {
                self.reaped = true;
                false
            }
            Err(_) => false,
        }
    }

    pub fn program(&self) -> &str {
        &self.program
    }

    /// The child's stdin, if it was piped and not taken yet.
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// Waits for the child to exit, at most `timeout`; returns whether it exited successfully.
    pub fn wait_bounded(&mut self, timeout: Duration) -> Result<bool> {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    self.reaped = true;
                    return Ok(status.success());
                }
                Ok(None) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    return Err(HarnessError::Timeout {
                        what: format!("{} to exit", self.program),
                        after: timeout,
                    })
                }
                Err(source) => {
                    return Err(HarnessError::Io {
                        path: self.program.clone().into(),
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        // The group id is the child's pid (process_group(0)); `kill -KILL -- -PGID` ends every
        // process in it, including grandchildren that the child did not wait for.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback TCP port that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| HarnessError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| HarnessError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?
        .port();
    Ok(port)
}

/// Polls `probe` every `every` until it yields a value, for at most `timeout`. Errors from the probe
/// end the wait at once.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut probe: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await? {
            return Ok(v);
        }
        if start.elapsed() >= timeout {
            return Err(HarnessError::Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(every).await;
    }
}
