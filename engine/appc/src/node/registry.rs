//! The node's registry: its applications, TPs, conversations, TP names
//! and partner LUs, by the ids the node hands out (see the node's module
//! docs for what each holds and when it changes).

use std::collections::HashMap;
use std::sync::Arc;

use super::entries::{AppId, ConvRef, Incoming, TpRec};
use super::names::TpNames;
use crate::outcome::{AppCore, Out};
use crate::param::Refusal;
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::verbs::{Conv, ConvId, TpId};
use appc_engine::activity::Activity;
use appc_engine::deferred::Deferred;
use appc_engine::id_hash::IdHashMap;

/// The TP and conversation maps are looked up on every verb of an
/// in-memory conversation and every conversation's end, and their keys
/// are ours (counters, never a caller's or a partner's choice), so they
/// are [`IdHashMap`]s, not SipHash maps.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) apps: HashMap<AppId, AppCore>,
    pub(super) tps: IdHashMap<TpId, TpRec>,
    pub(super) convs: IdHashMap<ConvId, ConvRef>,
    pub(super) names: TpNames,
    /// Partner LU aliases, by the index of their owner.
    pub(super) partners: HashMap<[u8; 8], usize>,
    /// Owner indexes handed out (the node's `owners` entries set).
    pub(super) owner_count: usize,
}

/// `AP_PARAMETER_CHECK` with `secondary`.
pub(super) fn parameter_check(secondary: SecondaryRc) -> Out {
    Out::rc(PrimaryRc::PARAMETER_CHECK, secondary)
}

impl Registry {
    /// The TP a TP verb of `app` names: `AP_BAD_TP_ID` if it is not one of
    /// the application's, `AP_TP_BUSY` while its `TP_ENDED(AP_SOFT)` waits.
    pub(super) fn tp_for_verb(&mut self, tp_id: &TpId, app: AppId) -> Result<&mut TpRec, Out> {
        match self.tps.get_mut(tp_id).filter(|tp| tp.app == app) {
            None => Err(parameter_check(SecondaryRc::BAD_TP_ID)),
            Some(tp) if tp.ending.is_some() => Err(Out::rc(PrimaryRc::TP_BUSY, SecondaryRc(0))),
            Some(tp) => Ok(tp),
        }
    }

    /// The owner index of partner LU `plu_alias` (0: this node, which
    /// every alias not registered loops back to).
    pub(super) fn partner(&self, plu_alias: &[u8; 8]) -> usize {
        self.partners.get(plu_alias).copied().unwrap_or(0)
    }

    /// An attach taken by a RECEIVE_ALLOCATE of `app`: its TP and
    /// conversation become known. Returns the new TP's activity.
    pub(super) fn register(
        &mut self,
        app: AppId,
        incoming: &Incoming,
        deferred: &Arc<Deferred<TpId>>,
    ) -> Arc<Activity> {
        let ids = incoming.ids;
        let mut tp = TpRec::new(app, ids.tp_id, incoming.attach.plu_alias, deferred);
        tp.convs.insert(ids.conv_id);
        let activity = tp.activity.clone();
        self.tps.insert(ids.tp_id, tp);
        self.convs.insert(
            ids.conv_id,
            ConvRef {
                route: incoming.route.clone(),
                tp_id: ids.tp_id,
            },
        );
        activity
    }

    /// An end went to RESET: its conversation id is no longer valid.
    pub(super) fn forget(&mut self, ids: Conv) {
        if self
            .convs
            .get(&ids.conv_id)
            .is_some_and(|c| c.tp_id == ids.tp_id)
        {
            self.convs.remove(&ids.conv_id);
        }
        if let Some(tp) = self.tps.get_mut(&ids.tp_id) {
            tp.convs.remove(ids.conv_id);
        }
    }

    /// The refusal of a verb of `app` whose conversation `ids` is not the
    /// caller's: `AP_BAD_TP_ID` if its TP is not one of the application's,
    /// else `AP_BAD_CONV_ID`.
    pub(super) fn refusal(&self, ids: Conv, app: AppId) -> Refusal {
        let secondary = match self.tps.get(&ids.tp_id) {
            Some(tp) if tp.app == app => SecondaryRc::BAD_CONV_ID,
            _ => SecondaryRc::BAD_TP_ID,
        };
        (PrimaryRc::PARAMETER_CHECK, secondary)
    }
}
