//! Attaches and RECEIVE_ALLOCATE: an attach goes to a waiting
//! RECEIVE_ALLOCATE of its TP name or waits in the name's queue; a
//! RECEIVE_ALLOCATE takes the first queued attach or waits; an attach whose
//! conversation dies while queued leaves the queue.

use std::sync::Arc;

use super::entries::{AppId, ConvRef, Incoming, Route, Unnamed, Waiter};
use super::names::TpName;
use super::registry::Registry;
use super::NodeInner;
use crate::conversation::{Attachment, End, PairLock, RemoteEnd};
use crate::lock::lock;
use crate::outcome::{complete, AppCore, Extra, Out, Submit};
use crate::rc::SecondaryRc;
use crate::session::{Attach, Owner, Work};
use crate::verbs::{Conv, Verb};
use appc_engine::activity::Activity;
use appc_engine::{CompleteOutcome, Handle, Rejected};

/// Where [`NodeInner::route`] put an attach.
enum Routed {
    /// A waiting RECEIVE_ALLOCATE of this application took it.
    Taken(AppId, AppCore, Arc<Activity>, Conv),
    /// It waits for one, with these ids.
    Queued(Conv),
}

/// The invoked end of an attach routed as `routed`: its TP's, or waiting
/// for one.
fn invoked_end(attach: &Attach, routed: Routed) -> End {
    let mut end = End::invoked(attach);
    match routed {
        Routed::Taken(app, core, activity, ids) => end.attached(ids, app, core, Some(activity)),
        Routed::Queued(ids) => end.ids = ids,
    }
    end
}

impl NodeInner {
    /// RECEIVE_ALLOCATE for `tp_name`: the first attach queued for it, or
    /// it waits for one.
    pub(super) fn receive_allocate<R>(
        &self,
        app: AppId,
        core: &AppCore,
        tp_name: TpName,
        verb: Verb,
        submit: impl Submit<R>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        let mut reg = lock(&self.registry);
        let (handle, extra) = submit(verb)?;
        let waiter = Waiter {
            app,
            core: core.clone(),
            handle,
        };
        if let Some(incoming) = reg.names.take_or_wait(tp_name, waiter) {
            let activity = reg.register(app, &incoming, &self.deferred);
            drop(reg);
            let Incoming { route, ids, attach } = *incoming;
            self.attached(route, ids, app, core, activity);
            let attach = attach.named(tp_name);
            complete(
                core,
                handle,
                Out::with(Extra::Attached(Box::new((ids, attach)))),
            );
        }
        Ok((handle, extra))
    }

    /// Routes an in-memory conversation's attach, at its first flush
    /// (called with the pair locked): to a waiting RECEIVE_ALLOCATE of its
    /// TP name, else into the name's queue. `invoked` becomes the invoked
    /// end.
    pub(crate) fn route_local(
        &self,
        pair: &PairLock,
        attach: &Attach,
        invoked: &mut End,
    ) -> Result<(), SecondaryRc> {
        let mut reg = lock(&self.registry);
        let routed = self.route(&mut reg, Route::Local(pair.clone(), 1), attach)?;
        drop(reg);
        *invoked = invoked_end(attach, routed);
        Ok(())
    }

    /// An attach from another node (see
    /// [`Node::incoming_attach`](super::Node::incoming_attach)).
    pub(super) fn incoming_attach(
        &self,
        attach: Attach,
        owner: &Arc<dyn Owner>,
    ) -> Result<RemoteEnd, SecondaryRc> {
        let mut reg = lock(&self.registry);
        let index = self.owner_index(&mut reg, owner);
        let routed = self.route(&mut reg, Route::Remote(index), &attach)?;
        drop(reg);
        Ok(RemoteEnd::new(invoked_end(&attach, routed), self.link()))
    }

    /// Gives an attach to a waiting RECEIVE_ALLOCATE of its TP name, or
    /// queues it for the next one.
    fn route(
        &self,
        reg: &mut Registry,
        route: Route,
        attach: &Attach,
    ) -> Result<Routed, SecondaryRc> {
        if !reg.names.accepts(&attach.tp_name) {
            return Err(SecondaryRc::TP_NAME_NOT_RECOGNIZED);
        }
        let conv_id = self.new_conv_id(reg, route.owner());
        let incoming = |tp_id| Incoming {
            route: route.clone(),
            ids: Conv { tp_id, conv_id },
            attach: Unnamed::of(attach),
        };
        while let Some(waiter) = reg.names.next_waiter(&attach.tp_name) {
            let incoming = incoming(self.new_tp_id());
            let mut out = Out::with(Extra::Attached(Box::new((incoming.ids, attach.clone()))));
            // A RECEIVE_ALLOCATE cancelled meanwhile takes no attach.
            let outcome = waiter.core.complete(waiter.handle, |verb| out.apply(verb));
            if outcome == CompleteOutcome::Delivered {
                let ids = incoming.ids;
                let activity = reg.register(waiter.app, &incoming, &self.deferred);
                return Ok(Routed::Taken(waiter.app, waiter.core, activity, ids));
            }
        }
        let incoming = incoming(self.new_tp_id());
        let ids = incoming.ids;
        reg.names.queue(attach.tp_name, incoming)?;
        reg.convs.insert(
            ids.conv_id,
            ConvRef {
                route,
                tp_id: ids.tp_id,
            },
        );
        Ok(Routed::Queued(ids))
    }

    /// The queued attach of conversation `ids` (at `route`), taken by a
    /// RECEIVE_ALLOCATE of `app` (the registry lock let go): its end gets
    /// its TP.
    fn attached(
        &self,
        route: Route,
        ids: Conv,
        app: AppId,
        core: &AppCore,
        activity: Arc<Activity>,
    ) {
        match route {
            Route::Local(pair, side) => {
                lock(&pair)
                    .end(side)
                    .attached(ids, app, core.clone(), Some(activity));
            }
            Route::Remote(index) => {
                if let Some(owner) = self.owners[index].get() {
                    let attachment = Attachment {
                        ids,
                        app,
                        tasks: core.clone(),
                        activity: Some(activity),
                    };
                    owner.post(Work::Attached(ids.conv_id, attachment));
                }
            }
        }
    }
}
