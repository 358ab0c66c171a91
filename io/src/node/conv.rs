//! A conversation as its shard holds it: the APPC end ([`RemoteEnd`]) and
//! where its session traffic goes ([`Carrier`]); what work from other
//! threads asks of it ([`Step`]); and the [`Peer`]s the end sends to:
//! [`SessionPeer`] (the session, for the end's own steps), [`Recorder`]
//! (while a PIU of that session is being read) and [`Dead`] (no session
//! will ever come: the node is down).

use std::num::NonZeroU16;
use std::ops::Range;

use super::sessions::{Core, Todo};
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::{Conv as ConvIds, ConvId};
use crate::appc::{
    Attach, Attachment, Confirmation, Ending, Failure, Flow, IssuedVerb, Peer, RemoteEnd, TpEnd,
    WeakNode, Work,
};
use crate::backend::{Io, LinkId};
use crate::engine::id_hash::IdHashMap;

/// One conversation on a shard: its end and its carrier, in one block.
#[derive(Debug)]
pub(crate) struct Conv {
    pub(crate) end: RemoteEnd,
    pub(crate) carrier: Carrier,
}

impl Conv {
    /// The block of a conversation this node allocated, from the end the
    /// engine hands over (see [`Convs`]).
    pub(crate) fn opened(end: Box<RemoteEnd>) -> Box<Conv> {
        Box::new(Conv {
            end: *end,
            carrier: Carrier::default(),
        })
    }
}

/// A shard's conversations. Each is boxed, so that the map of a million
/// conversations is a table of 16-byte entries: a hash table keeps
/// between an eighth and over half of its buckets empty (it doubles when
/// seven eighths are full), and each empty bucket costs an entry's size.
///
/// An allocating end comes boxed from the engine, and its block is made
/// anew with the carrier ([`Conv::opened`]) on the thread that posts it
/// (see `ShardOwner::post`): there the engine's box is freed into the
/// arena the next ALLOCATE takes its box from. Freed on the reactor, each
/// would be a hole in another thread's glibc arena, which the scale mode
/// measured as about 200 bytes of RSS per held conversation.
pub(crate) type Convs = IdHashMap<ConvId, Box<Conv>>;

/// What one [`Work`] item asks of its conversation's end.
#[derive(Debug)]
pub(crate) enum Step {
    Open,
    Verb(IssuedVerb),
    Abort(ConvIds),
    EndTp(TpEnd, Ending),
    Attached(Attachment),
}

impl Step {
    /// `work`'s conversation, the end it brings (a new conversation), and
    /// what it asks of it.
    pub(crate) fn of(work: Work) -> (ConvId, Option<Box<RemoteEnd>>, Step) {
        let id = work.conv_id();
        match work {
            Work::Open(end) => (id, Some(end), Step::Open),
            Work::Verb(request) => (id, None, Step::Verb(request)),
            Work::Abort(ids, _) => (id, None, Step::Abort(ids)),
            Work::EndTp(_, how, ending) => (id, None, Step::EndTp(how, ending)),
            Work::Attached(_, attachment) => (id, None, Step::Attached(attachment)),
        }
    }

    /// Runs on the conversation's end. `down`: the node is down, and a new
    /// conversation fails at once with this code instead of opening.
    pub(crate) fn run(self, end: &mut RemoteEnd, peer: &mut dyn Peer, down: Option<PrimaryRc>) {
        match self {
            Step::Open => match down {
                Some(primary) => {
                    let failure = Failure {
                        primary,
                        secondary: SecondaryRc(0),
                    };
                    end.fail(failure, peer);
                }
                None => end.open(peer),
            },
            Step::Verb(request) => end.issue(request, peer),
            Step::Abort(ids) => end.abort(ids, peer),
            Step::EndTp(how, ending) => {
                end.end_tp(how, peer);
                ending.done();
            }
            Step::Attached(attachment) => end.attached(attachment, peer),
        }
    }

    /// The conversation is not held (it ended): a verb is refused, a TP's
    /// end counted; the rest has nothing to act on. (A node that is gone
    /// has no TP left to answer.)
    pub(crate) fn unheld(self, engine: &WeakNode) {
        match self {
            Step::Verb(request) => {
                if let Some(engine) = engine.upgrade() {
                    engine.refuse(request);
                }
            }
            Step::EndTp(_, ending) => ending.done(),
            Step::Open | Step::Abort(_) | Step::Attached(_) => {}
        }
    }
}

