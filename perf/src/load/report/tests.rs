//! The load report's unit tests: the text, the JSON and the verdict built
//! from one hand-made [`LoadReport`], and the rounding of shown figures.

use super::*;
use crate::load::sampler::Limit;
use crate::load::tokio_peer::PeerTally;
use appc_perf::counting::Counts;
use std::time::Duration;

fn side(requests: u64, latency_us: u64) -> Side {
    let mut latency = crate::load::histogram();
    for i in 0..requests {
        latency.record(latency_us * 1_000 + i % 7).unwrap();
    }
    Side {
        requests,
        elapsed: Duration::from_secs(1),
        latency,
        points: vec![(0.0, 0), (0.5, requests / 2), (1.0, requests)],
        cancels: CancelCounts {
            cancelled: 3,
            already: 2,
            invalid: 0,
        },
        // Each request costs `latency_us / 100` allocations and
        // `latency_us / 10` us of CPU.
        window: Some(Window {
            requests,
            elapsed: Duration::from_millis(800),
            heap: Some(Counts {
                allocs: requests * latency_us / 100,
                reallocs: 0,
                bytes: requests * latency_us,
            }),
            cpu: Some(Duration::from_micros(requests * latency_us / 10)),
        }),
    }
}

fn report(peer: bool) -> LoadReport {
    let client = ClientTally {
        accepted: 10,
        completions: 10,
        stale: CancelCounts {
            already: 5,
            ..CancelCounts::default()
        },
        random: CancelCounts {
            invalid: 5,
            ..CancelCounts::default()
        },
        ..ClientTally::default()
    };
    LoadReport {
        machine: Machine {
            cpu: "Test \"CPU\"".into(),
            cores: Some(2),
            kernel: "6.0".into(),
            malloc: "default",
        },
        backend: "epoll",
        partner_addr: "127.0.0.1:9".parse().unwrap(),
        partner_local: true,
        sessions: 4,
        size: 64,
        cancel_fraction: 0.01,
        limit: Limit::Time(Duration::from_secs(1)),
        ours: side(3_000, 100),
        client,
        failure: None,
        partner: Some(PartnerTally {
            accepted: 7,
            completions: 7,
            ..PartnerTally::default()
        }),
        node: (4, 0, 0, 0, 0),
        node_conversations_left: 0,
        slot_overhead_bytes: 48,
        slot_bytes: 224,
        peak_rss: Some(10 << 20),
        peer: peer.then(|| {
            let t = PeerTally {
                spawned: 1_000,
                joined: 1_000,
                ..PeerTally::default()
            };
            (side(1_000, 300), t)
        }),
        peak_rss_end: Some(20 << 20),
    }
}

#[test]
fn text_has_both_sides_ratios_and_the_verdict() {
    let text = text(&report(true));
    assert!(text.contains("requests/s"), "{text}");
    assert!(text.contains("3,000"), "{text}");
    assert!(text.contains("3.00x"), "rate ratio 3000/1000: {text}");
    assert!(
        text.contains("requests/s >= 3x tokio: met (3.00x)"),
        "{text}"
    );
    assert!(text.contains("p99 no worse than tokio: met"), "{text}");
    assert!(
        text.contains("3 x 0, 2 x WAPPCALREADY, 0 x WAPPCINVALID"),
        "{text}"
    );
    assert!(text.ends_with("verdict: PASS\n"), "{text}");
    let line = |name: &str| {
        let line = text.lines().find(|l| l.trim_start().starts_with(name));
        line.unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_owned()
    };
    let allocs = line("allocs/request");
    assert!(
        allocs.contains("1.000") && allocs.contains("3.000"),
        "{allocs}"
    );
    let cpu = line("CPU/request");
    assert!(cpu.contains("10.0 us") && cpu.contains("30.0 us"), "{cpu}");
    assert!(cpu.ends_with("0.33x"), "{cpu}");
    let mut short = report(false);
    short.ours.window = None;
    let alone = super::text(&short);
    assert!(!alone.contains("tokio"), "{alone}");
    assert!(alone.contains("too short to measure"), "{alone}");
}

#[test]
fn a_broken_tally_fails_the_verdict_everywhere() {
    let mut r = report(false);
    r.node_conversations_left = 1;
    assert!(!r.exactly_once(), "a leaked node conversation fails");
    let mut r = report(true);
    r.client.completions = 11;
    assert!(!r.exactly_once());
    assert!(text(&r).ends_with("verdict: FAIL\n"));
    assert!(json(&r).ends_with("\"exactly_once\":false}"));
    let mut r = report(false);
    r.client.random.already = 1;
    assert!(!r.exactly_once());
    assert!(checks(&r).iter().any(|c| !c.ok));
}

#[test]
fn json_parses_with_every_field() {
    let text = json(&report(true));
    let v: serde_json::Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(v["machine"]["cpu"], "Test \"CPU\"", "{text}");
    assert_eq!(v["machine"]["cores"], 2);
    assert_eq!(v["backend"], "epoll");
    assert_eq!(v["partner"], "127.0.0.1:9");
    assert_eq!(v["appc"]["requests"], 3000);
    assert_eq!(v["appc"]["requests_per_s"], 3000.0);
    assert_eq!(v["appc"]["cancels"]["cancelled"], 3);
    assert_eq!(v["appc"]["throughput"][0], serde_json::json!([0.5, 3000.0]));
    assert!(v["appc"].get("ratio_appc_to_tokio").is_none(), "{text}");
    let steady = &v["appc"]["steady"];
    assert_eq!(steady["requests"], 3000);
    assert_eq!(steady["seconds"], 0.8);
    assert_eq!(steady["heap"]["allocs"], 3000);
    assert_eq!(steady["allocs_per_request"], 1.0);
    assert_eq!(steady["heap_bytes_per_request"], 100.0);
    assert_eq!(steady["cpu_us_per_request"], 10.0);
    let ratio = &v["tokio"]["ratio_appc_to_tokio"];
    assert_eq!(ratio["requests_per_s"], 3.0, "{text}");
    assert_eq!(ratio["cpu_per_request"], 0.333);
    assert_eq!(v["stale_cancels"]["already"], 5);
    assert_eq!(v["random_cancels"]["total"], 5);
    assert_eq!(v["engine_state_bytes_per_verb"], 48);
    assert_eq!(v["peak_rss_bytes"], 20 << 20);
    assert_eq!(v["checks"][0]["ok"], true);
    assert!(v["checks"][0]["claim"].is_string());
    assert_eq!(v["exactly_once"], true);
    let alone: serde_json::Value = serde_json::from_str(&json(&report(false))).unwrap();
    assert!(alone["tokio"].is_null());
    let mut short = report(false);
    short.ours.window = None;
    let short: serde_json::Value = serde_json::from_str(&json(&short)).unwrap();
    assert!(short["appc"]["steady"].is_null());
}

#[test]
fn rounding_keeps_the_stated_places() {
    assert_eq!(rounded(2.0 / 3.0, 3), 0.667);
    assert_eq!(rounded(1234.56, 0), 1235.0);
    assert_eq!(rounded(0.05, 1), 0.1);
}
