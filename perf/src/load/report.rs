//! The load report: text for people, JSON for scripts (`--json`).
//!
//! Both are built from one [`LoadReport`]; the checks that make up the
//! exactly-once verdict come from [`checks`], so the text, the JSON and the
//! exit status can never disagree. The JSON is written by hand (a few dozen
//! numbers do not need a serialisation framework).

use super::client::ClientTally;
use super::partner::PartnerTally;
use super::window::Window;
use super::{LoadReport, Side};
use crate::sysinfo::Machine;
use crate::units::{grouped, mib};
use crate::workload::{CancelCounts, Check};
use std::fmt::Write;

/// The throughput target against the tokio peer (issue 5).
pub const RATE_TARGET: f64 = 1.5;

/// The checks every run over the two nodes makes, whatever its traffic:
/// the client's handles and the partner's each completed exactly once,
/// nothing left in either engine or the client node, no protocol violation.
/// `node` is the client node's `NodeStats::snapshot`, `node_left` its
/// conversations still held after the run.
pub fn session_checks(
    c: &ClientTally,
    node: (u64, u64, u64, u64, u64),
    node_left: u64,
    partner: Option<&PartnerTally>,
) -> Vec<Check> {
    let mut checks = vec![
        Check {
            claim: "every accepted handle completed exactly once",
            ok: c.accepted == c.completions && c.unexpected == 0 && c.stuck == 0,
            detail: format!(
                "{} accepted, {} completions, {} unexpected, {} stuck",
                grouped(c.accepted),
                grouped(c.completions),
                c.unexpected,
                c.stuck
            ),
        },
        Check {
            claim: "no task left in the client engine, no verb refused",
            ok: c.live_after == 0 && c.rejected == 0,
            detail: format!("live_tasks = {}, refused = {}", c.live_after, c.rejected),
        },
        Check {
            claim: "no LU 6.2 protocol violation, no conversation left in the client node",
            ok: node.3 == 0 && node_left == 0,
            detail: format!("{} violations, {node_left} conversations left", node.3),
        },
    ];
    if let Some(p) = partner {
        checks.push(Check {
            claim: "partner: every accepted handle completed exactly once, nothing left",
            ok: p.exactly_once(),
            detail: format!(
                "{} accepted, {} completions, {} unexpected, live_tasks = {}, {} node conversations left",
                grouped(p.accepted),
                grouped(p.completions),
                p.unexpected,
                p.live_after,
                p.node_conversations_left
            ),
        });
    }
    checks
}

/// The checks behind the verdict.
pub fn checks(r: &LoadReport) -> Vec<Check> {
    let c = &r.client;
    let mut checks = session_checks(c, r.node, r.node_conversations_left, r.partner.as_ref());
    checks.extend([
        Check {
            claim: "AP_CANCELLED exactly when cancel returned 0",
            ok: c.cancel_mismatch == 0,
            detail: format!("{} mismatches", c.cancel_mismatch),
        },
        Check {
            claim: "stale handles answer WAPPCALREADY, random ones WAPPCINVALID",
            ok: c.stale.already == c.stale.total() && c.random.invalid == c.random.total(),
            detail: format!(
                "stale {} / {}, random {} / {}",
                grouped(c.stale.already),
                grouped(c.stale.total()),
                grouped(c.random.invalid),
                grouped(c.random.total())
            ),
        },
        Check {
            claim: "no conversation failed other than by its cancel",
            ok: r.failure.is_none(),
            detail: r.failure.clone().unwrap_or_else(|| "none failed".into()),
        },
        Check {
            claim: "every echo equals its request",
            ok: c.echo_mismatch == 0 && r.ours.requests > 0,
            detail: format!(
                "{} requests, {} mismatches",
                grouped(r.ours.requests),
                c.echo_mismatch
            ),
        },
    ]);
    if let Some((side, t)) = &r.peer {
        checks.push(Check {
            claim: "tokio peer: every request task joined once, every echo right",
            ok: t.spawned == t.joined && t.echo_mismatch == 0 && t.failures == 0,
            detail: format!(
                "{} spawned, {} joined, {} echo mismatches, {} failures, {} requests",
                grouped(t.spawned),
                grouped(t.joined),
                t.echo_mismatch,
                t.failures,
                grouped(side.requests)
            ),
        });
    }
    checks
}

fn us(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} ms", v / 1e3)
    } else {
        format!("{v:.1} us")
    }
}

fn limit_text(r: &LoadReport) -> String {
    match r.limit {
        super::Limit::Time(d) => format!("{:.1} s", d.as_secs_f64()),
        super::Limit::Requests(n) => format!("{} requests", grouped(n)),
    }
}

