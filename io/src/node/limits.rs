//! What a node allows one link, and all of them together, as the gateway's
//! operator sets it in [`NodeConfig`]: the decisions, kept apart from the
//! driver that acts on them (closing a link, logging why).
//!
//! * **Connections**: at most [`NodeConfig::max_links`] links at once; a
//!   connection accepted beyond it is closed at once.
//! * **Handshake**: an accepted link on which no valid BIND came within
//!   [`NodeConfig::handshake_timeout`] is closed (a peer that connects and
//!   says nothing holds a descriptor and memory for nothing).
//! * **Idle**: a link that has carried no session for
//!   [`NodeConfig::idle_timeout`] is closed.
//! * **Memory**: what links hold in the node and its backend (a partial PIU
//!   being gathered, bytes queued to send) is counted against
//!   [`NodeConfig::max_node_memory`]; over it, the links holding most are
//!   closed until the node is back under it. One link is bounded by
//!   construction: one partial PIU ([`NodeConfig::max_frame`]) and the
//!   backend's send queue
//!   ([`max_queued_bytes`](crate::backend::Config::max_queued_bytes), whose
//!   breach closes the link).
//!
//! The timers are checked on a tick of the node's helper thread
//! ([`tick_period`]), so a link may outlive its timeout by up to one tick.

use std::time::{Duration, Instant};

use super::NodeConfig;

/// A link's clock: when it opened, whether a BIND made it useful, since
/// when it has had no session.
#[derive(Debug)]
pub(crate) struct Timers {
    opened: Instant,
    /// A valid BIND came (accepted links) or ours was answered.
    pub(crate) bound: bool,
    idle_since: Option<Instant>,
}

/// Why a link's time is up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Accepted, and no valid BIND within the handshake timeout.
    Handshake,
    /// No session for the idle timeout.
    Idle,
}

impl Expiry {
    pub(crate) fn what(self) -> &'static str {
        match self {
            Expiry::Handshake => "no valid BIND within the handshake timeout: link closed",
            Expiry::Idle => "no session for the idle timeout: link closed",
        }
    }
}

impl Timers {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            opened: now,
            bound: false,
            idle_since: None,
        }
    }

    /// At a tick: whether the link's time is up. `accepted`: the peer
    /// opened it; `sessions`: how many it carries now.
    pub(crate) fn expired(
        &mut self,
        now: Instant,
        accepted: bool,
        sessions: usize,
        config: &NodeConfig,
    ) -> Option<Expiry> {
        if accepted
            && !self.bound
            && now.saturating_duration_since(self.opened) >= config.handshake_timeout
        {
            return Some(Expiry::Handshake);
        }
        if sessions > 0 {
            self.idle_since = None;
            return None;
        }
        let since = *self.idle_since.get_or_insert(now);
        (now.saturating_duration_since(since) >= config.idle_timeout).then_some(Expiry::Idle)
    }
}

/// How often the helper thread checks the timers: a quarter of the
/// shorter timeout, between 10 ms and 1 s.
pub(crate) fn tick_period(config: &NodeConfig) -> Duration {
    (config.handshake_timeout.min(config.idle_timeout) / 4)
        .clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// The node's memory account: the sum of what each link was last seen to
/// hold.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    total: usize,
}

impl Budget {
    /// A link that held `*held` now holds `now`; true if the node is over
    /// `limit`.
    pub(crate) fn account(&mut self, held: &mut usize, now: usize, limit: usize) -> bool {
        self.total = self.total - *held + now;
        *held = now;
        self.total > limit
    }

    pub(crate) fn total(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> NodeConfig {
        NodeConfig {
            handshake_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(5),
            ..NodeConfig::default()
        }
    }

    #[test]
    fn an_accepted_link_without_a_bind_expires_after_the_handshake_timeout() {
        let (t0, config) = (Instant::now(), config());
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut timers = Timers::new(t0);
        assert_eq!(timers.expired(at(1), true, 0, &config), None);
        assert_eq!(
            timers.expired(at(2), true, 0, &config),
            Some(Expiry::Handshake)
        );
        // One we opened waits for no BIND from the peer.
        let mut ours = Timers::new(t0);
        assert_eq!(ours.expired(at(2), false, 1, &config), None);
        // Bound in time: only the idle timeout applies.
        let mut bound = Timers::new(t0);
        bound.bound = true;
        assert_eq!(bound.expired(at(3), true, 1, &config), None);
    }

    #[test]
    fn a_link_expires_after_the_idle_timeout_without_sessions() {
        let (t0, config) = (Instant::now(), config());
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut timers = Timers::new(t0);
        timers.bound = true;
        assert_eq!(
            timers.expired(at(1), true, 0, &config),
            None,
            "idle from now"
        );
        assert_eq!(
            timers.expired(at(5), true, 1, &config),
            None,
            "a session again"
        );
        assert_eq!(timers.expired(at(6), true, 0, &config), None);
        assert_eq!(timers.expired(at(10), true, 0, &config), None);
        assert_eq!(timers.expired(at(11), true, 0, &config), Some(Expiry::Idle));
    }

    #[test]
    fn the_tick_is_a_quarter_of_the_shorter_timeout_within_bounds() {
        assert_eq!(tick_period(&config()), Duration::from_millis(500));
        assert_eq!(tick_period(&NodeConfig::default()), Duration::from_secs(1));
        let short = NodeConfig {
            handshake_timeout: Duration::from_millis(1),
            ..NodeConfig::default()
        };
        assert_eq!(tick_period(&short), Duration::from_millis(10));
    }

    #[test]
    fn the_budget_sums_what_each_link_holds() {
        let mut budget = Budget::default();
        let (mut a, mut b) = (0, 0);
        assert!(!budget.account(&mut a, 60, 100));
        assert!(budget.account(&mut b, 50, 100));
        assert_eq!(budget.total(), 110);
        assert!(!budget.account(&mut a, 10, 100));
        assert_eq!((a, b, budget.total()), (10, 50, 60));
    }
}
