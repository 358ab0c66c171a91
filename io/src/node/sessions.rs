//! A shard's links and the sessions on them: BIND and UNBIND, the pool of
//! idle sessions, brackets begun and ended, and what a conversation's end
//! asks of its session ([`SessionPeer`](super::conv::SessionPeer)).
//!
//! Everything here runs on the shard's reactor thread. Work that concerns
//! another conversation than the one at hand (giving a waiting one a
//! session, failing one) is queued as a [`Todo`] and done by the shard
//! once the step at hand is over, when every conversation is free to be
//! worked on.

use rustc_hash::FxHashMap;
use std::cmp;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::attach::{from_ebcdic, to_ebcdic, to_wire, trim};
use super::conv::{Carrier, Conv, Pending};
use super::link::{Link, Sess};
use super::protocol::{encode, HalfSession, Violation, Wire, SESSION_LIMIT_EXCEEDED};
use super::Shared;
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::{name, ConvId};
use crate::appc::{Attach, Failure, Flow};
use crate::backend::{Io, LinkId};
use crate::engine::id_hash::IdHashMap;
use crate::wire::frame::MIN_PIU;
use crate::wire::{
    self, ebcdic, Bind, ControlRu, Frame, FrameRef, Lfsid, Pacing, Response, ResponseType, Rh, Rti,
    RuCategory, RuSize, Sense, Th, Unbind, UnbindType,
};

/// Work a step leaves for the shard, done once the step is over.
#[derive(Debug)]
pub(crate) enum Todo {
    /// Give the link's waiting conversations a session.
    Assign(LinkId),
    /// An idle session with no conversation: back to the pool.
    Release(LinkId, u16),
    /// The conversation failed.
    Fail(ConvId, Failure),
    /// The conversation's send backlog drained: its waiting send completes.
    Writable(ConvId),
}

/// Sense logged when the framing breaks (RU length error).
pub(crate) const FRAMING_SENSE: Sense = Sense(0x1002_0000);

/// A shard's state but its conversations: links, sessions, pools.
pub(crate) struct Core {
    pub(crate) node: Arc<Shared>,
    pub(crate) links: FxHashMap<LinkId, Link>,
    /// The link this shard opened to each partner LU alias.
    pub(crate) out_links: HashMap<String, LinkId>,
    /// The partner LUs whose conversations this shard carries.
    pub(crate) partners: HashMap<String, SocketAddr>,
    pub(crate) todo: VecDeque<Todo>,
    /// Conversations a step outside their own may have finished with (a
    /// bracket begun for one that closed while it waited): the shard
    /// forgets those that are over.
    pub(crate) touched: Vec<ConvId>,
}

/// Session `sid` of link `link_id`, if both exist (a free function, so
/// that it borrows only the links).
pub(crate) fn session(
    links: &mut FxHashMap<LinkId, Link>,
    link_id: LinkId,
    sid: u16,
) -> Option<&mut Sess> {
    links.get_mut(&link_id)?.sessions.get_mut(&sid)
}

/// The largest RU a node receives, as a BIND states it: the largest size a
/// BIND byte can state that fits `max_frame` (at least 256).
fn ru_size(max_frame: usize) -> RuSize {
    RuSize::at_most(max_frame.saturating_sub(MIN_PIU).max(256))
        .expect("256 bytes is above the smallest RU size")
}

/// Writes frames made elsewhere (control RUs) to `link`.
fn write(io: &mut dyn Io, link: LinkId, frames: &[Frame]) {
    if let Some(out) = io.output(link) {
        for frame in frames {
            encode(frame, out);
        }
    }
}

/// Output that goes nowhere (a link already gone).
struct Nowhere;

impl Wire for Nowhere {
    fn piu(&mut self, _: Th, _: Rh, _: &[&[u8]]) {}
}

impl Core {
    pub(crate) fn new(node: Arc<Shared>) -> Self {
        Self {
            node,
            links: FxHashMap::default(),
            out_links: HashMap::new(),
            partners: HashMap::new(),
            todo: VecDeque::new(),
            touched: Vec::new(),
        }
    }

