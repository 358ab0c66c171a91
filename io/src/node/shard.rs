//! A shard: the part of a node one reactor thread owns outright (its
//! links, their sessions, and the conversations on them), and the
//! reactor's handler that runs it.
//!
//! Other threads reach a shard only through its inbox ([`ShardOwner`],
//! the conversations' [`Owner`]): an application's verbs, cancels'
//! teardowns, TP ends, new conversations. The reactor drains the inbox
//! once per turn, in order, and runs each item on its conversation with
//! the session as the conversation's peer; bytes that arrive are read in
//! place, and what they mean for a conversation is run at once. Nothing on
//! that path takes a lock, and a turn's writes to a link go out as one
//! write.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::attach::from_wire;
use super::conv::{Carrier, Conv, Recorder, SessionPeer};
use super::link::Piu;
use super::protocol::{Event, Violation, Wire};
use super::sessions::{session, Core, Todo, FRAMING_SENSE};
use super::Shared;
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::ConvId;
use crate::appc::{Failure, Owner, Work};
use crate::backend::{Handler, Io, LinkId, Waker};
use crate::engine::id_hash::IdHashMap;
use crate::engine::inbox::{inbox, Consumer, Inbox, Pushed};
use crate::wire::{FrameRef, Rh, RuCategory, Sense, Th};

/// Items an inbox holds at most; a full inbox holds its posters back.
const INBOX: usize = 16 << 10;

/// What other threads give a shard.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Work for one of its conversations.
    Work(Work),
    /// A partner LU whose conversations it carries, at this address.
    Partner(String, SocketAddr),
    /// Close the link to this partner LU (as a link loss would).
    Disconnect(String),
}

thread_local! {
    /// The shard this thread runs, if it is a reactor: what it posts to
    /// itself is kept aside, never pushed into its own inbox (a full inbox
    /// would wait for this very thread).
    static ON_SHARD: Cell<usize> = const { Cell::new(0) };
}

/// A shard as other threads see it: its inbox, and its conversations'
/// [`Owner`].
pub(crate) struct ShardOwner {
    /// Unique in the process (never 0).
    id: usize,
    inbox: Arc<Inbox<Msg>>,
    waker: OnceLock<Waker>,
    /// What the shard's own thread posted to itself, and whether there is
    /// any (read without the lock every turn).
    local: Mutex<VecDeque<Msg>>,
    has_local: AtomicBool,
    /// The shard is gone: work is answered on the poster's thread.
    closed: AtomicBool,
    node: Arc<Shared>,
}

impl std::fmt::Debug for ShardOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardOwner")
            .field("id", &self.id)
            .field("inbox", &self.inbox)
            .finish_non_exhaustive()
    }
}

impl ShardOwner {
    /// A shard's owner and the consumer of its inbox, for its reactor.
    pub(crate) fn new(node: Arc<Shared>) -> (Arc<Self>, Consumer<Msg>) {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let (inbox, consumer) = inbox(INBOX);
        let owner = Arc::new(Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            inbox,
            waker: OnceLock::new(),
            local: Mutex::new(VecDeque::new()),
            has_local: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            node,
        });
        (owner, consumer)
    }

    /// Hands `msg` to the shard.
    pub(crate) fn send(&self, mut msg: Msg) {
        if self.closed.load(Ordering::Acquire) {
            return self.answer(msg);
        }
        if ON_SHARD.with(Cell::get) == self.id {
            self.local
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push_back(msg);
            self.has_local.store(true, Ordering::Relaxed);
            return;
        }
        let backoff = crossbeam_utils::Backoff::new();
        loop {
            match self.inbox.push(msg) {
                Ok(Pushed::Queued) => return,
                Ok(Pushed::Wake) => {
                    if let Some(waker) = self.waker.get() {
                        waker.wake();
                    }
                    return;
                }
                Err(back) => {
                    // Full: the reactor is awake and draining it.
                    msg = back;
                    if self.closed.load(Ordering::Acquire) {
                        return self.answer(msg);
                    }
                    backoff.snooze();
                }
            }
        }
    }

    /// Work for a shard that is gone: a verb is refused, a TP end counted;
    /// the rest has nothing left to act on.
    fn answer(&self, msg: Msg) {
        match msg {
            Msg::Work(Work::Verb(request)) => self.node.engine.refuse(request),
            Msg::Work(Work::EndTp(.., ending)) => ending.done(),
            _ => {}
        }
    }
}

