//! What a finished verb reports: return codes and the verb's output fields,
//! gathered while the conversation is worked on and written into the VCB in
//! one place ([`Out::apply`]), inside the engine's completion of its task.
//!
//! Also the one way every APPC verb is handed to the engine and completed
//! at once ([`done`]): a refused or immediately finished verb still gets its
//! task and its one completion, exactly like a verb that waits.

use super::param::Refusal;
use super::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use super::session::Attach;
use super::verbs::{Body, Conv, Verb};
use appc_engine::{Handle, Rejected, Tasks};

/// The engine core an application's tasks live in.
pub(crate) type AppCore = Tasks<Verb>;

/// A conversation's attributes as GET_ATTRIBUTES reports them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Attributes {
    pub(crate) sync_level: u8,
    pub(crate) mode_name: [u8; 8],
    pub(crate) lu_alias: [u8; 8],
    pub(crate) plu_alias: [u8; 8],
    pub(crate) user_id: [u8; 10],
}

/// The results of one verb. Unset fields leave the VCB as it was.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) rc: Option<Refusal>,
    pub(crate) rts_rcvd: Option<bool>,
    /// What a receive received (its data is in [`Out::data`]).
    pub(crate) what: Option<WhatRcvd>,
    /// The verb's data buffer, going back into it: a receive's, holding
    /// what it received; a send's, as the application gave it.
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) conv_state: Option<u8>,
    pub(crate) conv_type: Option<u8>,
    pub(crate) attributes: Option<Attributes>,
    pub(crate) post: Option<Handle>,
    /// TP_STARTED's `tp_id`, ALLOCATE's `conv_id`, RECEIVE_ALLOCATE's both.
    pub(crate) ids: Option<Conv>,
    pub(crate) attach: Option<Box<Attach>>,
}

impl Out {
    /// Just return codes.
    pub(crate) fn rc(primary: PrimaryRc, secondary: SecondaryRc) -> Self {
        Self {
            rc: Some((primary, secondary)),
            ..Self::default()
        }
    }

    /// `AP_OK`, nothing else.
    pub(crate) fn ok() -> Self {
        Self::default()
    }

    /// `AP_OK` with `rts_rcvd`.
    pub(crate) fn with_rts(rts: bool) -> Self {
        Self {
            rts_rcvd: Some(rts),
            ..Self::default()
        }
    }

    /// A receive's result: `what`, with `data` (the verb's own buffer).
    pub(crate) fn received(data: Vec<u8>, what: WhatRcvd) -> Self {
        Self {
            what: Some(what),
            data: Some(data),
            ..Self::default()
        }
    }

    /// Writes the results into the VCB.
    pub(crate) fn apply(self, verb: &mut Verb) {
        let (primary, secondary) = self.rc.unwrap_or((PrimaryRc::OK, SecondaryRc(0)));
        verb.set_rc(primary, secondary);
        match &mut verb.body {
            Body::TpStarted(v) => set(&mut v.tp_id, self.ids.map(|ids| ids.tp_id)),
            Body::Allocate(v) => set(&mut v.conv_id, self.ids.map(|ids| ids.conv_id)),
            Body::ReceiveAllocate(v) => {
                if let Some(ids) = self.ids {
                    v.tp_id = ids.tp_id;
                    v.conv_id = ids.conv_id;
                }
                if let Some(attach) = self.attach {
                    v.sync_level = attach.sync_level;
                    v.conv_type = u8::from(attach.mapped);
                    v.user_id = attach.user_id;
                    v.plu_alias = attach.lu_alias;
                    v.mode_name = attach.mode_name;
                    v.pip = attach.pip;
                }
            }
            Body::SendData(v) => {
                set(&mut v.rts_rcvd, self.rts_rcvd);
                set(&mut v.data, self.data);
            }
            Body::SendConversation(v) => set(&mut v.data, self.data),
            Body::SendError(v) => set(&mut v.rts_rcvd, self.rts_rcvd),
            Body::Confirm(v) => set(&mut v.rts_rcvd, self.rts_rcvd),
            Body::ReceiveAndWait(v) | Body::ReceiveImmediate(v) => {
                set(&mut v.rts_rcvd, self.rts_rcvd);
                set(&mut v.data, self.data);
                set(&mut v.what_rcvd, self.what);
            }
            Body::ReceiveAndPost(v) => {
                set(&mut v.post, self.post.map(Some));
                set(&mut v.receive.rts_rcvd, self.rts_rcvd);
                set(&mut v.receive.data, self.data);
                set(&mut v.receive.what_rcvd, self.what);
            }
            Body::PostOnReceipt(v) => set(&mut v.post, self.post.map(Some)),
            Body::TestRtsAndPost(v) => set(&mut v.post, self.post.map(Some)),
            Body::GetState(v) => set(&mut v.conv_state, self.conv_state),
            Body::GetType(v) => set(&mut v.conv_type, self.conv_type),
            Body::GetAttributes(v) => {
                if let Some(a) = self.attributes {
                    v.sync_level = a.sync_level;
                    v.mode_name = a.mode_name;
                    v.lu_alias = a.lu_alias;
                    v.plu_alias = a.plu_alias;
                    v.user_id = a.user_id;
                }
            }
            Body::TpEnded(_)
            | Body::Confirmed(_)
            | Body::Flush(_)
            | Body::PrepareToReceive(_)
            | Body::RequestToSend(_)
            | Body::TestRts(_)
            | Body::Deallocate(_)
            | Body::Unknown { .. } => {}
        }
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// How a verb becomes a task: the entry point's submission (a queue, port
/// or event target, or the blocking call's future), giving back the handle
/// and whatever the entry point needs (the future).
pub(crate) trait Submit<R>: FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>> {}
impl<R, F: FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>>> Submit<R> for F {}

/// Submits `verb` and completes it at once with `out`.
pub(crate) fn done<R>(
    core: &AppCore,
    mut verb: Verb,
    out: Out,
    submit: impl Submit<R>,
) -> Result<(Handle, R), Rejected<Verb>> {
    out.apply(&mut verb);
    let (handle, extra) = submit(verb)?;
    // Nobody else has seen the handle, so only a guessed cancel can win
    // first, and then the cancel's completion stands.
    let _ = core.complete(handle, |_| ());
    Ok((handle, extra))
}

/// Completes a task that was waiting, if nothing finished it first.
pub(crate) fn complete(core: &AppCore, handle: Handle, out: Out) {
    let _ = core.complete(handle, |verb| out.apply(verb));
}
