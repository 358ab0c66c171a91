//! The gateway side: many conversations doing request/response over real
//! LU 6.2 sessions, all driven from one thread through one completion port.
//!
//! Each conversation (a *slot*) is its own TP: TP_STARTED, ALLOCATE, then
//! per request `SEND_DATA` (`P_TO_R_FLUSH`: the data and the change of
//! direction in one flush) and `RECEIVE_AND_WAIT` (`rtn_status`, so the echo
//! and the direction come back in one completion). The round trip is timed
//! from the SEND_DATA submit to the RECEIVE completion and recorded in an
//! HdrHistogram. The slot index rides in the port packet's token, so a
//! completion finds its conversation without a lookup.
//!
//! Nothing is allocated per request. A slot owns its two verb control
//! blocks, as a Windows TP owns its VCB memory: the SEND_DATA's holds the
//! request buffer, restamped in place with each request's number, and the
//! RECEIVE_AND_WAIT's holds a buffer of the request's size (the largest
//! record the echo brings). Each goes to the engine with its verb and
//! comes back in the completion; the engine moves the buffers, it does not
//! copy or replace them. An echo is checked where it landed against the
//! request's number ([`payload::matches()`]), never rebuilt to compare.
//!
//! Cancellation: each RECEIVE_AND_WAIT is picked with probability
//! `cancel_fraction`, and the picked handles are cancelled after the next
//! batch of completions has been pumped, so some are still pending (`0`)
//! and some have just finished (`WAPPCALREADY`). Each live cancel is
//! followed by one of a handle already consumed (must be `WAPPCALREADY`) and
//! one random `u64` (must be `WAPPCINVALID`). A cancelled conversation's
//! session is gone, so its TP is ended and the slot starts a new one.
//!
//! Exactly once is checked as it runs: a completion must be for its slot's
//! one outstanding handle; `AP_CANCELLED` arrives if and only if that
//! handle's cancel returned 0; every echo must equal its request; and at the
//! end, completions equal accepted verbs and the engine holds no task.

use super::payload::{self, payload};
use super::sampler::{Limit, Sampler};
use super::{verbs, Side};
use crate::workload::CancelCounts;
use appc_io::appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc_io::appc::verbs::{Body, Conv, Verb};
use appc_io::appc::Appc;
use appc_io::engine::{CancelOutcome, Handle, Packet, Port, Target};
use appc_io::node::sleep;
use hdrhistogram::Histogram;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// How long the run waits, after its limit, for requests in flight.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// Completions pumped between two rounds of cancels.
const BATCH: usize = 256;
/// Consumed handles remembered for the stale cancels.
const RECENT: usize = 1024;

/// What the client is asked to do.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Conversations at once (one session each).
    pub sessions: usize,
    /// Request (and echo) size in bytes.
    pub size: usize,
    /// Probability that a RECEIVE_AND_WAIT gets cancelled.
    pub cancel_fraction: f64,
    /// When to stop.
    pub limit: Limit,
    /// The partner LU alias to allocate to.
    pub partner: String,
    /// The partner's TP.
    pub tp: String,
}

/// The client's exactly-once accounting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientTally {
    /// Asynchronous verbs accepted (handles returned).
    pub accepted: u64,
    /// Verbs refused (no handle); never expected.
    pub rejected: u64,
    /// Completions taken off the port.
    pub completions: u64,
    /// Completions for a handle that was not its slot's outstanding one.
    pub unexpected: u64,
    /// `AP_CANCELLED` without a winning cancel, or a winning cancel whose
    /// completion was not `AP_CANCELLED`.
    pub cancel_mismatch: u64,
    /// Echoes that differed from their request.
    pub echo_mismatch: u64,
    /// Conversations that failed other than by our cancel.
    pub failures: u64,
    /// Conversations started.
    pub conversations: u64,
    /// Verbs still outstanding when the drain gave up.
    pub stuck: u64,
    /// Cancels of consumed handles (all must be `WAPPCALREADY`).
    pub stale: CancelCounts,
    /// Cancels of random `u64`s (all must be `WAPPCINVALID`).
    pub random: CancelCounts,
    /// `Stats::live_tasks` at the end.
    pub live_after: usize,
}

