//! Running the perf binaries as processes, for the process-level tests.
// Each test binary uses its part of this.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::fmt::Debug;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long a child may run before the test kills it and fails.
const LIMIT: Duration = Duration::from_secs(30);

/// A finished child.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program` with `args` to completion, killing it at [`LIMIT`].
pub fn run<A: AsRef<OsStr> + Debug>(program: &str, args: &[A]) -> Output {
    start(program, args).finish()
}

/// A child started by [`start`], its output piped.
pub struct Running {
    child: Child,
    what: String,
    deadline: Instant,
}

/// Starts `program` with `args`; [`Running::finish`] waits for it, at
/// most [`LIMIT`] from now.
pub fn start<A: AsRef<OsStr> + Debug>(program: &str, args: &[A]) -> Running {
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    Running {
        child,
        what: format!("{program} {args:?}"),
        deadline: Instant::now() + LIMIT,
    }
}

impl Running {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the child to exit (killing it and failing at the
    /// deadline) and returns what it printed.
    pub fn finish(mut self) -> Output {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > self.deadline {
                let _ = self.child.kill();
                panic!("{} still running after {LIMIT:?}", self.what);
            }
            thread::sleep(Duration::from_millis(10));
        };
        let (mut stdout, mut stderr) = (String::new(), String::new());
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!stderr.contains("panicked"), "{}: {stderr}", self.what);
        Output {
            status,
            stdout,
            stderr,
        }
    }
}
