//! Running the perf binaries as processes, for the process-level tests.
//!
//! A child's stdout and stderr are read by threads of their own while it
//! runs, so a child that writes more than a pipe holds (64 KiB on Linux)
//! never blocks on a full pipe. A child still running at [`LIMIT`] is
//! killed and reaped before the test fails, so nothing it holds outlives
//! the test.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a child may run (or a daemon take to print its next line)
/// before the test kills it and fails.
pub const LIMIT: Duration = Duration::from_secs(30);

/// A finished child.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Reads `pipe` to its end on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).expect("child output");
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Kills `child` and waits for it, so that it holds nothing after this.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `program` with `args` to completion, killing it at [`LIMIT`].
pub fn run<A: AsRef<OsStr> + Debug>(program: &str, args: &[A]) -> Output {
    run_within(LIMIT, program, args)
}

/// Runs `program` with `args` to completion, killing it at `limit`.
pub fn run_within<A: AsRef<OsStr> + Debug>(limit: Duration, program: &str, args: &[A]) -> Output {
    start_within(limit, program, args).finish()
}

/// A child started by [`start`], its output read as it comes.
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    what: String,
    limit: Duration,
    deadline: Instant,
}

/// Starts `program` with `args`; [`Running::finish`] waits for it, at
/// most [`LIMIT`] from now.
pub fn start<A: AsRef<OsStr> + Debug>(program: &str, args: &[A]) -> Running {
    start_within(LIMIT, program, args)
}

fn start_within<A: AsRef<OsStr> + Debug>(limit: Duration, program: &str, args: &[A]) -> Running {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    Running {
        child,
        stdout: Some(stdout),
        stderr: Some(stderr),
        what: format!("{program} {args:?}"),
        limit,
        deadline: Instant::now() + limit,
    }
}

impl Running {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit (killing and reaping it, and failing,
    /// at the deadline) and returns what it printed.
    pub fn finish(mut self) -> Output {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > self.deadline {
                kill(&mut self.child);
                let stderr = self
                    .stderr
                    .take()
                    .map(|s| s.join().unwrap_or_default())
                    .unwrap_or_default();
                panic!(
                    "{} still running after {:?}; killed\n{stderr}",
                    self.what, self.limit
                );
            }
            thread::sleep(Duration::from_millis(10));
        };
        let join = |h: Option<JoinHandle<String>>| {
            h.map(|h| h.join().expect("reader")).unwrap_or_default()
        };
        let stdout = join(self.stdout.take());
        let stderr = join(self.stderr.take());
        assert!(!stderr.contains("panicked"), "{}: {stderr}", self.what);
        Output {
            status,
            stdout,
            stderr,
        }
    }
}

/// A long-running child (a daemon) whose stdout is read line by line as it
/// comes; killed and reaped on drop.
pub struct Daemon {
    child: Child,
    lines: Receiver<String>,
    name: String,
}

impl Daemon {
    /// Starts `program` with `args`, its stdout piped.
    pub fn spawn(program: &str, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let (tx, lines) = channel();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        thread::spawn(move || loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            }
        });
        Self {
            child,
            lines,
            name: program.to_owned(),
        }
    }

    /// The next line the child prints; fails the test (killing the child)
    /// if it exits first or prints nothing for [`LIMIT`].
    pub fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(LIMIT) {
            Ok(line) => line,
            Err(RecvTimeoutError::Disconnected) => {
                kill(&mut self.child);
                panic!("{} exited", self.name)
            }
            Err(RecvTimeoutError::Timeout) => {
                kill(&mut self.child);
                panic!("{} printed nothing for {LIMIT:?}; killed", self.name)
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}
