//! The process helpers the other tests stand on (`support`): a child that
//! writes more than a pipe holds runs to its end with every byte read, and
//! one that outlives its limit is killed and fails the test.

mod support;

use std::panic::catch_unwind;
use std::time::Duration;
use support::{run, run_within};

#[test]
fn output_beyond_a_pipe_is_read_while_the_child_runs() {
    // 1 MiB on each stream, far past the 64 KiB a pipe holds: a reader
    // that waited for the exit would leave the child blocked on the pipe.
    let script =
        "head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2";
    let out = run("sh", &["-c", script]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 1 << 20);
    assert_eq!(out.stderr.len(), 1 << 20);
    assert!(out.stdout.bytes().all(|b| b == b'o') && out.stderr.bytes().all(|b| b == b'e'));
}

#[test]
fn a_child_past_its_limit_is_killed_and_fails_the_test() {
    let failed = catch_unwind(|| run_within(Duration::from_millis(200), "sleep", &["30"]));
    let message = failed.expect_err("a hung child passed");
    let message = message
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(
        message.contains("still running after") && message.contains("killed"),
        "{message}"
    );
}
