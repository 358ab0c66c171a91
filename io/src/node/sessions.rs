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
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::attach::{to_ebcdic, to_wire};
use super::conv::{At, Carrier, Convs, Pending, QueuedFlows};
use super::limits::{Budget, Timers};
use super::link::{Link, Sess};
use super::names;
use super::protocol::{encode, HalfSession, Violation, Wire};
use super::Shared;
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::{name, ConvId};
use crate::appc::{Attach, Failure, Flow};
use crate::backend::{Io, LinkId};
use crate::diag::{limited, Limits};
use crate::wire::frame::MIN_PIU;
use crate::wire::{
    ebcdic, Bind, ControlRu, Frame, Lfsid, Pacing, ResponseType, Rh, RuSize, Sense, Th, Unbind,
    UnbindType,
};
use std::time::Instant;

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
    pub(crate) out_links: HashMap<[u8; 8], LinkId>,
    /// The partner LUs whose conversations this shard carries, by alias
    /// (blank-padded, as ALLOCATE names them): their aliases as given,
    /// LU names and addresses.
    pub(crate) partners: HashMap<[u8; 8], (String, String, SocketAddr)>,
    /// What this shard's links hold, against its part of the node's
    /// memory budget (`enforce.rs`).
    pub(crate) budget: Budget,
    /// The span and rate limits of what concerns no one link.
    pub(crate) log: Limits,
    /// The high-water marks seen here, published to the node's counters
    /// once a turn (`NodeStats::received_held_max`, `send_backlog_max`).
    pub(crate) maxima: Maxima,
    pub(crate) todo: VecDeque<Todo>,
    /// Conversations a step outside their own may have finished with (a
    /// bracket begun for one that closed while it waited): the shard
    /// forgets those that are over.
    pub(crate) touched: Vec<ConvId>,
}

/// High-water marks a shard keeps for the node's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Maxima {
    pub(crate) received_held: u64,
    pub(crate) send_backlog: u64,
}

/// Session `sid` of link `link_id`, if both exist (a free function, so
/// that it borrows only the links).
pub(crate) fn session(
    links: &mut FxHashMap<LinkId, Link>,
    link_id: LinkId,
    sid: u16,
) -> Option<&mut Sess> {
    links
        .get_mut(&link_id)?
        .sessions
        .get_mut(&sid)
        .map(|s| &mut **s)
}

/// Runs `f` on `link`'s output, or on output that goes nowhere if the link
/// is gone or closing.
pub(crate) fn with_output<R>(
    io: &mut dyn Io,
    link: LinkId,
    f: impl FnOnce(&mut dyn Wire) -> R,
) -> R {
    match io.output(link) {
        Some(out) => f(out),
        None => f(&mut Nowhere),
    }
}

/// The largest RU a node receives, as a BIND states it: the largest size a
/// BIND byte can state that fits `max_frame` (at least 256).
pub(crate) fn ru_size(max_frame: usize) -> RuSize {
    RuSize::at_most(max_frame.saturating_sub(MIN_PIU).max(256))
        .expect("256 bytes is above the smallest RU size")
}

