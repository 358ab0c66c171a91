//! An in-memory conversation: both ends on this node, behind one lock,
//! each the other's [`Peer`].
//!
//! A flow one end sends is pushed into the other's inbound queue; once the
//! sending end's step is over, the other end makes progress (a receive
//! waiting there may now complete). The data and a status sent in one step
//! (SEND_DATA with PREPARE_TO_RECEIVE, say) so reach the partner together,
//! as one RU chain carries both over a session: a receive already waiting
//! sees the status after the data (`rtn_status` combines them).
//!
//! # Locks
//!
//! A pair's lock is taken before the node's registry lock, never after
//! (attach routing and forgetting an ended conversation take the registry
//! while holding a pair). Engine completions run under the pair's lock;
//! they never wait.

use std::sync::{Arc, Mutex};

use super::end::End;
use super::input::IssuedVerb;
use crate::node::NodeInner;
use crate::outcome::Out;
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::session::{Attach, Flow, Peer, TpEnd};
use crate::states::ConvState;
use crate::verbs::Conv;

/// A conversation's lock.
pub(crate) type PairLock = Arc<Mutex<Pair>>;

/// The side an end is on: 0 allocated the conversation, 1 was attached.
pub(crate) type Side = usize;

/// Both ends of an in-memory conversation.
#[derive(Debug)]
pub(crate) struct Pair {
    ends: [End; 2],
}

impl Pair {
    /// A conversation just allocated by side 0, `first` (in SEND, its
    /// attach flowing with the first flush); side 1 comes to life when the
    /// attach is routed.
    pub(crate) fn allocated_with(first: End) -> Self {
        let mapped = first.mapped;
        Self {
            ends: [
                first,
                End::new(Conv::default(), false, ConvState::Reset, mapped),
            ],
        }
    }

    /// The end on `side`.
    pub(crate) fn end(&mut self, side: Side) -> &mut End {
        &mut self.ends[side]
    }

    /// Whether `side` is a live end with these ids.
    pub(crate) fn is_live(&self, side: Side, ids: Conv) -> bool {
        self.ends[side].is_live(ids)
    }

    /// Runs `step` on `side` with the other end as its peer, then lets the
    /// other end make progress.
    fn run<R>(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        side: Side,
        step: impl FnOnce(&mut End, &mut LocalPeer<'_>) -> R,
    ) -> R {
        let [first, second] = &mut self.ends;
        let (end, other) = if side == 0 {
            (first, second)
        } else {
            (second, first)
        };
        let mut peer = LocalPeer { node, me, other };
        let result = step(end, &mut peer);
        let LocalPeer { other, .. } = peer;
        other.progress(node, &mut Quiet);
        result
    }

    /// Runs conversation verb `request` on `side`.
    pub(crate) fn issue(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        side: Side,
        request: IssuedVerb,
    ) {
        self.run(node, me, side, |end, peer| end.issue(request, node, peer));
    }

    /// A verb of `side` was cancelled: purge, close, fail the partner.
    pub(crate) fn abort(&mut self, node: &NodeInner, me: &PairLock, side: Side) {
        self.run(node, me, side, |end, peer| end.abort(node, peer));
    }

    /// `side`'s TP ended, as `how` says.
    pub(crate) fn end_tp(&mut self, node: &NodeInner, me: &PairLock, side: Side, how: TpEnd) {
        self.run(node, me, side, |end, peer| end.end_tp(node, peer, how));
    }

    /// SEND_CONVERSATION on a conversation just allocated by side 0.
    pub(crate) fn send_conversation(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        data: &[u8],
    ) -> Out {
        self.run(node, me, 0, |end, peer| {
            end.send_conversation(node, peer, data)
        })
    }
}

/// The other end of an in-memory conversation, as an end's peer.
struct LocalPeer<'a> {
    node: &'a NodeInner,
    me: &'a PairLock,
    other: &'a mut End,
}

impl Peer for LocalPeer<'_> {
    fn attach(&mut self, attach: &Attach) -> Result<(), SecondaryRc> {
        self.node.route_local(self.me, attach, self.other)
    }

    fn send(&mut self, flow: Flow<'_>) {
        if self.other.admits(self.node, &mut Quiet, &flow) && self.other.wants(&flow) {
            self.other.hold(flow);
        }
    }

    fn close(&mut self, abort: bool) {
        if abort {
            self.other.fail(
                self.node,
                &mut Quiet,
                PrimaryRc::CONV_FAILURE_RETRY,
                SecondaryRc(0),
            );
        }
    }
}

/// The peer of an end making progress after its partner's step: progress
/// only completes waits, reports failures and ends the conversation, and
/// an in-memory partner needs none of that reported back to it.
struct Quiet;

impl Peer for Quiet {
    fn attach(&mut self, _: &Attach) -> Result<(), SecondaryRc> {
        Ok(())
    }

    fn send(&mut self, _: Flow<'_>) {}

    fn close(&mut self, _: bool) {}
}
