//! The end of a conversation whose partner is on another node, as its
//! session layer owns it.
//!
//! The end reaches its node through a [`NodeLink`]: a weak reference,
//! upgraded only when the end needs the node's registry (its
//! conversation ends, its attach leaves the queue, a verb is refused) or
//! a soft TP end waits to run. A verb or an arrival that does none of
//! that changes no reference count: the session layers' threads run verbs
//! of one node at once, and a count they all changed per verb would be
//! one contended cache line among them.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::end::End;
use super::input::IssuedVerb;
use crate::node::{AppId, NodeLink, Registrar};
use crate::outcome::{AppCore, Out};
use crate::session::{Failure, Flow, Peer, TpEnd};
use crate::verbs::{Conv, ConvId};
use appc_engine::activity::Activity;
use appc_engine::Handle;

/// One local end of a conversation with a partner on another node, owned
/// by the session layer that carries the conversation (see
/// [`session`](crate::session)). Every method runs on the owner's thread
/// and takes the owner's [`Peer`] for this conversation; none blocks.
///
/// The conversation is over on this node once [`RemoteEnd::is_over`]:
/// the owner then drops the end (the peer was closed by then). An end
/// does not keep its node alive: once the node is dropped, whatever
/// reaches the end next ends it and aborts its session.
pub struct RemoteEnd {
    /// Its conversation id, the end's (`end.ids.conv_id`), never changes:
    /// an invoked end has it before a RECEIVE_ALLOCATE takes its attach.
    end: End,
    node: NodeLink,
    /// A SEND_CONVERSATION's task and data, run by [`RemoteEnd::open`]
    /// (boxed: no other conversation has one).
    send_conversation: Option<Box<(Handle, Vec<u8>)>>,
}

impl RemoteEnd {
    pub(crate) fn new(end: End, node: NodeLink) -> Self {
        Self {
            end,
            node,
            send_conversation: None,
        }
    }

    /// Makes this the conversation of a SEND_CONVERSATION, which runs when
    /// the owner opens it.
    pub(crate) fn send_conversation_on_open(&mut self, handle: Handle, data: Vec<u8>) {
        self.send_conversation = Some(Box::new((handle, data)));
    }

    /// The owner took this end ([`Work::Open`](crate::session::Work::Open)):
    /// a SEND_CONVERSATION's data and deallocation go now.
    pub fn open(&mut self, peer: &mut dyn Peer) {
        if let Some((handle, data)) = self.send_conversation.take().map(|b| *b) {
            self.with_node(peer, |end, node, peer| {
                let mut out = end.send_conversation(node, peer, &data);
                out.data = Some(data);
                end.complete(handle, out);
            });
        }
    }

    /// The conversation's id on this node.
    pub fn conv_id(&self) -> ConvId {
        self.end.ids.conv_id
    }

    /// Whether the data of this conversation is mapped records (GDS on the
    /// wire) or a basic logical-record stream.
    pub fn is_mapped(&self) -> bool {
        self.end.mapped
    }

    /// The conversation ended on this end (RESET): drop it.
    pub fn is_over(&self) -> bool {
        !self.end.live
    }

    /// Whether a RECEIVE_ALLOCATE took the conversation (an invoked end
    /// starts without its TP, while its attach waits for one).
    pub fn is_attached(&self) -> bool {
        self.end.tasks.is_some()
    }

    /// Runs `step` with the node's registry, if the node still exists (a
    /// conversation of a node that is gone can only end), then the soft
    /// TP ends it let run.
    #[inline(always)]
    fn with_node(
        &mut self,
        peer: &mut dyn Peer,
        step: impl FnOnce(&mut End, &dyn Registrar, &mut dyn Peer),
    ) {
        if self.node.is_gone() {
            return self.node_gone(peer);
        }
        step(&mut self.end, self.node.registrar(), peer);
        self.node.run_deferred();
    }

    /// The node was dropped: whatever reaches the end ends it.
    #[cold]
    fn node_gone(&mut self, peer: &mut dyn Peer) {
        self.end.live = false;
        self.end.close_peer(peer, true);
    }

    /// A verb the application issued on this conversation. A verb that
    /// does not name this end's TP (of its application) is refused; one
    /// whose task a cancel finished before it got here does nothing (the
    /// cancel's teardown, [`Work::Abort`](crate::session::Work::Abort),
    /// follows it).
    pub fn issue(&mut self, verb: IssuedVerb, peer: &mut dyn Peer) {
        // `with_node`, spelled out: a closure would hold a copy of `verb`.
        if self.node.is_gone() {
            return self.node_gone(peer);
        }
        let (end, node) = (&mut self.end, self.node.registrar());
        if !end.is_live(verb.ids) || end.app != verb.app {
            node.refuse(verb);
        } else if !end.was_cancelled(verb.handle) {
            end.issue(verb, node, peer);
        }
        self.node.run_deferred();
    }