    /// A conversation's attach, at its first flush: it waits on the link
    /// to its partner LU (opened now if needed) for a session.
    pub(crate) fn attach(
        &mut self,
        io: &mut dyn Io,
        id: ConvId,
        carrier: &mut Carrier,
        attach: &Attach,
    ) -> Result<(), SecondaryRc> {
        let wire_attach = to_wire(attach).ok_or(SecondaryRc::TP_NAME_NOT_RECOGNIZED)?;
        let alias = String::from_utf8_lossy(trim(&attach.plu_alias)).into_owned();
        let link = match self.out_links.get(&alias) {
            Some(&link) if self.links.contains_key(&link) => link,
            _ => {
                let addr = *self
                    .partners
                    .get(&alias)
                    .ok_or(SecondaryRc::ALLOCATION_FAILURE_NO_RETRY)?;
                let link = io.connect(addr).map_err(|e| {
                    tracing::warn!(node = %self.node.lu, %addr, error = %e, "connect failed");
                    SecondaryRc::ALLOCATION_FAILURE_RETRY
                })?;
                self.links.insert(
                    link,
                    Link::new(true, Some(alias.clone()), self.node.config.max_frame),
                );
                self.out_links.insert(alias, link);
                link
            }
        };
        carrier.pending = Some(Pending {
            attach: wire_attach,
            mode: attach.mode_name,
            flows: Vec::new(),
            data: Vec::new(),
        });
        carrier.link = Some(link);
        if let Some(l) = self.links.get_mut(&link) {
            l.waiting.push_back(id);
        }
        self.todo.push_back(Todo::Assign(link));
        Ok(())
    }

    /// A flow of conversation `id` on its session.
    pub(crate) fn send(
        &mut self,
        io: &mut dyn Io,
        id: ConvId,
        carrier: &mut Carrier,
        flow: Flow<'_>,
    ) {
        let Some((link_id, sid)) = carrier.at else {
            return;
        };
        let node = &self.node;
        let Some(sess) = session(&mut self.links, link_id, sid).filter(|s| s.conv == Some(id))
        else {
            return;
        };
        let detached = match io.output(link_id) {
            Some(out) => sess.hs.send(flow, out),
            None => sess.hs.send(flow, &mut Nowhere),
        };
        let held = sess.hs.held_bytes() as u64;
        node.stats
            .send_backlog_max
            .fetch_max(held, Ordering::Relaxed);
        if detached {
            sess.conv = None;
            carrier.at = None;
            self.todo.push_back(Todo::Release(link_id, sid));
        }
    }

    /// Conversation `id`'s TP took `bytes` of what its session delivered.
    pub(crate) fn consumed(
        &mut self,
        io: &mut dyn Io,
        id: ConvId,
        carrier: &Carrier,
        bytes: usize,
    ) {
        let Some((link_id, sid)) = carrier.at else {
            return;
        };
        if let Some(sess) = session(&mut self.links, link_id, sid).filter(|s| s.conv == Some(id)) {
            match io.output(link_id) {
                Some(out) => sess.hs.consumed(bytes, out),
                None => sess.hs.consumed(bytes, &mut Nowhere),
            }
        }
    }

    /// Bytes of the conversation's flows not yet on the wire: queued for a
    /// session, or held by its session for a pacing window.
    pub(crate) fn held(&self, carrier: &Carrier) -> usize {
        if let Some(pending) = &carrier.pending {
            return pending.bytes();
        }
        carrier
            .at
            .and_then(|(link, sid)| self.links.get(&link)?.sessions.get(&sid))
            .map_or(0, |sess| sess.hs.held_bytes())
    }

