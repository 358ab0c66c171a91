//! The boundary between a conversation and the session that carries it:
//! the flows one end of a conversation sends the other, and the traits a
//! session layer implements to carry them between nodes.
//!
//! Inside one [`Node`](super::Node) both ends of a conversation are local
//! and a flow is pushed straight onto the partner end's inbound queue (see
//! the `conversation` module). When ALLOCATE names a partner LU registered
//! with [`Node::add_partner`](super::Node::add_partner), the other end is
//! on another node: the attach goes to that [`Partner`], which returns the
//! [`Session`] that carries the conversation's flows from then on, and
//! feeds what arrives back through a [`ConvPort`]. On the invoked node the
//! session layer hands an incoming attach to
//! [`Node::incoming_attach`](super::Node::incoming_attach) and gets the
//! [`ConvPort`] of the new conversation's local end.
//!
//! The vocabulary is that of LU 6.2 session traffic (`sna-wire.md`): a flow
//! maps onto RUs and request-header indicators (data, change direction,
//! definite-response requests, positive responses, FMH-7 error
//! descriptions, end bracket, SIGNAL), which the `appc-io` crate encodes.
//! Nothing here knows about sockets.

use std::fmt;
use std::sync::Weak;

use super::conversation::{PairLock, Side};
use super::node::NodeInner;
use super::rc::{PrimaryRc, SecondaryRc};
use crate::lock::lock;
use std::sync::Arc;

/// What one end of a conversation sends the other, in order (except
/// [`Flow::RequestToSend`], which may overtake everything).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Basic conversation: part of the logical-record stream (LLs
    /// included); mapped: one whole record.
    Data(Vec<u8>),
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

/// The session carrying one conversation to its other end, on another
/// node. Called with the conversation locked: implementations queue and
/// return, never block, and never call back into the conversation from
/// inside these calls (a [`ConvPort`] call comes later, from the session
/// layer's own thread).
///
/// Memory: a session layer bounds what it holds per conversation in both
/// directions with [`Session::consumed`] (the receiving TP's progress, to
/// pace the partner) and [`Session::backlogged`] / [`ConvPort::writable`]
/// (backpressure on the sending TP). Both have do-nothing defaults.
pub trait Session: Send + Sync {
    /// Carries `flow` to the other end, after every flow sent before it
    /// (a [`Flow::RequestToSend`] may overtake).
    fn send(&self, flow: Flow);

    /// The conversation is over on this end. `abort`: a verb of it was
    /// cancelled; drop whatever is queued and deactivate the session at
    /// once, so the other end's verbs fail. Otherwise send what is queued,
    /// then release the session (for reuse by another conversation).
    fn close(&self, abort: bool);

    /// The local end's TP took `bytes` of the data this session delivered
    /// off the conversation (received it, or it was purged): a session
    /// that paces its partner may now let it send more. Called with the
    /// conversation locked, like every method here.
    fn consumed(&self, bytes: usize) {
        let _ = bytes;
    }

    /// Asked after a send that would otherwise complete at once (SEND_DATA,
    /// FLUSH): whether the session holds more than it allows of this
    /// conversation's flows not yet sent. `true` arms the session: it calls
    /// [`ConvPort::writable`] once that backlog falls below its low mark,
    /// and the send waits until then (or until the session fails, or a
    /// cancel). The default: never.
    fn backlogged(&self) -> bool {
        false
    }
}

/// A partner LU reachable from this node through a session layer.
pub trait Partner: Send + Sync {
    /// Starts a conversation with an attach: returns the session that will
    /// carry it. What arrives for the local end goes to `port`. A partner
    /// that rejects the attach later does so through
    /// [`ConvPort::fail`] with `AP_ALLOCATION_ERROR` and the sense code.
    fn attach(&self, attach: &Attach, port: ConvPort) -> Arc<dyn Session>;
}

/// The local end of a conversation whose other end is remote: where the
/// session layer delivers what arrives.
#[derive(Clone)]
pub struct ConvPort {
    pub(crate) pair: PairLock,
    pub(crate) side: Side,
    pub(crate) node: Weak<NodeInner>,
}

impl ConvPort {
    /// A flow arrived from the other end.
    pub fn deliver(&self, flow: Flow) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        lock(&self.pair).arrive(&node, self.side, flow);
        node.run_deferred();
    }

    /// The session's backlog of unsent flows fell below its low mark after
    /// [`Session::backlogged`] said `true`: the waiting send completes.
    pub fn writable(&self) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        lock(&self.pair).writable(&node, self.side);
        node.run_deferred();
    }

    /// The session is gone, or the partner LU rejected the attach: the
    /// local end's waiting verb, or its next verb, reports `primary` /
    /// `secondary` (`AP_CONV_FAILURE_RETRY` on session loss,
    /// `AP_CONV_FAILURE_NO_RETRY` on a protocol violation,
    /// `AP_ALLOCATION_ERROR` with the sense code on a rejected attach).
    pub fn fail(&self, primary: PrimaryRc, secondary: SecondaryRc) {
        let Some(node) = self.node.upgrade() else {
            return;
        };
        lock(&self.pair).fail(&node, self.side, primary, secondary);
        node.run_deferred();
    }
}

impl fmt::Debug for ConvPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConvPort")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}
