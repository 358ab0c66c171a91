//! The measured window: what a contestant's steady state cost per
//! request, in heap allocations and in CPU time.
//!
//! A run's first moments are not its steady state: sessions are bound,
//! conversations allocated, buffers and tables grow to their working
//! size. Its last are not either: the client stops issuing, conversations
//! end, the nodes tear down. So the cost per request is read over a
//! window between two sampler ticks ([`Sampler`](super::sampler::Sampler)):
//! from the first tick after the warm-up ([`Limit::warmed_up`]) to the
//! last tick before the limit was reached. At each end the window takes a
//! [`Mark`]: requests done so far, the process's allocator counts
//! ([`counting`]) and its CPU time (user + system, every thread). Both
//! are process-wide on purpose: a request's cost is the client's, the
//! nodes' and the echo partner's together (for the peer, its workers' and
//! its echo server's), and nothing else runs in the process meanwhile but
//! the sampler, which allocates nothing per tick.
//!
//! [`Limit::warmed_up`]: super::sampler::Limit::warmed_up

use crate::sysinfo::cpu_time;
use appc_perf::counting::{self, Counts};
use std::time::{Duration, Instant};

/// The process's counters at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    at: Instant,
    requests: u64,
    heap: Counts,
    cpu: Option<Duration>,
}

impl Mark {
    /// The counters now, with `requests` done so far.
    pub fn now(requests: u64) -> Mark {
        Mark {
            at: Instant::now(),
            requests,
            heap: counting::total(),
            cpu: cpu_time(),
        }
    }
}

/// What one contestant's measured window cost.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    /// Requests completed in the window.
    pub requests: u64,
    /// Its length.
    pub elapsed: Duration,
    /// Allocator calls in it; `None` if the counting allocator is not
    /// the global one.
    pub heap: Option<Counts>,
    /// Process CPU time (user + system) in it, if it could be read.
    pub cpu: Option<Duration>,
}

impl Window {
    /// The window from `start` to `end`; `None` if no request completed
    /// in it.
    pub fn between(start: &Mark, end: &Mark) -> Option<Window> {
        let requests = end.requests.checked_sub(start.requests)?;
        (requests > 0).then(|| Window {
            requests,
            elapsed: end.at.duration_since(start.at),
            heap: counting::installed().then(|| end.heap.since(start.heap)),
            cpu: end.cpu.zip(start.cpu).map(|(e, s)| e.saturating_sub(s)),
        })
    }

    fn per_request(&self, n: u64) -> f64 {
        n as f64 / self.requests as f64
    }

    /// Heap allocations (`alloc` calls) per request.
    pub fn allocs_per_request(&self) -> Option<f64> {
        self.heap.map(|h| self.per_request(h.allocs))
    }

    /// Reallocations per request.
    pub fn reallocs_per_request(&self) -> Option<f64> {
        self.heap.map(|h| self.per_request(h.reallocs))
    }

    /// Bytes asked of the allocator per request.
    pub fn bytes_per_request(&self) -> Option<f64> {
        self.heap.map(|h| self.per_request(h.bytes))
    }

    /// Process CPU time per request, in microseconds.
    pub fn cpu_micros_per_request(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| cpu.as_secs_f64() * 1e6 / self.requests as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mark(at: Instant, requests: u64, allocs: u64, cpu_ms: u64) -> Mark {
        Mark {
            at,
            requests,
            heap: Counts {
                allocs,
                reallocs: allocs / 2,
                bytes: allocs * 100,
            },
            cpu: Some(Duration::from_millis(cpu_ms)),
        }
    }

    #[test]
    fn per_request_figures_are_over_the_window_only() {
        let t0 = Instant::now();
        let start = mark(t0, 1_000, 50_000, 400);
        let end = mark(t0 + Duration::from_secs(2), 5_000, 58_000, 440);
        let w = Window::between(&start, &end).expect("requests in between");
        assert_eq!((w.requests, w.elapsed), (4_000, Duration::from_secs(2)));
        assert_eq!(w.cpu_micros_per_request(), Some(10.0));
        // This test binary runs with the counting allocator.
        assert!(counting::installed());
        assert_eq!(w.allocs_per_request(), Some(2.0));
        assert_eq!(w.reallocs_per_request(), Some(1.0));
        assert_eq!(w.bytes_per_request(), Some(200.0));
        assert_eq!(Window::between(&end, &end), None, "no request, no window");
    }
}
