//! The TP verbs, and a TP's end: by `TP_ENDED`, by `WinAPPCCleanup`, or by
//! a cancelled `TP_ENDED(AP_SOFT)`; and the teardown of cancelled verbs.

use super::entries::{AppId, ConvRef, Route, TpRec};
use super::NodeInner;
use crate::conversation::Ending;
use crate::lock::lock;
use crate::outcome::{complete, done, AppCore, Extra, Out, Submit};
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::session::{TpEnd, Work};
use crate::verbs::{values, Body, Conv, ConvId, TpId, Verb};
use appc_engine::{Handle, Rejected};

impl NodeInner {
    /// A TP-level verb: TP_STARTED, RECEIVE_ALLOCATE, TP_ENDED, ALLOCATE,
    /// SEND_CONVERSATION.
    pub(crate) fn tp_verb<R>(
        &self,
        app: AppId,
        core: &AppCore,
        verb: Verb,
        submit: impl Submit<R>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        match &verb.body {
            Body::TpStarted(v) => {
                let lu_alias = v.lu_alias;
                let (handle, extra) = submit(verb)?;
                let tp_id = self.new_tp_id();
                lock(&self.registry)
                    .tps
                    .insert(tp_id, TpRec::new(app, tp_id, lu_alias, &self.deferred));
                let ids = Conv { tp_id, conv_id: 0 };
                complete(core, handle, Out::with(Extra::Ids(ids)));
                Ok((handle, extra))
            }
            Body::TpEnded(v) => {
                let (tp_id, soft) = (v.tp_id, v.tp_type == values::SOFT);
                let mut reg = lock(&self.registry);
                let tp = match reg.tp_for_verb(&tp_id, app) {
                    Ok(tp) => tp,
                    Err(out) => {
                        drop(reg);
                        return done(core, verb, out, submit);
                    }
                };
                let (handle, extra) = submit(verb)?;
                tp.ending = Some((core.clone(), handle));
                let activity = tp.activity.clone();
                drop(reg);
                // AP_SOFT waits for the TP's active verbs; the last one to
                // finish ends the TP (see `Activity`).
                if activity.request_end() || !soft {
                    self.end_tp(tp_id);
                }
                Ok((handle, extra))
            }
            Body::ReceiveAllocate(v) => {
                let tp_name = v.tp_name;
                self.receive_allocate(app, core, tp_name, verb, submit)
            }
            Body::Allocate(v) => {
                let mut reg = lock(&self.registry);
                let new = match self.allocation(&mut reg, app, verb.is_mapped(), v) {
                    Ok(new) => new,
                    Err(out) => {
                        drop(reg);
                        return done(core, verb, out, submit);
                    }
                };
                let (handle, extra) = submit(verb)?;
                self.allocate(reg, app, core, handle, new);
                Ok((handle, extra))
            }
            Body::SendConversation(v) => {
                let mut reg = lock(&self.registry);
                let new = self.allocation(&mut reg, app, verb.is_mapped(), &v.allocate);
                drop(reg);
                let new = match new {
                    Ok(new) => new,
                    Err(out) => return done(core, verb, out, submit),
                };
                let mut verb = verb;
                let data = match &mut verb.body {
                    Body::SendConversation(v) => std::mem::take(&mut v.data),
                    _ => Vec::new(),
                };
                let (handle, extra) = submit(verb)?;
                self.send_conversation(app, core, handle, new, data);
                Ok((handle, extra))
            }
            _ => done(
                core,
                verb,
                Out::rc(PrimaryRc::INVALID_VERB, SecondaryRc(0)),
                submit,
            ),
        }
    }

    /// Ends a TP as `TP_ENDED(AP_HARD)`: each of its conversations ends (see
    /// `End::end_tp`) and its id becomes invalid; then a TP_ENDED waiting
    /// for this completes (once its remote conversations' owners have
    /// ended theirs).
    pub(crate) fn end_tp(&self, tp_id: TpId) {
        self.end_tp_as(tp_id, TpEnd::Ended);
    }

    /// [`NodeInner::end_tp`], its conversations ended `how`.
    fn end_tp_as(&self, tp_id: TpId, how: TpEnd) {
        let (convs, ending): (Vec<(ConvId, ConvRef)>, _) = {
            let mut reg = lock(&self.registry);
            let Some(tp) = reg.tps.remove(&tp_id) else {
                return;
            };
            let convs = tp
                .convs
                .iter()
                .filter_map(|c| Some((c, reg.convs.get(&c)?.clone())));
            (convs.collect(), tp.ending)
        };
        let remote = convs
            .iter()
            .filter(|(_, c)| matches!(c.route, Route::Remote(_)))
            .count();
        let ending = Ending::new(remote + 1, ending);
        for (conv_id, conv) in convs {
            match conv.route {
                Route::Local(pair, side) => lock(&pair).end_tp(self, &pair, side, how),
                Route::Remote(index) => match self.owners[index].get() {
                    Some(owner) => owner.post(Work::EndTp(conv_id, how, ending.clone())),
                    None => ending.clone().done(),
                },
            }
        }
        ending.done();
        self.run_deferred();
    }

    /// `WinAPPCCleanup`: ends every TP of `app` and withdraws its waiting
    /// RECEIVE_ALLOCATEs (the engine's cleanup then cancels their tasks).
    pub(crate) fn end_app(&self, app: AppId) {
        let tps: Vec<TpId> = {
            let mut reg = lock(&self.registry);
            reg.names.withdraw_app(app);
            reg.tps
                .iter()
                .filter(|(_, tp)| tp.app == app)
                .map(|(id, _)| *id)
                .collect()
        };
        for tp_id in tps {
            self.end_tp(tp_id);
        }
        lock(&self.registry).apps.remove(&app);
    }

    /// The teardown of a cancelled task (`WinAPPCCancelAsyncRequest`, a
    /// cancelled blocking call, cleanup): a conversation verb closes its
    /// conversation's session (a remote one's owner does, in order with
    /// the conversation's other work); a waiting RECEIVE_ALLOCATE is
    /// withdrawn, so its TP never starts. Other TP verbs never wait.
    pub(crate) fn teardown(&self, handle: Handle, verb: &Verb) {
        if let Body::TpEnded(v) = &verb.body {
            // A TP_ENDED(AP_SOFT) still waiting: the TP ends now, as with
            // AP_HARD, but flushing nothing (a cancelled verb never
            // flushes).
            self.end_tp_as(v.tp_id, TpEnd::Cancelled);
            return;
        }
        if let Body::ReceiveAllocate(v) = &verb.body {
            lock(&self.registry)
                .names
                .withdraw_waiter(&v.tp_name, handle);
            return;
        }
        let Some(ids) = verb.body.conv() else {
            return;
        };
        match self.owner_of(ids.conv_id) {
            Ok(Some(owner)) => owner.post(Work::Abort(ids, handle)),
            Ok(None) => {
                let conv = lock(&self.registry)
                    .convs
                    .get(&ids.conv_id)
                    .filter(|c| c.tp_id == ids.tp_id)
                    .cloned();
                if let Some(ConvRef {
                    route: Route::Local(pair, side),
                    ..
                }) = conv
                {
                    let mut locked = lock(&pair);
                    if locked.is_live(side, ids) {
                        locked.abort(self, &pair, side);
                    }
                }
                self.run_deferred();
            }
            Err(()) => {}
        }
    }
}
