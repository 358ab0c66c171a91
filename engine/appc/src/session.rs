//! The boundary between a conversation and what carries it to its partner:
//! the flows one end sends the other, the [`Peer`] an end sends them to,
//! and how a session layer takes over the conversations it carries
//! ([`Owner`], [`Work`]).
//!
//! Inside one [`Node`](crate::Node) both ends of a conversation are local:
//! they sit together behind one lock, and a flow goes straight into the
//! other end's inbound queue. When ALLOCATE names a partner LU registered
//! with [`Node::add_partner`](crate::Node::add_partner), the other end is on
//! another node, and the local end is handed to that partner's session
//! layer (its [`Owner`]) as a [`RemoteEnd`]. From then on the session layer
//! owns it: it runs the conversation's verbs ([`Work::Verb`]), what arrives
//! from the partner, and the conversation's teardown, all on a thread of
//! its own, with no lock, passing itself as the [`Peer`] the end sends to.
//! The application's threads reach the conversation only through
//! [`Owner::post`], so nothing of a remote conversation is shared.
//!
//! The vocabulary is that of LU 6.2 session traffic: a flow maps onto RUs
//! and request-header indicators (data, change direction, definite-response
//! requests, positive responses, FMH-7 error descriptions, end bracket,
//! SIGNAL), which the `appc-io` crate encodes. Nothing here knows about
//! sockets.

use std::fmt;

use crate::conversation::{Attachment, Ending, IssuedVerb, RemoteEnd};
use crate::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use crate::verbs::{Conv, ConvId};
use appc_engine::Handle;

/// What one end of a conversation sends the other, in order (except
/// [`Flow::RequestToSend`], which may overtake everything). Data is
/// borrowed: a carrier copies it once, into the partner's buffer or onto
/// the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow<'a> {
    /// Basic conversation: part of the logical-record stream (LLs
    /// included); mapped: one whole record.
    Data(&'a [u8]),
    /// The sender entered RECEIVE: the receiver now sends (the RH's
    /// change-direction indicator).
    ChangeDirection,
    /// The sender waits for CONFIRMED (a definite-response request).
    ConfirmRequest(Confirmation),
    /// The reply to a confirmation request (a positive response).
    Confirmed,
    /// The sender's SEND_ERROR, as the code the receiver reports
    /// (`AP_PROG_ERROR_*` / `AP_SVC_ERROR_*`).
    Error(PrimaryRc),
    /// The sender ended the conversation: `AP_DEALLOC_NORMAL` or one of
    /// the `AP_DEALLOC_ABEND*` codes.
    Deallocate(PrimaryRc),
    /// REQUEST_TO_SEND (SIGNAL), expedited.
    RequestToSend,
}

impl Flow<'_> {
    /// Whether this flow ends the conversation abnormally
    /// (`AP_DEALLOC_ABEND*`).
    pub(crate) fn ends_abnormally(&self) -> bool {
        matches!(self, Flow::Deallocate(code) if *code != PrimaryRc::DEALLOC_NORMAL)
    }
}

/// What a confirmation request asks for, and what follows CONFIRMED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Confirmation {
    /// CONFIRM: the sender keeps sending.
    Plain,
    /// PREPARE_TO_RECEIVE(SYNC_LEVEL): the receiver gets the direction.
    Send,
    /// DEALLOCATE(SYNC_LEVEL): the conversation ends.
    Deallocate,
}

impl Confirmation {
    /// The `what_rcvd` a receive reports for this request.
    pub(crate) fn what(self) -> WhatRcvd {
        match self {
            Confirmation::Plain => WhatRcvd::CONFIRM_WHAT_RECEIVED,
            Confirmation::Send => WhatRcvd::CONFIRM_SEND,
            Confirmation::Deallocate => WhatRcvd::CONFIRM_DEALLOCATE,
        }
    }
}

/// ALLOCATE's attach (an FMH-5): what the invoked TP learns from
/// RECEIVE_ALLOCATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attach {
    /// The TP to start (blank-padded).
    pub tp_name: [u8; 64],
    /// Mapped (true) or basic conversation.
    pub mapped: bool,
    /// `AP_NONE` or `AP_CONFIRM_SYNC_LEVEL`.
    pub sync_level: u8,
    /// The allocating TP's LU alias (the invoked side's partner LU).
    pub lu_alias: [u8; 8],
    /// The partner LU alias ALLOCATE named (the invoked side's own LU).
    pub plu_alias: [u8; 8],
    /// The mode name.
    pub mode_name: [u8; 8],
    /// The user id (security SAME / PGM).
    pub user_id: [u8; 10],
    /// Program initialisation parameters.
    pub pip: Vec<u8>,
}

