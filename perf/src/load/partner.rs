//! The partner node: an LU on loopback (or on its own, `--mode partner`)
//! whose `ECHO` TP answers every request with the same bytes, and whose
//! `SINK` TP takes records as fast as they come (`--mode bandwidth`).
//!
//! It is a second [`TcpNode`] with its own engine [`Node`] and [`Appc`], so
//! everything between the two nodes crosses real TCP, BINDs and brackets
//! included. The echo TP is driven the way a gateway drives its own side:
//! one pump thread and one completion [`Port`] for every conversation, never
//! a thread per conversation. Per conversation it runs RECEIVE_ALLOCATE,
//! then `RECEIVE_AND_WAIT` (with `rtn_status`, so data and the change of
//! direction come in one completion) -> `SEND_DATA` (`P_TO_R_FLUSH`, the
//! same bytes) -> `RECEIVE_AND_WAIT` ... until the conversation ends.
//!
//! The sink is the same loop with another answer: the TP an attach names
//! decides a conversation's [`Role`]. A sink keeps no data; it checks that
//! each record starts with the next sequence number (1, 2, ...: the
//! client's [`payload`](super::client::payload)), counts records and
//! bytes, and when the direction comes it answers with a [`SinkSummary`]
//! of what arrived since the last one. The sender learns from it that its
//! last byte arrived, and whether every record did, once and in order.
//!
//! A conversation the client cancels fails here (`AP_CONV_FAILURE_RETRY`
//! when its session is unbound); the TP is ended and its slot freed, and a
//! fresh RECEIVE_ALLOCATE is always kept waiting, so the partner never
//! runs dry. Its own exactly-once tally (every accepted verb completed
//! once, nothing left in its engine) is part of the run's verdict.

use super::verbs;
use appc_io::backend::Kind;
use appc_io::engine::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::engine::appc::verbs::{
    name, values, Body, Conv, ReceiveAllocate, SendData, Verb, MAX_DATA,
};
use appc_io::engine::appc::{Appc, Node};
use appc_io::engine::{Handle, Packet, Port, Target, WINAPPC_VERSION};
use appc_io::node::{NodeConfig, NodeStats, TcpNode};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// The partner LU's name.
pub const LU: &str = "APPCECHO";
/// The echo TP's name.
pub const TP: &str = "ECHO";
/// The sink TP's name.
pub const SINK_TP: &str = "SINK";

/// Echo RECEIVE_ALLOCATEs kept waiting, so attaches never queue for long.
const ARMED: usize = 64;
/// Sink RECEIVE_ALLOCATEs kept waiting (a bandwidth run opens one).
const SINK_ARMED: usize = 2;
/// The token of a RECEIVE_ALLOCATE on the port (conversations use their slot).
const ALLOCATE_TOKEN: usize = usize::MAX;

/// What a conversation's TP does with what it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    /// Sends the request back.
    Echo,
    /// Counts and checks records, answers with a [`SinkSummary`].
    Sink,
}

impl Role {
    fn tp(self) -> &'static str {
        match self {
            Role::Echo => TP,
            Role::Sink => SINK_TP,
        }
    }
}

/// What a sink received between two changes of direction: its answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SinkSummary {
    /// Records received.
    pub records: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Records whose sequence number was not the next one.
    pub out_of_order: u64,
}

impl SinkSummary {
    /// The answer's size on the wire.
    pub const LEN: usize = 24;

    /// Counts one record; its first 8 bytes must be the next sequence
    /// number (little-endian).
    fn add(&mut self, record: &[u8]) {
        self.records += 1;
        self.bytes += record.len() as u64;
        let seq = record
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes);
        if seq != Some(self.records) {
            self.out_of_order += 1;
        }
    }

    /// Adds another answer's counts (the slices of one bandwidth run).
    pub fn add_up(&mut self, other: &SinkSummary) {
        self.records += other.records;
        self.bytes += other.bytes;
        self.out_of_order += other.out_of_order;
    }

    /// The three counts, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        [self.records, self.bytes, self.out_of_order]
            .iter()
            .flat_map(|n| n.to_le_bytes())
            .collect()
    }

    /// The counts back, or `None` if `data` is not [`Self::LEN`] bytes.
    pub fn decode(data: &[u8]) -> Option<SinkSummary> {
        let data: &[u8; Self::LEN] = data.try_into().ok()?;
        let n =
            |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        Some(SinkSummary {
            records: n(0),
            bytes: n(1),
            out_of_order: n(2),
        })
    }
}

