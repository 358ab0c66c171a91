//! The load report: text for people, JSON for scripts (`--json`).
//!
//! Both are built from one [`LoadReport`]; the checks that make up the
//! exactly-once verdict come from [`checks`], so the text, the JSON and the
//! exit status can never disagree. The JSON is `serde_json` over small view
//! structs ([`LoadJson`] and its parts) that fix its field names and order;
//! figures are rounded to the precision they carry ([`rounded`]).

use super::client::ClientTally;
use super::partner::PartnerTally;
use super::window::Window;
use super::{LoadReport, Side};
use crate::sysinfo::Machine;
use crate::units::{grouped, mib};
use crate::workload::{CancelCounts, Check};
use serde::Serialize;
use std::fmt::Write;

/// The throughput target against the tokio peer: appc's requests/s over
/// tokio's.
pub const RATE_TARGET: f64 = 3.0;

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

/// `value` rounded to `decimals` places, so the JSON carries the precision
/// the figure has (a rate to the request, a latency to 0.1 us) rather than
/// every digit of the division.
pub fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The machine, as every report's JSON carries it.
#[derive(Debug, Serialize)]
pub struct MachineJson<'a> {
    cpu: &'a str,
    /// 0 when the system does not tell.
    cores: usize,
    kernel: &'a str,
    malloc: &'a str,
}

impl<'a> MachineJson<'a> {
    /// The JSON view of `m`.
    pub fn of(m: &'a Machine) -> Self {
        MachineJson {
            cpu: &m.cpu,
            cores: m.cores.unwrap_or(0),
            kernel: &m.kernel,
            malloc: m.malloc,
        }
    }
}

/// A side's heap counts over its window.
#[derive(Debug, Serialize)]
struct HeapJson {
    allocs: u64,
    reallocs: u64,
    bytes: u64,
}

/// A side's measured window.
#[derive(Debug, Serialize)]
struct WindowJson {
    requests: u64,
    seconds: f64,
    heap: Option<HeapJson>,
    allocs_per_request: Option<f64>,
    reallocs_per_request: Option<f64>,
    heap_bytes_per_request: Option<f64>,
    cpu_us_per_request: Option<f64>,
}

impl WindowJson {
    fn of(w: &Window) -> Self {
        let round = |v: Option<f64>, decimals| v.map(|v| rounded(v, decimals));
        WindowJson {
            requests: w.requests,
            seconds: rounded(w.elapsed.as_secs_f64(), 3),
            heap: w.heap.map(|h| HeapJson {
                allocs: h.allocs,
                reallocs: h.reallocs,
                bytes: h.bytes,
            }),
            allocs_per_request: round(w.allocs_per_request(), 4),
            reallocs_per_request: round(w.reallocs_per_request(), 4),
            heap_bytes_per_request: round(w.bytes_per_request(), 1),
            cpu_us_per_request: round(w.cpu_micros_per_request(), 3),
        }
    }
}

/// Round-trip latency quantiles, microseconds.
#[derive(Debug, Serialize)]
struct LatencyJson {
    p50: f64,
    p99: f64,
    p99_9: f64,
    max: f64,
}

/// Our side over tokio's, where both were run.
#[derive(Debug, Serialize)]
struct RatioJson {
    requests_per_s: f64,
    p99: f64,
    cpu_per_request: Option<f64>,
}

/// One side of a load run.
#[derive(Debug, Serialize)]
struct SideJson {
    requests: u64,
    elapsed_s: f64,
    requests_per_s: f64,
    latency_us: LatencyJson,
    cancels: CancelCounts,
    /// `[end seconds, requests/s]` per sampling interval.
    throughput: Vec<(f64, f64)>,
    steady: Option<WindowJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_appc_to_tokio: Option<RatioJson>,
}

impl SideJson {
    fn of(s: &Side) -> Self {
        SideJson {
            requests: s.requests,
            elapsed_s: rounded(s.elapsed.as_secs_f64(), 3),
            requests_per_s: s.rate().round(),
            latency_us: LatencyJson {
                p50: rounded(s.micros(0.5), 1),
                p99: rounded(s.micros(0.99), 1),
                p99_9: rounded(s.micros(0.999), 1),
                max: rounded(s.latency.max() as f64 / 1e3, 1),
            },
            cancels: s.cancels,
            throughput: super::sampler::rates(&s.points)
                .into_iter()
                .map(|(t, r)| (rounded(t, 3), r.round()))
                .collect(),
            steady: s.window.as_ref().map(WindowJson::of),
            ratio_appc_to_tokio: None,
        }
    }
}

/// Answers of one kind of cancel that must all be one code.
#[derive(Debug, Serialize)]
struct StaleJson {
    already: u64,
    total: u64,
}

/// Random handles' cancels: all must be `WAPPCINVALID`.
#[derive(Debug, Serialize)]
struct RandomJson {
    invalid: u64,
    total: u64,
}

/// The load report's JSON, field for field.
#[derive(Debug, Serialize)]
struct LoadJson<'a> {
    machine: MachineJson<'a>,
    backend: &'a str,
    partner: String,
    sessions: usize,
    size: usize,
    cancel_fraction: f64,
    appc: SideJson,
    tokio: Option<SideJson>,
    stale_cancels: StaleJson,
    random_cancels: RandomJson,
    engine_state_bytes_per_verb: usize,
    slot_bytes: usize,
    peak_rss_bytes: u64,
    checks: &'a [Check],
    exactly_once: bool,
}

/// `value` as one line of JSON.
pub fn to_json(value: &impl Serialize) -> String {
    // Plain data with string keys: serialising it cannot fail.
    serde_json::to_string(value).expect("a report serialises")
}

/// The machine-readable report.
pub fn json(r: &LoadReport) -> String {
    let checks = checks(r);
    let tokio = r.peer.as_ref().map(|(side, _)| {
        let cpu = per_request(&r.ours, Window::cpu_micros_per_request)
            .zip(per_request(side, Window::cpu_micros_per_request))
            .map(|(a, b)| rounded(a / b.max(1e-9), 3));
        SideJson {
            ratio_appc_to_tokio: Some(RatioJson {
                requests_per_s: rounded(r.ours.rate() / side.rate().max(1e-9), 3),
                p99: rounded(r.ours.micros(0.99) / side.micros(0.99).max(1e-9), 3),
                cpu_per_request: cpu,
            }),
            ..SideJson::of(side)
        }
    });
    let c = &r.client;
    to_json(&LoadJson {
        machine: MachineJson::of(&r.machine),
        backend: r.backend,
        partner: r.partner_addr.to_string(),
        sessions: r.sessions,
        size: r.size,
        cancel_fraction: r.cancel_fraction,
        appc: SideJson::of(&r.ours),
        tokio,
        stale_cancels: StaleJson {
            already: c.stale.already,
            total: c.stale.total(),
        },
        random_cancels: RandomJson {
            invalid: c.random.invalid,
            total: c.random.total(),
        },
        engine_state_bytes_per_verb: r.slot_overhead_bytes,
        slot_bytes: r.slot_bytes,
        peak_rss_bytes: r.peak_rss_end.unwrap_or(0),
        checks: &checks,
        exactly_once: checks.iter().all(|c| c.ok),
    })
}

#[cfg(test)]
mod tests;
