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
///
/// Small on purpose (56 bytes): a verb's results are moved from where
/// they are found to its completion, and the outputs of the rare verbs,
/// which are larger, wait in [`Extra`], boxed where they would make every
/// verb's results larger.
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) rc: Refusal,
    pub(crate) rts_rcvd: Option<bool>,
    /// What a receive received (its data is in [`Out::data`]).
    pub(crate) what: Option<WhatRcvd>,
    /// The verb's data buffer, going back into it: a receive's, holding
    /// what it received; a send's, as the application gave it.
    pub(crate) data: Option<Vec<u8>>,
    pub(crate) extra: Extra,
}

/// The outputs only some verbs have.
#[derive(Debug)]
pub(crate) enum Extra {
    None,
    /// GET_STATE's `conv_state`.
    ConvState(u8),
    /// GET_TYPE's `conv_type`.
    ConvType(u8),
    /// GET_ATTRIBUTES' outputs.
    Attributes(Box<Attributes>),
    /// A posting verb's post task.
    Post(Handle),
    /// TP_STARTED's `tp_id`, ALLOCATE's `conv_id`.
    Ids(Conv),
    /// RECEIVE_ALLOCATE's ids, and what the attach it took says.
    Attached(Box<(Conv, Attach)>),
}

impl Out {
    /// Just return codes.
    pub(crate) fn rc(primary: PrimaryRc, secondary: SecondaryRc) -> Self {
        Self {
            rc: (primary, secondary),
            rts_rcvd: None,
            what: None,
            data: None,
            extra: Extra::None,
        }
    }

    /// `AP_OK`, nothing else.
    pub(crate) fn ok() -> Self {
        Self::rc(PrimaryRc::OK, SecondaryRc(0))
    }

    /// `AP_OK` with `extra`.
    pub(crate) fn with(extra: Extra) -> Self {
        Self {
            extra,
            ..Self::ok()
        }
    }

    /// `AP_OK` with `rts_rcvd`.
    pub(crate) fn with_rts(rts: bool) -> Self {
        Self {
            rts_rcvd: Some(rts),
            ..Self::ok()
        }
    }

    /// A receive's result: `what`, with `data` (the verb's own buffer).
    pub(crate) fn received(data: Vec<u8>, what: WhatRcvd) -> Self {
        Self {
            what: Some(what),
            data: Some(data),
            ..Self::ok()
        }
    }

    /// Writes the results into the VCB, moving the buffers out of `self`.
    /// (By reference: a completion's closure then holds a pointer to the
    /// results, not a copy of them.)
    #[inline]
    pub(crate) fn apply(&mut self, verb: &mut Verb) {
        let (primary, secondary) = self.rc;
        verb.set_rc(primary, secondary);
        // The verbs of every request inline, the rest out of line.
        match &mut verb.body {
            Body::SendData(v) => {
                set(&mut v.rts_rcvd, self.rts_rcvd);
                set(&mut v.data, self.data.take());
            }
            Body::ReceiveAndWait(v) => {
                set(&mut v.rts_rcvd, self.rts_rcvd);
                set(&mut v.data, self.data.take());
                set(&mut v.what_rcvd, self.what);
            }
            _ => self.apply_other(verb),
        }
    }

    /// [`Out::apply`] for the verbs other than SEND_DATA and
    /// RECEIVE_AND_WAIT.
    #[inline(never)]
    fn apply_other(&mut self, verb: &mut Verb) {
        let extra = std::mem::replace(&mut self.extra, Extra::None);
        match &mut verb.body {
            Body::TpStarted(v) => {
                if let Extra::Ids(ids) = extra {
                    v.tp_id = ids.tp_id;
                }
            }
            Body::Allocate(v) => {
                if let Extra::Ids(ids) = extra {
                    v.conv_id = ids.conv_id;
                }
            }
            Body::ReceiveAllocate(v) => {
                if let Extra::Attached(attached) = extra {
                    let (ids, attach) = *attached;
                    v.tp_id = ids.tp_id;
                    v.conv_id = ids.conv_id;
                    v.sync_level = attach.sync_level;
                    v.conv_type = u8::from(attach.mapped);
                    v.user_id = attach.user_id;
                    v.plu_alias = attach.lu_alias;
                    v.mode_name = attach.mode_name;
                    v.pip = attach.pip;
                }
            }
            Body::SendConversation(v) => set(&mut v.data, self.data.take()),
            Body::SendError(v) => set(&mut v.rts_rcvd, self.rts_rcvd),
            Body::Confirm(v) => set(&mut v.rts_rcvd, self.rts_rcvd),
            Body::ReceiveImmediate(v) => {
                set(&mut v.rts_rcvd, self.rts_rcvd);
                set(&mut v.data, self.data.take());
                set(&mut v.what_rcvd, self.what);
            }
            Body::ReceiveAndPost(v) => {
                if let Extra::Post(post) = extra {
                    v.post = Some(post);
                }
                set(&mut v.receive.rts_rcvd, self.rts_rcvd);
                set(&mut v.receive.data, self.data.take());
                set(&mut v.receive.what_rcvd, self.what);
            }
            Body::PostOnReceipt(v) => {
                if let Extra::Post(post) = extra {
                    v.post = Some(post);
                }
            }
            Body::TestRtsAndPost(v) => {
                if let Extra::Post(post) = extra {
                    v.post = Some(post);
                }
            }
            Body::GetState(v) => {
                if let Extra::ConvState(state) = extra {
                    v.conv_state = state;
                }
            }
            Body::GetType(v) => {
                if let Extra::ConvType(conv_type) = extra {
                    v.conv_type = conv_type;
                }
            }
            Body::GetAttributes(v) => {
                if let Extra::Attributes(a) = extra {
                    v.sync_level = a.sync_level;
                    v.mode_name = a.mode_name;
                    v.lu_alias = a.lu_alias;
                    v.plu_alias = a.plu_alias;
                    v.user_id = a.user_id;
                }
            }
            // SEND_DATA and RECEIVE_AND_WAIT: `apply`'s.
            Body::SendData(_)
            | Body::ReceiveAndWait(_)
            | Body::TpEnded(_)
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
    mut out: Out,
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
pub(crate) fn complete(core: &AppCore, handle: Handle, mut out: Out) {
    let _ = core.complete(handle, |verb| out.apply(verb));
}