    /// The conversation's end is over on this node. `abort`: a verb of it
    /// was cancelled: deactivate its session at once.
    pub(crate) fn close(
        &mut self,
        io: &mut dyn Io,
        id: ConvId,
        carrier: &mut Carrier,
        abort: bool,
    ) {
        if !abort && carrier.pending.is_some() {
            // Its flows still go out once a session is active.
            carrier.closing = true;
            return;
        }
        carrier.closing = false;
        if carrier.pending.take().is_some() {
            if let Some(link) = carrier.link.and_then(|l| self.links.get_mut(&l)) {
                link.waiting.retain(|&w| w != id);
            }
        }
        let Some((link_id, sid)) = carrier.at.take() else {
            return;
        };
        let Some(sess) = session(&mut self.links, link_id, sid).filter(|s| s.conv == Some(id))
        else {
            return;
        };
        sess.conv = None;
        if !sess.bound {
            // BIND in flight: the session joins the pool when bound.
            return;
        }
        if abort || sess.hs.in_bracket() {
            // Cancelled (or ended without ending its bracket): deactivate
            // the session at once; the partner's verbs fail RETRY.
            self.unbind(
                io,
                link_id,
                sid,
                UnbindType::NORMAL,
                Some(Sense::DEALLOCATE_ABEND_PROG),
            );
        } else {
            self.todo.push_back(Todo::Release(link_id, sid));
        }
    }

    /// Gives waiting conversations a pooled session, or BINDs a new one.
    pub(crate) fn assign(
        &mut self,
        io: &mut dyn Io,
        convs: &mut IdHashMap<ConvId, Conv>,
        link_id: LinkId,
    ) {
        let ru_size = ru_size(self.node.config.max_frame);
        loop {
            let Some(link) = self.links.get_mut(&link_id) else {
                return;
            };
            if !link.up {
                return;
            }
            let Some(&id) = link.waiting.front() else {
                return;
            };
            let Some(mode) = convs
                .get(&id)
                .and_then(|c| c.carrier.pending.as_ref())
                .map(|p| p.mode)
            else {
                link.waiting.pop_front();
                continue;
            };
            if let Some(sid) = link.idle.get_mut(&mode).and_then(Vec::pop) {
                link.waiting.pop_front();
                self.node
                    .stats
                    .sessions_reused
                    .fetch_add(1, Ordering::Relaxed);
                self.begin(io, convs, link_id, sid, id);
                continue;
            }
            if link.sessions.len() >= self.node.config.max_sessions_per_link {
                return;
            }
            link.waiting.pop_front();
            let sid = link.new_sid();
            let [sidh, sidl] = sid.to_be_bytes();
            let lfsid = Lfsid {
                odai: false,
                sidh,
                sidl,
            };
            let partner = link.partner.clone().unwrap_or_default();
            // Until the image says otherwise, we send what we receive.
            let mut hs = HalfSession::new(
                lfsid,
                true,
                ru_size.bytes(),
                self.node.config.max_session_buffer,
            );
            let mut bind = Bind::lu62(
                &ebcdic::encode(&self.node.lu).unwrap_or_default(),
                &ebcdic::encode(&partner).unwrap_or_default(),
                &to_ebcdic(&mode).unwrap_or_default(),
                ru_size,
            );
            let window = Pacing {
                flag: false,
                window: self.node.config.pacing_window.min(63),
            };
            bind.secondary_send_pacing = window;
            bind.secondary_receive_pacing = window;
            bind.primary_send_pacing = window;
            bind.primary_receive_pacing = window;
            let frame = hs.control(&ControlRu::Bind(bind), ResponseType::Rqd1);
            link.sessions.insert(
                sid,
                Sess {
                    hs,
                    bound: false,
                    mode,
                    partner_lu: name(&partner),
                    conv: Some(id),
                },
            );
            if let Some(conv) = convs.get_mut(&id) {
                conv.carrier.at = Some((link_id, sid));
            }
            self.node.stats.binds_sent.fetch_add(1, Ordering::Relaxed);
            write(io, link_id, &[frame]);
        }
    }

