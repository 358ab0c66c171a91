//! A shard: the part of a node one reactor thread owns outright (its
//! links, their sessions, and the conversations on them), and the
//! reactor's handler that runs it.
//!
//! Other threads reach a shard only through its inbox (`owner.rs`). The
//! reactor drains the inbox once per turn, in order, and runs each item on
//! its conversation with the session as the conversation's peer; bytes
//! that arrive are read in place, and what they mean for a conversation is
//! run at once (`arrival.rs`). Nothing on that path takes a lock, and a
//! turn's writes to a link go out as one write.
//!
//! # Down
//!
//! A shard is down once the node stopped ([`Msg::Stop`]: its links are
//! closed, their conversations failed as on a lost link) or failed
//! ([`Msg::Fail`], or a panic on any reactor: every conversation fails
//! with `AP_COMM_SUBSYSTEM_ABENDED`). A down shard still answers its
//! conversations' verbs (their ends report the failure), fails each new
//! conversation at once (`AP_COMM_SUBSYSTEM_NOT_LOADED` once stopped,
//! `_ABENDED` once failed) and closes every link that comes up. When its
//! reactor stops, the ends still in use move to the owner's orphans.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::conv::{Carrier, Conv, Convs, Dead, SessionPeer, Step};
use super::exec::{self, Tasks};
use super::limits::tick_period;
use super::link::Piu;
use super::owner::{self, Msg, ShardOwner, INBOX};
use super::sessions::{Core, Maxima, Todo, FRAMING_SENSE};
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::{name, ConvId};
use crate::appc::{Failure, Owner, Work};
use crate::backend::{Handler, Io, LinkId};
use crate::engine::id_hash::IdHashMap;
use crate::engine::inbox::Consumer;

/// Rounds of ready tasks a turn polls at most (see [`Handler::turn`]).
const TASK_ROUNDS: usize = 64;

/// One reactor's part of the node.
pub(crate) struct Shard {
    pub(super) owner: Arc<ShardOwner>,
    /// The same, as the engine takes it.
    pub(super) as_owner: Arc<dyn Owner>,
    inbox: Consumer<Msg>,
    pub(super) core: Core,
    pub(super) convs: Convs,
    /// The node is down (see the module docs): the code new conversations
    /// fail with.
    down: Option<PrimaryRc>,
    /// Shutting down: the shard reports whether it is quiet each turn.
    lingering: bool,
    /// When the link timers are checked next.
    next_tick: Instant,
    /// The gauges as this shard last added them to the node's.
    reported: Gauges,
    /// The high-water marks as last published.
    published: Maxima,
    /// Tasks running on this reactor (`exec.rs`).
    tasks: Tasks,
}

/// A shard's share of the node's gauges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Gauges {
    conversations: u64,
    links: u64,
    memory: u64,
}

impl Shard {
    /// The shard of `owner`, run by the current thread (a reactor) from now
    /// on.
    pub(crate) fn new(owner: Arc<ShardOwner>, inbox: Consumer<Msg>) -> Self {
        let node = owner.node.clone();
        Self {
            as_owner: owner.clone(),
            core: Core::new(node.clone()),
            owner,
            inbox,
            convs: IdHashMap::default(),
            down: None,
            lingering: false,
            next_tick: Instant::now() + tick_period(&node.config),
            reported: Gauges::default(),
            published: Maxima::default(),
            tasks: Tasks::default(),
        }
    }

    /// Adds what changed in this shard's share to the node's gauges (once
    /// per turn: the node's counters are shared by every reactor).
    fn gauges(&mut self) {
        let now = Gauges {
            conversations: self.convs.len() as u64,
            links: self.core.links.len() as u64,
            memory: self.core.budget.total() as u64,
        };
        let stats = &self.core.node.stats;
        let pairs: [(&AtomicU64, u64, u64); 3] = [
            (
                &stats.conversations,
                self.reported.conversations,
                now.conversations,
            ),
            (&stats.links, self.reported.links, now.links),
            (&stats.memory, self.reported.memory, now.memory),
        ];
        for (gauge, was, is) in pairs {
            if is > was {
                gauge.fetch_add(is - was, Ordering::Release);
            } else if was > is {
                gauge.fetch_sub(was - is, Ordering::Release);
            }
        }
        self.reported = now;
        let maxima = self.core.maxima;
        if maxima != self.published {
            stats
                .received_held_max
                .fetch_max(maxima.received_held, Ordering::Relaxed);
            stats
                .send_backlog_max
                .fetch_max(maxima.send_backlog, Ordering::Relaxed);
            self.published = maxima;
        }
    }

