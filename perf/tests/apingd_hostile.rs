//! `apingd` as a gateway runs it, against what a hostile network sends:
//! its node must keep serving whatever happens to its stderr, and its
//! clients' conversations must end cleanly, however soon a client exits
//! after its last verb.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;
use support::run;

const APING: &str = env!("CARGO_BIN_EXE_aping");
const APINGD: &str = env!("CARGO_BIN_EXE_apingd");

/// An `apingd` on a loopback port it picked, its stderr piped to us (the
/// test decides what becomes of it); killed on drop.
struct Daemon {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl Daemon {
    fn start() -> Self {
        let mut child = Command::new(APINGD)
            .args(["--listen", "127.0.0.1:0", "--backend", "epoll"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn apingd");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // "apingd: LU APINGSRV serving TP APINGD on 127.0.0.1:PORT (epoll)"
        let addr = first.split_whitespace().nth(7).expect(&first);
        let addr = addr.parse().expect(&first);
        Self {
            child,
            stdout,
            addr,
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `frames` copies of the 13-byte frame `00 00 00 09` + nine zero
/// bytes (a PIU whose TH does not decode, for no session) and waits, up to
/// 10 s, for the node to close the link.
fn garbage(addr: SocketAddr, frames: usize) -> bool {
    let mut peer = TcpStream::connect(addr).unwrap();
    let mut frame = vec![0, 0, 0, 9];
    frame.extend([0; 9]);
    for _ in 0..frames {
        if peer.write_all(&frame).is_err() {
            break;
        }
    }
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    match peer.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// With its stderr closed (a broken pipe: a library that wrote to it
/// panicked on the first bad frame and its node stopped accepting), the
/// daemon drops the garbage, closes the link that sent it, and a
/// well-behaved client still gets its echo.
#[test]
fn a_daemon_with_stderr_closed_keeps_serving_after_garbage() {
    let mut daemon = Daemon::start();
    drop(daemon.child.stderr.take());
    assert!(
        garbage(daemon.addr, 100),
        "the link that sent garbage is closed"
    );
    let out = run(APING, &["--partner", &daemon.addr.to_string(), "-i", "2"]);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("Totals:"), "{}", out.stdout);
    let mut contact = String::new();
    daemon.stdout.read_line(&mut contact).unwrap();
    assert!(contact.starts_with("apingd: contacted by"), "{contact}");
    assert!(daemon.child.try_wait().unwrap().is_none(), "apingd runs on");
}

/// `aping` exits right after its DEALLOCATE: its node must still get it
/// (and the response it needs) onto the wire before closing. Twenty runs
/// in a row, and the daemon logs no failed conversation (it said
/// `AP_CONV_FAILURE_RETRY` for about half of them when the node closed
/// the link at once).
#[test]
fn twenty_apings_each_end_with_a_clean_deallocation() {
    let mut daemon = Daemon::start();
    let mut stderr = daemon.child.stderr.take().unwrap();
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let addr = daemon.addr.to_string();
    // The 21st run closes the 20th before the daemon is stopped.
    for run in 0..21 {
        let out = support::run(APING, &["--partner", &addr, "-i", "1", "-s", "100"]);
        assert!(
            out.status.success(),
            "run {run}: {}\n{}",
            out.stdout,
            out.stderr
        );
    }
    let mut contacts = 0;
    for _ in 0..21 {
        let mut line = String::new();
        daemon.stdout.read_line(&mut line).unwrap();
        contacts += usize::from(line.starts_with("apingd: contacted by"));
    }
    assert_eq!(contacts, 21);
    let _ = daemon.child.kill();
    let _ = daemon.child.wait();
    let log = log.join().unwrap();
    assert!(
        !log.contains("conversation with"),
        "the daemon saw conversations fail:\n{log}"
    );
}