fn cancels_text(c: &CancelCounts) -> String {
    format!(
        "{} x 0, {} x WAPPCALREADY, {} x WAPPCINVALID",
        grouped(c.cancelled),
        grouped(c.already),
        grouped(c.invalid)
    )
}

/// The human report.
pub fn text(r: &LoadReport) -> String {
    let mut out = summary(r);
    out.push_str(&crate::workload::verdict_text(
        checks(r).iter().all(|c| c.ok),
    ));
    out
}

/// [`text`] without the closing verdict, for a report that adds checks
/// of its own (the soak's).
pub fn summary(r: &LoadReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "appc-load: gateway load over LU 6.2 sessions on TCP");
    let _ = writeln!(out, "machine: {}", r.machine);
    let _ = writeln!(
        out,
        "run: backend {}, partner {} at {}, {} sessions, {} B requests, {:.1}% cancelled, {}",
        r.backend,
        if r.partner_local {
            "in process"
        } else {
            "external"
        },
        r.partner_addr,
        r.sessions,
        r.size,
        r.cancel_fraction * 100.0,
        limit_text(r)
    );
    let _ = writeln!(
        out,
        "\n== request/response: SEND_DATA (change of direction) + RECEIVE_AND_WAIT"
    );
    let peer = r.peer.as_ref().map(|(side, _)| side);
    let row =
        |out: &mut String, what: &str, ours: String, theirs: Option<String>, ratio: Option<f64>| {
            let _ = writeln!(
                out,
                "  {what:<16}{ours:>14}{:>14}{:>10}",
                theirs.unwrap_or_default(),
                ratio.map(|x| format!("{x:.2}x")).unwrap_or_default()
            );
        };
    if peer.is_some() {
        let _ = writeln!(
            out,
            "  {:<16}{:>14}{:>14}{:>10}",
            "", "appc", "tokio", "ratio"
        );
    }
    let o = &r.ours;
    row(
        &mut out,
        "requests/s",
        grouped(o.rate() as u64),
        peer.map(|p| grouped(p.rate() as u64)),
        peer.map(|p| o.rate() / p.rate().max(1e-9)),
    );
    row(
        &mut out,
        "verbs/s",
        grouped(2 * o.rate() as u64),
        peer.map(|_| "-".into()),
        None,
    );
    for (name, q) in [
        ("latency p50", 0.5),
        ("latency p99", 0.99),
        ("latency p99.9", 0.999),
    ] {
        row(
            &mut out,
            name,
            us(o.micros(q)),
            peer.map(|p| us(p.micros(q))),
            peer.map(|p| o.micros(q) / p.micros(q).max(1e-9)),
        );
    }
    row(
        &mut out,
        "latency max",
        us(o.latency.max() as f64 / 1e3),
        peer.map(|p| us(p.latency.max() as f64 / 1e3)),
        None,
    );
    row(
        &mut out,
        "requests",
        grouped(o.requests),
        peer.map(|p| grouped(p.requests)),
        None,
    );
    steady_rows(&mut out, o, peer);
    let _ = writeln!(out, "  cancels (picked requests)");
    let _ = writeln!(out, "    appc         {}", cancels_text(&o.cancels));
    if let Some(p) = peer {
        let _ = writeln!(
            out,
            "    tokio        {} aborted before finishing, {} finished first (abort has no INVALID)",
            grouped(p.cancels.cancelled),
            grouped(p.cancels.already)
        );
    }
    let c = &r.client;
    let _ = writeln!(out, "    stale        {}", cancels_text(&c.stale));
    let _ = writeln!(out, "    random u64   {}", cancels_text(&c.random));
    let _ = writeln!(
        out,
        "  conversations  {} started, {} failed other than by cancel; {} BINDs, {} sessions reused",
        grouped(c.conversations),
        grouped(c.failures),
        grouped(r.node.0),
        grouped(r.node.2)
    );
    if let Some(p) = &r.partner {
        let _ = writeln!(
            out,
            "  partner        {} conversations accepted, {} requests echoed, {} conversations ended",
            grouped(p.conversations),
            grouped(p.echoed),
            grouped(p.ended)
        );
    }
    if let Some(p) = peer {
        let rate = o.rate() / p.rate().max(1e-9);
        let p99 = o.micros(0.99) <= p.micros(0.99);
        let _ = writeln!(
            out,
            "  targets        requests/s >= {RATE_TARGET}x tokio: {} ({rate:.2}x); p99 no worse than tokio: {} ({} vs {})",
            if rate >= RATE_TARGET { "met" } else { "NOT met" },
            if p99 { "met" } else { "NOT met" },
            us(o.micros(0.99)),
            us(p.micros(0.99))
        );
    }
    let _ = writeln!(out, "\n== memory");
    let _ = writeln!(
        out,
        "  engine state   {} bytes per outstanding verb (Stats::slot_overhead_bytes), {} with the verb",
        r.slot_overhead_bytes, r.slot_bytes
    );
    if let Some(peak) = r.peak_rss {
        let _ = write!(out, "  peak RSS       {:.1} MiB after appc", mib(peak));
        match (peer, r.peak_rss_end) {
            (Some(_), Some(end)) => {
                let _ = writeln!(out, ", {:.1} MiB after tokio (VmHWM)", mib(end));
            }
            _ => {
                let _ = writeln!(out, " (VmHWM)");
            }
        }
    }
    let _ = writeln!(out, "\n== exactly once");
    out.push_str(&crate::workload::checks_text(&checks(r)));
    out
}

