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
//! * **Sessions.** BIND (FM 19 / TS 7, both LU names network-qualified
//!   `NETID.LU` with [`NodeConfig::netid`] (`names.rs`), mode name in the user data,
//!   max RU sizes from [`NodeConfig::max_frame`]) / `+RSP(BIND)` with the
//!   image, whose RU sizes are the smaller of both ends' in each direction;
//!   UNBIND ends one. Each session runs one bracket (= one conversation) at a
//!   time (`protocol.rs` maps flows to RUs).
//! * **Pool.** Per link (= per partner) and mode, the idle bound sessions;
//!   a conversation takes one, or BINDs a new one up to
//!   [`NodeConfig::max_sessions_per_link`], or waits in FIFO order. A session
//!   whose bracket ended cleanly returns to the pool.
//! * **Pacing** (session-level, fixed; `protocol.rs`). The PLU's BIND
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
//! | the peer's [`NodeConfig::max_link_violations`]th protocol violation on the link (any row below, a refused BIND, a PIU for no session that does not decode) | every one on the link (closed, logged once with the last sense) | `CONV_FAILURE_NO_RETRY` |
//! | a BIND naming another LU as the secondary (another name, or this LU in another network; a bare name is taken as this network's) | none: `-RSP(BIND)` with `0835xxxx`, xxxx the offset of the secondary LU name in the BIND; the session is not bound | — |
//! | undecodable PIU, RH/state violation on one session | that session's (UNBIND type `FE` with the sense, logged) | `CONV_FAILURE_NO_RETRY`, at both ends |
//! | pacing violation: a request beyond the window, a window begun before its IPR, an IPR with a body (sense `20110000`) | that session's (UNBIND `FE`) | `CONV_FAILURE_NO_RETRY`, at both ends |
//! | unpaced session (window 0) whose conversation holds more than 2 × [`NodeConfig::max_session_buffer`] received and not taken (sense `08120000`) | that session's (UNBIND `FE`) | `CONV_FAILURE_NO_RETRY`, at both ends |
//! | a verb cancelled (`Session::close(true)`), or a conversation closed inside its bracket | that session's: UNBIND type `01`, sense `08640000`, at once | the partner: `CONV_FAILURE_RETRY` |
//! | a panic in the node's driver (or in the engine code its threads run for it), or a reactor thread lost to a panic: the node fails for good ([`TcpNode::health`] says why; logged once) | every one on the node, and every later ALLOCATE to its partners (its links are closed) | `COMM_SUBSYSTEM_ABENDED` (the documented code for a failed node: "node, LAN link, or local SnaBase failed"); the partners: `CONV_FAILURE_RETRY` |
//!
//! # Diagnostics
//!
//! The node prints nothing: what it reports is `tracing` events (the
//! owner installs a subscriber), each under its link's span (`link`, with
//! the LU, the link id and the peer's address) with the session and the
//! sense as fields. What a peer can provoke (violations, refused BINDs,
//! undecodable PIUs) is rate-limited per link and kind: a burst, then one
//! summary event, then silence until the window ends (`diag.rs`).
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
//! Tested (`tests/node.rs`): 50 MB sent to a TP that receives only after
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
//! The node's state (links, sessions, pools: `driver.rs`) sits behind one
//! mutex, the driver lock. A backend event runs its step on the reactor
//! thread that has it, which holds no engine lock. An engine session call
//! ([`Session::send`] / [`Session::close`], [`Session::consumed`] while an
//! IPR is withheld, [`Partner::attach`]) comes on a TP's thread holding
//! that conversation's lock (lock order: conversation → driver, never the
//! reverse) and queues its step in an inbox, run in order by one thread
//! at a time, many steps per run under load: with io_uring by a reactor
//! thread the call kicks ([`Backend::kick`]), so
//! the driver's state stays on the reactor's CPU; with epoll and IOCP by
//! the calling thread itself; for an aborting [`Session::close`] (a
//! cancel's) that finds the inbox idle, by the node's helper thread, so a
//! cancel returns without waiting for its UNBIND. The bytes steps write go to
//! the backend, one gathered send per link (`outbox.rs`), before the lock
//! is let go.
//! [`Session::backlogged`] takes no driver lock: it reads the
//! conversation's send backlog, which the steps keep up to date under a
//! lock of its own (a leaf). No step calls into the engine while it holds
//! the driver lock: its deliveries, failures and wake-ups of a send waiting
//! for the backlog ([`ConvPort`]) join one FIFO queue, run after the lock
//! is let go by one thread at a time — the reactor or helper thread whose
//! step queued them, or, for a step a TP's thread ran (it must not
//! re-enter the engine), the node's helper thread — so the engine sees
//! them in the order the steps made them. [`Node::incoming_attach`] is
//! called by the reactor thread with the driver lock let go and the new
//! conversation already entered, before the link's next event. Per link,
//! order is the backend's (one thread at a time); per conversation, the
//! TP's calls are ordered by its lock.
//!
//! # Large records on glibc
//!
//! A received record is a buffer the reactor fills and the TP drops; an RU
//! to send, one the TP's step fills and the reactor drops once written.
//! Freed on another thread than the one that made it, a 64 KiB buffer can
//! leave more than glibc's trim threshold (128 KiB) free at the top of its
//! heap, which glibc then gives back to the kernel, and the next record
//! faults its pages in again: one session's bandwidth measured about a
//! third of what it is with the threshold at 4 MiB (README, *Deploying on
//! glibc*). A process that moves large records should raise it
//! (`mallopt(M_TRIM_THRESHOLD, ..)` at startup, as the `appc-perf` tools
//! do, or `GLIBC_TUNABLES=glibc.malloc.trim_threshold=4194304`); a library
//! should not change its host's allocator, so the node does not.