impl Owner for ShardOwner {
    fn post(&self, work: Work) {
        self.send(Msg::Work(work));
    }
}

/// One reactor's part of the node.
pub(crate) struct Shard {
    owner: Arc<ShardOwner>,
    /// The same, as the engine takes it.
    as_owner: Arc<dyn Owner>,
    inbox: Consumer<Msg>,
    core: Core,
    convs: IdHashMap<ConvId, Conv>,
    /// Messages taken off the inbox and the local queue, reused.
    batch: VecDeque<Msg>,
}

impl Shard {
    /// The shard of `owner`, run by the current thread (a reactor) from now
    /// on, which `waker` wakes.
    pub(crate) fn new(owner: Arc<ShardOwner>, inbox: Consumer<Msg>, waker: Waker) -> Self {
        let _ = owner.waker.set(waker);
        ON_SHARD.with(|on| on.set(owner.id));
        Self {
            as_owner: owner.clone(),
            core: Core::new(owner.node.clone()),
            owner,
            inbox,
            convs: IdHashMap::default(),
            batch: VecDeque::new(),
        }
    }

    fn gauges(&self) {
        let stats = &self.core.node.stats;
        stats
            .conversations
            .store(self.convs.len() as u64, Ordering::Release);
        stats
            .links
            .store(self.core.links.len() as u64, Ordering::Release);
    }

    /// Runs `step` on conversation `id` with its session as its peer, then
    /// forgets the conversation if it is over.
    fn on_conv(
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

    fn forget_if_over(&mut self, id: ConvId) {
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
            Msg::Partner(alias, addr) => {
                self.core.partners.insert(alias, addr);
            }
            Msg::Disconnect(alias) => {
                if let Some(&link) = self.core.out_links.get(&alias) {
                    io.close(link);
                }
            }
        }
    }

    fn work(&mut self, io: &mut dyn Io, work: Work) {
        match work {
            Work::Open(end) => {
                let id = end.conv_id();
                self.convs.insert(
                    id,
                    Conv {
                        end: *end,
                        carrier: Carrier::default(),
                    },
                );
                self.on_conv(io, id, |end, peer| end.open(peer));
            }
            Work::Verb(request) => {
                let id = request.conv_id();
                if self.convs.contains_key(&id) {
                    self.on_conv(io, id, |end, peer| end.issue(request, peer));
                } else {
                    self.core.node.engine.refuse(request);
                }
            }
            Work::Abort(ids, _) => {
                self.on_conv(io, ids.conv_id, |end, peer| end.abort(ids, peer));
            }
            Work::EndTp(id, how, ending) => {
                self.on_conv(io, id, |end, peer| end.end_tp(how, peer));
                ending.done();
            }
            Work::Attached(id, attachment) => {
                self.on_conv(io, id, |end, peer| end.attached(attachment, peer));
            }
        }
    }

    /// Does what the steps left for later.
    fn todo(&mut self, io: &mut dyn Io) {
        self.run_todo(io);
        while let Some(id) = self.core.touched.pop() {
            self.forget_if_over(id);
        }
    }

