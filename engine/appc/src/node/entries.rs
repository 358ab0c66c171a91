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
    /// Its conversations; a set, as a TP may hold a great many (a gateway
    /// TP with a million receives) and each one's end removes it.
    pub(super) convs: BTreeSet<ConvId>,
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
            convs: BTreeSet::new(),
            activity: {
                let deferred = deferred.clone();
                Activity::new(move || deferred.push(tp_id))
            },
            ending: None,
        }
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
    pub(super) attach: Attach,
}
