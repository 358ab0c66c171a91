//! What a request costs in steady state, as `appc-load` reports it: with
//! no cancels (so no conversation is torn down and set up again), a
//! request of ours allocates nothing on the heap, in the client, the
//! nodes or the echo partner; both sides' figures and their CPU time per
//! request are in the JSON. (Run as a process of its own, so that the
//! process-wide count holds nothing but the load.)

mod support;

use support::run;

const APPC_LOAD: &str = env!("CARGO_BIN_EXE_appc-load");

/// The number after `"key":` in `json`, from `from` on.
fn number_after(json: &str, from: usize, key: &str) -> f64 {
    let pattern = format!("\"{key}\":");
    let at = json[from..]
        .find(&pattern)
        .unwrap_or_else(|| panic!("no {key} after {from} in {json}"))
        + from
        + pattern.len();
    let end = json[at..]
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(json.len(), |n| at + n);
    json[at..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number at {at} in {json}"))
}

#[test]
fn a_request_allocates_nothing_without_cancels() {
    let out = run(
        APPC_LOAD,
        &[
            "--duration",
            "1.5",
            "--sessions",
            "16",
            "--cancel-fraction",
            "0",
            "--peer",
            "tokio",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let json = out.stdout.trim();
    let side = |name: &str| {
        json.find(&format!("\"{name}\":{{"))
            .and_then(|at| json[at..].find("\"steady\":{").map(|n| at + n))
            .unwrap_or_else(|| panic!("no steady window for {name} in {json}"))
    };
    let (ours, theirs) = (side("appc"), side("tokio"));
    let requests = number_after(json, ours, "requests");
    let allocs = number_after(json, ours, "allocs");
    let reallocs = number_after(json, ours, "reallocs");
    assert!(requests > 1_000.0, "{json}");
    // A stray allocation (a table growing once) may fall in the window;
    // one per request, or one per hundred, may not.
    assert!(
        (allocs + reallocs) / requests < 0.01,
        "{allocs} allocations and {reallocs} reallocations in {requests} requests: {json}"
    );
    assert!(
        number_after(json, ours, "cpu_us_per_request") > 0.0,
        "{json}"
    );
    assert!(number_after(json, theirs, "requests") > 1_000.0, "{json}");
    assert!(
        number_after(json, theirs, "cpu_us_per_request") > 0.0,
        "{json}"
    );
}