    fn run_todo(&mut self, io: &mut dyn Io) {
        while let Some(todo) = self.core.todo.pop_front() {
            match todo {
                Todo::Assign(link) => self.core.assign(io, &mut self.convs, link),
                Todo::Release(link, sid) => self.core.release(io, &mut self.convs, link, sid),
                Todo::Fail(id, failure) => {
                    if let Some(conv) = self.convs.get_mut(&id) {
                        conv.carrier.at = None;
                        conv.carrier.pending = None;
                        conv.carrier.closing = false;
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
    }

    /// One PIU of `link_id`.
    fn piu(&mut self, io: &mut dyn Io, link_id: LinkId, piu: &[u8]) {
        let frame = match FrameRef::decode_piu(piu) {
            Ok(frame) => frame,
            Err(e) => {
                // TH byte 2 = DAF' = SIDL, byte 3 = OAF' = SIDH.
                let sid = u16::from_be_bytes([piu[3], piu[2]]);
                let known = self
                    .core
                    .links
                    .get(&link_id)
                    .is_some_and(|l| l.sessions.contains_key(&sid));
                if known {
                    tracing::warn!(node = %self.core.node.lu, link = link_id.0, error = %e, "undecodable PIU");
                    let v = Violation {
                        sense: Sense::FUNCTION_NOT_SUPPORTED,
                        what: "undecodable PIU",
                    };
                    self.core.violate(io, link_id, sid, v);
                } else {
                    tracing::warn!(
                        node = %self.core.node.lu,
                        link = link_id.0,
                        error = %e,
                        "undecodable PIU for no session"
                    );
                }
                return;
            }
        };
        let lfsid = frame.th.lfsid();
        let sid = u16::from_be_bytes([lfsid.sidh, lfsid.sidl]);
        if lfsid.odai {
            tracing::warn!(node = %self.core.node.lu, link = link_id.0, "PIU with ODAI 1 dropped");
            return;
        }
        match frame.rh {
            Rh::Request(req) if req.category == RuCategory::Sc => {
                if let Some((id, failure)) = self.core.session_control(io, link_id, sid, frame) {
                    if let Some(conv) = self.convs.get_mut(&id) {
                        let allocating = conv.carrier.pending.take().is_some();
                        conv.carrier.at = None;
                        let failure = if allocating {
                            Failure {
                                primary: PrimaryRc::ALLOCATION_ERROR,
                                secondary: SecondaryRc::ALLOCATION_FAILURE_RETRY,
                            }
                        } else {
                            failure
                        };
                        self.core.todo.push_back(Todo::Fail(id, failure));
                    }
                }
            }
            Rh::Response(rsp) if rsp.category == RuCategory::Sc => {
                match self.core.bind_response(link_id, sid, rsp.rti, frame) {
                    Some(Ok(id)) => self.core.begin(io, &mut self.convs, link_id, sid, id),
                    Some(Err(id)) => {
                        if let Some(conv) = self.convs.get_mut(&id) {
                            conv.carrier.at = None;
                            conv.carrier.pending = None;
                        }
                        let failure = Failure {
                            primary: PrimaryRc::ALLOCATION_ERROR,
                            secondary: SecondaryRc::ALLOCATION_FAILURE_NO_RETRY,
                        };
                        self.core.todo.push_back(Todo::Fail(id, failure));
                    }
                    None => {}
                }
            }
            _ => self.session_traffic(io, link_id, sid, frame),
        }
    }

    /// A PIU of a session's bracket: what it means for the conversation on
    /// the session runs at once, on the data as it lies in the PIU.
    fn session_traffic(&mut self, io: &mut dyn Io, link_id: LinkId, sid: u16, frame: FrameRef<'_>) {
        let node = self.core.node.clone();
        let Some(sess) = session(&mut self.core.links, link_id, sid) else {
            return;
        };
        if !sess.bound {
            let v = Violation {
                sense: Sense::FUNCTION_NOT_SUPPORTED,
                what: "traffic before BIND response",
            };
            return self.core.violate(io, link_id, sid, v);
        }
        let before = sess.hs.held_bytes();
        let mut arrival = Arrival {
            convs: &mut self.convs,
            conv: sess.conv,
            owner: &self.as_owner,
            node: &node,
            link: link_id,
            sid,
            partner_lu: sess.partner_lu,
            mode: sess.mode,
            recorder: Recorder::default(),
            attached: None,
            rejected: None,
            ended: false,
        };
        let result = match io.output(link_id) {
            Some(out) => sess.hs.receive(frame, out, &mut arrival),
            None => sess.hs.receive(frame, &mut Nowhere, &mut arrival),
        };
        let Arrival {
            conv,
            recorder,
            attached,
            rejected,
            ended,
            ..
        } = arrival;
        let received = sess.hs.received_held() as u64;
        node.stats
            .received_held_max
            .fetch_max(received, Ordering::Relaxed);
        if let Some(sense) = rejected {
            match io.output(link_id) {
                Some(out) => sess.hs.reject(sense, out),
                None => sess.hs.reject(sense, &mut Nowhere),
            }
        }
        if let Some(id) = attached {
            sess.conv = Some(id);
        }
        if recorder.consumed > 0 {
            match io.output(link_id) {
                Some(out) => sess.hs.consumed(recorder.consumed, out),
                None => sess.hs.consumed(recorder.consumed, &mut Nowhere),
            }
        }
        let held = sess.hs.held_bytes();
        if ended {
            sess.conv = None;
            self.core.todo.push_back(Todo::Release(link_id, sid));
        }
        if let Err(v) = result {
            self.core.violate(io, link_id, sid, v);
        }
        let Some(id) = conv.or(attached) else {
            return;
        };
        if ended {
            if let Some(c) = self.convs.get_mut(&id) {
                c.carrier.at = None;
            }
        }
        if let Some(abort) = recorder.closed {
            if let Some(c) = self.convs.get_mut(&id) {
                self.core.close(io, id, &mut c.carrier, abort);
            }
        }
        // An IPR let a window go: a send waiting for the backlog may go on.
        if held < before {
            if let Some(c) = self.convs.get_mut(&id) {
                if c.carrier.armed && held <= node.config.max_send_backlog / 2 {
                    c.carrier.armed = false;
                    self.core.todo.push_back(Todo::Writable(id));
                }
            }
        }
        self.forget_if_over(id);
    }
}

/// Output that goes nowhere (a link already gone).
struct Nowhere;

impl Wire for Nowhere {
    fn piu(&mut self, _: Th, _: Rh, _: &[&[u8]]) {}
}

/// What a PIU's events do to the session's conversation, as the half
/// session reads them.
struct Arrival<'a> {
    convs: &'a mut IdHashMap<ConvId, Conv>,
    /// The conversation on the session.
    conv: Option<ConvId>,
    owner: &'a Arc<dyn Owner>,
    node: &'a Shared,
    link: LinkId,
    sid: u16,
    /// The session's partner LU and mode, for an attach.
    partner_lu: [u8; 8],
    mode: [u8; 8],
    recorder: Recorder,
    /// A conversation this PIU's attach began.
    attached: Option<ConvId>,
    /// This PIU's attach is refused with this sense.
    rejected: Option<Sense>,
    /// The bracket ended.
    ended: bool,
}

impl super::protocol::Events for Arrival<'_> {
    fn event(&mut self, event: Event<'_>) {
        let current = self.attached.or(self.conv);
        match event {
            Event::Attach(wa) => {
                let attach = from_wire(wa, self.partner_lu, &self.node.lu, self.mode);
                match self.node.engine.incoming_attach(attach, self.owner) {
                    Ok(end) => {
                        let id = end.conv_id();
                        let carrier = Carrier {
                            at: Some((self.link, self.sid)),
                            ..Carrier::default()
                        };
                        self.convs.insert(id, Conv { end, carrier });
                        self.attached = Some(id);
                    }
                    Err(sense) => self.rejected = Some(Sense(sense.0)),
                }
            }
            Event::Flow(flow) => {
                match current.and_then(|id| self.convs.get_mut(&id)) {
                    Some(conv) => conv.end.arrive(flow, true, &mut self.recorder),
                    None => {
                        // Nobody takes it: consumed (for pacing) at once.
                        if let crate::appc::Flow::Data(data) = flow {
                            self.recorder.consumed += data.len();
                        }
                    }
                }
            }
            Event::Rejected(sense) => {
                if let Some(conv) = current.and_then(|id| self.convs.get_mut(&id)) {
                    let failure = Failure {
                        primary: PrimaryRc::ALLOCATION_ERROR,
                        secondary: SecondaryRc(sense.0),
                    };
                    conv.end.fail(failure, &mut self.recorder);
                }
            }
            Event::EndedMeanwhile => {
                if let Some(conv) = current.and_then(|id| self.convs.get_mut(&id)) {
                    let flow = crate::appc::Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL);
                    conv.end.arrive(flow, false, &mut self.recorder);
                }
            }
            Event::BracketEnded => self.ended = true,
        }
    }
}

impl Handler for Shard {
    fn connected(&mut self, io: &mut dyn Io, link: LinkId, _peer: SocketAddr) {
        self.core.connected(link);
        self.todo(io);
        self.gauges();
    }