/// A figure of a side's measured window, if it has one.
fn per_request(side: &Side, figure: fn(&Window) -> Option<f64>) -> Option<f64> {
    side.window.as_ref().and_then(figure)
}

/// A count per request, to the thousandth (0.001 is one in a thousand
/// requests).
fn per_thousand(v: f64) -> String {
    format!("{v:.3}")
}

/// One steady-state row: `figure` of each side's window shown by `show`
/// ("n/a" without a window), and their ratio if `ratio`.
fn steady_row(
    out: &mut String,
    name: &str,
    (o, peer): (&Side, Option<&Side>),
    figure: fn(&Window) -> Option<f64>,
    show: fn(f64) -> String,
    ratio: bool,
) {
    let or_na = |value: Option<f64>| value.map(show).unwrap_or_else(|| "n/a".into());
    let ours = per_request(o, figure);
    let theirs = peer.map(|p| per_request(p, figure));
    let _ = writeln!(
        out,
        "  {name:<16}{:>14}{:>14}{:>10}",
        or_na(ours),
        theirs.map(or_na).unwrap_or_default(),
        match (ratio, ours, theirs.flatten()) {
            (true, Some(a), Some(b)) => format!("{:.2}x", a / b.max(1e-9)),
            _ => String::new(),
        }
    );
}

/// The steady-state rows of the table: heap and CPU per request over each
/// side's measured window, and the window itself.
fn steady_rows(out: &mut String, o: &Side, peer: Option<&Side>) {
    let sides = (o, peer);
    steady_row(
        out,
        "allocs/request",
        sides,
        Window::allocs_per_request,
        per_thousand,
        false,
    );
    steady_row(
        out,
        "reallocs/req",
        sides,
        Window::reallocs_per_request,
        per_thousand,
        false,
    );
    steady_row(
        out,
        "heap B/request",
        sides,
        Window::bytes_per_request,
        |v| format!("{v:.0}"),
        false,
    );
    steady_row(
        out,
        "CPU/request",
        sides,
        Window::cpu_micros_per_request,
        us,
        true,
    );
    let window = |side: &Side| match &side.window {
        Some(w) => format!(
            "{} requests in {:.1} s",
            grouped(w.requests),
            w.elapsed.as_secs_f64()
        ),
        None => "too short to measure".into(),
    };
    let _ = write!(
        out,
        "  (per request: the whole process, over a window after the warm-up: appc {}",
        window(o)
    );
    match peer {
        Some(p) => {
            let _ = writeln!(out, ", tokio {})", window(p));
        }
        None => {
            let _ = writeln!(out, ")");
        }
    }
}