    /// Begins conversation `id`'s bracket on the bound session `sid`: its
    /// attach, then the flows it queued meanwhile.
    pub(crate) fn begin(
        &mut self,
        io: &mut dyn Io,
        convs: &mut IdHashMap<ConvId, Conv>,
        link_id: LinkId,
        sid: u16,
        id: ConvId,
    ) {
        let Some(conv) = convs.get_mut(&id) else {
            self.todo.push_back(Todo::Release(link_id, sid));
            return;
        };
        let Some(pending) = conv.carrier.pending.take() else {
            self.todo.push_back(Todo::Release(link_id, sid));
            return;
        };
        let node = &self.node;
        let Some(sess) = session(&mut self.links, link_id, sid) else {
            return;
        };
        let begun = match io.output(link_id) {
            Some(out) => sess.hs.begin(&pending.attach, out),
            None => sess.hs.begin(&pending.attach, &mut Nowhere),
        };
        if let Err(v) = begun {
            tracing::warn!(node = %node.lu, reason = v.what, "attach not sent");
            sess.conv = None;
            let failure = Failure {
                primary: PrimaryRc::ALLOCATION_ERROR,
                secondary: SecondaryRc::ALLOCATION_FAILURE_NO_RETRY,
            };
            self.todo.push_back(Todo::Fail(id, failure));
            self.todo.push_back(Todo::Release(link_id, sid));
            return;
        }
        sess.conv = Some(id);
        conv.carrier.at = Some((link_id, sid));
        for queued in &pending.flows {
            self.send(io, id, &mut conv.carrier, queued.flow(&pending.data));
        }
        if conv.carrier.closing {
            // Ended before its session came: its flows are out now.
            conv.carrier.closing = false;
            self.close(io, id, &mut conv.carrier, false);
            self.touched.push(id);
        }
    }

    /// An idle session with no conversation: back to the pool (initiator).
    pub(crate) fn release(
        &mut self,
        io: &mut dyn Io,
        convs: &mut IdHashMap<ConvId, Conv>,
        link_id: LinkId,
        sid: u16,
    ) {
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        let Some(sess) = link.sessions.get(&sid) else {
            return;
        };
        if !link.initiator || !sess.bound || sess.conv.is_some() || !sess.hs.is_idle() {
            return;
        }
        link.idle.entry(sess.mode).or_default().push(sid);
        self.assign(io, convs, link_id);
    }

    /// Sends UNBIND for `sid` and forgets the session; returns the
    /// conversation it carried.
    pub(crate) fn unbind(
        &mut self,
        io: &mut dyn Io,
        link_id: LinkId,
        sid: u16,
        kind: UnbindType,
        sense: Option<Sense>,
    ) -> Option<ConvId> {
        let link = self.links.get_mut(&link_id)?;
        let mut sess = link.sessions.remove(&sid)?;
        for idle in link.idle.values_mut() {
            idle.retain(|&s| s != sid);
        }
        let initiator = link.initiator;
        let frame = sess.hs.control(
            &ControlRu::Unbind(Unbind { kind, sense }),
            ResponseType::Rqd1,
        );
        write(io, link_id, &[frame]);
        if initiator {
            self.todo.push_back(Todo::Assign(link_id));
        }
        sess.conv
    }

    /// A protocol violation on `sid`: UNBIND with the sense; its
    /// conversation fails.
    pub(crate) fn violate(&mut self, io: &mut dyn Io, link_id: LinkId, sid: u16, v: Violation) {
        tracing::warn!(
            node = %self.node.lu,
            link = link_id.0,
            session = sid,
            reason = v.what,
            sense = format_args!("{:08X}", v.sense.0),
            "protocol violation; UNBIND"
        );
        self.node.stats.violations.fetch_add(1, Ordering::Relaxed);
        let kind = UnbindType::INVALID_SESSION_PARAMETERS;
        if let Some(id) = self.unbind(io, link_id, sid, kind, Some(v.sense)) {
            let failure = Failure {
                primary: PrimaryRc::CONV_FAILURE_NO_RETRY,
                secondary: SecondaryRc(0),
            };
            self.todo.push_back(Todo::Fail(id, failure));
        }
    }

    /// A link came up (accepted, or our connect completed).
    pub(crate) fn connected(&mut self, link_id: LinkId) {
        let max_frame = self.node.config.max_frame;
        self.links
            .entry(link_id)
            .or_insert_with(|| Link::new(false, None, max_frame))
            .up = true;
        self.todo.push_back(Todo::Assign(link_id));
    }

