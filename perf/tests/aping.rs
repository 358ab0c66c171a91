//! `aping` and `apingd` run as a user runs them: separate processes on
//! loopback, `--local`, one-way mode, and the ways a command line or a
//! partner can be wrong. Every child runs under a deadline, so a hang
//! fails the test instead of stalling it.

mod support;

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};
use support::{run, Daemon, Output};

const APING: &str = env!("CARGO_BIN_EXE_aping");
const APINGD: &str = env!("CARGO_BIN_EXE_apingd");

/// An `apingd` process on a loopback port it picked; killed on drop.
struct Apingd {
    daemon: Daemon,
    addr: SocketAddr,
}

impl Apingd {
    fn start(backend: &str) -> Self {
        let mut daemon = Daemon::spawn(APINGD, &["--listen", "127.0.0.1:0", "--backend", backend]);
        let first = daemon.next_line();
        // "apingd: LU APINGSRV serving TP APINGD on 127.0.0.1:PORT (epoll)"
        let words: Vec<&str> = first.split_whitespace().collect();
        assert_eq!(
            words[..6],
            ["apingd:", "LU", "APINGSRV", "serving", "TP", "APINGD"]
        );
        let addr = words[7].parse().expect(&first);
        Self { daemon, addr }
    }

    fn addr(&self) -> String {
        self.addr.to_string()
    }
}

/// The report's table: (bytes, has rates) per iteration row, then the totals.
fn table(stdout: &str) -> (Vec<u64>, u64) {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in stdout.lines() {
        if line.trim_start().starts_with("--------") {
            in_table = true;
        } else if let Some(totals) = line.strip_prefix("Totals:") {
            let columns: Vec<&str> = totals.split_whitespace().collect();
            assert_eq!(columns.len(), 4, "{line}");
            return (rows, columns[1].parse().unwrap());
        } else if in_table {
            let columns: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(
                columns.len(),
                4,
                "a row with duration, bytes and two rates: {line}"
            );
            let duration: f64 = columns[0].parse().unwrap();
            assert!(duration > 0.0, "{line}");
            rows.push(columns[1].parse().unwrap());
        }
    }
    panic!("no totals in:\n{stdout}")
}

fn assert_report(out: &Output, iterations: usize, bytes_per_row: u64) {
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    for expected in [
        "APING version 2.40",
        "Allocate duration: ",
        "Connected to a partner running on: linux (appc TcpNode)",
        "Program startup and Confirm duration: ",
        "        Duration        Data Sent        Data Rate        Data Rate",
        "Duration statistics:  Min = ",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
    let (rows, total) = table(&out.stdout);
    assert_eq!(rows, vec![bytes_per_row; iterations], "{}", out.stdout);
    assert_eq!(total, bytes_per_row * iterations as u64);
}

#[test]
fn echo_against_a_separate_apingd() {
    let mut apingd = Apingd::start("epoll");
    let addr = apingd.addr();
    let out = run(
        APING,
        &[
            "--partner",
            &addr,
            "-s",
            "1000",
            "-i",
            "4",
            "-c",
            "3",
            "--backend",
            "epoll",
        ],
    );
    // 3 blocks of 1000 bytes each way.
    assert_report(&out, 4, 6000);
    let contact = apingd.daemon.next_line();
    assert!(
        contact.starts_with("apingd: contacted by partner LU APING: APING 2.40 on linux"),
        "{contact}"
    );
    // One-way: the daemon confirms, nothing comes back.
    let out = run(APING, &["--partner", &addr, "-1", "-s", "32763", "-i", "2"]);
    assert_report(&out, 2, 32763);
    // The daemon served both and still serves.
    let out = run(APING, &["--partner", &addr, "-i", "1"]);
    assert_report(&out, 1, 200);
}

#[test]
fn local_needs_no_other_setup() {
    let out = run(APING, &["--local", "-s", "64", "-i", "3"]);
    assert_report(&out, 3, 128);
}

#[test]
fn bad_flags_exit_2_with_the_reason() {
    for (program, args) in [
        (APING, &["--bogus"][..]),
        (APING, &["-s", "0"]),
        (APING, &["-s", "32764"]),
        (APING, &["-i", "many"]),
        (APING, &["--partner"]),
        (APING, &["--partner", "nohost"]),
        (APING, &["--backend", "kqueue"]),
        (APING, &["--local", "--partner", "127.0.0.1:1"]),
        (APING, &["-s", "10", "-s", "20"]),
        (APING, &["--lu", "NETWORK12.APINGSRV"]),
        (APINGD, &["--listen", "127.0.0.1"]),
        (APINGD, &["-s", "100"]),
    ] {
        let out = run(program, args);
        assert_usage_error(&out, args);
    }
    let help = run(APING, &["--help"]);
    assert!(help.status.success() && help.stdout.contains("Usage: aping"));
}

/// Exit 2, `error: ` and the reason on stderr, with the pointer to
/// `--help`; nothing on stdout.
fn assert_usage_error<A: std::fmt::Debug>(out: &Output, args: A) {
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
    assert!(
        out.stderr.starts_with("error: "),
        "{args:?}: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("try '--help'"),
        "{args:?}: {}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn arguments_that_are_not_utf8_are_usage_errors() {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;
    for (program, args) in [
        (APING, vec![OsString::from_vec(vec![b'-', b'-', 0xff])]),
        (APING, vec!["--lu".into(), OsString::from_vec(vec![0xfe])]),
        (
            APINGD,
            vec!["--listen".into(), OsString::from_vec(vec![0xff])],
        ),
    ] {
        let out = run(program, &args);
        assert_usage_error(&out, &args);
    }
}

#[test]
fn host_names_and_qualified_lu_names_are_taken() {
    // apingd listens on a host name; aping reaches it by one, naming the
    // daemon's LU network-qualified.
    let mut daemon = Daemon::spawn(
        APINGD,
        &["--listen", "localhost:0", "--lu", "NETA.APINGSRV"],
    );
    let first = daemon.next_line();
    let words: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(words[..3], ["apingd:", "LU", "NETA.APINGSRV"], "{first}");
    let addr: SocketAddr = words[7].parse().expect(&first);
    let partner = format!("localhost:{}", addr.port());
    let out = run(
        APING,
        &["--partner", &partner, "--lu", "neta.apingsrv", "-i", "1"],
    );
    drop(daemon);
    assert_report(&out, 1, 200);
}

#[test]
fn a_host_that_does_not_resolve_is_a_failed_run() {
    let out = run(APING, &["--partner", "no.such.host.invalid:6200"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("aping: cannot resolve no.such.host.invalid:6200"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_refused_connection_is_an_allocation_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Nothing listens on `port` any more.
    let started = Instant::now();
    let out = run(APING, &["--partner", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    let last = out.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("aping: no conversation with APINGD at LU APINGSRV")
            && last.contains("AP_ALLOCATION_ERROR"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < Duration::from_secs(10), "fails at once");
}

#[test]
fn a_silent_partner_times_out() {
    // Accepts TCP connections (the kernel does, from the backlog) but
    // never answers the BIND.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let out = run(APING, &["--partner", &addr, "--timeout", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("no answer from the partner within 1 s; cancelled"),
        "{}",
        out.stderr
    );
}