mod config;
mod driver;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz;
mod limits;
mod link;
mod names;
mod outbox;
mod protocol;
#[cfg(test)]
mod tests;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub use config::{NodeConfig, CONTROL_BURST};

use crate::appc::{Attach, ConvPort, Node, Partner, Session};
use crate::backend::{self, Backend, Events, Kind, LinkId};
use driver::{Backlog, Caller, ConvSession, Driver, Shared};

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
    /// Gauge: conversations the driver holds now (with a session, waiting
    /// for one, or closed by the engine with flows still to go). Back to 0
    /// once every conversation has ended, whatever its links did: a leak
    /// check.
    pub conversations: AtomicU64,
    /// Gauge: links open or opening now. The gauges are set after each
    /// event the driver handles, so they lag it, never lead it.
    pub links: AtomicU64,
    /// High-water mark, over every session: bytes it delivered to its
    /// conversation that the TP had not yet taken (plus a mapped record
    /// being reassembled), as the session counts them (pacing).
    pub received_held_max: AtomicU64,
    /// High-water mark, over every conversation: bytes of its flows posted
    /// to the driver or held by pacing, not yet handed to the backend.
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

/// A local LU on TCP. Dropping it stops its driver and closes its links.
pub struct TcpNode {
    lu: String,
    shared: Arc<Shared>,
    backend: Arc<dyn Backend>,
    engine: Node,
    next_id: Arc<AtomicU64>,
    stats: Arc<NodeStats>,
    max_send_backlog: usize,
    linger: Duration,
    helper: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for TcpNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpNode")
            .field("lu", &self.lu)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

/// Backend events, run on the driver (set once the driver exists; a
/// `Weak`, as the driver owns the backend). Each runs guarded: a panic in
/// it fails the node ([`Shared::guard`]), and the reactor goes on.
struct ToDriver(OnceLock<Weak<Shared>>);

impl ToDriver {
    fn with(&self, event: impl FnOnce(&Shared)) {
        if let Some(shared) = self.0.get().and_then(Weak::upgrade) {
            shared.guard(Caller::Free, || event(&shared));
        }
    }
}

impl Events for ToDriver {
    fn connected(&self, link: LinkId, peer: SocketAddr) {
        self.with(|shared| shared.connected(link, peer));
    }

    fn received(&self, link: LinkId, data: &[u8]) {
        self.with(|shared| shared.received(link, data));
    }

    fn closed(&self, link: LinkId, error: Option<io::Error>) {
        self.with(|shared| shared.closed(link, error));
    }

    fn kicked(&self) {
        self.with(Shared::kicked);
    }

