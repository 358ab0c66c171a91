//! Round-trip latency of one conversation between two `TcpNode`s on
//! loopback: a 64-byte mapped request, the same bytes back, `N` times, for
//! each backend. Prints µs per round trip and this process's context
//! switches per round trip.
//!
//! `cargo run -p appc-io --release --example rtt [N [poll|uring|both [SESSIONS]]]`:
//! with SESSIONS (default 1) conversations at once, each its own pair of
//! threads doing N round trips, it prints the aggregate throughput too.

#[cfg(target_os = "linux")]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
    use appc_io::appc::verbs::{values, Conv};
    use appc_io::backend::Kind;
    use std::time::Instant;
    use support::*;

    /// Context switches of every live thread of the process.
    fn ctxt() -> u64 {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        tasks
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    /// Receives until the direction comes back; returns the data.
    fn take_turn(app: &appc_io::appc::Appc, conv: Conv) -> Vec<u8> {
        let mut got = Vec::new();
        loop {
            let (rc, what, data) = receive(app, true, conv);
            assert_eq!(rc, PrimaryRc::OK);
            got.extend(data);
            if what == WhatRcvd::SEND || what == WhatRcvd::DATA_COMPLETE_SEND {
                return got;
            }
        }
    }

    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let kinds: Vec<Kind> = match std::env::args().nth(2).as_deref() {
        Some("poll") => vec![Kind::Poll],
        Some("uring") => vec![Kind::Uring],
        _ => vec![Kind::Poll, Kind::Uring],
    };
    let sessions: usize = std::env::args()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1);
    for kind in kinds {
        let (a, b, _) = pair(kind);
        let msg = vec![0x5a; 64];
        // Warmed up: the main thread starts the clock; done: it stops it.
        let warm = std::sync::Barrier::new(sessions + 1);
        let done = std::sync::Barrier::new(sessions + 1);
        std::thread::scope(|s| {
            for _ in 0..sessions {
                s.spawn(|| {
                    let conv = receive_allocate(&b.app);
                    for _ in 0..n + 100 {
                        let data = take_turn(&b.app, conv);
                        let rc = send(&b.app, true, conv, values::SEND_DATA_P_TO_R_FLUSH, &data);
                        assert_eq!(rc, PrimaryRc::OK);
                    }
                });
                s.spawn(|| {
                    let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
                    let round = || {
                        let rc = send(&a.app, true, conv, values::SEND_DATA_P_TO_R_FLUSH, &msg);
                        assert_eq!(rc, PrimaryRc::OK);
                        assert_eq!(take_turn(&a.app, conv), msg);
                    };
                    for _ in 0..100 {
                        round();
                    }
                    warm.wait();
                    for _ in 0..n {
                        round();
                    }
                    done.wait();
                    tp_ended(&a.app, conv.tp_id);
                });
            }
            warm.wait();
            let (c0, t0) = (ctxt(), Instant::now());
            done.wait();
            let (elapsed, switches) = (t0.elapsed(), ctxt() - c0);
            let total = (n * sessions) as f64;
            println!(
                "{kind:?}: {sessions} session(s) x {n} round trips: {:.1} µs each (per session {:.1} µs), {:.0} round trips/s, {:.1} context switches each",
                elapsed.as_secs_f64() * 1e6 / total,
                elapsed.as_secs_f64() * 1e6 / n as f64,
                total / elapsed.as_secs_f64(),
                switches as f64 / total
            );
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {}
