//! A local LU over TCP: [`TcpNode`] carries the conversations of an engine
//! [`Node`] to partner LUs on other nodes, as LU 6.2 sessions over the
//! [`wire`](crate::wire) codec and a [`backend`].
//!
//! # Shape
//!
//! * **Links.** One TCP connection per (this node, partner) pair, opened
//!   lazily by the first ALLOCATE to that partner (and again after a loss).
//!   The node that opened it is the PLU of every session on it: it assigns
//!   the LFSIDs, sends the BINDs and begins every bracket; the accepting node
//!   only answers. A node that also allocates towards the other opens its
//!   own link (`link.rs`).
//! * **Sessions.** BIND (FM 19 / TS 7, LU names, mode name in the user data,
//!   max RU sizes from [`NodeConfig::max_frame`]) / `+RSP(BIND)` with the
//!   image, whose RU sizes are the smaller of both ends' in each direction;
//!   UNBIND ends one. Each session runs one bracket (= one conversation) at a
//!   time (`protocol/` maps flows to RUs, `docs/wire.md#verbs-on-the-wire`).
//! * **Pool.** Per link (= per partner) and mode, the idle bound sessions;
//!   a conversation takes one, or BINDs a new one up to
//!   [`NodeConfig::max_sessions_per_link`], or waits in FIFO order. A session
//!   whose bracket ended cleanly returns to the pool.
//! * **Pacing** (session-level, fixed; `protocol/pacing.rs`). The PLU's BIND
//!   proposes [`NodeConfig::pacing_window`] (W RUs) in bytes 8/9/12/13; the
//!   SLU receives in `min(proposed, its own)` (answered in bytes 9/12 of its
//!   image) and sends in the PLU's receive window (byte 13); a BIND or image
//!   with windows of 0 leaves that direction unpaced (interop). A sender
//!   sets PI on the first normal-flow request of each window and holds the
//!   rest, in order, until the isolated pacing response (IPR) to it
//!   arrives. A receiver answers each PI request with an IPR only while its
//!   conversation holds at most [`NodeConfig::max_session_buffer`] bytes
//!   delivered and not yet taken by the TP (plus a mapped record being
//!   reassembled), else once the TP has taken enough (the engine's
//!   `Session::consumed`). Responses, SIGNAL and BIND/UNBIND are never
//!   paced; an UNBIND drops what is held.
//! * **Backpressure.** A SEND_DATA or FLUSH whose conversation has more
//!   than [`NodeConfig::max_send_backlog`] bytes posted to the driver or
//!   held by pacing waits (the engine's `Session::backlogged`) until the
//!   backlog is down to half of it (`ConvPort::writable`); cancelled, it
//!   ends as any cancelled verb (UNBIND, `AP_CANCELLED`).
//! * **Incoming attaches** go to [`Node::incoming_attach`] (RECEIVE_ALLOCATE);
//!   a refusal goes back as `-RSP(0846)` + FMH-7 with the sense + CEB, and
//!   the allocating end reports `ALLOCATION_ERROR` with it.
//!
//! # Failures
//!
//! | event | conversations affected | code |
//! |---|---|---|
//! | TCP link closed / reset / I/O error (a partial PIU held is dropped) | every one on the link | `CONV_FAILURE_RETRY` (still allocating: `ALLOCATION_ERROR` + `ALLOCATION_FAILURE_RETRY`) |
//! | the peer stopped reading: the link's send queue reached the backend's [`max_queued_bytes`](backend::Config::max_queued_bytes), at least [`CONTROL_BURST`] × `max_sessions_per_link` (paced sessions put at most 2·W RUs each on it; in practice unpaced sessions, or more sessions × windows than it holds) | every one on the link (closed, logged) | as a closed link |
//! | the partner's TP does not receive, or its node withholds IPRs | none: our sends wait for the window, then SEND_DATA / FLUSH wait for the backlog | — |
//! | broken framing (length prefix over [`NodeConfig::max_frame`] or under 9) | every one on the link (closed, sense `10020000` logged) | `CONV_FAILURE_NO_RETRY` |
//! | undecodable PIU, RH/state violation on one session | that session's (UNBIND type `FE` with the sense, logged) | `CONV_FAILURE_NO_RETRY`, at both ends |
//! | pacing violation: a request beyond the window, a window begun before its IPR, an IPR with a body (sense `20110000`) | that session's (UNBIND `FE`) | `CONV_FAILURE_NO_RETRY`, at both ends |
//! | unpaced session (window 0) whose conversation holds more than 2 × [`NodeConfig::max_session_buffer`] received and not taken (sense `08120000`) | that session's (UNBIND `FE`) | `CONV_FAILURE_NO_RETRY`, at both ends |
//! | a verb cancelled (`Session::close(true)`), or a conversation closed inside its bracket | that session's: UNBIND type `01`, sense `08640000`, at once | the partner: `CONV_FAILURE_RETRY` |
//!
//! # Memory
//!
//! Per link: one partial PIU ([`NodeConfig::max_frame`]) and the backend's
//! send queue ([`max_queued_bytes`](backend::Config::max_queued_bytes),
//! raised to [`CONTROL_BURST`] bytes a session: see
//! [`NodeConfig::backend_config`]).
//! Per session, with W = [`NodeConfig::pacing_window`], B =
//! [`NodeConfig::max_session_buffer`] and max_RU = `max_frame - 9`:
//!
//! * **received**, held by the conversation (in the driver's queue of
//!   deliveries to the engine, the engine's inbound queue and reader, and a
//!   mapped record being reassembled here) before its TP takes it: at most
//!   **B + (2·W − 1)·max_RU**, about B + 2·W·max_RU (the IPR for a window
//!   goes only at or below B; after it the partner may finish that window
//!   and send one more). Defaults: 1 MiB + 2·8·72 KiB = 2.125 MiB. Unpaced
//!   (window 0): 2·B, then the conversation fails.
//! * **to send**: [`NodeConfig::max_send_backlog`] (512 KiB) plus one
//!   flush (the engine's 32 KiB send buffer and the SEND_DATA over it),
//!   held by pacing or posted to the driver (its inbox); on the link, at
//!   most 2·W RUs not yet answered by an IPR. Flows queued before the
//!   session is active fail the allocation beyond B.
//!
//! Tested (`io/tests/node/limits.rs`): 50 MB sent to a TP that receives only after
//! the sender has stopped: B's gauge [`NodeStats::received_held_max`] stays
//! under the bound, the sender's SEND_DATAs wait, the link stays.
//!
//! Not bounded here: a conversation the partner has ended (its bracket
//! over, its data still in the engine for the TP) no longer counts against
//! the session, and a partner may start another one on it; the number of
//! conversations is bounded only by the sessions per link. (Bytes the
//! backend read are not queued: the reactor runs their step inline, so a
//! partner that ignores pacing is cut off at its first PIU over the
//! window.)
//!
//! # Threads
//!
//! Each reactor of the backend runs a shard of the node (`shard.rs`): it
//! owns the links it opened or accepted, their sessions, and the
//! conversations on them, with no lock. A partner LU belongs to one shard
//! (dealt round-robin by [`TcpNode::add_partner`]), and so does every
//! conversation to it; an incoming conversation belongs to the shard that
//! accepted its link. Each shard is the engine [`Node`]'s [`Owner`] of
//! its conversations: a TP's verb on one becomes a task on the TP's
//! thread, and its inputs go to the shard's inbox (lock-free; the reactor
//! is woken only if it sleeps), where the reactor runs it in order with
//! everything else of that conversation, writes what it sends into the
//! link's output (one write per link per turn), and completes it through
//! the engine. What arrives is read in place and runs at once, on the
//! reactor; a receive that is waiting gets the data copied straight into
//! its buffer. A cancel is decided on the canceller's thread by the
//! engine; its teardown (purge, UNBIND) is posted to the shard and runs
//! there, in order with the conversation's other work.
//!
//! # Large records on glibc
//!
//! A received record is a buffer the reactor fills and the TP drops; an RU
//! to send, one the TP's step fills and the reactor drops once written.
//! Freed on another thread than the one that made it, a 64 KiB buffer can
//! leave more than glibc's trim threshold (128 KiB) free at the top of its
//! heap, which glibc then gives back to the kernel, and the next record
//! faults its pages in again, costing one session most of its bandwidth
//! (`docs/design.md#glibcs-heap-trim-threshold`). A process that moves large records should raise it
//! (`mallopt(M_TRIM_THRESHOLD, ..)` at startup, as the `appc-perf` tools
//! do, or `GLIBC_TUNABLES=glibc.malloc.trim_threshold=4194304`); a library
//! should not change its host's allocator, so the node does not.