/// Where one end's flows go: the other end of an in-memory conversation,
/// or the session to the partner's node. Called by the thread that owns
/// the end (the pair's lock holder, or the session layer's thread), so
/// `&mut self`: an implementation never blocks and never calls back into
/// the end.
///
/// Memory: a session layer bounds what it holds per conversation in both
/// directions with [`Peer::consumed`] (the receiving TP's progress, to
/// pace the partner) and [`Peer::backlogged`] /
/// [`RemoteEnd::writable`] (backpressure on the sending TP).
pub trait Peer {
    /// The conversation's attach, at its first flush (only the allocating
    /// end sends one). `Err` is the sense the attach is refused with at
    /// once (an unknown TP name on this node); a partner LU that refuses
    /// it later does so through [`RemoteEnd::fail`].
    fn attach(&mut self, attach: &Attach) -> Result<(), SecondaryRc>;

    /// Carries `flow` to the other end, after every flow sent before it
    /// (a [`Flow::RequestToSend`] may overtake).
    fn send(&mut self, flow: Flow<'_>);

    /// The conversation is over on this end. `abort`: a verb of it was
    /// cancelled; drop whatever is queued and deactivate the session at
    /// once, so the other end's verbs fail. Otherwise send what is queued,
    /// then release the session (for reuse by another conversation).
    fn close(&mut self, abort: bool);

    /// The local end's TP took `bytes` of the data this peer delivered off
    /// the conversation (received it, or it was purged): a session that
    /// paces its partner may now let it send more.
    fn consumed(&mut self, bytes: usize) {
        let _ = bytes;
    }

    /// Asked after a send that would otherwise complete at once (SEND_DATA,
    /// FLUSH): whether the session holds more than it allows of this
    /// conversation's flows not yet sent. `true` arms the session: it calls
    /// [`RemoteEnd::writable`] once that backlog falls below its low mark,
    /// and the send waits until then (or until the session fails, or a
    /// cancel). The default: never.
    fn backlogged(&mut self) -> bool {
        false
    }
}

/// A session layer that carries conversations to partner LUs on other
/// nodes and runs them on threads of its own. Registered with
/// [`Node::add_partner`](crate::Node::add_partner) for each partner LU
/// alias it reaches; the node then hands it every conversation allocated
/// to those LUs and every verb issued on them, as [`Work`].
pub trait Owner: Send + Sync {
    /// Takes `work` for the conversation it names, to run in order with
    /// that conversation's other work. Must not block or run the work on
    /// the caller's thread: the caller may hold the node's locks, or be in
    /// the middle of a cancel.
    fn post(&self, work: Work);
}

/// What a node hands the [`Owner`] of a remote conversation. The owner
/// runs each item on the conversation's [`RemoteEnd`] (found by
/// [`Work::conv_id`]), in the order posted.
#[derive(Debug)]
pub enum Work {
    /// A conversation this node allocated to one of the owner's partner
    /// LUs: keep its end; its attach flows at its first flush.
    Open(Box<RemoteEnd>),
    /// A conversation verb: [`RemoteEnd::issue`].
    Verb(IssuedVerb),
    /// A verb of the conversation (of the TP these ids name) was cancelled
    /// (the cancel has already posted its `AP_CANCELLED`):
    /// [`RemoteEnd::abort`].
    Abort(Conv, Handle),
    /// The conversation's TP ended, as [`TpEnd`] says:
    /// [`RemoteEnd::end_tp`], then [`Ending::done`].
    EndTp(ConvId, TpEnd, Ending),
    /// A RECEIVE_ALLOCATE took the conversation's attach, which was waiting
    /// for one: [`RemoteEnd::attached`].
    Attached(ConvId, Attachment),
}

impl Work {
    /// The conversation this work is for.
    pub fn conv_id(&self) -> ConvId {
        match self {
            Work::Open(end) => end.conv_id(),
            Work::Verb(request) => request.conv_id(),
            Work::Abort(ids, _) => ids.conv_id,
            Work::EndTp(conv, ..) | Work::Attached(conv, _) => *conv,
        }
    }
}

/// How a TP's conversations end with it ([`Work::EndTp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TpEnd {
    /// `TP_ENDED`, or `WinAPPCCleanup`: a conversation in SEND at a record
    /// boundary is deallocated normally, what it buffered flushed first;
    /// any other is deallocated abnormally.
    Ended,
    /// A cancelled `TP_ENDED(AP_SOFT)`: the TP ends at once, as with
    /// `AP_HARD`, but a cancelled verb flushes nothing, so every
    /// conversation is deallocated abnormally and what it buffered is
    /// dropped.
    Cancelled,
}

/// A failure a session layer reports to a conversation
/// ([`RemoteEnd::fail`]): the local end's waiting verb, or its next verb,
/// reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `AP_CONV_FAILURE_RETRY` on session loss, `AP_CONV_FAILURE_NO_RETRY`
    /// on a protocol violation, `AP_ALLOCATION_ERROR` on a rejected attach.
    pub primary: PrimaryRc,
    /// The sense code of a rejected attach; 0 otherwise.
    pub secondary: SecondaryRc,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} / {:?}", self.primary, self.secondary)
    }
}