    fn failed(&self, reason: &str) {
        self.with(|shared| shared.fail(Caller::Free, reason));
    }
}

/// A partner LU as the engine sees it.
struct TcpPartner {
    alias: String,
    /// The LU name its BINDs give it.
    lu: String,
    addr: SocketAddr,
    shared: Weak<Shared>,
    next_id: Arc<AtomicU64>,
    max_send_backlog: usize,
}

impl Partner for TcpPartner {
    fn attach(&self, attach: &Attach, port: ConvPort) -> Arc<dyn Session> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let backlog = Backlog::new(self.max_send_backlog);
        if let Some(shared) = self.shared.upgrade() {
            let port = (port, Arc::clone(&backlog));
            let names = (self.alias.clone(), self.lu.clone());
            shared.attach(id, attach, port, names, self.addr);
        }
        Arc::new(ConvSession {
            id,
            shared: self.shared.clone(),
            backlog,
        })
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
        let events = Arc::new(ToDriver(OnceLock::new()));
        let backend = backend::start(kind, events.clone(), config.backend_config())?;
        let next_id = Arc::new(AtomicU64::new(1));
        let stats = Arc::new(NodeStats::default());
        let max_send_backlog = config.max_send_backlog;
        let tick = limits::tick_period(&config);
        let linger = config.linger;
        let (wake, wakes) = channel();
        let shared = Shared::new(
            |me| {
                Driver::new(
                    lu_name.to_owned(),
                    engine.clone(),
                    Arc::clone(&backend),
                    config,
                    Arc::clone(&stats),
                    Arc::clone(&next_id),
                    me,
                )
            },
            wake,
        );
        let _ = events.0.set(Arc::downgrade(&shared));
        let helper = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name(format!("appc-node-{lu_name}"))
            .spawn(move || helper.helper(wakes, tick))?;
        Ok(TcpNode {
            lu: lu_name.to_owned(),
            shared,
            backend,
            engine,
            next_id,
            stats,
            max_send_backlog,
            linger,
            helper: Mutex::new(Some(thread)),
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
        if self.shared.stopped() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("node {} is shut down", self.lu),
            ));
        }
        self.backend.listen(addr)
    }

    /// `Ok` while the node works; once it has failed, for good, the error
    /// says why. A node fails when a panic (a bug in the node or the
    /// engine) or the loss of a reactor thread interrupts its driver on
    /// one of its threads: it then closes its links and fails every
    /// conversation, and every later ALLOCATE to its partners, with
    /// `AP_COMM_SUBSYSTEM_ABENDED` (logged once, as a `tracing` error). A
    /// gateway checks this (say, with its other health checks) and
    /// replaces the node: drop it and start a new one.
    pub fn health(&self) -> io::Result<()> {
        match self.shared.failure() {
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
    /// aliases may name one partner). The link is opened by the first
    /// ALLOCATE that flushes.
    pub fn add_partner_as(&self, plu_alias: &str, partner_lu: &str, addr: SocketAddr) {
        self.engine.add_partner(
            plu_alias,
            Arc::new(TcpPartner {
                alias: plu_alias.to_owned(),
                lu: partner_lu.to_owned(),
                addr,
                shared: Arc::downgrade(&self.shared),
                next_id: Arc::clone(&self.next_id),
                max_send_backlog: self.max_send_backlog,
            }),
        );
    }

    /// Closes the link to `plu_alias` abruptly (as a link loss would): its
    /// conversations fail with `CONV_FAILURE_RETRY`.
    pub fn disconnect(&self, plu_alias: &str) {
        self.shared
            .guard(Caller::Free, || self.shared.disconnect(plu_alias));
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
        if !self.shared.stopped() {
            self.shared.linger(linger);
        }
        self.shared.stop();
        // Reactor threads may be inside an event, holding the driver (and
        // so the backend) for a moment: joining them here, rather than
        // leaving the last drop to whichever thread lets go last, makes
        // the teardown synchronous (every socket closed when this returns).
        self.backend.shutdown();
    }
}

impl Drop for TcpNode {
    /// [`TcpNode::shutdown`] with [`NodeConfig::linger`], then the helper
    /// thread ends.
    fn drop(&mut self) {
        self.shutdown(self.linger);
        self.shared.end_helper();
        if let Some(thread) = self.helper.lock().ok().and_then(|mut t| t.take()) {
            let _ = thread.join();
        }
    }
}