mod arrival;
mod attach;
mod config;
mod control;
mod conv;
mod enforce;
mod exec;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
mod limits;
mod link;
mod names;
mod owner;
mod protocol;
mod sessions;
mod shard;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
#[cfg(test)]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

pub use config::{NodeConfig, CONTROL_BURST};
pub use exec::{sleep, Sleep, Spawned};

use crate::appc::rc::PrimaryRc;
use crate::appc::{Node, Owner, WeakNode};
use crate::backend::{self, Backend, Events, Handler, Kind, Waker};
use exec::MakeTask;
use names::LuName;
use owner::{Msg, ShardOwner};
use shard::Shard;

/// Counters, for tests and monitoring.
#[derive(Debug, Default)]
pub struct NodeStats {
    /// BINDs this node sent (sessions it created as PLU).
    pub binds_sent: AtomicU64,
    /// BINDs this node accepted (as SLU).
    pub binds_accepted: AtomicU64,
    /// Conversations that took a pooled session instead of a new one.
    pub sessions_reused: AtomicU64,
    /// Protocol violations detected (sessions unbound, links closed).
    pub violations: AtomicU64,
    /// Links gone, counted once the link's conversations have been failed.
    pub links_closed: AtomicU64,
    /// Gauge: conversations the node holds now (with a session, waiting
    /// for one, or closed by the TP with flows still to go). Back to 0
    /// once every conversation has ended, whatever its links did: a leak
    /// check.
    pub conversations: AtomicU64,
    /// Gauge: links open or opening now. The gauges are brought up to date
    /// at the end of each reactor turn, so they lag the events, never lead
    /// them.
    pub links: AtomicU64,
    /// High-water mark, over every session: bytes it delivered to its
    /// conversation that the TP had not yet taken (plus a mapped record
    /// being reassembled), as the session counts them (pacing).
    pub received_held_max: AtomicU64,
    /// High-water mark, over every conversation: bytes of its flows queued
    /// for a session or held by pacing, not yet written to the link.
    pub send_backlog_max: AtomicU64,
    /// Gauge: bytes the links hold in the node and its backend (partial
    /// PIUs, bytes queued to send), as last accounted; see
    /// [`NodeConfig::max_node_memory`].
    pub memory: AtomicU64,
    /// Links this node closed to keep within its limits: over
    /// [`NodeConfig::max_links`], past [`NodeConfig::handshake_timeout`]
    /// or [`NodeConfig::idle_timeout`], over [`NodeConfig::max_node_memory`].
    pub links_shed: AtomicU64,
}