    /// Runs `step` on conversation `id` with its session as its peer, then
    /// forgets the conversation if it is over.
    pub(super) fn on_conv(
        &mut self,
        io: &mut dyn Io,
        id: ConvId,
        step: impl FnOnce(&mut crate::appc::RemoteEnd, &mut SessionPeer<'_>),
    ) -> bool {
        let Some(conv) = self.convs.get_mut(&id) else {
            return false;
        };
        let mut peer = SessionPeer {
            core: &mut self.core,
            io,
            id,
            carrier: &mut conv.carrier,
        };
        step(&mut conv.end, &mut peer);
        self.forget_if_over(id);
        true
    }

    pub(super) fn forget_if_over(&mut self, id: ConvId) {
        if self
            .convs
            .get(&id)
            .is_some_and(|c| c.end.is_over() && !c.carrier.closing && c.carrier.at.is_none())
        {
            self.convs.remove(&id);
        }
    }

    fn message(&mut self, io: &mut dyn Io, msg: Msg) {
        match msg {
            Msg::Work(work) => self.work(io, work),
            Msg::Open(conv) => self.open(io, conv),
            Msg::Partner(partner) => {
                self.core.partners.insert(name(&partner.0), *partner);
            }
            Msg::Disconnect(alias) => {
                if let Some(&link) = self.core.out_links.get(&name(&alias)) {
                    io.close(link);
                }
            }
            Msg::Linger => self.lingering = true,
            Msg::Stop(done) => {
                self.stop(io);
                let _ = done.send(());
            }
            Msg::Fail(done) => {
                self.fail(io);
                let _ = done.send(());
            }
            Msg::Spawn(make) => self.tasks.spawn(&self.owner, make),
            Msg::Wake(index) => self.tasks.woken(index),
        }
    }

    fn work(&mut self, io: &mut dyn Io, work: Work) {
        let (id, new, step) = Step::of(work);
        if let Some(end) = new {
            return self.open(io, Conv::opened(end));
        }
        let down = self.down;
        if self.convs.contains_key(&id) {
            self.on_conv(io, id, |end, peer| step.run(end, peer, down));
        } else {
            step.unheld(&self.core.node.engine);
        }
    }

    /// Takes a conversation this node allocated, and opens it.
    fn open(&mut self, io: &mut dyn Io, conv: Box<Conv>) {
        let id = conv.end.conv_id();
        self.convs.insert(id, conv);
        let down = self.down;
        self.on_conv(io, id, |end, peer| Step::Open.run(end, peer, down));
    }

    /// Runs what this thread posted to its own shard, in order.
    fn run_local(&mut self, io: &mut dyn Io) {
        while let Some(msg) = owner::pop_local() {
            self.message(io, msg);
            self.todo(io);
        }
    }

    /// Closes every link; their conversations fail as on a lost link, and
    /// those that never had one with `AP_COMM_SUBSYSTEM_NOT_LOADED`.
    fn stop(&mut self, io: &mut dyn Io) {
        let primary = *self
            .down
            .get_or_insert(PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED);
        let failure = Failure {
            primary,
            secondary: SecondaryRc(0),
        };
        for (&id, conv) in &self.convs {
            if conv.carrier.link().is_none() && conv.carrier.at.is_none() {
                self.core.todo.push_back(Todo::Fail(id, failure));
            }
        }
        let links: Vec<LinkId> = self.core.links.keys().copied().collect();
        for link in links {
            io.close(link);
            self.core.closed(&mut self.convs, link, None);
        }
        self.core.out_links.clear();
        self.todo(io);
        self.gauges();
    }

    /// The node failed: every link closes, every conversation fails with
    /// `AP_COMM_SUBSYSTEM_ABENDED`.
    fn fail(&mut self, io: &mut dyn Io) {
        let primary = PrimaryRc::COMM_SUBSYSTEM_ABENDED;
        self.down = Some(primary);
        let links: Vec<LinkId> = self.core.links.keys().copied().collect();
        for link in links {
            io.close(link);
            self.core.links.remove(&link);
            self.core.node.close_link();
        }
        self.core.out_links.clear();
        let failure = Failure {
            primary,
            secondary: SecondaryRc(0),
        };
        let ids: Vec<ConvId> = self.convs.keys().copied().collect();
        for id in ids {
            self.core.todo.push_back(Todo::Fail(id, failure));
        }
        self.todo(io);
        self.gauges();
    }

    /// Does what the steps left for later.
    pub(super) fn todo(&mut self, io: &mut dyn Io) {
        while let Some(todo) = self.core.todo.pop_front() {
            match todo {
                Todo::Assign(link) => self.core.assign(io, &mut self.convs, link),
                Todo::Release(link, sid) => self.core.release(io, &mut self.convs, link, sid),
                Todo::Fail(id, failure) => {
                    if let Some(conv) = self.convs.get_mut(&id) {
                        conv.carrier = Carrier::default();
                    }
                    self.on_conv(io, id, |end, peer| end.fail(failure, peer));
                    // An end closed already is forgotten with its carrier.
                    if self.convs.get(&id).is_some_and(|c| c.end.is_over()) {
                        self.convs.remove(&id);
                    }
                }
                Todo::Writable(id) => {
                    self.on_conv(io, id, |end, peer| end.writable(peer));
                }
            }
        }
        while let Some(id) = self.core.touched.pop() {
            self.forget_if_over(id);
        }
    }

    /// Bytes arrived on `link_id`: each PIU they complete, in order.
    fn split(&mut self, io: &mut dyn Io, link_id: LinkId, mut data: &[u8]) {
        while let Some(link) = self.core.links.get_mut(&link_id) {
            if link.split.is_broken() || link.closing {
                // Closing already: bytes that were in flight, not a new fault.
                break;
            }
            match link.split.next(&mut data) {
                Ok(Some(Piu::InPlace(piu))) => self.piu(io, link_id, piu),
                Ok(Some(Piu::Gathered)) => {
                    let buf = link.split.take_gathered();
                    self.piu(io, link_id, &buf[crate::wire::frame::PREFIX_LEN..]);
                    if let Some(link) = self.core.links.get_mut(&link_id) {
                        link.split.recycle(buf);
                    }
                }
                Ok(None) => break,
                Err(len) => {
                    tracing::warn!(
                        parent: link.log.span(),
                        length = len,
                        sense = %FRAMING_SENSE,
                        "framing broken: link closed"
                    );
                    self.core
                        .node
                        .stats
                        .violations
                        .fetch_add(1, Ordering::Relaxed);
                    link.failure = PrimaryRc::CONV_FAILURE_NO_RETRY;
                    link.closing = true;
                    io.close(link_id);
                    break;
                }
            }
            self.todo(io);
        }
    }

    /// Whether everything this shard's conversations sent is out and
    /// answered: the links are quiet, and no conversation closed by its TP
    /// still waits for a session to carry its flows.
    fn quiet(&self, io: &dyn Io) -> bool {
        self.core.quiet(io) && !self.convs.values().any(|c| c.carrier.closing)
    }
}

impl Handler for Shard {
    fn connected(&mut self, io: &mut dyn Io, link: LinkId, peer: SocketAddr) {
        if self.down.is_some() {
            io.close(link);
            return;
        }
        self.core.connected(io, link, peer);
        self.todo(io);
    }

