//! `--mode soak`: the main job (the load, with its cancels) for half an
//! hour by default, with the process's resident memory, its open
//! descriptors and the client engine's live tasks sampled every
//! `--sample-every` (10 s), all of which must stay flat.
//!
//! A gateway that leaks a little per request, per cancel or per session
//! looks healthy in a ten-second run; over half an hour the leak is a
//! slope. The verdict sets the level of the last samples against the level
//! of the first ones, each the median of a window of up to six samples (a
//! minute at the default period, so that one odd sample decides nothing),
//! with a stated tolerance per measure:
//!
//! * resident memory (`VmRSS`): at most 5% or 8 MiB above the first level,
//!   whichever is more (allocator noise, not a leak, lives within that);
//! * open descriptors: at most 2 more (the links and rings are opened
//!   before the first sample; a descriptor per cancelled session is a
//!   leak);
//! * live tasks: at most one more per conversation (each holds at most one
//!   verb outstanding, so a higher level is tasks nobody will complete).
//!
//! The load's own exactly-once checks count too. The process runs both
//! nodes, so its memory and descriptors are the client's and the
//! partner's. Run on demand, not in CI (`cargo run --release -- --mode
//! soak`); a test runs it for a few seconds with a short period.

use super::LoadReport;
use crate::args::Config;
use crate::sysinfo::proc_status_bytes;
use crate::units::{grouped, mib};
use crate::workload::{checks_text, verdict_text, Check};
use appc_io::appc::Appc;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The most samples in the first and the last window.
const WINDOW: usize = 6;
/// Resident memory may rise by this fraction of its first level ...
const RSS_FRACTION: u64 = 20;
/// ... or by this many bytes, whichever is more.
const RSS_SLACK: u64 = 8 << 20;
/// Descriptors may rise by this many.
const FD_SLACK: u64 = 2;

/// One sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Since the load started.
    pub at: Duration,
    /// `VmRSS`, if the system tells it.
    pub rss: Option<u64>,
    /// Open descriptors, if the system tells them.
    pub fds: Option<u64>,
    /// The client engine's tasks not yet consumed.
    pub live_tasks: u64,
}

impl Sample {
    fn take(app: &Appc, at: Duration) -> Sample {
        Sample {
            at,
            rss: proc_status_bytes("VmRSS"),
            fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|dir| dir.count() as u64),
            live_tasks: app.stats().live_tasks as u64,
        }
    }

    fn line(&self) -> String {
        let rss = self
            .rss
            .map_or("-".into(), |b| format!("{:.1} MiB", mib(b)));
        let fds = self.fds.map_or("-".into(), |n| n.to_string());
        format!(
            "  {:>8.1} s  rss {rss:>10}  fds {fds:>5}  live tasks {:>7}",
            self.at.as_secs_f64(),
            grouped(self.live_tasks)
        )
    }
}

/// Runs the soak and prints its report; true if the load passed and every
/// measure stayed flat.
pub fn run(config: &Config) -> Result<bool, String> {
    let every = config.sample_every();
    println!(
        "appc-load --mode soak: the load for {:.0} s, sampled every {:.1} s",
        config.duration().as_secs_f64(),
        every.as_secs_f64()
    );
    let (report, samples) = super::run_watched(config, |app, over| watch(app, over, every))?;
    let checks = flat(&samples, config.sessions);
    let pass = report.exactly_once() && checks.iter().all(|c| c.ok);
    print!("{}", text(&report, &checks, pass));
    Ok(pass)
}

/// Samples every `every` until `over`, printing each sample as it comes.
fn watch(app: &Appc, over: &AtomicBool, every: Duration) -> Vec<Sample> {
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut next = start + every;
    loop {
        loop {
            if over.load(Ordering::Acquire) {
                return samples;
            }
            let now = Instant::now();
            if now >= next {
                break;
            }
            // The load's end unparks this thread.
            thread::park_timeout(next - now);
        }
        let sample = Sample::take(app, start.elapsed());
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", sample.line());
        let _ = out.flush();
        samples.push(sample);
        next += every;
    }
}

/// The load's report, the soak's checks and the verdict.
fn text(report: &LoadReport, checks: &[Check], pass: bool) -> String {
    let mut out = super::report::summary(report);
    out.push_str("\n== soak: the last samples' level against the first ones'\n");
    out.push_str(&checks_text(checks));
    out.push_str(&verdict_text(pass));
    out
}