/// A JSON string literal.
pub fn string(s: &str) -> String {
    let mut out = String::from('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number for JSON, `null` for none.
fn number(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "null".into(), |v| format!("{v:.decimals$}"))
}

/// A side's measured window as a JSON object, `null` without one.
fn window_json(w: Option<&Window>) -> String {
    let Some(w) = w else {
        return "null".into();
    };
    let heap = match w.heap {
        Some(h) => format!(
            "{{\"allocs\":{},\"reallocs\":{},\"bytes\":{}}}",
            h.allocs, h.reallocs, h.bytes
        ),
        None => "null".into(),
    };
    format!(
        "{{\"requests\":{},\"seconds\":{:.3},\"heap\":{heap},\"allocs_per_request\":{},\"reallocs_per_request\":{},\"heap_bytes_per_request\":{},\"cpu_us_per_request\":{}}}",
        w.requests,
        w.elapsed.as_secs_f64(),
        number(w.allocs_per_request(), 4),
        number(w.reallocs_per_request(), 4),
        number(w.bytes_per_request(), 1),
        number(w.cpu_micros_per_request(), 3)
    )
}

/// One side as a JSON object, with `extra` fields (`,"k":v...`) at its end.
fn side_json(s: &Side, extra: &str) -> String {
    let rates: Vec<String> = super::sampler::rates(&s.points)
        .iter()
        .map(|(t, r)| format!("[{t:.3},{r:.0}]"))
        .collect();
    format!(
        "{{\"requests\":{},\"elapsed_s\":{:.3},\"requests_per_s\":{:.0},\"latency_us\":{{\"p50\":{:.1},\"p99\":{:.1},\"p99_9\":{:.1},\"max\":{:.1}}},\"cancels\":{{\"cancelled\":{},\"already\":{},\"invalid\":{}}},\"throughput\":[{}],\"steady\":{}{extra}}}",
        s.requests,
        s.elapsed.as_secs_f64(),
        s.rate(),
        s.micros(0.5),
        s.micros(0.99),
        s.micros(0.999),
        s.latency.max() as f64 / 1e3,
        s.cancels.cancelled,
        s.cancels.already,
        s.cancels.invalid,
        rates.join(","),
        window_json(s.window.as_ref())
    )
}

/// The machine as a JSON object.
pub fn machine_json(m: &Machine) -> String {
    format!(
        "{{\"cpu\":{},\"cores\":{},\"kernel\":{},\"malloc\":{}}}",
        string(&m.cpu),
        m.cores.unwrap_or(0),
        string(&m.kernel),
        string(m.malloc)
    )
}

/// The checks as a JSON array of `{claim, ok, detail}`.
pub fn checks_json(checks: &[Check]) -> String {
    let list: Vec<String> = checks
        .iter()
        .map(|c| {
            format!(
                "{{\"claim\":{},\"ok\":{},\"detail\":{}}}",
                string(c.claim),
                c.ok,
                string(&c.detail)
            )
        })
        .collect();
    format!("[{}]", list.join(","))
}

/// The machine-readable report.
pub fn json(r: &LoadReport) -> String {
    let checks = checks(r);
    let peer = match &r.peer {
        Some((side, _)) => side_json(
            side,
            &format!(
                ",\"ratio_appc_to_tokio\":{{\"requests_per_s\":{:.3},\"p99\":{:.3},\"cpu_per_request\":{}}}",
                r.ours.rate() / side.rate().max(1e-9),
                r.ours.micros(0.99) / side.micros(0.99).max(1e-9),
                number(
                    per_request(&r.ours, Window::cpu_micros_per_request)
                        .zip(per_request(side, Window::cpu_micros_per_request))
                        .map(|(a, b)| a / b.max(1e-9)),
                    3
                )
            ),
        ),
        None => "null".into(),
    };
    let c = &r.client;
    format!(
        "{{\"machine\":{},\"backend\":{},\"partner\":{},\"sessions\":{},\"size\":{},\"cancel_fraction\":{},\"appc\":{},\"tokio\":{},\"stale_cancels\":{{\"already\":{},\"total\":{}}},\"random_cancels\":{{\"invalid\":{},\"total\":{}}},\"engine_state_bytes_per_verb\":{},\"slot_bytes\":{},\"peak_rss_bytes\":{},\"checks\":{},\"exactly_once\":{}}}",
        machine_json(&r.machine),
        string(r.backend),
        string(&r.partner_addr.to_string()),
        r.sessions,
        r.size,
        r.cancel_fraction,
        side_json(&r.ours, ""),
        peer,
        c.stale.already,
        c.stale.total(),
        c.random.invalid,
        c.random.total(),
        r.slot_overhead_bytes,
        r.slot_bytes,
        r.peak_rss_end.unwrap_or(0),
        checks_json(&checks),
        checks.iter().all(|c| c.ok)
    )
}

#[cfg(test)]
mod tests {
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
            text.contains("requests/s >= 1.5x tokio: met (3.00x)"),
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
    fn json_is_balanced_and_escaped() {
        let json = json(&report(true));
        assert!(json.contains("\"cpu\":\"Test \\\"CPU\\\"\""), "{json}");
        assert!(
            json.contains("\"ratio_appc_to_tokio\":{\"requests_per_s\":3.000"),
            "{json}"
        );
        assert!(json.contains("\"exactly_once\":true}"), "{json}");
        assert!(
            json.contains("\"steady\":{\"requests\":3000,\"seconds\":0.800,\"heap\":{\"allocs\":3000,\"reallocs\":0,\"bytes\":300000},\"allocs_per_request\":1.0000,\"reallocs_per_request\":0.0000,\"heap_bytes_per_request\":100.0,\"cpu_us_per_request\":10.000}"),
            "{json}"
        );
        assert!(json.contains("\"cpu_per_request\":0.333}"), "{json}");
        let depth = json.chars().try_fold(0i32, |depth, c| {
            let depth = match c {
                '{' | '[' => depth + 1,
                '}' | ']' => depth - 1,
                _ => depth,
            };
            (depth >= 0).then_some(depth)
        });
        assert_eq!(depth, Some(0), "{json}");
        assert!(super::json(&report(false)).contains("\"tokio\":null"));
        assert_eq!(string("a\nb\\"), "\"a\\u000ab\\\\\"");
    }
}