impl NodeStats {
    /// `(binds_sent, binds_accepted, sessions_reused, violations, links_closed)`.
    pub fn snapshot(&self) -> (u64, u64, u64, u64, u64) {
        let get = |c: &AtomicU64| c.load(Ordering::Acquire);
        (
            get(&self.binds_sent),
            get(&self.binds_accepted),
            get(&self.sessions_reused),
            get(&self.violations),
            get(&self.links_closed),
        )
    }

    /// The gauges: `(conversations, links)`.
    pub fn live(&self) -> (u64, u64) {
        (
            self.conversations.load(Ordering::Acquire),
            self.links.load(Ordering::Acquire),
        )
    }
}

/// What every shard of a node shares: read-only but the counters and the
/// node's fate.
pub(crate) struct Shared {
    pub(crate) lu: String,
    /// The LU as BINDs name it.
    pub(crate) name: LuName,
    pub(crate) config: NodeConfig,
    pub(crate) stats: Arc<NodeStats>,
    /// The engine's node, which holds the shards (as the owners of their
    /// conversations) and so is not held here.
    pub(crate) engine: WeakNode,
    /// How many shards there are (set once the backend has started them).
    shards: AtomicUsize,
    /// Links open or opening, against [`NodeConfig::max_links`].
    links_open: AtomicUsize,
    /// The node was shut down.
    stopped: std::sync::atomic::AtomicBool,
    /// Set once, when a panic failed the node: why.
    failure: OnceLock<String>,
    /// Test hook: the next bytes received make the reactor panic.
    #[cfg(test)]
    pub(crate) panic_on_receive: AtomicBool,
}