/// Where a conversation's traffic goes, and what it holds not yet sent.
/// In every conversation's block, so kept to 40 bytes.
#[derive(Debug)]
pub(crate) struct Carrier {
    /// The session carrying its bracket.
    pub(crate) at: Option<At>,
    /// The allocating side, before its bracket began: its attach and
    /// flows.
    pub(crate) pending: Option<Box<Pending>>,
    /// The link it waits on for a session, if `waits` ([`Carrier::link`];
    /// an `Option` would take 8 more bytes).
    link: LinkId,
    waits: bool,
    /// The end closed it normally before its flows went out: it lives on
    /// until they have.
    pub(crate) closing: bool,
    /// A send waits for the backlog to drain ([`Peer::backlogged`]).
    pub(crate) armed: bool,
}

impl Default for Carrier {
    fn default() -> Self {
        Self {
            at: None,
            pending: None,
            link: LinkId(0),
            waits: false,
            closing: false,
            armed: false,
        }
    }
}

impl Carrier {
    /// The link the allocating side waits on (or waited on) for a session.
    pub(crate) fn link(&self) -> Option<LinkId> {
        self.waits.then_some(self.link)
    }

    pub(crate) fn set_link(&mut self, link: LinkId) {
        self.link = link;
        self.waits = true;
    }
}

/// A session on a link. Its id is never 0 (no BIND may name it, and a
/// link never picks it), so an absent one costs no word of its own in
/// every conversation's carrier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At {
    link: LinkId,
    sid: NonZeroU16,
}

impl At {
    /// Session `sid` of `link`; none for id 0.
    pub(crate) fn new(link: LinkId, sid: u16) -> Option<At> {
        Some(At {
            link,
            sid: NonZeroU16::new(sid)?,
        })
    }

    /// Its link and session id.
    pub(crate) fn parts(self) -> (LinkId, u16) {
        (self.link, self.sid.get())
    }
}

/// A conversation's attach and flows, waiting for a session. The attach
/// is kept as the engine gave it (its mode name picks the session) and
/// becomes an FMH-5 when its bracket begins: the FMH-5 holds its TP name
/// in a buffer of its own, one more allocation per conversation waiting
/// in a burst (see [`QueuedFlows`]).
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) attach: Attach,
    pub(crate) flows: QueuedFlows,
    /// The queued data, one flow's after the other.
    pub(crate) data: Vec<u8>,
}

/// The flows a conversation queued for its session, in order. Most queue
/// one or two (a request's data, the change of direction), kept in the
/// block: a burst of ALLOCATEs waits for its sessions all at once, and a
/// buffer each, freed as the sessions come, would stay in the reactor's
/// glibc arena as holes (the scale mode: about 81,000 of 96 bytes per
/// 100,000 conversations).
#[derive(Debug, Default)]
pub(crate) struct QueuedFlows {
    head: [Option<Queued>; 2],
    tail: Vec<Queued>,
}

impl QueuedFlows {
    fn push(&mut self, queued: Queued) {
        match self.head.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => *slot = Some(queued),
            None => self.tail.push(queued),
        }
    }

    fn len(&self) -> usize {
        self.head.iter().flatten().count() + self.tail.len()
    }

    /// The flows, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Queued> {
        self.head.iter().flatten().chain(&self.tail)
    }
}

/// A flow queued before the session is active.
#[derive(Debug)]
pub(crate) enum Queued {
    Data(Range<usize>),
    ChangeDirection,
    ConfirmRequest(Confirmation),
    Confirmed,
    Error(PrimaryRc),
    Deallocate(PrimaryRc),
    RequestToSend,
}

impl Queued {
    pub(crate) fn flow<'a>(&self, data: &'a [u8]) -> Flow<'a> {
        match self {
            Queued::Data(range) => Flow::Data(&data[range.clone()]),
            Queued::ChangeDirection => Flow::ChangeDirection,
            Queued::ConfirmRequest(c) => Flow::ConfirmRequest(*c),
            Queued::Confirmed => Flow::Confirmed,
            Queued::Error(code) => Flow::Error(*code),
            Queued::Deallocate(code) => Flow::Deallocate(*code),
            Queued::RequestToSend => Flow::RequestToSend,
        }
    }
}

impl Pending {
    fn queue(&mut self, flow: Flow<'_>) {
        let queued = match flow {
            Flow::Data(data) => {
                let from = self.data.len();
                self.data.extend_from_slice(data);
                Queued::Data(from..self.data.len())
            }
            Flow::ChangeDirection => Queued::ChangeDirection,
            Flow::ConfirmRequest(c) => Queued::ConfirmRequest(c),
            Flow::Confirmed => Queued::Confirmed,
            Flow::Error(code) => Queued::Error(code),
            Flow::Deallocate(code) => Queued::Deallocate(code),
            Flow::RequestToSend => Queued::RequestToSend,
        };
        self.flows.push(queued);
    }

