//! `--mode engine`: the engine alone under load, no sockets.
//!
//! It shows, in well under a minute, the two claims the engine is built on:
//!
//! 1. **Exactly once, under races.** Millions of requests go through
//!    `submit`, `complete` and `cancel` on separate threads
//!    ([`workload`]), and every outcome is tallied: each accepted handle gets
//!    one completion, and every cancel answer (0 / `WAPPCALREADY` /
//!    `WAPPCINVALID`) agrees with what the application's queue delivered.
//! 2. **Cheap to hold.** A million tasks sit outstanding at once
//!    ([`memory`]); the engine's bytes per task and the process's RSS are
//!    printed, then all of them are cancelled and each must get exactly one
//!    `AP_CANCELLED`.

use crate::args::EngineConfig;
use crate::units::{grouped, mib, per_item};
use crate::workload::Check;
use crate::{memory, sysinfo, workload};

/// Runs both phases, printing as it goes; true if every check held.
pub fn run(config: &EngineConfig) -> Result<bool, appc_engine::StartupError> {
    let machine = sysinfo::Machine::detect();
    println!("appc-load --mode engine: the lock-free APPC engine under submit / complete / cancel");
    println!("machine: {machine}");

    println!(
        "\n== throughput: {} requests, {} submitter{} + 1 completer + 1 canceller, \
         cancel fraction {}, window {} per submitter",
        grouped(config.requests),
        config.submitters,
        if config.submitters == 1 { "" } else { "s" },
        config.cancel_fraction,
        workload::WINDOW,
    );
    let report = workload::run(config)?;
    print_throughput(&report);
    let checks = report.checks();
    print_checks(&checks);

    println!(
        "\n== memory: {} tasks outstanding at once",
        grouped(config.outstanding as u64)
    );
    let held = memory::run(config.outstanding)?;
    print_memory(&held);
    let held_checks = held.checks();
    print_checks(&held_checks);

    Ok(checks.iter().chain(&held_checks).all(|check| check.ok))
}

fn print_throughput(report: &workload::Report) {
    let (s, c, k) = (&report.submit, &report.complete, &report.cancel);
    let secs = report.elapsed.as_secs_f64();
    let done = s.received().max(1);
    println!("  elapsed        {secs:.3} s");
    println!(
        "  throughput     {} requests/s ({:.0} ns/request, wall clock)",
        grouped((s.received() as f64 / secs) as u64),
        report.elapsed.as_nanos() as f64 / done as f64
    );
    println!("                 a request = submit + complete + pump its completion");
    println!(
        "  completions    {} received for {} accepted: {} AP_OK, {} AP_CANCELLED",
        grouped(s.received()),
        grouped(s.accepted),
        grouped(s.completed_ok),
        grouped(s.completed_cancelled)
    );
    println!(
        "  complete()     {} Delivered, {} Late (a cancel had won), {} Invalid",
        grouped(c.delivered),
        grouped(c.late),
        grouped(c.invalid)
    );
    println!(
        "  cancel()       {:>12} {:>14} {:>14}",
        "0", "WAPPCALREADY", "WAPPCINVALID"
    );
    for (what, counts) in [
        ("live handles", k.live),
        ("stale handles", k.stale),
        ("random u64s", k.random),
    ] {
        println!(
            "    {what:<13}{:>12} {:>14} {:>14}",
            grouped(counts.cancelled),
            grouped(counts.already),
            grouped(counts.invalid)
        );
    }
}

fn print_memory(held: &memory::MemoryReport) {
    let n = held.outstanding.max(1) as f64;
    println!(
        "  submit         {}",
        per_item(held.submit_time, n, "submit")
    );
    println!(
        "  engine table   {:.1} MiB = {:.1} bytes per outstanding task, verbs included (Stats::table_bytes)",
        mib(held.table_bytes as u64),
        held.bytes_per_task()
    );
    println!(
        "  engine state   {:.1} MiB = {:.1} bytes per outstanding task, verbs excluded (Stats::state_bytes)",
        mib(held.state_bytes as u64),
        held.state_bytes_per_task()
    );
    println!(
        "                 pages double as the table grows: unused slots of the last page count too"
    );
    println!(
        "  slot overhead  {} bytes per slot, verb excluded (budget {})",
        held.slot_overhead_bytes,
        memory::SLOT_OVERHEAD_BUDGET
    );
    match (held.rss_before, held.rss_held, held.peak_rss) {
        (Some(before), Some(now), Some(peak)) => {
            println!(
                "  process RSS    {:.1} MiB before, {:.1} MiB holding, peak (VmHWM) {:.1} MiB",
                mib(before),
                mib(now),
                mib(peak)
            );
            if let Some(per_task) = held.rss_per_task() {
                println!(
                    "                 {per_task:.1} bytes of RSS per task, the demo's 8-byte handle list included"
                );
            }
        }
        _ => println!("  process RSS    unavailable (no /proc/self/status)"),
    }
    println!(
        "  cancel all     {}",
        per_item(held.cancel_time, n, "cancel")
    );
    println!(
        "  drain queue    {}",
        per_item(held.drain_time, n, "completion")
    );
}

fn print_checks(checks: &[Check]) {
    println!("  checks");
    print!("{}", workload::checks_text(checks));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_end_to_end_run_passes() {
        let config = EngineConfig {
            requests: 5_000,
            submitters: 2,
            cancel_fraction: 0.5,
            outstanding: 2_000,
        };
        assert_eq!(run(&config), Ok(true));
    }
}