    fn received(&mut self, io: &mut dyn Io, link_id: LinkId, data: &[u8]) {
        #[cfg(test)]
        if self
            .core
            .node
            .panic_on_receive
            .swap(false, Ordering::SeqCst)
        {
            panic!("injected: a step failed on the reactor");
        }
        self.split(io, link_id, data);
        self.todo(io);
        if self.core.account(io, link_id) {
            self.core.over_budget(io);
        }
    }

    fn closed(&mut self, io: &mut dyn Io, link: LinkId, error: Option<io::Error>) {
        self.core.closed(&mut self.convs, link, error);
        self.todo(io);
        self.core
            .node
            .stats
            .links_closed
            .fetch_add(1, Ordering::Release);
    }

    fn turn(&mut self, io: &mut dyn Io) {
        self.inbox.awake();
        // At most what the inbox holds: what comes meanwhile may wait for
        // the next turn, so that the reactor goes on with its I/O. The
        // overflow only once the inbox is empty: its messages came after
        // everything in the inbox (see `ShardOwner::send`).
        let mut emptied = false;
        for _ in 0..INBOX {
            let Some(msg) = self.inbox.pop() else {
                emptied = true;
                break;
            };
            self.message(io, msg);
            self.todo(io);
        }
        if emptied && self.owner.has_overflow() {
            for msg in self.owner.take_overflow() {
                self.message(io, msg);
                self.todo(io);
            }
        }
        self.run_local(io);
        let now = Instant::now();
        exec::fire_timers(now);
        // The tasks the turn made ready, and what they post to this shard,
        // until none is left: a reply that arrived and the next request a
        // task makes of it go out in this turn's write. Bounded, so that a
        // task that always wakes itself does not starve the links.
        for _ in 0..TASK_ROUNDS {
            if !self.tasks.poll_ready() {
                break;
            }
            self.run_local(io);
        }
        if now >= self.next_tick {
            self.next_tick = now + tick_period(&self.core.node.config);
            self.core.tick(io, now);
        }
        if self.lingering {
            self.owner.set_quiet(self.quiet(io));
        }
        self.gauges();
    }

