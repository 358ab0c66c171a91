//! The command line's unit tests: defaults, every flag in both spellings,
//! and what is a usage error (exit 2) and what is a failed run.

use super::*;
#[cfg(unix)]
use std::os::unix::ffi::OsStringExt;

fn run(args: &[&str]) -> Result<Config, clap::Error> {
    parse(std::iter::once("appc-load").chain(args.iter().copied()))
}

fn config(args: &[&str]) -> Config {
    run(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

fn kind(args: &[&str]) -> ErrorKind {
    run(args)
        .map(|c| panic!("{args:?} should be refused, got {c:?}"))
        .unwrap_err()
        .kind()
}

#[test]
fn defaults() {
    let c = config(&[]);
    assert_eq!(c, Config::default());
    assert_eq!((c.mode, c.sessions, c.size()), (Mode::Load, 256, 64));
    assert_eq!(c.duration(), Duration::from_secs(10));
    assert_eq!(c.load_cancel_fraction(), 0.01);
    assert_eq!(c.engine().cancel_fraction, 0.1);
    assert_eq!(c.engine().requests, 4_000_000);
    let soak = config(&["--mode", "soak"]);
    assert_eq!(soak.duration(), Duration::from_secs(1800));
    assert_eq!(soak.sample_every(), Duration::from_secs(10));
}

#[test]
fn every_flag_both_spellings() {
    let separate = [
        "--mode",
        "load",
        "--duration",
        "2.5",
        "--sessions",
        "8",
        "--size",
        "512",
        "--cancel-fraction",
        "0.5",
        "--backend",
        "epoll",
        "--peer",
        "tokio",
        "--partner",
        "localhost:7000",
        "--idle-poll",
        "--json",
        "--plot",
        "x.svg",
    ];
    let inline = [
        "--mode=load",
        "--duration=2.5s",
        "--sessions=8",
        "--size=512",
        "--cancel-fraction=0.5",
        "--backend=poll",
        "--peer=tokio",
        "--partner=localhost:7000",
        "--idle-poll",
        "--json",
        "--plot=x.svg",
    ];
    let a = config(&separate);
    assert_eq!(a.duration(), Duration::from_millis(2500));
    assert_eq!((a.sessions, a.size()), (8, 512));
    assert_eq!(
        (a.backend, a.peer, a.json, a.idle_poll),
        (Backend::Epoll, Peer::Tokio, true, true)
    );
    assert_eq!(a.partner, Some("localhost:7000".parse().unwrap()));
    assert_eq!(a.plot, Some(PathBuf::from("x.svg")));
    assert_eq!(config(&inline), a);
    assert_eq!(config(&["--no-plot"]).plot, None);

    let scale = config(&[
        "--mode=scale",
        "--outstanding=20_000",
        "--links",
        "4",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!((scale.outstanding, scale.links), (20_000, 4));
    let engine = config(&["--mode", "engine", "--requests", "1_000", "--threads", "3"]);
    assert_eq!(
        (engine.engine().requests, engine.engine().submitters),
        (1000, 3)
    );
    let soak = config(&[
        "--mode",
        "soak",
        "--duration",
        "30m",
        "--sample-every",
        "0.5",
    ]);
    assert_eq!(soak.duration(), Duration::from_secs(1800));
    assert_eq!(soak.sample_every(), Duration::from_millis(500));
}

#[test]
fn bandwidth_defaults_differ_only_where_the_mode_needs_it() {
    let c = config(&["--mode", "bandwidth"]);
    assert_eq!((c.size(), c.duration()), (65_535, Duration::from_secs(5)));
    let c = config(&["--mode=bandwidth", "--size", "40000", "--duration", "1"]);
    assert_eq!((c.size(), c.duration()), (40_000, Duration::from_secs(1)));
    assert_eq!(
        config(&["--size", "40000", "--mode", "bandwidth"]).size(),
        40_000
    );
}

#[test]
fn help_is_not_an_error_to_exit_2_on() {
    for args in [&["--requests", "5", "--help"][..], &["-h"]] {
        assert_eq!(kind(args), ErrorKind::DisplayHelp);
    }
}

#[test]
fn a_flag_given_twice_is_an_error() {
    assert_eq!(
        kind(&["--size", "10", "--size", "20"]),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(kind(&["--json", "--json"]), ErrorKind::ArgumentConflict);
}

#[test]
fn a_flag_the_mode_does_not_read_is_an_error() {
    for args in [
        &["--mode", "bandwidth", "--partner", "127.0.0.1:7000"][..],
        &["--mode", "bandwidth", "--peer", "tokio"],
        &["--mode", "bandwidth", "--requests", "10"],
        &["--mode", "engine", "--json"],
        &["--mode", "engine", "--duration", "1"],
        &["--mode", "partner", "--sessions", "4"],
        &["--mode", "scale", "--size", "100"],
        &["--sample-every", "1"],
        &["--threads", "3"],
        &["--links", "3"],
        &["--mode", "soak", "--peer", "none"],
    ] {
        let err = run(args).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict, "{args:?}");
        assert!(
            err.to_string().contains("does not apply to --mode"),
            "{err}"
        );
    }
    // Flags that exclude each other.
    assert_eq!(
        kind(&["--requests", "5", "--duration", "1"]),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(
        kind(&["--partner", "h:1", "--listen", "127.0.0.1:0"]),
        ErrorKind::ArgumentConflict
    );
    assert_eq!(
        kind(&["--plot", "x.svg", "--no-plot"]),
        ErrorKind::ArgumentConflict
    );
}

#[test]
fn size_states_the_range_of_the_mode() {
    let err = run(&["--size", "40000"]).unwrap_err().to_string();
    assert!(err.contains("outside 1..=32767"), "{err}");
    let err = run(&["--size", "70000", "--mode", "bandwidth"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside 9..=65535"), "{err}");
    assert_eq!(config(&["--size", "32767"]).size(), 32_767);
}

#[test]
fn bad_values_are_usage_errors_not_panics() {
    let too_many = (Engine::<Verb>::MAX_CAPACITY + 1).to_string();
    let bad: &[&[&str]] = &[
        &["--requests"],
        &["--requests", "0"],
        &["--requests", "-3"],
        &["--requests", "lots"],
        &["--requests", "99999999999999999999999"],
        &["--mode", "engine", "--threads", "0"],
        &["--mode", "engine", "--threads", "100000"],
        &["--cancel-fraction", "1.5"],
        &["--cancel-fraction", "NaN"],
        &["--cancel-fraction", "-0.1"],
        &["--mode", "scale", "--outstanding", &too_many],
        &["--sessions", "0"],
        &["--size", "65536", "--mode", "bandwidth"],
        &["--size", "8", "--mode", "bandwidth"],
        &["--duration", "0"],
        &["--duration", "forever"],
        &["--duration", "25h"],
        &["--mode", "fast"],
        &["--backend", "iocp-please"],
        &["--peer", "go"],
        &["--partner"],
        &["--partner", "nowhere"],
        &["--listen", "127.0.0.1:99999"],
        &["--json=yes"],
        &["--verbose"],
        &["extra"],
    ];
    for args in bad {
        run(args).expect_err(&format!("{args:?} should be rejected"));
    }
}

#[test]
fn a_host_that_does_not_resolve_is_not_a_usage_error() {
    let c = config(&["--partner", "no.such.host.invalid:1"]);
    let err = c.partner.unwrap().resolve().unwrap_err();
    assert!(
        err.starts_with("cannot resolve no.such.host.invalid:1"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn arguments_that_are_not_utf8_are_refused() {
    let not_utf8 = OsString::from_vec(vec![b'-', b'-', 0xff]);
    let value = OsString::from_vec(vec![0xfe, 0xff]);
    for args in [
        vec![OsString::from("appc-load"), not_utf8],
        vec!["appc-load".into(), "--mode".into(), value.clone()],
        vec!["appc-load".into(), "--partner".into(), value],
    ] {
        let err = parse(args.clone()).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{args:?}: {err}");
    }
}

#[test]
fn the_plot_directory_must_exist_unless_it_is_the_default() {
    let missing = Config {
        plot: Some(PathBuf::from("no-such-dir-here/x.svg")),
        ..Config::default()
    };
    let err = missing.plot_ready().unwrap_err();
    assert!(err.contains("no directory no-such-dir-here"), "{err}");
    assert!(!Path::new("no-such-dir-here").exists(), "not created");
    let here = Config {
        plot: Some(PathBuf::from("x.svg")),
        ..Config::default()
    };
    assert_eq!(here.plot_ready(), Ok(()));
}