impl ClientTally {
    /// The verdict: every accepted handle completed exactly once, every
    /// cancel answer agreed with what was delivered, nothing leaked.
    pub fn exactly_once(&self) -> bool {
        self.accepted == self.completions
            && self.rejected == 0
            && self.unexpected == 0
            && self.cancel_mismatch == 0
            && self.echo_mismatch == 0
            && self.stuck == 0
            && self.live_after == 0
            && self.stale.already == self.stale.total()
            && self.random.invalid == self.random.total()
    }
}

/// What a slot does after a completion.
#[derive(Clone, Copy, Debug)]
enum Next {
    Request,
    Receive,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Idle,
    Allocating,
    Sending,
    Receiving,
    /// Its TP_ENDED is outstanding; then a new TP if `restart`.
    Ending {
        restart: bool,
    },
}

struct Slot {
    conv: Conv,
    stage: Stage,
    outstanding: Option<Handle>,
    cancel_won: bool,
    seq: u64,
    sent_at: Instant,
    /// Echo bytes received so far for the request in flight.
    echoed: usize,
    /// Whether they all matched the request.
    echo_ok: bool,
    /// Where the slot's verbs complete: the port, the slot's index as token.
    target: Target<Verb>,
    /// The SEND_DATA VCB and its request buffer, while not submitted.
    send: Option<Verb>,
    /// The RECEIVE_AND_WAIT VCB and its buffer, while not submitted.
    recv: Option<Verb>,
}

impl Slot {
    fn new(port: &Port<Verb>, index: usize, size: usize, now: Instant) -> Self {
        let conv = Conv::default();
        Slot {
            conv,
            stage: Stage::Idle,
            outstanding: None,
            cancel_won: false,
            seq: 0,
            sent_at: now,
            echoed: 0,
            echo_ok: true,
            target: Target::Port {
                port: port.clone(),
                key: 0,
                token: index,
                bytes: 0,
            },
            send: Some(verbs::send_and_turn(conv, payload(0, size))),
            recv: Some(verbs::receive(conv, size, Vec::with_capacity(size))),
        }
    }

    /// Takes back a VCB the engine returned (completed or refused).
    fn keep(&mut self, verb: Verb) {
        match verb.body {
            Body::SendData(_) => self.send = Some(verb),
            Body::ReceiveAndWait(_) => self.recv = Some(verb),
            _ => {}
        }
    }
}

/// The client loop's state.
struct Client<'a> {
    app: &'a Appc,
    port: Port<Verb>,
    config: &'a ClientConfig,
    slots: Vec<Slot>,
    doomed: Vec<(usize, Handle)>,
    recent: Vec<Handle>,
    latency: Histogram<u64>,
    cancels: CancelCounts,
    tally: ClientTally,
    requests: u64,
    done: Arc<AtomicU64>,
    stopping: bool,
    fatal: Option<String>,
    /// The requests' rate over time, sampled on a thread of its own.
    sampler: Sampler,
    start: Instant,
    /// Once stopping: when the drain gives up.
    deadline: Option<Instant>,
    /// The first code a conversation failed with other than by its cancel.
    first_failure: Option<PrimaryRc>,
    rng: fastrand::Rng,
}

/// What a run came to.
#[derive(Debug)]
pub struct Outcome {
    /// The measurements.
    pub side: Side,
    /// The exactly-once accounting.
    pub tally: ClientTally,
    /// Why conversations failed other than by their cancel (the partner
    /// was lost), if any did: the run stopped early, or lost requests.
    pub failure: Option<String>,
}

