//! Session control on a shard's links: BIND and UNBIND as they arrive
//! (the SLU's side: a BIND accepted or refused, its image settling RU
//! sizes and pacing), and the response to a BIND of ours (the PLU's).
//!
//! A BIND names this LU network-qualified (`NETID.LU`, with our NETID) or
//! bare; one that names another LU is refused with `0835xxxx`, `xxxx`
//! the offset of the secondary LU name in the BIND (`names.rs`). Every
//! refusal counts as an offence of the link's peer (`enforce.rs`).

use std::cmp;
use std::sync::atomic::Ordering;

use super::attach::from_ebcdic;
use super::link::Sess;
use super::names::{self, LuName};
use super::protocol::{HalfSession, Violation, SESSION_LIMIT_EXCEEDED};
use super::sessions::{ru_size, write, Core, Todo};
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::{name, ConvId};
use crate::appc::Failure;
use crate::backend::{Io, LinkId};
use crate::diag::limited;
use crate::wire::{
    self, ebcdic, Bind, ControlRu, Frame, FrameRef, Response, Rh, Rti, RuCategory, RuSize, Sense,
    Th, UnbindType,
};

/// Whether a BIND's secondary LU name (EBCDIC; empty: unnamed) is this LU.
fn names_me(me: &LuName, slu: &[u8]) -> bool {
    slu.is_empty() || ebcdic::decode(slu).is_some_and(|slu| me.is(&slu))
}

impl Core {
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
            Err(_) => {
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
                } else if !names_me(&self.node.name, &bind.secondary_lu_name) {
                    // Session not bound, and the partner told which field
                    // is wrong: 0835xxxx points at the secondary LU name.
                    let at = bind.secondary_lu_name_offset();
                    Some(Sense::invalid_parameter(
                        u16::try_from(at).unwrap_or(u16::MAX),
                    ))
                } else {
                    None
                };
                if let Some(sense) = refuse {
                    limited!(
                        warn,
                        &mut link.log,
                        "bind_refused",
                        session = sid,
                        %sense,
                        "BIND refused"
                    );
                    write(io, link_id, &[respond(Some(sense), Vec::new())]);
                    self.offence(io, link_id, sense);
                    return None;
                }
                let mode = bind
                    .mode_name()
                    .and_then(from_ebcdic::<8>)
                    .unwrap_or([b' '; 8]);
                // The partner as its TP sees it: the LU, without its
                // network.
                let partner_lu = ebcdic::decode(&bind.primary_lu_name)
                    .map(|plu| name(names::unqualified(&plu)))
                    .unwrap_or([b' '; 8]);
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
                link.timers.bound = true;
                link.sessions
                    .insert(sid, Box::new(Sess::new(hs, true, mode, partner_lu, None)));
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
                let id = sess.conv()?;
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
        let conv = sess.conv();
        if rti == Rti::Negative {
            link.sessions.remove(&sid);
            let sense = frame
                .ru
                .get(..4)
                .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            limited!(
                warn,
                &mut link.log,
                "bind_rejected",
                session = sid,
                sense = %Sense(sense),
                "the partner refused our BIND"
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
        link.timers.bound = true;
        match conv {
            Some(id) => Some(Ok(id)),
            None => {
                self.todo.push_back(Todo::Release(link_id, sid));
                None
            }
        }
    }
}
