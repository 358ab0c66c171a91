//! A partner lost during a load: `appc-load --partner` against an
//! `appc-load --mode partner` process that is killed (`SIGKILL`) while
//! requests flow. The client must still print its report, count the
//! conversations that failed, name the real cause (the partner's sessions
//! went down with its link, and no new one could be set up), and exit 1;
//! not stop with a bare ALLOCATE error.
#![cfg(target_os = "linux")]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::start;

const APPC_LOAD: &str = env!("CARGO_BIN_EXE_appc-load");

/// The partner process, killed on drop.
struct PartnerProcess(Child);

impl Drop for PartnerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// CPU time a process has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses;
    // utime and stime are the 14th and 15th fields of the line.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

#[test]
fn a_killed_partner_still_gets_a_report_with_the_real_cause() {
    let mut partner = Command::new(APPC_LOAD)
        .args(["--mode", "partner", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the partner");
    let mut first = String::new();
    BufReader::new(partner.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // "partner LU APPCECHO (TP ECHO) listening on 127.0.0.1:PORT (backend); ..."
    let addr = first
        .split_once(" listening on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    let partner = PartnerProcess(partner);
    let pid = partner.0.id();
    let idle = cpu_ticks(pid);

    let client = start(
        APPC_LOAD,
        &[
            "--partner",
            &addr,
            "--duration",
            "25",
            "--sessions",
            "16",
            "--no-plot",
        ],
    );
    // Requests flow once the partner spends CPU echoing them (a gauge, not
    // a guess at how long that takes); then the partner dies.
    let deadline = Instant::now() + Duration::from_secs(20);
    while cpu_ticks(pid) < idle + 10 {
        assert!(Instant::now() < deadline, "the partner never served");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(partner);
    let killed = Instant::now();

    let out = client.finish();
    assert_eq!(out.status.code(), Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(
        killed.elapsed() < Duration::from_secs(15),
        "the client stops soon after its partner is lost, not at --duration"
    );
    for expected in [
        "== exactly once",
        "[ok  ] every accepted handle completed exactly once",
        "[FAIL] no conversation failed other than by its cancel: partner LU APPCECHO was lost: ",
        "failed with AP_CONV_FAILURE_RETRY (their sessions went down)",
        "verdict: FAIL",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
    let counted = out
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("conversations "))
        .and_then(|l| l.split(" failed other than by cancel").next())
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.replace(',', "").parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no failure count in\n{}", out.stdout));
    assert!(counted > 0, "{}", out.stdout);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("appc-load: error: partner LU APPCECHO was lost"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("ALLOCATE to partner LU"),
        "{}",
        out.stderr
    );
}
