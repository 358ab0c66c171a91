//! The memory phase: a million tasks outstanding at once, then one mass
//! cancel.
//!
//! A gateway's cost is dominated by requests that are waiting (a
//! `RECEIVE_AND_WAIT` can sit for hours), so what matters is the bytes each
//! outstanding task pins, not the speed of one submit. This phase submits
//! `--outstanding` tasks to one message queue without completing any,
//! reads the engine's own accounting (`Stats::table_bytes` is the slot pages
//! allocated, `slot_overhead_bytes` the engine state per slot without the
//! verb) and the process's RSS, then cancels every task (what `WinAPPCCleanup`
//! or a dropped connection does) and checks that each got exactly one
//! `AP_CANCELLED` completion.

use crate::sysinfo::proc_status_bytes;
use crate::units::grouped;
use crate::workload::{CancelCounts, Check};
use appc_engine::{
    Engine, Handle, Opcode, StartupError, Target, Verb, AP_CANCELLED, WINAPPC_VERSION,
};
use std::time::{Duration, Instant};

/// The most engine state per slot (verb excluded) the design allows.
pub const SLOT_OVERHEAD_BUDGET: usize = 64;

/// The outstanding-task count the budget is stated for.
pub const BUDGET_SCALE: usize = 1_000_000;

/// The engine-memory budget check for `held` outstanding tasks (`claim`
/// names them at scale). The table grows in doubling pages, so at small
/// counts the last page's spare slots dominate the average: the budget is
/// stated for the million-task scale ([`BUDGET_SCALE`]); below it the
/// per-slot figure is what is checked.
pub fn budget_check(
    held: usize,
    state_bytes: usize,
    slot_overhead_bytes: usize,
    claim: &'static str,
) -> Check {
    if held >= BUDGET_SCALE {
        let per_unit = state_bytes as f64 / held as f64;
        Check {
            claim,
            ok: per_unit <= SLOT_OVERHEAD_BUDGET as f64,
            detail: format!(
                "{per_unit:.1} <= {SLOT_OVERHEAD_BUDGET} bytes (verb payload excluded)"
            ),
        }
    } else {
        Check {
            claim: "engine state per slot within budget",
            ok: slot_overhead_bytes <= SLOT_OVERHEAD_BUDGET,
            detail: format!(
                "{slot_overhead_bytes} <= {SLOT_OVERHEAD_BUDGET} bytes (verb payload excluded)"
            ),
        }
    }
}

/// Everything the memory phase measured.
#[derive(Clone, Debug)]
pub struct MemoryReport {
    /// Tasks asked for.
    pub outstanding: usize,
    /// Tasks accepted.
    pub accepted: usize,
    /// Time to submit them all.
    pub submit_time: Duration,
    /// `Stats::table_bytes` with every task outstanding.
    pub table_bytes: usize,
    /// `Stats::state_bytes` (table pages without the verb payloads).
    pub state_bytes: usize,
    /// `Stats::slot_overhead_bytes`.
    pub slot_overhead_bytes: usize,
    /// `Stats::live_tasks` with every task outstanding.
    pub live_tasks_held: usize,
    /// `VmRSS` before the first submit.
    pub rss_before: Option<u64>,
    /// `VmRSS` with every task outstanding.
    pub rss_held: Option<u64>,
    /// `VmHWM` (peak RSS of the whole process so far).
    pub peak_rss: Option<u64>,
    /// Time to cancel every task.
    pub cancel_time: Duration,
    /// The cancel answers.
    pub cancel: CancelCounts,
    /// Time to pump every completion off the queue.
    pub drain_time: Duration,
    /// Completions with `AP_CANCELLED`, one per handle.
    pub received_cancelled: usize,
    /// Completions with other codes, or for an unknown or repeated handle.
    pub received_wrong: usize,
    /// Handles that got no completion.
    pub missing: usize,
    /// `Stats::live_tasks` after the drain.
    pub live_tasks_after: usize,
}

impl MemoryReport {
    /// Table bytes per outstanding task, verb payload included.
    pub fn bytes_per_task(&self) -> f64 {
        self.table_bytes as f64 / self.outstanding as f64
    }

    /// Engine state per outstanding task, verb payload excluded: the figure
    /// the 64-byte budget is about.
    pub fn state_bytes_per_task(&self) -> f64 {
        self.state_bytes as f64 / self.outstanding as f64
    }

