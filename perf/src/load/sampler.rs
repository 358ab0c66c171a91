//! Throughput over time and the progress bar, from one shared counter.
//!
//! Both contestants (our client and the tokio peer) bump an `AtomicU64` once
//! per completed request and nothing else; a sampler thread reads it every
//! [`TICK`] and keeps `(seconds, count)` points. That costs the measured
//! side one relaxed add per request, treats both sides the same, and gives
//! the plot its throughput curve and the terminal its progress bar (drawn
//! on stderr, and only when stderr is a terminal, so piped and `--json`
//! output stay clean).

use crate::units::grouped;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The sampling period (the plot's throughput buckets).
pub const TICK: Duration = Duration::from_millis(100);

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
    thread: JoinHandle<Vec<(f64, u64)>>,
}

impl Sampler {
    /// Starts sampling `done` from now, drawing a bar labelled `label`.
    pub fn start(label: &'static str, done: Arc<AtomicU64>, limit: Limit) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let bar = std::io::stderr().is_terminal();
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut points = vec![(0.0, 0)];
            while !flag.load(Ordering::Acquire) {
                thread::sleep(TICK);
                let (elapsed, n) = (start.elapsed(), done.load(Ordering::Relaxed));
                points.push((elapsed.as_secs_f64(), n));
                if bar {
                    draw(label, limit.fraction(elapsed, n), elapsed, n, &points);
                }
            }
            if bar {
                eprint!("\r{:78}\r", "");
            }
            points
        });
        Sampler { stop, thread }
    }

    /// Stops sampling; the `(seconds, requests so far)` points.
    pub fn finish(self) -> Vec<(f64, u64)> {
        self.stop.store(true, Ordering::Release);
        self.thread.join().unwrap_or_default()
    }
}

fn draw(label: &str, fraction: f64, elapsed: Duration, n: u64, points: &[(f64, u64)]) {
    const WIDTH: usize = 30;
    let filled = (fraction * WIDTH as f64) as usize;
    let rate = match points {
        [.., (t0, n0), (t1, n1)] if t1 > t0 => (n1 - n0) as f64 / (t1 - t0),
        _ => 0.0,
    };
    eprint!(
        "\r{label:<6} [{}{}] {:5.1} s {:>12} requests {:>9} /s ",
        "#".repeat(filled),
        " ".repeat(WIDTH - filled),
        elapsed.as_secs_f64(),
        grouped(n),
        grouped(rate as u64)
    );
    let _ = std::io::stderr().flush();
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
        let r = rates(&[(0.0, 0), (0.5, 100), (0.5, 100), (1.0, 300)]);
        assert_eq!(r, vec![(0.5, 200.0), (1.0, 400.0)]);
    }
}
