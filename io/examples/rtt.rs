//! Round-trip latency of one conversation between two `TcpNode`s on
//! loopback: a 64-byte mapped request, the same bytes back, `N` times, for
//! each backend. Prints µs per round trip and this process's context
//! switches per round trip.
//!
//! `cargo run -p appc-io --release --example rtt [N]`

#[cfg(target_os = "linux")]
#[path = "../tests/support/mod.rs"]
mod support;

#[cfg(target_os = "linux")]
fn main() {
    use appc_io::backend::Kind;
    use appc_io::engine::appc::rc::{PrimaryRc, WhatRcvd};
    use appc_io::engine::appc::verbs::{values, Conv};
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
    fn take_turn(app: &appc_io::engine::appc::Appc, conv: Conv) -> Vec<u8> {
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
    for kind in kinds {
        let (a, b, _) = pair(kind);
        let msg = vec![0x5a; 64];
        std::thread::scope(|s| {
            s.spawn(|| {
                let conv = receive_allocate(&b.app);
                for _ in 0..n + 100 {
                    let data = take_turn(&b.app, conv);
                    let rc = send(&b.app, true, conv, values::SEND_DATA_P_TO_R_FLUSH, &data);
                    assert_eq!(rc, PrimaryRc::OK);
                }
            });
            let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
            let round = || {
                let rc = send(&a.app, true, conv, values::SEND_DATA_P_TO_R_FLUSH, &msg);
                assert_eq!(rc, PrimaryRc::OK);
                assert_eq!(take_turn(&a.app, conv), msg);
            };
            for _ in 0..100 {
                round();
            }
            let (c0, t0) = (ctxt(), Instant::now());
            for _ in 0..n {
                round();
            }
            let (elapsed, switches) = (t0.elapsed(), ctxt() - c0);
            println!(
                "{kind:?}: {n} round trips, {:.1} µs each, {:.1} context switches each",
                elapsed.as_secs_f64() * 1e6 / n as f64,
                switches as f64 / n as f64
            );
            tp_ended(&a.app, conv.tp_id);
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {}
