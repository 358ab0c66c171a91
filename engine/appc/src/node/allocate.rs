//! ALLOCATE and SEND_CONVERSATION: a new conversation, in memory (a
//! [`Pair`] whose second end comes to life when the attach is routed) or
//! handed to the session layer of its partner LU.

use std::sync::{Arc, Mutex, MutexGuard};

use super::entries::{AppId, ConvRef, Route};
use super::registry::Registry;
use super::NodeInner;
use crate::conversation::{End, Pair, RemoteEnd};
use crate::lock::lock;
use crate::outcome::{complete, AppCore, Attributes, Extra, Out};
use crate::session::{Attach, Work};
use crate::verbs::{values, Allocate, Conv};
use appc_engine::activity::Activity;
use appc_engine::Handle;

/// A conversation an ALLOCATE (or SEND_CONVERSATION) is about to open.
pub(super) struct NewConv {
    ids: Conv,
    attach: Attach,
    attrs: Attributes,
    /// The owner index of its partner LU (0: this node).
    owner: usize,
    /// Its TP's count of waiting verbs.
    activity: Arc<Activity>,
}

impl NodeInner {
    /// The conversation ALLOCATE's fields `v` (of a `mapped` verb) ask
    /// for, on a TP of `app`: its ids, attach and attributes; or the
    /// refusal of a TP that is not the application's or is ending.
    pub(super) fn allocation(
        &self,
        reg: &mut Registry,
        app: AppId,
        mapped: bool,
        v: &Allocate,
    ) -> Result<NewConv, Out> {
        let tp = reg.tp_for_verb(&v.tp_id, app)?;
        let (lu_alias, activity) = (tp.lu_alias, tp.activity.clone());
        let owner = reg.partner(&v.plu_alias);
        let ids = Conv {
            tp_id: v.tp_id,
            conv_id: self.new_conv_id(reg, owner),
        };
        // MC_ALLOCATE is always mapped; a basic ALLOCATE says which.
        let mapped = mapped || v.conv_type == values::MAPPED_CONVERSATION;
        let attach = Attach {
            tp_name: v.tp_name,
            mapped,
            sync_level: v.sync_level,
            lu_alias,
            plu_alias: v.plu_alias,
            mode_name: v.mode_name,
            user_id: v.user_id,
            pip: v.pip.clone(),
        };
        let attrs = Attributes {
            sync_level: v.sync_level,
            mode_name: v.mode_name,
            lu_alias,
            plu_alias: v.plu_alias,
            user_id: v.user_id,
        };
        Ok(NewConv {
            ids,
            attach,
            attrs,
            owner,
            activity,
        })
    }

    /// ALLOCATE, its task `handle` made (the registry still locked since
    /// [`NodeInner::allocation`], so its TP cannot end in between): the
    /// conversation is registered, handed to its owner if remote, and the
    /// verb completes with its ids.
    pub(super) fn allocate(
        &self,
        mut reg: MutexGuard<'_, Registry>,
        app: AppId,
        core: &AppCore,
        handle: Handle,
        new: NewConv,
    ) {
        let NewConv {
            ids,
            attach,
            attrs,
            owner,
            activity,
        } = new;
        let mut end = End::allocated(ids, attach, attrs);
        end.attached(ids, app, core.clone(), Some(activity));
        let route = if owner == 0 {
            Route::Local(Arc::new(Mutex::new(Pair::allocated_with(end))), 0)
        } else {
            if let Some(owner) = self.owners[owner].get() {
                owner.post(Work::Open(Box::new(RemoteEnd::new(end, self.link()))));
            }
            Route::Remote(owner)
        };
        reg.convs.insert(
            ids.conv_id,
            ConvRef {
                route,
                tp_id: ids.tp_id,
            },
        );
        if let Some(tp) = reg.tps.get_mut(&ids.tp_id) {
            tp.convs.insert(ids.conv_id);
        }
        drop(reg);
        complete(core, handle, Out::with(Extra::Ids(ids)));
    }

    /// SEND_CONVERSATION, its task `handle` made: `data` goes on a new
    /// conversation, deallocated at once. The conversation is never
    /// registered (the application gets no conv_id).
    pub(super) fn send_conversation(
        &self,
        app: AppId,
        core: &AppCore,
        handle: Handle,
        new: NewConv,
        data: Vec<u8>,
    ) {
        let mut end = End::allocated(new.ids, new.attach, new.attrs);
        end.attached(new.ids, app, core.clone(), None);
        if new.owner == 0 {
            let pair = Arc::new(Mutex::new(Pair::allocated_with(end)));
            let mut out = lock(&pair).send_conversation(self, &pair, &data);
            out.data = Some(data);
            complete(core, handle, out);
            self.run_deferred();
        } else if let Some(owner) = self.owners[new.owner].get() {
            let mut remote = RemoteEnd::new(end, self.link());
            remote.send_conversation_on_open(handle, data);
            owner.post(Work::Open(Box::new(remote)));
        }
    }
}