    fn busy(&self) -> bool {
        !self.inbox.is_empty()
            || self.owner.has_overflow()
            || owner::has_local()
            || exec::any_ready()
    }

    fn sleep(&mut self) -> bool {
        !owner::has_local()
            && !exec::any_ready()
            && !self.owner.has_overflow()
            && self.inbox.sleep()
    }

    fn runs_tasks(&self) -> bool {
        self.tasks.any()
    }

    fn deadline(&self) -> Option<Instant> {
        Some(exec::next_timer().map_or(self.next_tick, |at| at.min(self.next_tick)))
    }
}

impl Drop for Shard {
    /// The reactor stopped: its conversations fail (with
    /// `AP_COMM_SUBSYSTEM_ABENDED` unless the node was shut down, which
    /// failed them already) and those still in use go to the orphans,
    /// where later verbs are answered; later work is answered by the
    /// posters' threads.
    fn drop(&mut self) {
        // Tasks go first, while this thread is still the shard's: what
        // their drops post (cancels) is answered with the rest below.
        self.tasks.clear();
        // What it held leaves the node's gauges before any verb it fails
        // completes.
        for _ in 0..self.core.links.len() {
            self.core.node.close_link();
        }
        let stats = &self.core.node.stats;
        stats
            .conversations
            .fetch_sub(self.reported.conversations, Ordering::Release);
        stats
            .links
            .fetch_sub(self.reported.links, Ordering::Release);
        stats
            .memory
            .fetch_sub(self.reported.memory, Ordering::Release);
        // A shard that stopped or failed has failed its conversations
        // already; one whose reactor panicked fails them now.
        let failure = Failure {
            primary: self.core.node.down_failure(),
            secondary: SecondaryRc(0),
        };
        let fail = self.down.is_none();
        for (id, mut conv) in self.convs.drain() {
            // A panic left this shard; one more changes nothing.
            let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if fail {
                    conv.end.fail(failure, &mut Dead);
                }
                conv.end
            }));
            if let Ok(end) = failed {
                self.owner.orphans.adopt(id, end);
            }
        }
        self.owner.detach_reactor(&mut self.inbox);
    }
}
