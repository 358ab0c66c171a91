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
//! same bytes) -> `RECEIVE_AND_WAIT` ... until the conversation ends. A
//! request is held until the direction comes, so it is bounded by what one
//! `SEND_DATA` can echo (`MAX_DATA`): a longer one is refused with
//! `MC_SEND_ERROR` and dropped, and the conversation goes on.
//!
//! The sink is the same loop with another answer: the TP an attach names
//! decides a conversation's [`Role`]. A sink keeps no data; it checks that
//! each record starts with the next sequence number (1, 2, ...: the
//! client's [`payload`](super::payload::payload)), counts records and
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
use crate::args::Tps;
use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::{name, values, Body, Conv, ReceiveAllocate, SendError, Verb, MAX_DATA};
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::{Handle, Packet, Port, Target, WINAPPC_VERSION};
use appc_io::node::{sleep, NodeConfig, NodeStats, Spawned, TcpNode};
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
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
/// The port token of the TP_ENDEDs (whose completions carry nothing the
/// pump needs).
const ENDED_TOKEN: usize = usize::MAX - 1;
/// How long the pump waits for a completion before it looks at its stop
/// flag.
const TICK: Duration = Duration::from_millis(20);

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

    /// Writes the three counts, little-endian, over `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        for n in [self.records, self.bytes, self.out_of_order] {
            out.extend_from_slice(&n.to_le_bytes());
        }
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
    pump: Option<Running>,
}

/// The partner's TPs as they run ([`Tps`]).
#[derive(Debug)]
enum Running {
    Thread(JoinHandle<PartnerTally>),
    /// A task on the node's reactor, which hands the pump back to be
    /// finished off it (`WinAPPCCleanup` waits for the reactor).
    Task(Spawned<Pump>),
}

impl Partner {
    /// Starts the partner LU listening on `listen` (port 0 picks one).
    /// With `serve`, the echo TP answers every request and the sink TP
    /// takes every record, running where it says; without, attaches are
    /// accepted and left waiting for a RECEIVE_ALLOCATE that never comes,
    /// so the partner holds conversations without answering (the scale
    /// mode). Fails if the backend cannot start or the address is taken.
    pub fn start(
        kind: Kind,
        listen: SocketAddr,
        config: NodeConfig,
        serve: Option<Tps>,
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
        let pump = match serve {
            Some(tps) => {
                let (app, _) = Appc::startup(WINAPPC_VERSION, &engine)
                    .map_err(|e| io::Error::other(format!("partner WinAPPCStartup: {e:?}")))?;
                let flag = Arc::clone(&stop);
                Some(match tps {
                    Tps::Thread => Running::Thread(
                        thread::Builder::new()
                            .name("appc-echo".into())
                            .spawn(move || Pump::new(app).run(&flag))?,
                    ),
                    Tps::Task => Running::Task(node.spawn(move || Pump::new(app).run_task(flag))),
                })
            }
            None => None,
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
        let mut tally = self.pump.map(|pump| match pump {
            Running::Thread(pump) => pump.join().unwrap_or_default(),
            Running::Task(pump) => pump.join().map(Pump::finish).unwrap_or_default(),
        });
        if let Some(tally) = &mut tally {
            tally.node_conversations_left = super::settle(self.node.stats()).0;
        }
        drop(self.node);
        tally
    }
}

/// A conversation slot: the conversation it holds, if any, and what it
/// keeps from one conversation to the next: its completion target and its
/// two VCBs with their buffers.
struct Slot {
    live: Option<Live>,
    /// Where the slot's verbs complete: the port, the slot's index as token.
    target: Target<Verb>,
    /// The RECEIVE_AND_WAIT VCB, while not submitted.
    recv: Option<Verb>,
    /// The SEND_DATA VCB, while not submitted. Its buffer gathers an
    /// echo's request (the first piece by taking the received buffer
    /// whole) and goes back with it; a sink writes its answer there.
    send: Option<Verb>,
}

/// A slot's conversation: its ids, its TP, its one outstanding verb, and
/// a sink's counts since the last change of direction.
struct Live {
    conv: Conv,
    role: Role,
    outstanding: Option<Handle>,
    sunk: SinkSummary,
}

impl Slot {
    /// Takes back a VCB the engine returned (completed or refused). A
    /// send's buffer comes back as it went: emptied here, it starts the
    /// next request.
    fn keep(&mut self, mut verb: Verb) {
        match &mut verb.body {
            Body::SendData(send) => {
                send.data.clear();
                self.send = Some(verb);
            }
            Body::ReceiveAndWait(_) => self.recv = Some(verb),
            _ => {}
        }
    }