    /// A link is gone: every conversation on it fails.
    pub(crate) fn closed(
        &mut self,
        convs: &mut IdHashMap<ConvId, Conv>,
        link_id: LinkId,
        error: Option<io::Error>,
    ) {
        let Some(link) = self.links.remove(&link_id) else {
            return;
        };
        if let Some(e) = error {
            tracing::info!(node = %self.node.lu, link = link_id.0, error = %e, "link lost");
        }
        if let Some(alias) = &link.partner {
            if self.out_links.get(alias) == Some(&link_id) {
                self.out_links.remove(alias);
            }
        }
        let on_sessions = link
            .sessions
            .values()
            .filter_map(|sess| Some((sess.conv?, sess.bound)));
        let waiting = link.waiting.iter().map(|&id| (id, false));
        for (id, bound) in on_sessions.chain(waiting) {
            let Some(conv) = convs.get_mut(&id) else {
                continue;
            };
            conv.carrier.at = None;
            let allocating = conv.carrier.pending.take().is_some() || !bound;
            let failure = if allocating {
                Failure {
                    primary: PrimaryRc::ALLOCATION_ERROR,
                    secondary: SecondaryRc::ALLOCATION_FAILURE_RETRY,
                }
            } else {
                Failure {
                    primary: link.failure,
                    secondary: SecondaryRc(0),
                }
            };
            self.todo.push_back(Todo::Fail(id, failure));
        }
    }

    /// A session-control request (BIND, UNBIND) on `link_id`.
    pub(crate) fn session_control(
        &mut self,
        io: &mut dyn Io,
        link_id: LinkId,
        sid: u16,
        frame: FrameRef<'_>,
    ) -> Option<(ConvId, Failure)> {
        let Rh::Request(req) = frame.rh else {
            return None;
        };
        let lfsid = frame.th.lfsid();
        let respond = |negative: Option<Sense>, ru: Vec<u8>| {
            let (rti, ru) = match negative {
                Some(s) => (Rti::Negative, s.to_bytes().to_vec()),
                None => (Rti::Positive, ru),
            };
            Frame {
                th: Th::new(lfsid, wire::th::Flow::Expedited, frame.th.snf),
                rh: Rh::Response(Response::to(&req, rti)),
                ru,
            }
        };
        let ru = match ControlRu::decode(RuCategory::Sc, frame.ru) {
            Ok(ru) => ru,
            Err(e) => {
                tracing::warn!(node = %self.node.lu, link = link_id.0, error = %e, "bad SC RU");
                let v = Violation {
                    sense: Sense::FUNCTION_NOT_SUPPORTED,
                    what: "SC RU",
                };
                self.violate(io, link_id, sid, v);
                return None;
            }
        };
        let config = &self.node.config;
        let link = self.links.get_mut(&link_id)?;
        match ru {
            ControlRu::Bind(bind) => {
                let refuse = if link.initiator {
                    Some(Sense::FUNCTION_NOT_SUPPORTED)
                } else if sid == 0 || link.sessions.contains_key(&sid) {
                    Some(Sense::invalid_parameter(0))
                } else if link.sessions.len() >= config.max_sessions_per_link {
                    Some(SESSION_LIMIT_EXCEEDED)
                } else if bind.fm_profile != 0x13 || bind.ts_profile != 0x07 {
                    Some(Sense::invalid_parameter(2))
                } else {
                    None
                };
                if let Some(sense) = refuse {
                    tracing::warn!(
                        node = %self.node.lu,
                        link = link_id.0,
                        session = sid,
                        sense = format_args!("{:08X}", sense.0),
                        "BIND refused"
                    );
                    write(io, link_id, &[respond(Some(sense), Vec::new())]);
                    return None;
                }
                let mode = bind
                    .mode_name()
                    .and_then(from_ebcdic::<8>)
                    .unwrap_or([b' '; 8]);
                let partner_lu = from_ebcdic::<8>(&bind.primary_lu_name).unwrap_or([b' '; 8]);
                // Pacing: we receive in the window the BIND proposes, or
                // less (none when it proposes 0, for interop); we send in
                // the PLU's receive window.
                let own = config.pacing_window.min(63);
                let proposed = bind.secondary_receive_pacing.window;
                let receive = if proposed == 0 || own == 0 {
                    0
                } else {
                    proposed.min(own)
                };
                let send = bind.primary_receive_pacing.window;
                // RU sizes: we send no more than the BIND lets the SLU
                // send, and the image asks the PLU to send no more than
                // our frame limit takes.
                let ours = ru_size(config.max_frame);
                let smaller = |theirs: RuSize| cmp::min_by_key(theirs, ours, |s| s.bytes());
                let mut bind = bind;
                bind.max_ru_secondary = smaller(bind.max_ru_secondary);
                bind.max_ru_primary = smaller(bind.max_ru_primary);
                bind.secondary_receive_pacing.window = receive;
                bind.primary_send_pacing.window = receive;
                bind.secondary_send_pacing.window = send;
                let mut hs = HalfSession::new(
                    lfsid,
                    false,
                    bind.max_ru_secondary.bytes(),
                    config.max_session_buffer,
                );
                hs.set_pacing(send, receive);
                link.sessions.insert(
                    sid,
                    Sess {
                        hs,
                        bound: true,
                        mode,
                        partner_lu,
                        conv: None,
                    },
                );
                self.node
                    .stats
                    .binds_accepted
                    .fetch_add(1, Ordering::Relaxed);
                let mut image = Vec::new();
                let _ = bind.encode(&mut image);
                write(io, link_id, &[respond(None, image)]);
                None
            }
            ControlRu::Unbind(unbind) => {
                let sess = link.sessions.remove(&sid)?;
                for idle in link.idle.values_mut() {
                    idle.retain(|&s| s != sid);
                }
                let initiator = link.initiator;
                write(io, link_id, &[respond(None, Vec::new())]);
                if initiator {
                    self.todo.push_back(Todo::Assign(link_id));
                }
                let id = sess.conv?;
                let primary = if unbind.kind == UnbindType::INVALID_SESSION_PARAMETERS {
                    PrimaryRc::CONV_FAILURE_NO_RETRY
                } else {
                    PrimaryRc::CONV_FAILURE_RETRY
                };
                Some((
                    id,
                    Failure {
                        primary,
                        secondary: SecondaryRc(0),
                    },
                ))
            }
            _ => None,
        }
    }