    /// RSS growth per outstanding task, the demo's own 8-byte handle list
    /// included.
    pub fn rss_per_task(&self) -> Option<f64> {
        let grown = self.rss_held?.saturating_sub(self.rss_before?);
        Some(grown as f64 / self.outstanding as f64)
    }

    /// The checks of this phase.
    pub fn checks(&self) -> Vec<Check> {
        let n = self.outstanding;
        let g = |count: usize| grouped(count as u64);
        let c = &self.cancel;
        vec![
            Check {
                claim: "every task was accepted and held",
                ok: self.accepted == n && self.live_tasks_held == n,
                detail: format!(
                    "{} accepted, live_tasks = {}",
                    g(self.accepted),
                    g(self.live_tasks_held)
                ),
            },
            budget_check(
                n,
                self.state_bytes,
                self.slot_overhead_bytes,
                "engine state per outstanding task within budget",
            ),
            Check {
                claim: "every cancel returned 0",
                ok: c.cancelled == n as u64 && c.total() == n as u64,
                detail: format!(
                    "{} x 0, {} x WAPPCALREADY, {} x WAPPCINVALID",
                    grouped(c.cancelled),
                    grouped(c.already),
                    grouped(c.invalid)
                ),
            },
            Check {
                claim: "each task got exactly one AP_CANCELLED",
                ok: self.received_cancelled == n && self.received_wrong == 0 && self.missing == 0,
                detail: format!(
                    "{} AP_CANCELLED, {} wrong or repeated, {} missing",
                    g(self.received_cancelled),
                    g(self.received_wrong),
                    g(self.missing)
                ),
            },
            Check {
                claim: "no task left in the engine",
                ok: self.live_tasks_after == 0,
                detail: format!("live_tasks = {}", g(self.live_tasks_after)),
            },
        ]
    }
}

/// Runs the phase with `outstanding` tasks on a fresh engine.
pub fn run(outstanding: usize) -> Result<MemoryReport, StartupError> {
    let (engine, _) = Engine::<Verb>::startup(WINAPPC_VERSION)?;
    let (sender, mut queue) = engine.queue();
    let target = Target::Queue(sender);
    let rss_before = proc_status_bytes("VmRSS");

    // The verb's tag is the handle's index in `handles`.
    let mut handles: Vec<Handle> = Vec::with_capacity(outstanding);
    let start = Instant::now();
    for _ in 0..outstanding {
        let verb = Verb::new(Opcode::ReceiveAndWait, handles.len() as u64);
        if let Ok(handle) = engine.submit(verb, &target) {
            handles.push(handle);
        }
    }
    let submit_time = start.elapsed();
    let held = engine.stats();
    let rss_held = proc_status_bytes("VmRSS");
    let peak_rss = proc_status_bytes("VmHWM");

    let mut cancel = CancelCounts::default();
    let start = Instant::now();
    for &handle in &handles {
        cancel.add(engine.cancel(handle));
    }
    let cancel_time = start.elapsed();

    // Each `Cancelled` has already posted its completion, so a non-blocking
    // pump sees them all.
    let mut seen = vec![false; handles.len()];
    let (mut received_cancelled, mut received_wrong) = (0, 0);
    let start = Instant::now();
    while let Some(completion) = queue.try_recv() {
        let index = usize::try_from(completion.verb.tag).unwrap_or(usize::MAX);
        let first_time = handles.get(index) == Some(&completion.handle)
            && seen
                .get_mut(index)
                .is_some_and(|seen| !std::mem::replace(seen, true));
        if first_time && completion.verb.primary_rc == AP_CANCELLED {
            received_cancelled += 1;
        } else {
            received_wrong += 1;
        }
    }
    let drain_time = start.elapsed();

    Ok(MemoryReport {
        outstanding,
        accepted: handles.len(),
        submit_time,
        table_bytes: held.table_bytes,
        state_bytes: held.state_bytes,
        slot_overhead_bytes: held.slot_overhead_bytes,
        live_tasks_held: held.live_tasks,
        rss_before,
        rss_held,
        peak_rss,
        cancel_time,
        cancel,
        drain_time,
        received_cancelled,
        received_wrong,
        missing: seen.iter().filter(|&&seen| !seen).count(),
        live_tasks_after: engine.stats().live_tasks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_hold_and_cancel_passes() {
        let report = run(5_000).expect("version 1.0 is supported");
        for check in report.checks() {
            assert!(check.ok, "{}: {}", check.claim, check.detail);
        }
        assert!(report.table_bytes > 0);
    }
}
