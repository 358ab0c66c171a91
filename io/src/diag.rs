//! Diagnostics: what the node and the backends report goes to `tracing`
//! (never to stderr: a library that prints can panic on a closed stderr or
//! block on a full pipe, on the thread that carries every session), and
//! what a peer can provoke is rate-limited, per link.
//!
//! Each link has a span (`link`, with the node's LU and the link id) that
//! its events name as their parent, and a [`Limits`]: per kind of event
//! (a protocol violation, a refused BIND, ...), at most [`BURST`] events
//! in a [`WINDOW`]; the next one is replaced by one summary event (kind
//! `rate_limited`), and the rest of the window is silent. The first event
//! of the next window carries `suppressed`, how many were dropped. So a
//! peer that sends garbage as fast as it can costs at most `BURST + 1`
//! events per kind and window, whatever its rate. The owner chooses where
//! events go, and at what level, by installing a subscriber (the
//! `appc-perf` binaries install one with a `RUST_LOG`-style filter).

use std::time::{Duration, Instant};

use tracing::Span;

/// Events of one kind a link may log in one [`WINDOW`].
pub(crate) const BURST: u32 = 10;
/// The rate limiter's window.
pub(crate) const WINDOW: Duration = Duration::from_secs(10);

/// What [`RateLimit::check`] decides for one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it; `suppressed` events of its kind were dropped since the last
    /// one logged.
    Log { suppressed: u64 },
    /// The burst is used up: log one summary instead, then nothing.
    Summary,
    /// Drop it.
    Silent,
}

/// At most `burst` events per `window` (see the module docs). Time is
/// passed in, so that tests need no clock.
#[derive(Debug)]
pub(crate) struct RateLimit {
    burst: u32,
    window: Duration,
    /// The current window's start, and the events seen in it.
    start: Option<Instant>,
    seen: u32,
    /// Dropped since the last event logged.
    suppressed: u64,
}

impl RateLimit {
    pub(crate) fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            start: None,
            seen: 0,
            suppressed: 0,
        }
    }

    pub(crate) fn check(&mut self, now: Instant) -> Verdict {
        let expired = self
            .start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.window);
        if expired {
            self.start = Some(now);
            self.seen = 0;
        }
        self.seen = self.seen.saturating_add(1);
        if self.seen <= self.burst {
            Verdict::Log {
                suppressed: std::mem::take(&mut self.suppressed),
            }
        } else {
            self.suppressed += 1;
            if self.seen == self.burst + 1 {
                Verdict::Summary
            } else {
                Verdict::Silent
            }
        }
    }
}

/// The span and the rate limits of one link (or of a node's events that
/// concern no link, or of a listener).
#[derive(Debug)]
pub(crate) struct Limits {
    span: Span,
    kinds: Vec<(&'static str, RateLimit)>,
}

impl Limits {
    pub(crate) fn new(span: Span) -> Self {
        Self {
            span,
            kinds: Vec::new(),
        }
    }

    /// The span its events name as their parent.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Whether an event of `kind` may be logged now: `Some(n)` if so, `n`
    /// being how many of its kind were dropped before it. The summary
    /// event that ends a burst is logged here.
    pub(crate) fn admit(&mut self, kind: &'static str) -> Option<u64> {
        let at = match self.kinds.iter().position(|(k, _)| *k == kind) {
            Some(at) => at,
            None => {
                self.kinds.push((kind, RateLimit::new(BURST, WINDOW)));
                self.kinds.len() - 1
            }
        };
        match self.kinds[at].1.check(Instant::now()) {
            Verdict::Log { suppressed } => Some(suppressed),
            Verdict::Summary => {
                tracing::warn!(
                    parent: &self.span,
                    kind,
                    burst = BURST,
                    window_s = WINDOW.as_secs(),
                    "rate_limited: more events of this kind are dropped until the window ends"
                );
                None
            }
            Verdict::Silent => None,
        }
    }
}

/// Logs a `tracing` event at `$level` through `$limits` ([`Limits::admit`]
/// with `$kind`), as a child of its span, with the `suppressed` count and
/// the given fields and message.
macro_rules! limited {
    ($level:ident, $limits:expr, $kind:expr, $($rest:tt)+) => {{
        let limits: &mut $crate::diag::Limits = $limits;
        if let Some(suppressed) = limits.admit($kind) {
            tracing::$level!(parent: limits.span(), kind = $kind, suppressed, $($rest)+);
        }
    }};
}
pub(crate) use limited;

/// The message of a caught panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with no message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_summary_then_silence_until_the_window_ends() {
        let mut limit = RateLimit::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let verdicts: Vec<Verdict> = (0..6).map(|i| limit.check(at(i))).collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Log { suppressed: 0 },
                Verdict::Log { suppressed: 0 },
                Verdict::Log { suppressed: 0 },
                Verdict::Summary,
                Verdict::Silent,
                Verdict::Silent,
            ]
        );
        assert_eq!(limit.check(at(9_999)), Verdict::Silent);
        // A new window: logged again, with the count of those dropped.
        assert_eq!(limit.check(at(10_000)), Verdict::Log { suppressed: 4 });
        assert_eq!(limit.check(at(10_001)), Verdict::Log { suppressed: 0 });
    }

    #[test]
    fn a_million_events_cost_a_burst_and_a_summary_per_window() {
        let mut limit = RateLimit::new(BURST, WINDOW);
        let t0 = Instant::now();
        let logged = (0..1_000_000u64)
            .map(|i| limit.check(t0 + Duration::from_micros(i)))
            .filter(|v| *v != Verdict::Silent)
            .count();
        assert_eq!(
            logged,
            BURST as usize + 1,
            "one second is inside one window"
        );
    }
}
