//! What a shard does to keep its links within the node's limits
//! (`limits.rs` holds the decisions): closes a link whose peer committed
//! too many protocol violations, whose handshake or idle time is up, or
//! that holds most when the shard is over its part of the memory budget.
//!
//! The memory budget ([`NodeConfig::max_node_memory`]) is divided equally
//! among the shards: each accounts and sheds only its own links, so no
//! count is shared between reactor threads. A link is accounted when bytes
//! arrive on it (its partial PIU) and at each tick (its send queue, which
//! drains without telling the shard).
//!
//! [`NodeConfig::max_node_memory`]: super::NodeConfig::max_node_memory

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::sessions::Core;
use crate::appc::rc::PrimaryRc;
use crate::backend::{Io, LinkId};
use crate::wire::Sense;

impl Core {
    /// This shard's part of the node's memory budget.
    fn memory_limit(&self) -> usize {
        self.node.config.max_node_memory / self.node.shards()
    }

    /// Counts a protocol violation against `link_id`'s peer; at
    /// [`NodeConfig::max_link_violations`](super::NodeConfig::max_link_violations)
    /// the link is closed (its conversations fail `NO_RETRY`), and that is
    /// logged once, with the last sense.
    pub(crate) fn offence(&mut self, io: &mut dyn Io, link_id: LinkId, sense: Sense) {
        self.node.stats.violations.fetch_add(1, Ordering::Relaxed);
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        link.violations = link.violations.saturating_add(1);
        if link.violations < self.node.config.max_link_violations || link.closing {
            return;
        }
        link.closing = true;
        link.failure = PrimaryRc::CONV_FAILURE_NO_RETRY;
        tracing::warn!(
            parent: link.log.span(),
            violations = link.violations,
            %sense,
            "too many protocol violations: link closed"
        );
        io.close(link_id);
    }

    /// At a tick: closes the links whose time is up (`limits.rs`), and
    /// accounts every link's memory again.
    pub(crate) fn tick(&mut self, io: &mut dyn Io, now: Instant) {
        let config = &self.node.config;
        for (&id, link) in &mut self.links {
            if link.closing || !link.up {
                continue;
            }
            let (accepted, sessions) = (!link.initiator, link.sessions.len());
            if let Some(why) = link.timers.expired(now, accepted, sessions, config) {
                link.closing = true;
                tracing::info!(parent: link.log.span(), "{}", why.what());
                self.node.stats.links_shed.fetch_add(1, Ordering::Relaxed);
                io.close(id);
            }
        }
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in ids {
            self.account(io, id);
        }
        self.over_budget(io);
    }

    /// Accounts what `link_id` holds now (its partial PIU, its send
    /// queue); true if the shard is over its budget.
    pub(crate) fn account(&mut self, io: &dyn Io, link_id: LinkId) -> bool {
        let limit = self.memory_limit();
        let Some(link) = self.links.get_mut(&link_id) else {
            return false;
        };
        let held = if link.closing {
            0
        } else {
            link.split.held() + io.queued(link_id)
        };
        self.budget.account(&mut link.memory, held, limit)
    }

    /// Over the budget: closes the links that hold most until the shard
    /// is under it again.
    pub(crate) fn over_budget(&mut self, io: &mut dyn Io) {
        let limit = self.memory_limit();
        while self.budget.total() > limit {
            let largest = self
                .links
                .iter_mut()
                .filter(|(_, l)| !l.closing && l.memory > 0)
                .max_by_key(|(_, l)| l.memory);
            let Some((&id, link)) = largest else {
                return;
            };
            tracing::warn!(
                parent: link.log.span(),
                held = link.memory,
                max_node_memory = self.node.config.max_node_memory,
                "the node's memory budget is exceeded: the link holding most closed"
            );
            link.closing = true;
            self.budget.account(&mut link.memory, 0, limit);
            self.node.stats.links_shed.fetch_add(1, Ordering::Relaxed);
            io.close(id);
        }
    }

    /// Nothing sent is still on its way: no link has bytes queued, and no
    /// session waits for the response that ends its bracket (a PLU
    /// draining after its CEB). (The shard checks its conversations.)
    pub(crate) fn quiet(&self, io: &dyn Io) -> bool {
        self.links.iter().all(|(&id, link)| {
            io.queued(id) == 0
                && link
                    .sessions
                    .values()
                    .all(|s| !(s.bound && s.conv().is_none() && !s.hs.is_idle()))
        })
    }
}