    /// A flow arrived from the partner. `counted`: this peer paces the
    /// partner by what the TP consumes ([`Peer::consumed`]).
    pub fn arrive(&mut self, flow: Flow<'_>, counted: bool, peer: &mut dyn Peer) {
        self.with_node(peer, |end, node, peer| {
            end.arrive(node, peer, flow, counted)
        });
    }

    /// The session's backlog of unsent flows fell below its low mark after
    /// [`Peer::backlogged`] said `true`: the waiting send completes.
    pub fn writable(&mut self, peer: &mut dyn Peer) {
        self.with_node(peer, |end, node, peer| end.writable(node, peer));
    }

    /// The session is gone, or the partner LU rejected the attach: the
    /// waiting verb, or the next verb, reports `failure`. An invoked end
    /// whose attach still waits for a RECEIVE_ALLOCATE leaves the queue
    /// and is over: no TP will ever get a conversation that is already
    /// dead. (One a RECEIVE_ALLOCATE took a moment ago, whose
    /// [`Work::Attached`](crate::session::Work::Attached) is still on its
    /// way, stays: its TP learns of the failure on its first verb.)
    pub fn fail(&mut self, failure: Failure, peer: &mut dyn Peer) {
        self.with_node(peer, |end, node, peer| {
            end.fail(node, peer, failure.primary, failure.secondary)
        });
    }

    /// A verb of this conversation, issued by TP `ids.tp_id`, was
    /// cancelled: purge, no flush, close the session at once
    /// (`Peer::close(true)`). Nothing happens if the end is no longer that
    /// TP's live end.
    pub fn abort(&mut self, ids: Conv, peer: &mut dyn Peer) {
        if self.end.is_live(ids) {
            self.with_node(peer, |end, node, peer| end.abort(node, peer));
        }
    }

    /// The conversation's TP ended: its waiting verb ends with
    /// `AP_CANCELLED`; the conversation is deallocated normally (flushing)
    /// if the TP ended ([`TpEnd::Ended`]) with it in SEND at a record
    /// boundary, abnormally, nothing flushed, otherwise.
    pub fn end_tp(&mut self, how: TpEnd, peer: &mut dyn Peer) {
        self.with_node(peer, |end, node, peer| end.end_tp(node, peer, how));
    }

    /// A RECEIVE_ALLOCATE took the attach: the end belongs to its TP now.
    pub fn attached(&mut self, attachment: Attachment, peer: &mut dyn Peer) {
        let Attachment {
            ids,
            app,
            tasks,
            activity,
        } = attachment;
        self.end.attached(ids, app, tasks, activity);
        self.with_node(peer, |end, node, peer| end.progress(node, peer));
    }
}

impl fmt::Debug for RemoteEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteEnd")
            .field("ids", &self.end.ids)
            .field("state", &self.end.state)
            .field("live", &self.end.live)
            .finish_non_exhaustive()
    }
}

/// Whose conversation an invoked end becomes when a RECEIVE_ALLOCATE takes
/// its attach ([`Work::Attached`](crate::session::Work::Attached)).
pub struct Attachment {
    pub(crate) ids: Conv,
    pub(crate) app: AppId,
    pub(crate) tasks: AppCore,
    pub(crate) activity: Option<Arc<Activity>>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("ids", &self.ids)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

/// A TP_ENDED (or a cleanup) waiting for the TP's remote conversations to
/// end ([`Work::EndTp`](crate::session::Work::EndTp)): the last one done
/// completes it.
#[derive(Clone)]
pub struct Ending(Arc<EndingInner>);

struct EndingInner {
    left: AtomicUsize,
    task: Option<(AppCore, Handle)>,
}

impl Ending {
    /// An end of `count` conversations, completing `task` (if any) when
    /// the last is done.
    pub(crate) fn new(count: usize, task: Option<(AppCore, Handle)>) -> Self {
        Self(Arc::new(EndingInner {
            left: AtomicUsize::new(count),
            task,
        }))
    }

    /// One conversation of the TP has ended (or was already gone).
    pub fn done(self) {
        if self.0.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            if let Some((tasks, handle)) = &self.0.task {
                let _ = tasks.complete(*handle, |verb| Out::ok().apply(verb));
            }
        }
    }
}

impl fmt::Debug for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ending")
            .field("left", &self.0.left.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