    /// Bytes queued, counting each flow as at least one.
    pub(crate) fn bytes(&self) -> usize {
        self.data.len() + self.flows.len()
    }
}

/// The session, as the end of conversation `id` sees it during one of the
/// end's own steps (a verb, an abort, its TP's end).
pub(crate) struct SessionPeer<'a> {
    pub(crate) core: &'a mut Core,
    pub(crate) io: &'a mut dyn Io,
    pub(crate) id: ConvId,
    pub(crate) carrier: &'a mut Carrier,
}

impl Peer for SessionPeer<'_> {
    fn attach(&mut self, attach: &Attach) -> Result<(), SecondaryRc> {
        self.core.attach(self.io, self.id, self.carrier, attach)
    }

    fn send(&mut self, flow: Flow<'_>) {
        if let Some(pending) = &mut self.carrier.pending {
            // Queued for a session, up to the session buffer.
            pending.queue(flow);
            if pending.bytes() > self.core.node.config.max_session_buffer {
                self.carrier.pending = None;
                let failure = Failure {
                    primary: PrimaryRc::ALLOCATION_ERROR,
                    secondary: SecondaryRc::ALLOCATION_FAILURE_RETRY,
                };
                self.core.todo.push_back(Todo::Fail(self.id, failure));
            }
            return;
        }
        self.core.send(self.io, self.id, self.carrier, flow);
    }

    fn close(&mut self, abort: bool) {
        self.core.close(self.io, self.id, self.carrier, abort);
    }

    fn consumed(&mut self, bytes: usize) {
        self.core.consumed(self.io, self.id, self.carrier, bytes);
    }

    fn backlogged(&mut self) -> bool {
        let held = self.core.held(self.carrier);
        self.carrier.armed = held > self.core.node.config.max_send_backlog;
        self.carrier.armed
    }
}

/// The session as a conversation's end sees it while a PIU of that
/// session is being read: what the arrival makes the end tell its peer
/// (the TP consumed data, the conversation is over) is recorded and done
/// once the PIU is read. An arrival never makes an end send.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) consumed: usize,
    pub(crate) closed: Option<bool>,
}

impl Peer for Recorder {
    fn attach(&mut self, _: &Attach) -> Result<(), SecondaryRc> {
        debug_assert!(false, "an arrival attaches nothing");
        Ok(())
    }

    fn send(&mut self, _: Flow<'_>) {
        debug_assert!(false, "an arrival sends nothing");
    }

    fn close(&mut self, abort: bool) {
        self.closed = Some(abort || self.closed == Some(true));
    }

    fn consumed(&mut self, bytes: usize) {
        self.consumed += bytes;
    }
}

/// A peer that is gone for good (the node is down): what the end sends
/// goes nowhere; its failure was reported to it already.
#[derive(Debug)]
pub(crate) struct Dead;

impl Peer for Dead {
    fn attach(&mut self, _: &Attach) -> Result<(), SecondaryRc> {
        Err(SecondaryRc::ALLOCATION_FAILURE_RETRY)
    }

    fn send(&mut self, _: Flow<'_>) {}

    fn close(&mut self, _: bool) {}
}

#[cfg(test)]
mod tests {
    use super::{Pending, Queued, QueuedFlows};
    use crate::appc::rc::PrimaryRc;
    use crate::appc::{Attach, Flow};

    #[test]
    fn queued_flows_keep_their_order_past_the_inline_ones() {
        let mut pending = Pending {
            attach: Attach {
                tp_name: [b' '; 64],
                mapped: true,
                sync_level: 0,
                lu_alias: [b' '; 8],
                plu_alias: [b' '; 8],
                mode_name: [b' '; 8],
                user_id: [b' '; 10],
                pip: Vec::new(),
            },
            flows: QueuedFlows::default(),
            data: Vec::new(),
        };
        let sent = [
            Flow::Data(b"one"),
            Flow::Data(b"two"),
            Flow::Error(PrimaryRc::PROG_ERROR_PURGING),
            Flow::Data(b"three"),
            Flow::ChangeDirection,
        ];
        for flow in sent {
            pending.queue(flow);
        }
        let queued: Vec<Flow<'_>> = pending
            .flows
            .iter()
            .map(|q: &Queued| q.flow(&pending.data))
            .collect();
        assert_eq!(queued, sent);
        assert_eq!(pending.bytes(), 11 + 5);
    }
}
