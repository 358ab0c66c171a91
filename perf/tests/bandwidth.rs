//! `appc-load --mode bandwidth` run as a user runs it: a short run passes
//! and prints both bandwidths, their ratio and the target line, as text and
//! as JSON; flags that do not go with the mode exit 2 with the reason.

mod support;

use support::run;

const APPC_LOAD: &str = env!("CARGO_BIN_EXE_appc-load");

#[test]
fn a_short_run_reports_both_streams_and_passes() {
    let out = run(
        APPC_LOAD,
        &[
            "--mode",
            "bandwidth",
            "--duration",
            "0.3",
            "--size",
            "16384",
        ],
    );
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let figure = |name: &str| -> f64 {
        let line = out
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("  {name} ")))
            .unwrap_or_else(|| panic!("no {name} line in\n{}", out.stdout));
        line[name.len() + 2..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no figure in {line:?}"))
    };
    assert!(figure("appc") > 0.0 && figure("raw TCP") > 0.0);
    assert!(figure("ratio") > 0.0);
    for expected in [
        "run: backend ",
        "16,384 B records",
        "target    appc >= 90% of raw TCP: ",
        "[ok  ] every record arrived at the sink once and in order",
        "verdict: PASS",
    ] {
        assert!(
            out.stdout.contains(expected),
            "{expected:?} in\n{}",
            out.stdout
        );
    }
}

#[test]
fn json_has_the_figures() {
    let out = run(
        APPC_LOAD,
        &[
            "--mode",
            "bandwidth",
            "--duration",
            "0.2",
            "--backend",
            "epoll",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let json = out.stdout.trim();
    for expected in [
        "{\"mode\":\"bandwidth\",",
        "\"backend\":\"epoll\"",
        "\"size\":65535,",
        "\"appc\":{\"records\":",
        "\"tcp\":{\"records\":",
        "\"ratio\":",
        "\"target_met\":",
        "\"all_checks_passed\":true}",
    ] {
        assert!(json.contains(expected), "{expected:?} in {json}");
    }
}

#[test]
fn flags_that_do_not_go_with_the_mode_exit_2() {
    for args in [
        &["--mode", "bandwidth", "--peer", "tokio"][..],
        &["--mode", "bandwidth", "--partner", "127.0.0.1:1"],
        &["--mode", "bandwidth", "--size", "65536"],
        &["--size", "65535"],
    ] {
        let out = run(APPC_LOAD, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
        assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
        assert!(out.stderr.contains("try '--help'"), "{}", out.stderr);
        assert!(out.stdout.is_empty());
    }
    let help = run(APPC_LOAD, &["--help"]);
    assert!(help.status.success() && help.stdout.contains("bandwidth: One conversation"));
}
