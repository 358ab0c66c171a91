//! Throughput over time, the progress bar and the measured window, from
//! one shared counter.
//!
//! Both contestants (our client and the tokio peer) bump an `AtomicU64` once
//! per completed request and nothing else; a sampler thread reads it every
//! [`TICK`] and keeps `(seconds, count)` points. That costs the measured
//! side one relaxed add per request, treats both sides the same, and gives
//! the plot its throughput curve and the terminal its progress bar (drawn
//! on stderr, and only when stderr is a terminal, so piped and `--json`
//! output stay clean). On the same ticks it takes the [`Mark`]s that bound
//! the measured [`Window`]. A tick allocates nothing (its points are
//! reserved up front for a timed run, the bar is formatted on the stack),
//! so the sampler adds nothing to the allocations it helps count. That is
//! why the bar is drawn here and not by a progress-bar crate, whose redraws
//! allocate: with stderr on a terminal they would land in the measured
//! window's allocation count. The bandwidth mode counts records on the same
//! bar, the scale mode the conversations held.

use super::window::{Mark, Window};
use crate::units::Grouped;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The sampling period (the plot's throughput buckets).
pub const TICK: Duration = Duration::from_millis(100);

/// The longest warm-up of a timed run.
const WARMUP_MAX: Duration = Duration::from_secs(1);

/// When a run ends: after a time, or after a number of requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// Run this long.
    Time(Duration),
    /// Run until this many requests completed.
    Requests(u64),
}

impl Limit {
    /// True once the run has reached the limit.
    pub fn reached(&self, elapsed: Duration, done: u64) -> bool {
        match *self {
            Limit::Time(limit) => elapsed >= limit,
            Limit::Requests(limit) => done >= limit,
        }
    }

    /// True once the run is past its warm-up: a tenth of its time (at most
    /// [`WARMUP_MAX`]) or of its requests.
    pub fn warmed_up(&self, elapsed: Duration, done: u64) -> bool {
        match *self {
            Limit::Time(limit) => elapsed >= (limit / 10).min(WARMUP_MAX),
            Limit::Requests(limit) => done >= limit / 10,
        }
    }

    /// The points a run to this limit samples, if known in advance.
    fn ticks(&self) -> usize {
        match *self {
            Limit::Time(limit) => (limit.as_millis() / TICK.as_millis()) as usize + 2,
            Limit::Requests(_) => 1_024,
        }
    }

    /// Progress as a fraction in 0..=1.
    fn fraction(&self, elapsed: Duration, done: u64) -> f64 {
        let f = match *self {
            Limit::Time(limit) => elapsed.as_secs_f64() / limit.as_secs_f64().max(1e-9),
            Limit::Requests(limit) => done as f64 / limit.max(1) as f64,
        };
        f.clamp(0.0, 1.0)
    }
}

/// A running sampler; [`Sampler::finish`] stops it.
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Sampled>,
}

/// What a sampler saw.
#[derive(Clone, Debug)]
pub struct Sampled {
    /// `(seconds, requests so far)`, one per tick, from `(0, 0)`.
    pub points: Vec<(f64, u64)>,
    /// From the first tick after the warm-up to the last before the
    /// limit (or before the sampler was stopped); `None` if the run was
    /// too short to have one.
    pub window: Option<Window>,
}

impl Sampler {
    /// Starts sampling `done` from now, drawing a bar labelled `label`
    /// that counts `unit`s ("requests", "records", ...).
    pub fn start(
        label: &'static str,
        unit: &'static str,
        done: Arc<AtomicU64>,
        limit: Limit,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let bar = std::io::stderr().is_terminal();
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut points = Vec::with_capacity(limit.ticks());
            points.push((0.0, 0));
            let (mut first, mut last) = (None, None);
            while !flag.load(Ordering::Acquire) {
                thread::sleep(TICK);
                let (elapsed, n) = (start.elapsed(), done.load(Ordering::Relaxed));
                points.push((elapsed.as_secs_f64(), n));
                if limit.reached(elapsed, n) {
                    // The window closed at the tick before.
                } else if first.is_none() {
                    first = limit.warmed_up(elapsed, n).then(|| Mark::now(n));
                } else {
                    last = Some(Mark::now(n));
                }
                if bar {
                    draw(
                        (label, unit),
                        limit.fraction(elapsed, n),
                        elapsed,
                        n,
                        &points,
                    );
                }
            }
            if bar {
                eprint!("\r{:78}\r", "");
            }
            let window = first
                .zip(last)
                .and_then(|(first, last)| Window::between(&first, &last));
            Sampled { points, window }
        });
        Sampler { stop, thread }
    }

    /// Stops sampling; what it saw.
    pub fn finish(self) -> Sampled {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_else(|_| Sampled {
            points: Vec::new(),
            window: None,
        })
    }
}

fn draw(
    (label, unit): (&str, &str),
    fraction: f64,
    elapsed: Duration,
    n: u64,
    points: &[(f64, u64)],
) {
    const WIDTH: usize = 30;
    let filled = (fraction * WIDTH as f64) as usize;
    let rate = match points {
        [.., (t0, n0), (t1, n1)] if t1 > t0 => (n1 - n0) as f64 / (t1 - t0),
        _ => 0.0,
    };
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r{label:<6} [{:#<filled$}{:<empty$}] {:5.1} s {:>12} {unit} {:>9} /s ",
        "",
        "",
        elapsed.as_secs_f64(),
        Grouped(n),
        Grouped(rate as u64),
        empty = WIDTH - filled
    );
    let _ = err.flush();
}

/// Requests per second in each sampling interval: `(end seconds, rate)`.
pub fn rates(points: &[(f64, u64)]) -> Vec<(f64, f64)> {
    points
        .windows(2)
        .filter(|w| w[1].0 > w[0].0)
        .map(|w| (w[1].0, (w[1].1 - w[0].1) as f64 / (w[1].0 - w[0].0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_rates() {
        assert!(Limit::Requests(10).reached(Duration::ZERO, 10));
        assert!(!Limit::Time(Duration::from_secs(1)).reached(Duration::from_millis(999), 5));
        assert_eq!(
            Limit::Time(Duration::from_secs(2)).fraction(Duration::from_secs(1), 0),
            0.5
        );
        assert!(!Limit::Time(Duration::from_secs(5)).warmed_up(Duration::from_millis(499), 9));
        assert!(Limit::Time(Duration::from_secs(5)).warmed_up(Duration::from_millis(500), 0));
        assert!(Limit::Time(Duration::from_secs(60)).warmed_up(WARMUP_MAX, 0));
        assert!(!Limit::Requests(1_000).warmed_up(Duration::from_secs(9), 99));
        assert!(Limit::Requests(1_000).warmed_up(Duration::ZERO, 100));
        let r = rates(&[(0.0, 0), (0.5, 100), (0.5, 100), (1.0, 300)]);
        assert_eq!(r, vec![(0.5, 200.0), (1.0, 400.0)]);
    }
}