    /// The SEND_DATA VCB's buffer (made on first use).
    fn send_buffer(&mut self) -> &mut Vec<u8> {
        let verb = self
            .send
            .get_or_insert_with(|| verbs::send_and_turn(Conv::default(), Vec::new()));
        match &mut verb.body {
            Body::SendData(send) => &mut send.data,
            _ => unreachable!("the slot keeps only a SEND_DATA here"),
        }
    }
}

/// The partner TPs' pump: conversation slots and the one port.
///
/// Nothing is allocated per request once a slot's buffers have grown to
/// the requests' size (they are never shrunk, and a slot keeps them for
/// its next conversation). An echo is zero-copy when its request comes in
/// one piece: the received buffer becomes the SEND_DATA's, and the
/// SEND_DATA's emptied one the next receive's. The receive's buffer is not
/// sized up front: the partner serves any client, whose records may be of
/// any size up to [`MAX_DATA`], and the engine grows a buffer only to what
/// it delivers.
struct Pump {
    app: Appc,
    port: Port<Verb>,
    /// The RECEIVE_ALLOCATEs' target.
    arming: Target<Verb>,
    slots: Vec<Slot>,
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
            arming: Target::Port {
                port: port.clone(),
                key: 0,
                token: ALLOCATE_TOKEN,
                bytes: 0,
            },
            port,
            slots: Vec::new(),
            free: Vec::new(),
            armed: Vec::with_capacity(ARMED + SINK_ARMED),
            tally: PartnerTally::default(),
        }
    }

    /// Serves on the calling thread until `stop`, then finishes.
    fn run(mut self, stop: &AtomicBool) -> PartnerTally {
        self.arm_all();
        while !stop.load(Ordering::Acquire) {
            let packet = self.port.get(Some(TICK));
            self.step(packet);
        }
        self.finish()
    }

    /// Serves as a task on the node's reactor until `stop`; the caller
    /// finishes the pump it returns.
    async fn run_task(mut self, stop: Arc<AtomicBool>) -> Self {
        self.arm_all();
        let mut tick = sleep(TICK);
        while !stop.load(Ordering::Acquire) {
            let packet = poll_fn(|cx| {
                if let Poll::Ready(packet) = self.port.poll_get(cx) {
                    return Poll::Ready(Some(packet));
                }
                if Pin::new(&mut tick).poll(cx).is_ready() {
                    tick = sleep(TICK);
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            self.step(packet);
        }
        self
    }

    fn arm_all(&mut self) {
        for _ in 0..ARMED {
            self.arm(Role::Echo);
        }
        for _ in 0..SINK_ARMED {
            self.arm(Role::Sink);
        }
    }

    /// Takes `packet` and what else is queued.
    fn step(&mut self, packet: Option<Packet<Verb>>) {
        if let Some(packet) = packet {
            self.take(packet, true);
            while let Some(packet) = self.port.try_get() {
                self.take(packet, true);
            }
        }
    }

    /// `WinAPPCCleanup`, the port drained, the tally (off the reactor).
    fn finish(mut self) -> PartnerTally {
        // WinAPPCCleanup: every TP ends, every waiting verb gets its one
        // AP_CANCELLED, already posted when cleanup returns.
        self.app.cleanup();
        while let Some(packet) = self.port.try_get() {
            self.take(packet, false);
        }
        self.tally.live_after = self.app.stats().live_tasks;
        self.tally
    }

    fn arm(&mut self, role: Role) {
        let verb = Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name(role.tp()),
            ..ReceiveAllocate::default()
        }));
        if let Ok(handle) = self.app.submit(verb, &self.arming) {
            self.tally.accepted += 1;
            self.armed.push((handle, role));
        }
    }

    /// A free slot (with the buffers of its last conversation), or a new one.
    fn slot(&mut self) -> usize {
        self.free.pop().unwrap_or_else(|| {
            let index = self.slots.len();
            self.slots.push(Slot {
                live: None,
                target: Target::Port {
                    port: self.port.clone(),
                    key: 0,
                    token: index,
                    bytes: 0,
                },
                recv: None,
                send: None,
            });
            index
        })
    }

    fn receive(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let Some(live) = &slot.live else {
            return;
        };
        let verb = verbs::reuse(slot.recv.take(), live.conv, |conv| {
            verbs::receive(conv, MAX_DATA, Vec::new())
        });
        self.next(index, verb);
    }

    /// Submits `verb` as the slot's one outstanding verb, or ends it.
    fn next(&mut self, index: usize, verb: Verb) {
        let slot = &mut self.slots[index];
        match self.app.submit(verb, &slot.target) {
            Ok(handle) => {
                self.tally.accepted += 1;
                if let Some(live) = &mut slot.live {
                    live.outstanding = Some(handle);
                }
            }
            Err(refused) => {
                slot.keep(refused.verb);
                self.end(index);
            }
        }
    }

    /// TP_ENDED(AP_HARD) for the slot's TP, and the slot is free. The
    /// TP's end is submitted, not waited for: it waits for the
    /// conversation's session layer, which may be the very thread the pump
    /// runs on.
    fn end(&mut self, index: usize) {
        if let Some(live) = self.slots[index].live.take() {
            let target = Target::Port {
                port: self.port.clone(),
                key: 0,
                token: ENDED_TOKEN,
                bytes: 0,
            };
            if self
                .app
                .submit(verbs::end_tp(live.conv.tp_id), &target)
                .is_ok()
            {
                self.tally.accepted += 1;
            }
            self.free.push(index);
        }
    }

    /// One completion. `live`: carry on (false while draining after cleanup).
    fn take(&mut self, packet: Packet<Verb>, live: bool) {
        self.tally.completions += 1;
        let ok = packet.verb.primary_rc == PrimaryRc::OK;
        if packet.token == ALLOCATE_TOKEN {
            return self.allocated(packet, ok, live);
        }
        if packet.token == ENDED_TOKEN {
            return;
        }
        let index = packet.token;
        let Some(slot) = self.slots.get_mut(index) else {
            self.tally.unexpected += 1;
            return;
        };
        let Some(conv) = slot
            .live
            .as_mut()
            .filter(|conv| conv.outstanding == Some(packet.handle))
        else {
            self.tally.unexpected += 1;
            return;
        };
        conv.outstanding = None;
        let mut verb = packet.verb;
        if !ok || !live {
            slot.keep(verb);
            self.tally.ended += 1;
            return self.end(index);
        }
        let Body::ReceiveAndWait(r) = &mut verb.body else {
            // A SEND_DATA or SEND_ERROR done: receive the next request.
            slot.keep(verb);
            return self.receive(index);
        };
        let (role, conv_ids) = (conv.role, conv.conv);
        let turned = r.what_rcvd.status_part() == WhatRcvd::SEND;
        match role {
            Role::Echo if slot.send_buffer().len() + r.data.len() > MAX_DATA => {
                // An echo is one MC_SEND_DATA, so a request longer than
                // MAX_DATA can never be answered, and holding it would let
                // a client that never turns the direction grow this
                // process without bound. The request is in error, not the
                // conversation, which is what MC_SEND_ERROR is for: it
                // purges what is still arriving, the client's next verb
                // gets AP_PROG_ERROR_NO_TRUNC (in SEND) or
                // AP_PROG_ERROR_PURGING (in RECEIVE), and the receive that
                // follows hands the direction back, so the client can go
                // on with a request the echo can answer. MC_DEALLOCATE
                // (AP_ABEND) would end a conversation the client may well
                // want to keep, and in RECEIVE it must wait for the
                // direction to reach the wire (KB Q136792).
                slot.send_buffer().clear();
                slot.keep(verb);
                let verb = Verb::mapped(Body::SendError(SendError {
                    conv: conv_ids,
                    err_type: values::ERR_PROG,
                    // The error is in what was received (this also picks
                    // the PURGING code if the direction came with the data).
                    err_dir: values::RCV_DIR_ERROR,
                    log_data: Vec::new(),
                    rts_rcvd: false,
                }));
                return self.next(index, verb);
            }
            Role::Echo => {
                let gathered = slot.send_buffer();
                if gathered.is_empty() {
                    std::mem::swap(gathered, &mut r.data);
                } else {
                    gathered.extend_from_slice(&r.data);
                }
            }
            // rtn_status: a data part is one whole record (the receive's
            // max_len is the most a record can hold).
            Role::Sink if !r.data.is_empty() => {
                if let Some(conv) = &mut slot.live {
                    conv.sunk.add(&r.data);
                }
            }
            Role::Sink => {}
        }
        slot.keep(verb);
        if !turned {
            return self.receive(index);
        }
        match role {
            Role::Echo => self.tally.echoed += 1,
            Role::Sink => {
                let sunk = slot
                    .live
                    .as_mut()
                    .map(|conv| std::mem::take(&mut conv.sunk));
                sunk.unwrap_or_default().encode_into(slot.send_buffer());
            }
        }
        let verb = verbs::reuse(slot.send.take(), conv_ids, |conv| {
            verbs::send_and_turn(conv, Vec::new())
        });
        self.next(index, verb);
    }

    /// A RECEIVE_ALLOCATE completed: a new conversation for a free slot.
    fn allocated(&mut self, packet: Packet<Verb>, ok: bool, live: bool) {
        let Some(at) = self.armed.iter().position(|&(h, _)| h == packet.handle) else {
            self.tally.unexpected += 1;
            return;
        };
        let (_, role) = self.armed.swap_remove(at);
        let (true, Body::ReceiveAllocate(ra)) = (ok, &packet.verb.body) else {
            return;
        };
        self.tally.conversations += 1;
        let index = self.slot();
        // What the slot's last conversation gathered and never sent back
        // (it failed in between) is not this one's.
        self.slots[index].send_buffer().clear();
        self.slots[index].live = Some(Live {
            conv: Conv {
                tp_id: ra.tp_id,
                conv_id: ra.conv_id,
            },
            role,
            outstanding: None,
            sunk: SinkSummary::default(),
        });
        if live {
            self.receive(index);
            self.arm(role);
        } else {
            self.end(index);
        }
    }
}

#[cfg(test)]
mod tests;