    /// A response to our BIND (initiator); other SC responses are ignored.
    /// Returns the conversation to begin on the session, or to fail.
    pub(crate) fn bind_response(
        &mut self,
        link_id: LinkId,
        sid: u16,
        rti: Rti,
        frame: FrameRef<'_>,
    ) -> Option<Result<ConvId, ConvId>> {
        let max_window = self.node.config.pacing_window.min(63);
        let link = self.links.get_mut(&link_id)?;
        let sess = link.sessions.get_mut(&sid)?;
        if sess.bound {
            return None;
        }
        let conv = sess.conv;
        if rti == Rti::Negative {
            link.sessions.remove(&sid);
            let sense = frame
                .ru
                .get(..4)
                .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            tracing::warn!(
                node = %self.node.lu,
                link = link_id.0,
                sense = format_args!("{sense:08X}"),
                "our BIND was refused"
            );
            return conv.map(Err);
        }
        // Pacing as the image settled it: we send in the SLU's receive
        // window, receive in ours (no image: a peer that does not pace).
        // RUs: we send no more than the image lets the PLU send (no image:
        // what we proposed).
        let (send, receive) = match Bind::decode(frame.ru) {
            Ok(image) => {
                sess.hs.limit_ru(image.max_ru_primary.bytes());
                (
                    image.secondary_receive_pacing.window,
                    image.primary_receive_pacing.window.min(max_window),
                )
            }
            Err(_) => (0, 0),
        };
        sess.hs.set_pacing(send, receive);
        sess.bound = true;
        match conv {
            Some(id) => Some(Ok(id)),
            None => {
                self.todo.push_back(Todo::Release(link_id, sid));
                None
            }
        }
    }
}
