//! The partner node: an LU on loopback (or on its own, `--mode partner`)
//! whose `ECHO` TP answers every request with the same bytes.
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

/// RECEIVE_ALLOCATEs kept waiting, so attaches never queue for long.
const ARMED: usize = 64;
/// The token of a RECEIVE_ALLOCATE on the port (conversations use their slot).
const ALLOCATE_TOKEN: usize = usize::MAX;

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
    /// With `echo`, the echo TP answers every request; without, attaches
    /// for `ECHO` are accepted and left waiting for a RECEIVE_ALLOCATE that
    /// never comes, so the partner holds conversations without answering
    /// (the scale mode). Fails if the backend cannot start or the address
    /// is taken.
    pub fn start(
        kind: Kind,
        listen: SocketAddr,
        config: NodeConfig,
        echo: bool,
    ) -> io::Result<Partner> {
        let engine = Node::new();
        engine.define_tp(TP);
        let node = TcpNode::start(LU, engine.clone(), kind, config)?;
        let addr = node
            .listen(listen)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let pump = if echo {
            let (app, _) = Appc::startup(WINAPPC_VERSION, &engine)
                .map_err(|e| io::Error::other(format!("partner WinAPPCStartup: {e:?}")))?;
            let flag = Arc::clone(&stop);
            let pump = thread::Builder::new()
                .name("appc-echo".into())
                .spawn(move || Echo::new(app).run(&flag))?;
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

    /// Cleans the echo application up (`WinAPPCCleanup`), drains its port
    /// and returns the tally (none without echo); then the node closes its
    /// links.
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

/// One accepted conversation: its ids, its one outstanding verb, and the
/// data received so far of a request whose change of direction has not come.
struct Slot {
    conv: Conv,
    outstanding: Option<Handle>,
    data: Vec<u8>,
}

/// The echo TP's pump: conversation slots and the one port.
struct Echo {
    app: Appc,
    port: Port<Verb>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Outstanding RECEIVE_ALLOCATE handles.
    armed: Vec<Handle>,
    tally: PartnerTally,
}

impl Echo {
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
            self.arm();
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

    fn arm(&mut self) {
        let verb = Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name(TP),
            ..ReceiveAllocate::default()
        }));
        if let Some(handle) = self.submit(verb, ALLOCATE_TOKEN) {
            self.armed.push(handle);
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
            let Some(at) = self.armed.iter().position(|&h| h == packet.handle) else {
                self.tally.unexpected += 1;
                return;
            };
            self.armed.swap_remove(at);
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
                    outstanding: None,
                    data: Vec::new(),
                });
                if live {
                    self.receive(index);
                    self.arm();
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
                slot.data.extend_from_slice(&r.data);
                if r.what_rcvd.status_part() != WhatRcvd::SEND {
                    return self.receive(index);
                }
                self.tally.echoed += 1;
                let verb = Verb::mapped(Body::SendData(SendData {
                    conv: slot.conv,
                    send_type: values::SEND_DATA_P_TO_R_FLUSH,
                    data: std::mem::take(&mut slot.data),
                    rts_rcvd: false,
                }));
                self.next(index, verb);
            }
            _ => self.receive(index),
        }
    }
}