/// The flatness checks of `samples` from a load of `sessions`
/// conversations (see the module docs for the tolerances).
pub fn flat(samples: &[Sample], sessions: usize) -> Vec<Check> {
    let rss: Option<Vec<u64>> = samples.iter().map(|s| s.rss).collect();
    let fds: Option<Vec<u64>> = samples.iter().map(|s| s.fds).collect();
    let tasks: Vec<u64> = samples.iter().map(|s| s.live_tasks).collect();
    vec![
        level_check(
            "resident memory (VmRSS) flat: within 5% or 8 MiB of the first level",
            rss.as_deref(),
            |first| first + (first / RSS_FRACTION).max(RSS_SLACK),
            |b| format!("{:.1} MiB", mib(b)),
        ),
        level_check(
            "open descriptors flat: at most 2 above the first level",
            fds.as_deref(),
            |first| first + FD_SLACK,
            |n| n.to_string(),
        ),
        level_check(
            "live tasks flat: at most one per conversation above the first level",
            Some(&tasks),
            |first| first + sessions as u64,
            grouped,
        ),
    ]
}

/// Whether the level of the last samples of `values` stays within
/// `allowed(first level)`.
fn level_check(
    claim: &'static str,
    values: Option<&[u64]>,
    allowed: impl Fn(u64) -> u64,
    show: impl Fn(u64) -> String,
) -> Check {
    let Some(values) = values else {
        return Check {
            claim,
            ok: false,
            detail: "this system does not report it".into(),
        };
    };
    if values.len() < 2 {
        return Check {
            claim,
            ok: false,
            detail: format!(
                "{} samples, 2 needed (run longer or sample more often)",
                values.len()
            ),
        };
    }
    let window = (values.len() / 3).clamp(1, WINDOW);
    let first = level(&values[..window]);
    let last = level(&values[values.len() - window..]);
    let limit = allowed(first);
    Check {
        claim,
        ok: last <= limit,
        detail: format!(
            "first {}, last {} (at most {}; medians of {window} of {} samples)",
            show(first),
            show(last),
            show(limit),
            values.len()
        ),
    }
}

/// The median of `values` (the upper one of an even count).
fn level(values: &[u64]) -> u64 {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    sorted[sorted.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(u64) -> u64, fds: impl Fn(u64) -> u64, tasks: u64) -> Vec<Sample> {
        (0..30)
            .map(|i| Sample {
                at: Duration::from_secs(10 * (i + 1)),
                rss: Some(rss(i)),
                fds: Some(fds(i)),
                live_tasks: tasks + i % 7,
            })
            .collect()
    }

    fn verdicts(checks: &[Check]) -> Vec<bool> {
        checks.iter().map(|c| c.ok).collect()
    }

    #[test]
    fn flat_measures_pass_with_noise() {
        // 100 MiB give or take 3, 12 descriptors give or take 1, 256 tasks
        // give or take 6.
        let s = samples(|i| (100 << 20) + (i % 4) * (1 << 20), |i| 12 + i % 2, 250);
        assert_eq!(verdicts(&flat(&s, 256)), [true, true, true]);
    }

    #[test]
    fn a_slope_fails_its_measure() {
        // 1 MiB more per sample: 29 MiB over the run.
        let s = samples(|i| (100 << 20) + i * (1 << 20), |_| 12, 250);
        assert_eq!(verdicts(&flat(&s, 256)), [false, true, true]);
        // A descriptor per sample.
        let s = samples(|_| 100 << 20, |i| 12 + i, 250);
        assert_eq!(verdicts(&flat(&s, 256)), [true, false, true]);
        // Tasks that are never completed pile up.
        let mut s = samples(|_| 100 << 20, |_| 12, 250);
        for (i, sample) in s.iter_mut().enumerate() {
            sample.live_tasks += 20 * i as u64;
        }
        assert_eq!(verdicts(&flat(&s, 256)), [true, true, false]);
    }

    #[test]
    fn one_odd_sample_decides_nothing() {
        let mut s = samples(|_| 100 << 20, |_| 12, 250);
        s[29].rss = Some(400 << 20);
        s[29].fds = Some(40);
        assert_eq!(verdicts(&flat(&s, 256)), [true, true, true]);
    }

    #[test]
    fn too_few_samples_or_none_reported_fail() {
        let one = &samples(|_| 1 << 20, |_| 3, 1)[..1];
        assert_eq!(verdicts(&flat(one, 8)), [false, false, false]);
        let mut s = samples(|_| 1 << 20, |_| 3, 1);
        s[3].fds = None;
        assert_eq!(verdicts(&flat(&s, 8)), [true, false, true]);
    }
}
