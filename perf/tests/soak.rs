//! `appc-load --mode soak` for a few seconds with a short sampling period:
//! the samples are taken and printed, the three measures are judged flat,
//! and the load's own checks hold. (The half-hour soak is run on demand;
//! the verdict's arithmetic, failing cases included, is unit-tested in
//! `perf/src/load/soak.rs`.)

mod support;

use support::run;

const APPC_LOAD: &str = env!("CARGO_BIN_EXE_appc-load");

#[test]
fn a_short_soak_samples_and_judges() {
    let out = run(
        APPC_LOAD,
        &[
            "--mode",
            "soak",
            "--duration",
            "3",
            "--sample-every",
            "0.2",
            "--sessions",
            "16",
        ],
    );
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let samples: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(" rss ") && l.contains(" fds ") && l.contains(" live tasks "))
        .collect();
    assert!(
        samples.len() >= 5,
        "{} samples in\n{}",
        samples.len(),
        out.stdout
    );
    for expected in [
        "appc-load --mode soak: the load for 3 s, sampled every 0.2 s",
        "== exactly once",
        "== soak: the last samples' level against the first ones'",
        "[ok  ] resident memory (VmRSS) flat",
        "[ok  ] open descriptors flat",
        "[ok  ] live tasks flat",
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
fn flags_the_soak_does_not_read_are_refused() {
    for args in [
        &["--mode", "soak", "--json"][..],
        &["--mode", "soak", "--partner", "127.0.0.1:1"],
        &["--mode", "soak", "--requests", "100"],
        &["--sample-every", "1"],
    ] {
        let out = run(APPC_LOAD, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
    }
}
