//! The TP names that accept attaches: per name, the RECEIVE_ALLOCATEs
//! waiting for an attach (unbounded) and the attaches waiting for a
//! RECEIVE_ALLOCATE (up to a limit).
//!
//! An attach can leave its queue from anywhere in it (its conversation
//! died before a RECEIVE_ALLOCATE took it), so each name's queue is
//! ordered by place (the order attaches arrived in, over every name) and
//! an index finds an attach's name and place by its conversation id.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::entries::{AppId, Incoming, Waiter};
use crate::rc::SecondaryRc;
use crate::verbs::ConvId;
use appc_engine::id_hash::IdHashMap;
use appc_engine::Handle;

/// The attaches one TP name queues while no `RECEIVE_ALLOCATE` takes them,
/// unless [`Node::set_max_queued_attaches`](crate::Node::set_max_queued_attaches)
/// says otherwise. Microsoft's Host Integration Server documentation
/// (`RECEIVE_ALLOCATE_EX`) gives a server 2,048 and rejects the next
/// attach with sense `084B6031` (`AP_TRANS_PGM_NOT_AVAIL_RETRY`, under
/// `AP_ALLOCATION_ERROR`), which is what this node does.
pub const MAX_QUEUED_ATTACHES: usize = 2048;

/// A TP name's name: blank-padded to 64 bytes.
pub(super) type TpName = [u8; 64];

/// The TP names a node accepts attaches for (see the module docs).
pub(super) struct TpNames {
    names: HashMap<TpName, NameRec>,
    /// Where each queued attach waits, by its conversation id: its TP
    /// name and its place in that name's queue.
    queued_at: IdHashMap<ConvId, (TpName, u64)>,
    /// The next attach's place.
    next_place: u64,
    /// The attaches one name queues at most.
    limit: usize,
}

#[derive(Default)]
struct NameRec {
    waiting: VecDeque<Waiter>,
    /// In arrival order, by place.
    queued: BTreeMap<u64, Incoming>,
}

impl Default for TpNames {
    fn default() -> Self {
        Self {
            names: HashMap::new(),
            queued_at: IdHashMap::default(),
            next_place: 0,
            limit: MAX_QUEUED_ATTACHES,
        }
    }
}

impl TpNames {
    /// Lets attaches for `name` queue.
    pub(super) fn define(&mut self, name: TpName) {
        self.names.entry(name).or_default();
    }

    /// Whether attaches for `name` are accepted.
    pub(super) fn accepts(&self, name: &TpName) -> bool {
        self.names.contains_key(name)
    }

    /// Sets how many attaches one name queues at most.
    pub(super) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// The attaches queued, over every name.
    pub(super) fn queued(&self) -> usize {
        self.queued_at.len()
    }

    /// The first queued attach for `name`, taken by a RECEIVE_ALLOCATE;
    /// `None` if there is none, and the RECEIVE_ALLOCATE waits (`name`
    /// accepts attaches from now on).
    pub(super) fn take_or_wait(&mut self, name: TpName, waiter: Waiter) -> Option<Incoming> {
        let rec = self.names.entry(name).or_default();
        let Some((_, incoming)) = rec.queued.pop_first() else {
            rec.waiting.push_back(waiter);
            return None;
        };
        self.queued_at.remove(&incoming.ids.conv_id);
        Some(incoming)
    }

    /// The longest waiting RECEIVE_ALLOCATE for `name`, which an attach
    /// is given to.
    pub(super) fn next_waiter(&mut self, name: &TpName) -> Option<Waiter> {
        self.names.get_mut(name)?.waiting.pop_front()
    }

    /// Queues `incoming` for its TP name: `AP_TP_NAME_NOT_RECOGNIZED` if
    /// the name accepts no attaches, `AP_TRANS_PGM_NOT_AVAIL_RETRY` if its
    /// queue is full.
    pub(super) fn queue(&mut self, incoming: Incoming) -> Result<(), SecondaryRc> {
        let name = incoming.attach.tp_name;
        let Some(rec) = self.names.get_mut(&name) else {
            return Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED);
        };
        if rec.queued.len() >= self.limit {
            return Err(SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY);
        }
        let place = self.next_place;
        self.next_place += 1;
        self.queued_at.insert(incoming.ids.conv_id, (name, place));
        rec.queued.insert(place, incoming);
        Ok(())
    }

    /// Takes the attach of conversation `conv_id` out of its queue, if it
    /// is still there.
    pub(super) fn withdraw(&mut self, conv_id: ConvId) -> bool {
        let Some((name, place)) = self.queued_at.remove(&conv_id) else {
            return false;
        };
        self.names
            .get_mut(&name)
            .and_then(|rec| rec.queued.remove(&place))
            .is_some()
    }

    /// Withdraws the waiting RECEIVE_ALLOCATE `handle` for `name`.
    pub(super) fn withdraw_waiter(&mut self, name: &TpName, handle: Handle) {
        if let Some(rec) = self.names.get_mut(name) {
            rec.waiting.retain(|w| w.handle != handle);
        }
    }

    /// Withdraws every waiting RECEIVE_ALLOCATE of `app`.
    pub(super) fn withdraw_app(&mut self, app: AppId) {
        for rec in self.names.values_mut() {
            rec.waiting.retain(|w| w.app != app);
        }
    }
}