impl Shared {
    /// How many shards share the node's limits.
    pub(crate) fn shards(&self) -> usize {
        self.shards.load(Ordering::Relaxed).max(1)
    }

    /// Takes one of the node's [`NodeConfig::max_links`]; false if none is
    /// left.
    pub(crate) fn open_link(&self) -> bool {
        self.links_open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.config.max_links).then_some(n + 1)
            })
            .is_ok()
    }

    /// Gives back a link taken with [`open_link`](Self::open_link).
    pub(crate) fn close_link(&self) {
        let _ = self
            .links_open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The code conversations get once the node is down: shut down
    /// (`AP_COMM_SUBSYSTEM_NOT_LOADED`: no active node has the LU) or
    /// failed (`AP_COMM_SUBSYSTEM_ABENDED`); `None` while it runs.
    pub(crate) fn down(&self) -> Option<PrimaryRc> {
        if self.failure.get().is_some() {
            Some(PrimaryRc::COMM_SUBSYSTEM_ABENDED)
        } else if self.stopped.load(Ordering::Acquire) {
            Some(PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED)
        } else {
            None
        }
    }

    /// [`down`](Self::down) for a shard that is gone: its reactor stopped,
    /// so the node is down even if no one said so yet (a panic is reported
    /// after the shard is dropped).
    pub(crate) fn down_failure(&self) -> PrimaryRc {
        self.down().unwrap_or(PrimaryRc::COMM_SUBSYSTEM_ABENDED)
    }
}

/// A local LU on TCP. Dropping it shuts it down ([`TcpNode::shutdown`]
/// with [`NodeConfig::linger`]).
pub struct TcpNode {
    lu: String,
    backend: Arc<dyn Backend>,
    engine: Node,
    shared: Arc<Shared>,
    stats: Arc<NodeStats>,
    shards: Vec<Arc<ShardOwner>>,
    /// The shard the next partner goes to.
    next: AtomicUsize,
    /// The shard the next task goes to.
    next_task: AtomicUsize,
    linger: Duration,
}

impl std::fmt::Debug for TcpNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpNode")
            .field("lu", &self.lu)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

/// Makes each reactor's shard as the reactor starts, and keeps their
/// owners, for the node and for [`Events::failed`].
struct Reactors {
    node: Arc<Shared>,
    owners: Mutex<Vec<(usize, Arc<ShardOwner>)>>,
}

impl Events for Reactors {
    fn reactor(&self, index: usize, waker: Waker) -> Box<dyn Handler> {
        let (owner, inbox) = ShardOwner::new(Arc::clone(&self.node));
        owner.attach_reactor(waker);
        self.owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((index, owner.clone()));
        Box::new(Shard::new(owner, inbox))
    }

