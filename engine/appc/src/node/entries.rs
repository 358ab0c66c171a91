//! What the node's registry keeps about each TP, conversation, waiting
//! attach and waiting RECEIVE_ALLOCATE.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::conversation::PairLock;
use crate::outcome::AppCore;
use crate::session::Attach;
use crate::verbs::{Conv, ConvId, TpId};
use appc_engine::activity::Activity;
use appc_engine::deferred::Deferred;
use appc_engine::Handle;

/// An application's identity on a node.
pub(crate) type AppId = u64;

/// A TP: the application that owns it and what it holds.
pub(super) struct TpRec {
    pub(super) app: AppId,
    pub(super) lu_alias: [u8; 8],
    pub(super) convs: TpConvs,
    pub(super) activity: Arc<Activity>,
    /// A waiting `TP_ENDED(AP_SOFT)`: TP verbs get `AP_TP_BUSY` meanwhile.
    pub(super) ending: Option<(AppCore, Handle)>,
}

impl TpRec {
    /// TP `tp_id` of `app`, on LU `lu_alias`: its soft end, once its last
    /// active verb finishes, goes on `deferred`.
    pub(super) fn new(
        app: AppId,
        tp_id: TpId,
        lu_alias: [u8; 8],
        deferred: &Arc<Deferred<TpId>>,
    ) -> Self {
        Self {
            app,
            lu_alias,
            convs: TpConvs::None,
            activity: {
                let deferred = deferred.clone();
                Activity::new(move || deferred.push(tp_id))
            },
            ending: None,
        }
    }
}

/// A TP's conversations. A TP its attach started holds its own, often
/// only that, and so do many an allocating TP: one is kept inline (a set
/// allocates a node for its first). A TP may also hold a great many (a
/// gateway TP with a million receives), each one's end removing it: more
/// than one are a set (boxed, so that every TP record stays small).
#[derive(Debug, Default)]
pub(super) enum TpConvs {
    #[default]
    None,
    One(ConvId),
    #[expect(
        clippy::box_collection,
        reason = "the set's own 24 bytes would make every TP record 8 bytes larger"
    )]
    Many(Box<BTreeSet<ConvId>>),
}

impl TpConvs {
    pub(super) fn insert(&mut self, id: ConvId) {
        match self {
            TpConvs::None => *self = TpConvs::One(id),
            TpConvs::One(one) if *one == id => {}
            TpConvs::One(one) => *self = TpConvs::Many(Box::new(BTreeSet::from([*one, id]))),
            TpConvs::Many(set) => {
                set.insert(id);
            }
        }
    }

    pub(super) fn remove(&mut self, id: ConvId) {
        match self {
            TpConvs::One(one) if *one == id => *self = TpConvs::None,
            TpConvs::Many(set) => {
                set.remove(&id);
            }
            TpConvs::None | TpConvs::One(_) => {}
        }
    }

    /// The conversations, in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = ConvId> + '_ {
        let (one, many) = match self {
            TpConvs::None => (None, None),
            TpConvs::One(id) => (Some(*id), None),
            TpConvs::Many(set) => (None, Some(set)),
        };
        one.into_iter()
            .chain(many.into_iter().flat_map(|set| set.iter().copied()))
    }
}

/// Where a conversation lives.
#[derive(Clone)]
pub(super) enum Route {
    /// In memory: its pair, and which end is the registered TP's.
    Local(PairLock, usize),
    /// With the owner of this index.
    Remote(usize),
}

impl Route {
    /// The owner index its conversation ids carry (0: this node).
    pub(super) fn owner(&self) -> usize {
        match self {
            Route::Local(..) => 0,
            Route::Remote(index) => *index,
        }
    }
}

/// A conversation: where it lives, and whose it is.
#[derive(Clone)]
pub(super) struct ConvRef {
    pub(super) route: Route,
    pub(super) tp_id: TpId,
}

/// A RECEIVE_ALLOCATE waiting for an attach.
pub(super) struct Waiter {
    pub(super) app: AppId,
    pub(super) core: AppCore,
    pub(super) handle: Handle,
}

/// An attach waiting for a RECEIVE_ALLOCATE, with the ids it will get.
pub(super) struct Incoming {
    pub(super) route: Route,
    pub(super) ids: Conv,
    pub(super) attach: Unnamed,
}

/// An attach without its TP name, which is the name of the queue it
/// waits in: a million queued attaches (the load generator's scale mode)
/// would otherwise hold as many copies of a 64-byte name. 64 bytes, where
/// an [`Attach`] is 128.
pub(super) struct Unnamed {
    mapped: bool,
    sync_level: u8,
    lu_alias: [u8; 8],
    pub(super) plu_alias: [u8; 8],
    mode_name: [u8; 8],
    user_id: [u8; 10],
    pip: Vec<u8>,
}

impl Unnamed {
    pub(super) fn of(attach: &Attach) -> Self {
        Self {
            mapped: attach.mapped,
            sync_level: attach.sync_level,
            lu_alias: attach.lu_alias,
            plu_alias: attach.plu_alias,
            mode_name: attach.mode_name,
            user_id: attach.user_id,
            pip: attach.pip.clone(),
        }
    }

    /// The attach, named `tp_name` again.
    pub(super) fn named(self, tp_name: [u8; 64]) -> Attach {
        Attach {
            tp_name,
            mapped: self.mapped,
            sync_level: self.sync_level,
            lu_alias: self.lu_alias,
            plu_alias: self.plu_alias,
            mode_name: self.mode_name,
            user_id: self.user_id,
            pip: self.pip,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::TpConvs;

    fn ids(convs: &TpConvs) -> Vec<u32> {
        convs.iter().collect()
    }

    #[test]
    fn a_tps_conversations_one_inline_then_a_set() {
        let mut convs = TpConvs::default();
        assert_eq!(ids(&convs), Vec::<u32>::new());
        convs.insert(7);
        convs.insert(7);
        assert!(matches!(convs, TpConvs::One(7)));
        convs.insert(3);
        convs.insert(9);
        assert_eq!(ids(&convs), [3, 7, 9]);
        convs.remove(7);
        convs.remove(8);
        assert_eq!(ids(&convs), [3, 9]);
        let mut one = TpConvs::default();
        one.insert(5);
        one.remove(6);
        assert_eq!(ids(&one), [5]);
        one.remove(5);
        assert!(matches!(one, TpConvs::None));
    }
}
