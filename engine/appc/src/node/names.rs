//! The TP names that accept attaches: per name, the RECEIVE_ALLOCATEs
//! waiting for an attach (unbounded) and the attaches waiting for a
//! RECEIVE_ALLOCATE (up to a limit).
//!
//! An attach can leave its queue from anywhere in it (its conversation
//! died before a RECEIVE_ALLOCATE took it), so each name's queue is a
//! map ordered by the TP id the attach will start: the node hands TP ids
//! out in increasing order, and an attach gets its own as it is queued,
//! under the registry lock, so that order is the order attaches arrived
//! in. An attach leaves by its ids (its invoked end knows them), found by
//! its TP id in each name's queue in turn: a node serves few TP names,
//! and this keeps no index of its own, which at a million queued attaches
//! (the load generator's scale mode) would cost more than the attaches'
//! own records.
//!
//! The queued records are boxed: a map appended to in order leaves its
//! nodes about half full, which costs 16-byte entries little and
//! attaches' records much.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashMap, VecDeque};

use super::entries::{AppId, Incoming, Waiter};
use crate::rc::SecondaryRc;
use crate::verbs::{Conv, TpId};
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
    /// The attaches queued, over every name.
    queued: usize,
    /// The attaches one name queues at most.
    limit: usize,
}

#[derive(Default)]
struct NameRec {
    waiting: VecDeque<Waiter>,
    /// In arrival order: by [`place`].
    queued: BTreeMap<u64, Box<Incoming>>,
}

/// A queued attach's place in its name's queue: the TP id it will start,
/// as a number (see the module docs).
fn place(tp_id: TpId) -> u64 {
    u64::from_le_bytes(tp_id)
}

impl Default for TpNames {
    fn default() -> Self {
        Self {
            names: HashMap::new(),
            queued: 0,
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
        self.queued
    }

    /// The first queued attach for `name`, taken by a RECEIVE_ALLOCATE;
    /// `None` if there is none, and the RECEIVE_ALLOCATE waits (`name`
    /// accepts attaches from now on).
    pub(super) fn take_or_wait(&mut self, name: TpName, waiter: Waiter) -> Option<Box<Incoming>> {
        let rec = self.names.entry(name).or_default();
        let Some((_, incoming)) = rec.queued.pop_first() else {
            rec.waiting.push_back(waiter);
            return None;
        };
        self.queued -= 1;
        Some(incoming)
    }

    /// The longest waiting RECEIVE_ALLOCATE for `name`, which an attach
    /// is given to.
    pub(super) fn next_waiter(&mut self, name: &TpName) -> Option<Waiter> {
        self.names.get_mut(name)?.waiting.pop_front()
    }

    /// Queues `incoming` for TP name `name`: `AP_TP_NAME_NOT_RECOGNIZED` if
    /// the name accepts no attaches, `AP_TRANS_PGM_NOT_AVAIL_RETRY` if its
    /// queue is full. Its TP id must be above every one queued before
    /// (see the module docs).
    pub(super) fn queue(&mut self, name: TpName, incoming: Incoming) -> Result<(), SecondaryRc> {
        let Some(rec) = self.names.get_mut(&name) else {
            return Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED);
        };
        if rec.queued.len() >= self.limit {
            return Err(SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY);
        }
        let place = place(incoming.ids.tp_id);
        debug_assert!(rec
            .queued
            .last_key_value()
            .is_none_or(|(&last, _)| last < place));
        rec.queued.insert(place, Box::new(incoming));
        self.queued += 1;
        Ok(())
    }

    /// Takes the attach of conversation `ids` out of its queue, if it is
    /// still there.
    pub(super) fn withdraw(&mut self, ids: Conv) -> bool {
        let place = place(ids.tp_id);
        let found = self
            .names
            .values_mut()
            .any(|rec| match rec.queued.entry(place) {
                Entry::Occupied(queued) if queued.get().ids == ids => {
                    queued.remove();
                    true
                }
                _ => false,
            });
        if found {
            self.queued -= 1;
        }
        found
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