    /// A reactor panicked (a bug in the node or the engine): the node
    /// fails, for good. It is logged; every other shard closes its links
    /// and fails its conversations with `AP_COMM_SUBSYSTEM_ABENDED` (the
    /// code the API reference gives for a failed node or link station);
    /// so does every later ALLOCATE; the owner sees it in
    /// [`TcpNode::health`].
    fn failed(&self, reason: &str) {
        if self.node.failure.set(reason.to_owned()).is_err() {
            return;
        }
        tracing::error!(
            node = %self.node.lu,
            reason,
            "node failed (a panic on one of its threads): its links are closed \
             and its conversations fail with AP_COMM_SUBSYSTEM_ABENDED"
        );
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        let (done, failed) = channel();
        // This reactor's own shard fails its conversations as it is
        // dropped, after this.
        for (_, owner) in owners.iter().filter(|(_, o)| !o.is_current()) {
            owner.send(Msg::Fail(done.clone()));
        }
        drop((done, owners));
        // The other shards have failed theirs when this returns; a shard
        // stuck elsewhere does not hold this reactor for long.
        let deadline = Instant::now() + Duration::from_secs(1);
        while failed
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
        {}
    }
}

impl TcpNode {
    /// Starts the LU `lu_name` (an SNA name: letters, digits, `$#@.`) for
    /// `engine`, with a backend of `kind`.
    pub fn start(
        lu_name: &str,
        engine: Node,
        kind: Kind,
        config: NodeConfig,
    ) -> io::Result<TcpNode> {
        if crate::wire::ebcdic::encode(lu_name).is_err() || lu_name.is_empty() || lu_name.len() > 17
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{lu_name:?} is not an LU name"),
            ));
        }
        if !names::is_sna_name(&config.netid) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{:?} is not a network identifier", config.netid),
            ));
        }
        let stats = Arc::new(NodeStats::default());
        let backend_config = config.backend_config();
        let linger = config.linger;
        let node = Arc::new(Shared {
            lu: lu_name.to_owned(),
            name: LuName::new(lu_name, &config.netid),
            config,
            stats: Arc::clone(&stats),
            engine: engine.downgrade(),
            shards: AtomicUsize::new(0),
            links_open: AtomicUsize::new(0),
            stopped: Default::default(),
            failure: OnceLock::new(),
            #[cfg(test)]
            panic_on_receive: AtomicBool::new(false),
        });
        let events = Arc::new(Reactors {
            node: Arc::clone(&node),
            owners: Mutex::new(Vec::new()),
        });
        // Every reactor has made its shard once `start` returns.
        let backend = backend::start(kind, events.clone(), backend_config)?;
        let mut owners = events
            .owners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        owners.sort_by_key(|(index, _)| *index);
        let shards: Vec<_> = owners.into_iter().map(|(_, owner)| owner).collect();
        if shards.is_empty() {
            return Err(io::Error::other("the backend started no reactor"));
        }
        node.shards.store(shards.len(), Ordering::Relaxed);
        Ok(TcpNode {
            lu: lu_name.to_owned(),
            backend,
            engine,
            shared: node,
            stats,
            shards,
            next: AtomicUsize::new(0),
            next_task: AtomicUsize::new(0),
            linger,
        })
    }

    /// The LU name.
    pub fn lu_name(&self) -> &str {
        &self.lu
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Accepts links from partner nodes on `addr` (port 0 picks one).
    /// Fails once the node has failed ([`TcpNode::health`]) or shut down.
    pub fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        self.health()?;
        if self.shared.down().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("node {} is shut down", self.lu),
            ));
        }
        self.backend.listen(addr)
    }

    /// `Ok` while the node works; once it has failed, for good, the error
    /// says why. A node fails when a panic (a bug in the node or the
    /// engine) stops one of its reactor threads: it then closes its links
    /// and fails every conversation, and every later ALLOCATE to its
    /// partners, with `AP_COMM_SUBSYSTEM_ABENDED` (logged once, as a
    /// `tracing` error). A gateway checks this (say, with its other health
    /// checks) and replaces the node: drop it and start a new one.
    pub fn health(&self) -> io::Result<()> {
        match self.shared.failure.get() {
            None => Ok(()),
            Some(reason) => Err(io::Error::other(format!(
                "node {} failed: {reason}",
                self.lu
            ))),
        }
    }

    /// Makes ALLOCATE to `plu_alias` reach the node listening on `addr`,
    /// whose LU is named `plu_alias` too: [`add_partner_as`](Self::add_partner_as)
    /// with the alias as the name.
    pub fn add_partner(&self, plu_alias: &str, addr: SocketAddr) {
        self.add_partner_as(plu_alias, plu_alias, addr);
    }

    /// Makes ALLOCATE to `plu_alias` reach the node listening on `addr`,
    /// whose LU is `partner_lu` (`LU` in this node's network, or
    /// `NETID.LU`): the BINDs name it so, and that node refuses a BIND
    /// for an LU it is not. Each alias has a link of its own (several
    /// aliases may name one partner), opened by the first ALLOCATE that
    /// flushes, on the shard the alias is given to (round-robin).
    pub fn add_partner_as(&self, plu_alias: &str, partner_lu: &str, addr: SocketAddr) {
        let shard = &self.shards[self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()];
        shard.send(Msg::Partner(Box::new((
            plu_alias.to_owned(),
            partner_lu.to_owned(),
            addr,
        ))));
        let owner: Arc<dyn Owner> = shard.clone();
        self.engine.add_partner(plu_alias, owner);
    }

    /// Closes the link to `plu_alias` abruptly (as a link loss would): its
    /// conversations fail with `CONV_FAILURE_RETRY`.
    pub fn disconnect(&self, plu_alias: &str) {
        for shard in &self.shards {
            shard.send(Msg::Disconnect(plu_alias.to_owned()));
        }
    }

    /// Runs a task on one of the node's reactor threads (dealt
    /// round-robin, as partners are): `make` runs there and makes the
    /// future, which is polled there until it is done (so it need not be
    /// `Send`). This is how an application gets the thread-per-core shape:
    /// its verbs on conversations of that reactor and their completions
    /// cross no thread and wake none (see `exec.rs`). The task must not
    /// block: a blocking verb (`Appc::call`) on a conversation of its own
    /// reactor would wait for the very thread it holds; await
    /// `Appc::submit_future` or a port's `poll_get` instead. [`Spawned::join`]
    /// gives its output, or `None` if the node stopped first.
    pub fn spawn<F, Fut>(&self, make: F) -> Spawned<Fut::Output>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let (done, output) = sync_channel(1);
        let make = MakeTask(Box::new(move || {
            let future = make();
            Box::pin(async move {
                let _ = done.send(future.await);
            })
        }));
        let index = self.next_task.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[index].send(Msg::Spawn(make));
        Spawned::new(output)
    }

    /// The node's counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// Stops the node gracefully: waits, for at most `linger`, until what
    /// its conversations already sent has gone out and been answered where
    /// the session needs an answer (a DEALLOCATE's end of bracket, whose
    /// response frees the session), then closes every link (conversations
    /// still running fail as on a lost link, `AP_CONV_FAILURE_RETRY`) and
    /// stops its reactors: every socket is closed when it returns. Later
    /// ALLOCATEs to its partners fail with `AP_COMM_SUBSYSTEM_NOT_LOADED`.
    /// It does not wait for conversations to end: a gateway ends its TPs
    /// first. Idempotent; dropping the node does it with
    /// [`NodeConfig::linger`].
    pub fn shutdown(&self, linger: Duration) {
        if self.shared.stopped.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.shared.failure.get().is_none() {
            self.linger(linger);
        }
        let (done, stopped) = channel();
        for shard in &self.shards {
            shard.send(Msg::Stop(done.clone()));
        }
        drop(done);
        // Every shard has closed its links (or is gone) when the channel
        // closes.
        while stopped.recv().is_ok() {}
        // Joins the reactors: every socket is closed, and every shard
        // dropped, when this returns.
        self.backend.shutdown();
    }

    /// Waits, for at most `linger`, until every shard is quiet: what was
    /// posted before is run, and what it sent is out and answered. Polls
    /// every millisecond: only a stopping node waits here.
    fn linger(&self, linger: Duration) {
        for shard in &self.shards {
            shard.send(Msg::Linger);
        }
        let deadline = Instant::now() + linger;
        while Instant::now() < deadline && !self.shards.iter().all(|s| s.is_quiet()) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for TcpNode {
    fn drop(&mut self) {
        self.shutdown(self.linger);
    }
}