/// Writes frames made elsewhere (control RUs) to `link`.
pub(crate) fn write(io: &mut dyn Io, link: LinkId, frames: &[Frame]) {
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
        let span = tracing::warn_span!(parent: None, "node", node = %node.lu);
        Self {
            node,
            links: FxHashMap::default(),
            out_links: HashMap::new(),
            partners: HashMap::new(),
            budget: Budget::default(),
            log: Limits::new(span),
            maxima: Maxima::default(),
            todo: VecDeque::new(),
            touched: Vec::new(),
        }
    }

    /// A new link's state, with its span (named for `partner`, an alias we
    /// opened it for, or the `peer` that connected).
    pub(crate) fn new_link(
        &self,
        link: LinkId,
        partner: Option<([u8; 8], &str)>,
        peer: SocketAddr,
    ) -> Link {
        let span = match partner {
            Some((_, alias)) => tracing::warn_span!(
                parent: None,
                "link",
                node = %self.node.lu,
                link = link.0,
                partner = %alias,
                %peer
            ),
            None => {
                tracing::warn_span!(parent: None, "link", node = %self.node.lu, link = link.0, %peer)
            }
        };
        let (log, timers) = (Limits::new(span), Timers::new(Instant::now()));
        Link::new(
            partner.is_some(),
            partner.map(|(key, _)| key),
            self.node.config.max_frame,
            log,
            timers,
        )
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
        // Checked now, sent when the bracket begins (see `Pending`).
        to_wire(attach).ok_or(SecondaryRc::TP_NAME_NOT_RECOGNIZED)?;
        let key = attach.plu_alias;
        let link = match self.out_links.get(&key) {
            Some(&link) if self.links.contains_key(&link) => link,
            _ => {
                let (alias, lu, addr) = self
                    .partners
                    .get(&key)
                    .cloned()
                    .ok_or(SecondaryRc::ALLOCATION_FAILURE_NO_RETRY)?;
                if !self.node.open_link() {
                    limited!(
                        warn,
                        &mut self.log,
                        "max_links",
                        partner = %alias,
                        max_links = self.node.config.max_links,
                        "connection limit reached: allocation failed"
                    );
                    return Err(SecondaryRc::ALLOCATION_FAILURE_RETRY);
                }
                let link = match io.connect(addr) {
                    Ok(link) => link,
                    Err(error) => {
                        self.node.close_link();
                        limited!(
                            warn,
                            &mut self.log,
                            "connect_failed",
                            partner = %alias,
                            %addr,
                            %error,
                            "cannot connect to a partner"
                        );
                        return Err(SecondaryRc::ALLOCATION_FAILURE_RETRY);
                    }
                };
                let mut l = self.new_link(link, Some((key, &alias)), addr);
                l.partner_lu = lu;
                self.links.insert(link, l);
                self.out_links.insert(key, link);
                link
            }
        };
        carrier.pending = Some(Box::new(Pending {
            attach: attach.clone(),
            flows: QueuedFlows::default(),
            data: Vec::new(),
        }));
        carrier.set_link(link);
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
        let Some((link_id, sid)) = carrier.at.map(At::parts) else {
            return;
        };
        let Some(sess) = session(&mut self.links, link_id, sid).filter(|s| s.conv() == Some(id))
        else {
            return;
        };
        let detached = with_output(io, link_id, |out| sess.hs.send(flow, out));
        let held = sess.hs.held_bytes() as u64;
        self.maxima.send_backlog = self.maxima.send_backlog.max(held);
        if detached {
            sess.set_conv(None);
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
        let Some((link_id, sid)) = carrier.at.map(At::parts) else {
            return;
        };
        if let Some(sess) = session(&mut self.links, link_id, sid).filter(|s| s.conv() == Some(id))
        {
            with_output(io, link_id, |out| sess.hs.consumed(bytes, out));
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
            .map(At::parts)
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
            if let Some(link) = carrier.link().and_then(|l| self.links.get_mut(&l)) {
                link.waiting.retain(|&w| w != id);
            }
        }
        let Some((link_id, sid)) = carrier.at.take().map(At::parts) else {
            return;
        };
        let Some(sess) = session(&mut self.links, link_id, sid).filter(|s| s.conv() == Some(id))
        else {
            return;
        };
        sess.set_conv(None);
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
    pub(crate) fn assign(&mut self, io: &mut dyn Io, convs: &mut Convs, link_id: LinkId) {
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
                .map(|p| p.attach.mode_name)
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
            let partner_name = self.node.name.partner(&link.partner_lu);
            // Until the image says otherwise, we send what we receive.
            let mut hs = HalfSession::new(
                lfsid,
                true,
                ru_size.bytes(),
                self.node.config.max_session_buffer,
            );
            let mut bind = Bind::lu62(
                &ebcdic::encode(&self.node.name.qualified()).unwrap_or_default(),
                &ebcdic::encode(&partner_name).unwrap_or_default(),
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
                Box::new(Sess::new(
                    hs,
                    false,
                    mode,
                    name(names::unqualified(&link.partner_lu)),
                    Some(id),
                )),
            );
            if let Some(conv) = convs.get_mut(&id) {
                conv.carrier.at = At::new(link_id, sid);
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
        convs: &mut Convs,
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
        // `Core::attach` checked that the attach makes an FMH-5.
        let begun = to_wire(&pending.attach)
            .ok_or("attach has no FMH-5")
            .and_then(|fmh5| {
                with_output(io, link_id, |out| sess.hs.begin(&fmh5, out)).map_err(|v| v.what)
            });
        if let Err(reason) = begun {
            tracing::warn!(node = %node.lu, reason, "attach not sent");
            sess.set_conv(None);
            let failure = Failure {
                primary: PrimaryRc::ALLOCATION_ERROR,
                secondary: SecondaryRc::ALLOCATION_FAILURE_NO_RETRY,
            };
            self.todo.push_back(Todo::Fail(id, failure));
            self.todo.push_back(Todo::Release(link_id, sid));
            return;
        }
        sess.set_conv(Some(id));
        conv.carrier.at = At::new(link_id, sid);
        for queued in pending.flows.iter() {
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
        convs: &mut Convs,
        link_id: LinkId,
        sid: u16,
    ) {
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        let Some(sess) = link.sessions.get(&sid) else {
            return;
        };
        if !link.initiator || !sess.bound || sess.conv().is_some() || !sess.hs.is_idle() {
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
        sess.conv()
    }

    /// A protocol violation on `sid`: UNBIND with the sense (its
    /// conversation fails `NO_RETRY`, at both ends), counted against the
    /// link.
    pub(crate) fn violate(&mut self, io: &mut dyn Io, link_id: LinkId, sid: u16, v: Violation) {
        if let Some(link) = self.links.get_mut(&link_id) {
            limited!(
                warn,
                &mut link.log,
                "violation",
                session = sid,
                sense = %v.sense,
                what = v.what,
                "protocol violation: session unbound"
            );
        }
        let kind = UnbindType::INVALID_SESSION_PARAMETERS;
        if let Some(id) = self.unbind(io, link_id, sid, kind, Some(v.sense)) {
            let failure = Failure {
                primary: PrimaryRc::CONV_FAILURE_NO_RETRY,
                secondary: SecondaryRc(0),
            };
            self.todo.push_back(Todo::Fail(id, failure));
        }
        self.offence(io, link_id, v.sense);
    }

    /// A link came up: our connect completed, or a peer's was accepted
    /// (closed at once beyond [`NodeConfig::max_links`](super::NodeConfig::max_links)).
    pub(crate) fn connected(&mut self, io: &mut dyn Io, link_id: LinkId, peer: SocketAddr) {
        if !self.links.contains_key(&link_id) {
            if !self.node.open_link() {
                limited!(
                    warn,
                    &mut self.log,
                    "max_links",
                    %peer,
                    max_links = self.node.config.max_links,
                    "connection limit reached: connection closed"
                );
                self.node.stats.links_shed.fetch_add(1, Ordering::Relaxed);
                io.close(link_id);
                return;
            }
            let link = self.new_link(link_id, None, peer);
            self.links.insert(link_id, link);
        }
        if let Some(link) = self.links.get_mut(&link_id) {
            link.up = true;
        }
        self.todo.push_back(Todo::Assign(link_id));
    }

    /// A link is gone: every conversation on it fails.
    pub(crate) fn closed(&mut self, convs: &mut Convs, link_id: LinkId, error: Option<io::Error>) {
        let Some(mut link) = self.links.remove(&link_id) else {
            return;
        };
        self.node.close_link();
        self.budget.account(&mut link.memory, 0, 0);
        if let Some(error) = error {
            tracing::info!(parent: link.log.span(), %error, "link lost");
        }
        if let Some(key) = &link.partner {
            if self.out_links.get(key) == Some(&link_id) {
                self.out_links.remove(key);
            }
        }
        let on_sessions = link
            .sessions
            .values()
            .filter_map(|sess| Some((sess.conv()?, sess.bound)));
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
}
