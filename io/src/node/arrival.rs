//! What arrives on a shard's links: each PIU is decoded in place and
//! dispatched: session control (BIND, UNBIND and their responses) to
//! `control.rs`, a session's bracket traffic to the half-session, whose
//! events run at once on the session's conversation ([`Arrival`]): an
//! attach starts a conversation, a flow is delivered to its end (into a
//! waiting receive's buffer, when there is one).
//!
//! A PIU that does not decode, or names no session, or breaks the
//! session's protocol costs its session (UNBIND) or counts against its
//! link's peer (`enforce.rs`).

use std::sync::Arc;

use super::attach::from_wire;
use super::conv::{At, Carrier, Conv, Convs, Recorder};
use super::protocol::{Event, Violation};
use super::sessions::{session, with_output, Todo};
use super::shard::Shard;
use super::Shared;
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::ConvId;
use crate::appc::{Failure, Owner};
use crate::backend::{Io, LinkId};
use crate::diag::limited;
use crate::wire::{FrameRef, Rh, RuCategory, Sense};

impl Shard {
    /// One PIU of `link_id`.
    pub(super) fn piu(&mut self, io: &mut dyn Io, link_id: LinkId, piu: &[u8]) {
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
                let v = Violation {
                    sense: Sense::FUNCTION_NOT_SUPPORTED,
                    what: "undecodable PIU",
                };
                if known {
                    self.core.violate(io, link_id, sid, v);
                } else if let Some(link) = self.core.links.get_mut(&link_id) {
                    limited!(
                        warn,
                        &mut link.log,
                        "undecodable",
                        session = sid,
                        sense = %v.sense,
                        error = %e,
                        "undecodable PIU for no session: dropped"
                    );
                    self.core.offence(io, link_id, v.sense);
                }
                return;
            }
        };
        let lfsid = frame.th.lfsid();
        let sid = u16::from_be_bytes([lfsid.sidh, lfsid.sidl]);
        if lfsid.odai {
            let sense = Sense::FUNCTION_NOT_SUPPORTED;
            if let Some(link) = self.core.links.get_mut(&link_id) {
                limited!(
                    warn,
                    &mut link.log,
                    "odai",
                    session = sid,
                    %sense,
                    "PIU with ODAI 1 (we assign the session ids): dropped"
                );
            }
            self.core.offence(io, link_id, sense);
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
        let node: &Shared = &self.core.node;
        let max_send_backlog = node.config.max_send_backlog;
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
            conv: sess.conv(),
            owner: &self.as_owner,
            node,
            link: link_id,
            sid,
            partner_lu: sess.partner_lu,
            mode: sess.mode,
            recorder: Recorder::default(),
            attached: None,
            rejected: None,
            ended: false,
        };
        let result = with_output(io, link_id, |out| sess.hs.receive(frame, out, &mut arrival));
        let Arrival {
            conv,
            recorder,
            attached,
            rejected,
            ended,
            ..
        } = arrival;
        let received = sess.hs.received_held() as u64;
        self.core.maxima.received_held = self.core.maxima.received_held.max(received);
        if let Some(sense) = rejected {
            with_output(io, link_id, |out| sess.hs.reject(sense, out));
        }
        if let Some(id) = attached {
            sess.set_conv(Some(id));
        }
        if recorder.consumed > 0 {
            with_output(io, link_id, |out| sess.hs.consumed(recorder.consumed, out));
        }
        let held = sess.hs.held_bytes();
        if ended {
            sess.set_conv(None);
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
                if c.carrier.armed && held <= max_send_backlog / 2 {
                    c.carrier.armed = false;
                    self.core.todo.push_back(Todo::Writable(id));
                }
            }
        }
        self.forget_if_over(id);
    }
}

/// What a PIU's events do to the session's conversation, as the half
/// session reads them.
struct Arrival<'a> {
    convs: &'a mut Convs,
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
                let accepted = match self.node.engine.upgrade() {
                    Some(engine) => engine.incoming_attach(attach, self.owner),
                    None => Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED),
                };
                match accepted {
                    Ok(end) => {
                        let id = end.conv_id();
                        let mut carrier = Carrier::default();
                        carrier.at = At::new(self.link, self.sid);
                        self.convs.insert(id, Box::new(Conv { end, carrier }));
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
