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
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::session::Work;
use crate::states::{Entry, Step};
use crate::verbs::Verb;
use appc_engine::{Handle, Rejected};

impl NodeInner {
    /// A conversation verb from application `app`.
    pub(crate) fn conversation_verb<R>(
        &self,
        app: AppId,
        core: &AppCore,
        verb: Verb,
        entry: Entry,
        submit: impl Submit<R>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        let Some(ids) = verb.body.conv() else {
            let out = Out::rc(PrimaryRc::INVALID_VERB, SecondaryRc(0));
            return done(core, verb, out, submit);
        };
        let owner = match self.owner_of(ids.conv_id) {
            Ok(owner) => owner,
            Err(()) => {
                return done(
                    core,
                    verb,
                    parameter_check(SecondaryRc::BAD_CONV_ID),
                    submit,
                )
            }
        };
        let (step, mapped) = (Step::of(&verb.body), verb.is_mapped());
        if let Some(owner) = owner {
            // Remote: the owner checks the ids against the conversation.
            let (handle, extra, input) = submit_taking(verb, submit)?;
            owner.post(Work::Verb(IssuedVerb {
                handle,
                app,
                ids,
                step,
                entry,
                mapped,
                input,
            }));
            return Ok((handle, extra));
        }
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