    fn received(&mut self, io: &mut dyn Io, link_id: LinkId, mut data: &[u8]) {
        loop {
            let Some(link) = self.core.links.get_mut(&link_id) else {
                break;
            };
            if link.split.is_broken() {
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
                        node = %self.core.node.lu,
                        link = link_id.0,
                        prefix = len,
                        sense = format_args!("{:08X}", FRAMING_SENSE.0),
                        "framing broken; closing the link"
                    );
                    self.core
                        .node
                        .stats
                        .violations
                        .fetch_add(1, Ordering::Relaxed);
                    link.failure = PrimaryRc::CONV_FAILURE_NO_RETRY;
                    io.close(link_id);
                    break;
                }
            }
            self.todo(io);
        }
        self.todo(io);
        self.gauges();
    }

    fn closed(&mut self, io: &mut dyn Io, link: LinkId, error: Option<io::Error>) {
        self.core.closed(&mut self.convs, link, error);
        self.todo(io);
        self.core
            .node
            .stats
            .links_closed
            .fetch_add(1, Ordering::Release);
        self.gauges();
    }

    fn turn(&mut self, io: &mut dyn Io) {
        self.inbox.awake();
        // What is there now; what comes meanwhile waits for the next turn,
        // so that the reactor goes on with its I/O between batches.
        for _ in 0..INBOX {
            match self.inbox.pop() {
                Some(msg) => self.batch.push_back(msg),
                None => break,
            }
        }
        if self.owner.has_local.swap(false, Ordering::Relaxed) {
            let mut local = self
                .owner
                .local
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            self.batch.extend(local.drain(..));
        }
        while let Some(msg) = self.batch.pop_front() {
            self.message(io, msg);
            self.todo(io);
        }
        self.gauges();
    }

    fn busy(&self) -> bool {
        !self.inbox.is_empty() || self.owner.has_local.load(Ordering::Relaxed)
    }

    fn sleep(&mut self) -> bool {
        !self.owner.has_local.load(Ordering::Relaxed) && self.inbox.sleep()
    }
}

impl Drop for Shard {
    fn drop(&mut self) {
        // Later work is answered by the posters' threads; what is queued is
        // answered here. The conversations end with the node.
        self.owner.closed.store(true, Ordering::Release);
        while let Some(msg) = self.inbox.pop() {
            self.owner.answer(msg);
        }
        ON_SHARD.with(|on| on.set(0));
        let stats = &self.core.node.stats;
        stats.conversations.store(0, Ordering::Release);
        stats.links.store(0, Ordering::Release);
    }
}
