//! Conversation verbs: each goes to where its conversation lives, the
//! owner of a remote one (found from the conversation id, without the
//! registry) or the pair of an in-memory one; and the refusal of a verb
//! for a conversation that is not the caller's.

use super::entries::{AppId, Route};
use super::registry::parameter_check;
use super::NodeInner;
use crate::conversation::{Input, IssuedVerb};
use crate::lock::lock;
use crate::outcome::{complete, done, AppCore, Out, Submit};
use crate::param;
use crate::rc::SecondaryRc;
use crate::session::{Owner, Work};
use crate::states::{Entry, Step};
use crate::verbs::{Conv, Verb};
use appc_engine::{Handle, Rejected};
use std::sync::Arc;

impl NodeInner {
    /// The common case of every entry point: `verb` passes its parameter
    /// check and names a remote conversation. Then its inputs are taken
    /// out (into the [`Remote`]), and the caller makes its task and hands
    /// it to the owner with [`Remote::post`]. `None` for every other verb,
    /// which the caller runs through [`NodeInner::conversation_verb`] or
    /// the TP verbs (starting with the parameter check again).
    ///
    /// This path works on the verb in place, so that the entry point moves
    /// it once, into its task's slot: a VCB is large, and a verb passed
    /// down the calls by value is copied at each.
    #[inline(always)]
    pub(crate) fn remote(&self, app: AppId, verb: &mut Verb, entry: Entry) -> Option<Remote<'_>> {
        param::check(verb).ok()?;
        let ids = verb.body.conv()?;
        let owner = self.owner_of(ids.conv_id).ok()??;
        Some(Remote::take(owner, app, ids, verb, entry))
    }

    /// Conversation verb `verb` of application `app`, naming conversation
    /// `ids`, past its parameter check.
    pub(crate) fn conversation_verb<R>(
        &self,
        app: AppId,
        core: &AppCore,
        mut verb: Verb,
        ids: Conv,
        entry: Entry,
        submit: impl Submit<R>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        match self.owner_of(ids.conv_id) {
            // Remote: the owner checks the ids against the conversation.
            Ok(Some(owner)) => {
                let remote = Remote::take(owner, app, ids, &mut verb, entry);
                match submit(verb) {
                    Ok((handle, extra)) => {
                        remote.post(handle);
                        Ok((handle, extra))
                    }
                    Err(rejected) => Err(remote.refused(rejected)),
                }
            }
            Ok(None) => self.local_verb(app, core, ids, verb, entry, submit),
            Err(()) => done(
                core,
                verb,
                parameter_check(SecondaryRc::BAD_CONV_ID),
                submit,
            ),
        }
    }

    /// A verb on an in-memory conversation: checked against the registry,
    /// then run on the pair, under its lock.
    fn local_verb<R>(
        &self,
        app: AppId,
        core: &AppCore,
        ids: Conv,
        verb: Verb,
        entry: Entry,
        submit: impl Submit<R>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        let (step, mapped) = (Step::of(&verb.body), verb.is_mapped());
        let found = {
            let reg = lock(&self.registry);
            match (reg.tps.get(&ids.tp_id), reg.convs.get(&ids.conv_id)) {
                (Some(tp), _) if tp.app != app => Err(SecondaryRc::BAD_TP_ID),
                (None, _) => Err(SecondaryRc::BAD_TP_ID),
                (Some(_), Some(c)) if c.tp_id == ids.tp_id => match &c.route {
                    Route::Local(pair, side) => Ok((pair.clone(), *side)),
                    Route::Remote(_) => Err(SecondaryRc::BAD_CONV_ID),
                },
                (Some(_), _) => Err(SecondaryRc::BAD_CONV_ID),
            }
        };
        let (pair, side) = match found {
            Ok(found) => found,
            Err(secondary) => return done(core, verb, parameter_check(secondary), submit),
        };
        let mut locked = lock(&pair);
        if !locked.is_live(side, ids) {
            drop(locked);
            return done(
                core,
                verb,
                parameter_check(SecondaryRc::BAD_CONV_ID),
                submit,
            );
        }
        let result = submit_taking(verb, submit).map(|(handle, extra, input)| {
            let request = IssuedVerb {
                handle,
                app,
                ids,
                step,
                entry,
                mapped,
                input,
            };
            locked.issue(self, &pair, side, request);
            (handle, extra)
        });
        drop(locked);
        self.run_deferred();
        result
    }

    /// Completes `verb`, a verb for a conversation its caller does not
    /// hold, with its refusal (`AP_PARAMETER_CHECK` with `AP_BAD_TP_ID` if
    /// its TP is not one of the application's, else `AP_BAD_CONV_ID`),
    /// through its application's engine (an application cleaned up
    /// meanwhile has cancelled the task).
    pub(crate) fn refuse(&self, verb: IssuedVerb) {
        let (refusal, tasks) = {
            let reg = lock(&self.registry);
            (
                reg.refusal(verb.ids, verb.app),
                reg.apps.get(&verb.app).cloned(),
            )
        };
        if let Some(tasks) = tasks {
            let (primary, secondary) = refusal;
            complete(
                &tasks,
                verb.handle,
                verb.input.back(Out::rc(primary, secondary)),
            );
        }
    }
}

/// A verb on a remote conversation on its way to the conversation's
/// owner: its inputs, taken out of the verb, until its task is made.
pub(crate) struct Remote<'a> {
    owner: &'a Arc<dyn Owner>,
    app: AppId,
    ids: Conv,
    step: Step,
    entry: Entry,
    mapped: bool,
    input: Input,
}

impl<'a> Remote<'a> {
    #[inline]
    fn take(
        owner: &'a Arc<dyn Owner>,
        app: AppId,
        ids: Conv,
        verb: &mut Verb,
        entry: Entry,
    ) -> Self {
        Self {
            owner,
            app,
            ids,
            step: Step::of(&verb.body),
            entry,
            mapped: verb.is_mapped(),
            input: Input::take(verb),
        }
    }

    /// The verb became task `handle`: it goes to its conversation's owner.
    #[inline]
    pub(crate) fn post(self, handle: Handle) {
        self.owner.post(Work::Verb(IssuedVerb {
            handle,
            app: self.app,
            ids: self.ids,
            step: self.step,
            entry: self.entry,
            mapped: self.mapped,
            input: self.input,
        }));
    }

    /// The engine refused the verb: it goes back with its inputs.
    #[cold]
    pub(crate) fn refused(self, mut rejected: Rejected<Verb>) -> Rejected<Verb> {
        self.input.restore(&mut rejected.verb);
        rejected
    }
}

/// Takes `verb`'s inputs out and submits it: the handle and the inputs,
/// or, if refused, the verb with its inputs put back.
fn submit_taking<R>(
    mut verb: Verb,
    submit: impl Submit<R>,
) -> Result<(Handle, R, Input), Rejected<Verb>> {
    let input = Input::take(&mut verb);
    match submit(verb) {
        Ok((handle, extra)) => Ok((handle, extra, input)),
        Err(mut rejected) => {
            input.restore(&mut rejected.verb);
            Err(rejected)
        }
    }
}