/// What the partner's application saw, for the verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PartnerTally {
    /// Conversations accepted (RECEIVE_ALLOCATE completed OK).
    pub conversations: u64,
    /// Requests echoed.
    pub echoed: u64,
    /// Conversations that ended: deallocated by the client, or failed when
    /// the client cancelled (its session unbound).
    pub ended: u64,
    /// Asynchronous verbs accepted.
    pub accepted: u64,
    /// Completions taken off the port.
    pub completions: u64,
    /// Completions for no outstanding verb (never expected).
    pub unexpected: u64,
    /// `Stats::live_tasks` after cleanup and drain.
    pub live_after: usize,
    /// Conversations the node's driver still held after cleanup (its leak
    /// gauge).
    pub node_conversations_left: u64,
}

impl PartnerTally {
    /// Every accepted verb completed exactly once and nothing is left, in
    /// the engine or in the node.
    pub fn exactly_once(&self) -> bool {
        self.accepted == self.completions
            && self.unexpected == 0
            && self.live_after == 0
            && self.node_conversations_left == 0
    }
}

/// A running partner node. [`Partner::stop`] ends it and returns its tally.
#[derive(Debug)]
pub struct Partner {
    node: TcpNode,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pump: Option<JoinHandle<PartnerTally>>,
}

impl Partner {
    /// Starts the partner LU listening on `listen` (port 0 picks one).
    /// With `serve`, the echo TP answers every request and the sink TP
    /// takes every record; without, attaches are accepted and left waiting
    /// for a RECEIVE_ALLOCATE that never comes, so the partner holds
    /// conversations without answering (the scale mode). Fails if the
    /// backend cannot start or the address is taken.
    pub fn start(
        kind: Kind,
        listen: SocketAddr,
        config: NodeConfig,
        serve: bool,
    ) -> io::Result<Partner> {
        let engine = Node::new();
        engine.define_tp(TP);
        engine.define_tp(SINK_TP);
        // The scale mode leaves a million attaches queued, far past the
        // 2,048 a node queues by default.
        engine.set_max_queued_attaches(usize::MAX);
        let node = TcpNode::start(LU, engine.clone(), kind, config)?;
        let addr = node
            .listen(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let pump = if serve {
            let (app, _) = Appc::startup(WINAPPC_VERSION, &engine)
                .map_err(|e| io::Error::other(format!("partner WinAPPCStartup: {e:?}")))?;
            let flag = Arc::clone(&stop);
            let pump = thread::Builder::new()
                .name("appc-echo".into())
                .spawn(move || Pump::new(app).run(&flag))?;
            Some(pump)
        } else {
            None
        };
        Ok(Partner {
            node,
            addr,
            stop,
            pump,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend its node runs on.
    pub fn backend_name(&self) -> &'static str {
        self.node.backend_name()
    }

    /// The node's counters.
    pub fn stats(&self) -> &NodeStats {
        self.node.stats()
    }

    /// Cleans the partner's application up (`WinAPPCCleanup`), drains its
    /// port and returns the tally (none without `serve`); then the node
    /// closes its links.
    pub fn stop(self) -> Option<PartnerTally> {
        self.stop.store(true, Ordering::Release);
        let mut tally = self.pump.map(|pump| pump.join().unwrap_or_default());
        if let Some(tally) = &mut tally {
            tally.node_conversations_left = super::settle(self.node.stats()).0;
        }
        drop(self.node);
        tally
    }
}

/// One accepted conversation: its ids, its one outstanding verb, and what
/// arrived since the last change of direction: an echo's request data, a
/// sink's counts.
struct Slot {
    conv: Conv,
    role: Role,
    outstanding: Option<Handle>,
    data: Vec<u8>,
    sunk: SinkSummary,
}

/// The partner TPs' pump: conversation slots and the one port.
struct Pump {
    app: Appc,
    port: Port<Verb>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Outstanding RECEIVE_ALLOCATE handles, with the TP each waits for.
    armed: Vec<(Handle, Role)>,
    tally: PartnerTally,
}

impl Pump {
    fn new(app: Appc) -> Self {
        let port = app.port();
        Self {
            app,
            port,
            slots: Vec::new(),
            free: Vec::new(),
            armed: Vec::new(),
            tally: PartnerTally::default(),
        }
    }

    fn run(mut self, stop: &AtomicBool) -> PartnerTally {
        for _ in 0..ARMED {
            self.arm(Role::Echo);
        }
        for _ in 0..SINK_ARMED {
            self.arm(Role::Sink);
        }
        while !stop.load(Ordering::Acquire) {
            if let Some(packet) = self.port.get(Some(Duration::from_millis(20))) {
                self.take(packet, true);
                while let Some(packet) = self.port.try_get() {
                    self.take(packet, true);
                }
            }
        }
        // WinAPPCCleanup: every TP ends, every waiting verb gets its one
        // AP_CANCELLED, already posted when cleanup returns.
        self.app.cleanup();
        while let Some(packet) = self.port.try_get() {
            self.take(packet, false);
        }
        self.tally.live_after = self.app.stats().live_tasks;
        self.tally
    }

    fn submit(&mut self, verb: Verb, token: usize) -> Option<Handle> {
        let target = Target::Port {
            port: self.port.clone(),
            key: 0,
            token,
            bytes: 0,
        };
        let handle = self.app.submit(verb, &target).ok()?;
        self.tally.accepted += 1;
        Some(handle)
    }

    fn arm(&mut self, role: Role) {
        let verb = Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name(role.tp()),
            ..ReceiveAllocate::default()
        }));
        if let Some(handle) = self.submit(verb, ALLOCATE_TOKEN) {
            self.armed.push((handle, role));
        }
    }