/// Runs the load on `app` (whose node knows `config.partner`) from the
/// calling thread, which waits on the port between batches. `Err` is a
/// failure to reach the partner at all (no request answered), with the
/// partner's answer in words; a partner lost during the run stops it
/// early, and the outcome, with everything counted so far, says why.
pub fn run(app: &Appc, config: &ClientConfig) -> Result<Outcome, String> {
    let mut client = Client::new(app, config);
    loop {
        let packet = client.port.get(Some(TICK));
        if !client.step(packet) {
            return client.finish();
        }
    }
}

/// [`run`] as a task on the client node's reactor
/// ([`TcpNode::spawn`](appc_io::node::TcpNode::spawn)): the port is
/// awaited, so the requests and their completions never leave that thread.
pub async fn run_task(app: &Appc, config: &ClientConfig) -> Result<Outcome, String> {
    let mut client = Client::new(app, config);
    let mut tick = sleep(TICK);
    loop {
        let packet = poll_fn(|cx| {
            if let Poll::Ready(packet) = client.port.poll_get(cx) {
                return Poll::Ready(Some(packet));
            }
            if Pin::new(&mut tick).poll(cx).is_ready() {
                tick = sleep(TICK);
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        if !client.step(packet) {
            return client.finish();
        }
    }
}

/// How long the client waits for a completion before it looks at the
/// clock (the run's limit, the drain's deadline).
const TICK: Duration = Duration::from_millis(10);

impl<'a> Client<'a> {
    /// The client, its slots' TPs started and their ALLOCATEs submitted.
    fn new(app: &'a Appc, config: &'a ClientConfig) -> Self {
        let done = Arc::new(AtomicU64::new(0));
        let mut client = Client {
            app,
            port: app.port(),
            config,
            slots: Vec::with_capacity(config.sessions),
            doomed: Vec::new(),
            recent: Vec::with_capacity(RECENT),
            latency: super::histogram(),
            cancels: CancelCounts::default(),
            tally: ClientTally::default(),
            requests: 0,
            done: Arc::clone(&done),
            stopping: false,
            fatal: None,
            first_failure: None,
            rng: fastrand::Rng::with_seed(0x00A9_9C10),
            sampler: Sampler::start("appc", "requests", done, config.limit),
            start: Instant::now(),
            deadline: None,
        };
        for index in 0..config.sessions {
            let slot = Slot::new(&client.port, index, config.size, client.start);
            client.slots.push(slot);
            client.start(index);
        }
        client
    }

    /// Takes `packet` (if the wait gave one) and what else is queued, up
    /// to a batch; then the cancels and the clock. False once the run is
    /// over: stopped, and every slot idle (or stuck past the drain limit).
    fn step(&mut self, packet: Option<Packet<Verb>>) -> bool {
        if let Some(packet) = packet {
            self.take(packet);
            for _ in 1..BATCH {
                match self.port.try_get() {
                    Some(packet) => self.take(packet),
                    None => break,
                }
            }
        }
        self.cancel_doomed();
        if !self.stopping
            && (self.fatal.is_some()
                || self
                    .config
                    .limit
                    .reached(self.start.elapsed(), self.requests))
        {
            self.stopping = true;
            self.deadline = Some(Instant::now() + DRAIN_LIMIT);
        }
        if !self.stopping {
            return true;
        }
        let busy = self
            .slots
            .iter()
            .filter(|s| s.outstanding.is_some())
            .count();
        if busy == 0 {
            return false;
        }
        if self.deadline.is_some_and(|d| Instant::now() > d) {
            self.tally.stuck = busy as u64;
            return false;
        }
        true
    }

    /// The outcome, once [`step`](Self::step) said the run is over.
    fn finish(mut self) -> Result<Outcome, String> {
        let elapsed = self.start.elapsed();
        let sampled = self.sampler.finish();
        self.tally.live_after = self.app.stats().live_tasks;
        if self.requests == 0 && self.tally.stuck > 0 && self.fatal.is_none() {
            self.fatal = Some(format!(
                "partner LU {} answered no request during the run and {} s after it \
                 (is it an appc-load partner node, --mode partner?)",
                self.config.partner,
                DRAIN_LIMIT.as_secs()
            ));
        }
        if self.requests == 0 {
            if let Some(fatal) = self.fatal {
                return Err(fatal);
            }
        }
        let failure = self.fatal.or_else(|| {
            self.first_failure.map(|code| {
                format!(
                    "{} conversations failed with {code:?} (their sessions went down)",
                    self.tally.failures
                )
            })
        });
        let side = Side {
            requests: self.requests,
            elapsed,
            latency: self.latency,
            points: sampled.points,
            cancels: self.cancels,
            window: sampled.window,
        };
        Ok(Outcome {
            side,
            tally: self.tally,
            failure,
        })
    }
    fn submit(&mut self, index: usize, verb: Verb) {
        let slot = &mut self.slots[index];
        match self.app.submit(verb, &slot.target) {
            Ok(handle) => {
                self.tally.accepted += 1;
                slot.outstanding = Some(handle);
            }
            Err(refused) => {
                slot.keep(refused.verb);
                self.tally.rejected += 1;
                self.end(index, false);
            }
        }
    }

    /// A new TP and conversation for the slot.
    fn start(&mut self, index: usize) {
        let Ok(tp_id) = verbs::start_tp(self.app) else {
            self.tally.rejected += 1;
            return;
        };
        self.tally.conversations += 1;
        let slot = &mut self.slots[index];
        slot.conv = Conv { tp_id, conv_id: 0 };
        slot.stage = Stage::Allocating;
        slot.cancel_won = false;
        let allocate = verbs::allocate(tp_id, &self.config.partner, &self.config.tp);
        self.submit(index, allocate);
    }

    /// Ends the slot's TP ([`verbs::end_tp`], awaited like any verb: a
    /// TP's end waits for its conversation's session layer, which may be
    /// the very thread the client runs on); then, with `restart` and
    /// unless stopping, a new TP takes the slot.
    fn end(&mut self, index: usize, restart: bool) {
        let slot = &mut self.slots[index];
        if matches!(slot.stage, Stage::Idle | Stage::Ending { .. }) {
            return;
        }
        slot.stage = Stage::Ending { restart };
        slot.cancel_won = false;
        let end = verbs::end_tp(slot.conv.tp_id);
        match self.app.submit(end, &slot.target) {
            Ok(handle) => {
                self.tally.accepted += 1;
                slot.outstanding = Some(handle);
            }
            Err(_) => {
                self.tally.rejected += 1;
                slot.stage = Stage::Idle;
            }
        }
    }

    fn request(&mut self, index: usize) {
        let size = self.config.size;
        let slot = &mut self.slots[index];
        slot.seq += 1;
        slot.stage = Stage::Sending;
        slot.echoed = 0;
        slot.echo_ok = true;
        let mut verb = verbs::reuse(slot.send.take(), slot.conv, |conv| {
            verbs::send_and_turn(conv, Vec::with_capacity(size))
        });
        if let Body::SendData(send) = &mut verb.body {
            payload::refill(&mut send.data, slot.seq, size);
        }
        slot.sent_at = Instant::now();
        self.submit(index, verb);
    }

    fn receive(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.stage = Stage::Receiving;
        let size = self.config.size;
        let verb = verbs::reuse(slot.recv.take(), slot.conv, |conv| {
            verbs::receive(conv, size, Vec::with_capacity(size))
        });
        self.submit(index, verb);
        if let Some(handle) = self.slots[index].outstanding {
            if self.rng.f64() < self.config.cancel_fraction {
                self.doomed.push((index, handle));
            }
        }
    }

    /// Cancels the picked handles, each with a stale and a random one.
    fn cancel_doomed(&mut self) {
        while let Some((index, handle)) = self.doomed.pop() {
            let outcome = self.app.cancel(handle);
            self.cancels.add(outcome);
            if outcome == CancelOutcome::Cancelled {
                let slot = &mut self.slots[index];
                if slot.outstanding == Some(handle) {
                    slot.cancel_won = true;
                } else {
                    // Won on a task whose completion was already consumed.
                    self.tally.cancel_mismatch += 1;
                }
            }
            if !self.recent.is_empty() {
                let stale = self.recent[self.rng.usize(..self.recent.len())];
                self.tally.stale.add(self.app.cancel(stale));
            }
            self.tally.random.add(self.app.cancel(self.rng.u64(..)));
        }
    }

    fn take(&mut self, packet: Packet<Verb>) {
        self.tally.completions += 1;
        let index = packet.token;
        let Some(slot) = self.slots.get_mut(index) else {
            self.tally.unexpected += 1;
            return;
        };
        if slot.outstanding != Some(packet.handle) {
            self.tally.unexpected += 1;
            return;
        }
        slot.outstanding = None;
        if self.recent.len() < RECENT {
            self.recent.push(packet.handle);
        } else {
            let at = self.rng.usize(..RECENT);
            self.recent[at] = packet.handle;
        }
        let verb = packet.verb;
        if let Stage::Ending { restart } = slot.stage {
            slot.stage = Stage::Idle;
            if restart && !self.stopping {
                self.start(index);
            }
            return;
        }
        let cancelled = verb.primary_rc == PrimaryRc::CANCELLED;
        if cancelled != slot.cancel_won {
            self.tally.cancel_mismatch += 1;
        }
        if verb.primary_rc != PrimaryRc::OK {
            if verb.primary_rc == PrimaryRc::ALLOCATION_ERROR && self.fatal.is_none() {
                self.fatal = Some(match self.first_failure {
                    // Sessions went down, and a new one cannot be had:
                    // the partner is gone (ALLOCATE only reports it).
                    Some(lost) if lost != PrimaryRc::ALLOCATION_ERROR => format!(
                        "partner LU {} was lost: {} conversations failed with {lost:?} \
                         (their sessions went down), then a new session could not be \
                         set up (AP_ALLOCATION_ERROR, secondary {:#010X})",
                        self.config.partner, self.tally.failures, verb.secondary_rc.0
                    ),
                    _ => allocation_error(self.config, verb.secondary_rc),
                });
            }
            if !cancelled {
                self.tally.failures += 1;
                self.first_failure.get_or_insert(verb.primary_rc);
            }
            slot.keep(verb);
            self.end(index, true);
            return;
        }
        let next = match (slot.stage, &verb.body) {
            (Stage::Allocating, Body::Allocate(a)) => {
                slot.conv.conv_id = a.conv_id;
                Next::Request
            }
            (Stage::Sending, _) => Next::Receive,
            (Stage::Receiving, Body::ReceiveAndWait(r)) => {
                slot.echo_ok &= payload::matches(slot.seq, slot.echoed, &r.data);
                slot.echoed += r.data.len();
                if r.what_rcvd.status_part() != WhatRcvd::SEND {
                    Next::Receive
                } else {
                    let latency = slot.sent_at.elapsed().as_nanos() as u64;
                    let _ = self.latency.record(latency.max(1));
                    if !slot.echo_ok || slot.echoed != self.config.size {
                        self.tally.echo_mismatch += 1;
                    }
                    self.requests += 1;
                    self.done.fetch_add(1, Ordering::Relaxed);
                    Next::Request
                }
            }
            _ => Next::Fail,
        };
        slot.keep(verb);
        match next {
            Next::Request => self.next_request(index),
            Next::Receive => self.receive(index),
            Next::Fail => {
                self.tally.failures += 1;
                self.end(index, false);
            }
        }
    }

    fn next_request(&mut self, index: usize) {
        if self.stopping {
            self.end(index, false);
        } else {
            self.request(index);
        }
    }
}

fn allocation_error(config: &ClientConfig, secondary: SecondaryRc) -> String {
    format!(
        "ALLOCATE to partner LU {} failed: AP_ALLOCATION_ERROR, secondary {:#010X} \
         (is the partner node running, with TP {}?)",
        config.partner, secondary.0, config.tp
    )
}