    fn receive(&mut self, index: usize) {
        let Some(slot) = &self.slots[index] else {
            return;
        };
        let verb = verbs::receive(slot.conv, MAX_DATA);
        self.next(index, verb);
    }

    /// Submits `verb` as the slot's one outstanding verb, or ends it.
    fn next(&mut self, index: usize, verb: Verb) {
        let handle = self.submit(verb, index);
        match (&mut self.slots[index], handle) {
            (Some(slot), Some(handle)) => slot.outstanding = Some(handle),
            _ => self.end(index),
        }
    }

    /// TP_ENDED(AP_HARD) for the slot's TP, and the slot is free.
    fn end(&mut self, index: usize) {
        if let Some(slot) = self.slots[index].take() {
            let _ = self.app.call(verbs::end_tp(slot.conv.tp_id));
            self.free.push(index);
        }
    }

    /// One completion. `live`: carry on (false while draining after cleanup).
    fn take(&mut self, packet: Packet<Verb>, live: bool) {
        self.tally.completions += 1;
        let ok = packet.verb.primary_rc == PrimaryRc::OK;
        if packet.token == ALLOCATE_TOKEN {
            let Some(at) = self.armed.iter().position(|&(h, _)| h == packet.handle) else {
                self.tally.unexpected += 1;
                return;
            };
            let (_, role) = self.armed.swap_remove(at);
            if let (true, Body::ReceiveAllocate(ra)) = (ok, &packet.verb.body) {
                self.tally.conversations += 1;
                let index = self.free.pop().unwrap_or_else(|| {
                    self.slots.push(None);
                    self.slots.len() - 1
                });
                self.slots[index] = Some(Slot {
                    conv: Conv {
                        tp_id: ra.tp_id,
                        conv_id: ra.conv_id,
                    },
                    role,
                    outstanding: None,
                    data: Vec::new(),
                    sunk: SinkSummary::default(),
                });
                if live {
                    self.receive(index);
                    self.arm(role);
                } else {
                    self.end(index);
                }
            }
            return;
        }
        let index = packet.token;
        let Some(Some(slot)) = self.slots.get_mut(index) else {
            self.tally.unexpected += 1;
            return;
        };
        if slot.outstanding != Some(packet.handle) {
            self.tally.unexpected += 1;
            return;
        }
        slot.outstanding = None;
        if !ok || !live {
            self.tally.ended += 1;
            return self.end(index);
        }
        match packet.verb.body {
            Body::ReceiveAndWait(r) => {
                match slot.role {
                    Role::Echo => slot.data.extend_from_slice(&r.data),
                    // rtn_status: a data part is one whole record (the
                    // receive's max_len is the most a record can hold).
                    Role::Sink if !r.data.is_empty() => slot.sunk.add(&r.data),
                    Role::Sink => {}
                }
                if r.what_rcvd.status_part() != WhatRcvd::SEND {
                    return self.receive(index);
                }
                let data = match slot.role {
                    Role::Echo => {
                        self.tally.echoed += 1;
                        std::mem::take(&mut slot.data)
                    }
                    Role::Sink => std::mem::take(&mut slot.sunk).encode(),
                };
                let verb = Verb::mapped(Body::SendData(SendData {
                    conv: slot.conv,
                    send_type: values::SEND_DATA_P_TO_R_FLUSH,
                    data,
                    rts_rcvd: false,
                }));
                self.next(index, verb);
            }
            _ => self.receive(index),
        }
    }
}
