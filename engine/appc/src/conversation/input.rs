//! A conversation verb on its way to the end that runs it: the task
//! already made, and the verb's inputs moved out of the VCB.

use std::mem;

use crate::node::AppId;
use crate::outcome::Out;
use crate::records::Fill;
use crate::states::{Entry, Step};
use crate::verbs::{Body, Conv, ConvId, Verb};
use appc_engine::{Event, Handle};

/// A conversation verb that was accepted (its task exists, the application
/// has its handle) and goes to the end that runs it. Opaque to a session
/// layer, which only routes it ([`IssuedVerb::conv_id`]) and hands it to its
/// [`RemoteEnd`](super::RemoteEnd).
#[derive(Debug)]
pub struct IssuedVerb {
    pub(crate) handle: Handle,
    pub(crate) app: AppId,
    pub(crate) ids: Conv,
    pub(crate) step: Step,
    pub(crate) entry: Entry,
    /// The verb's `opext` says mapped.
    pub(crate) mapped: bool,
    pub(crate) input: Input,
}

impl IssuedVerb {
    /// The conversation the verb names.
    pub fn conv_id(&self) -> ConvId {
        self.ids.conv_id
    }

    /// The verb's task.
    pub fn handle(&self) -> Handle {
        self.handle
    }
}

/// The inputs of a verb the conversation needs, taken out of the VCB when
/// the verb became a task. Data buffers move, they are not copied: a
/// send's data and a receive's buffer go back into the verb with its
/// completion ([`Out::data`]).
#[derive(Debug)]
pub(crate) enum Input {
    None,
    Send {
        data: Vec<u8>,
        send_type: u8,
    },
    Receive {
        params: ReceiveParams,
        buf: Vec<u8>,
    },
    /// A posting verb (RECEIVE_AND_POST, POST_ON_RECEIPT,
    /// TEST_RTS_AND_POST): the post task is made from a copy of the verb
    /// once the verb passes its checks.
    Post {
        verb: Box<Verb>,
        sema: Event,
        params: ReceiveParams,
    },
    SendError {
        err_type: u8,
        err_dir: u8,
    },
    Deallocate {
        dealloc_type: u8,
    },
    PrepareToReceive {
        ptr_type: u8,
    },
}

/// A receive's `fill`, `max_len` and `rtn_status`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReceiveParams {
    pub(crate) fill: Fill,
    pub(crate) max_len: u16,
    pub(crate) rtn_status: bool,
}

impl Input {
    /// Takes `verb`'s inputs (its data buffer moves out).
    #[inline(always)]
    pub(crate) fn take(verb: &mut Verb) -> Self {
        let fill = |fill| Fill::from_vcb(fill).unwrap_or(Fill::Ll);
        let post = |verb: &Verb, sema: &Event, params| Input::Post {
            verb: Box::new(verb.clone()),
            sema: sema.clone(),
            params,
        };
        match &mut verb.body {
            Body::SendData(v) => Input::Send {
                data: mem::take(&mut v.data),
                send_type: v.send_type,
            },
            Body::ReceiveAndWait(v) | Body::ReceiveImmediate(v) => Input::Receive {
                params: ReceiveParams {
                    fill: fill(v.fill),
                    max_len: v.max_len,
                    rtn_status: v.rtn_status,
                },
                buf: mem::take(&mut v.data),
            },
            Body::ReceiveAndPost(v) => {
                let params = ReceiveParams {
                    fill: fill(v.receive.fill),
                    max_len: v.receive.max_len,
                    rtn_status: v.receive.rtn_status,
                };
                let sema = v.sema.clone();
                post(verb, &sema, params)
            }
            Body::PostOnReceipt(v) => {
                let params = ReceiveParams {
                    fill: fill(v.fill),
                    max_len: v.max_len,
                    rtn_status: false,
                };
                let sema = v.sema.clone();
                post(verb, &sema, params)
            }
            Body::TestRtsAndPost(v) => {
                let params = ReceiveParams {
                    fill: Fill::Ll,
                    max_len: 0,
                    rtn_status: false,
                };
                let sema = v.handle.clone();
                post(verb, &sema, params)
            }
            Body::SendError(v) => Input::SendError {
                err_type: v.err_type,
                err_dir: v.err_dir,
            },
            Body::Deallocate(v) => Input::Deallocate {
                dealloc_type: v.dealloc_type,
            },
            Body::PrepareToReceive(v) => Input::PrepareToReceive {
                ptr_type: v.ptr_type,
            },
            _ => Input::None,
        }
    }

    /// Puts the inputs back into the verb they were taken from (the verb
    /// was refused before it became a task).
    pub(crate) fn restore(self, verb: &mut Verb) {
        let Some(buf) = self.into_buffer() else {
            return;
        };
        match &mut verb.body {
            Body::SendData(v) => v.data = buf,
            Body::ReceiveAndWait(v) | Body::ReceiveImmediate(v) => v.data = buf,
            _ => {}
        }
    }

    /// The verb's data buffer, to hand back.
    pub(crate) fn into_buffer(self) -> Option<Vec<u8>> {
        match self {
            Input::Send { data, .. } => Some(data),
            Input::Receive { mut buf, .. } => {
                buf.clear();
                Some(buf)
            }
            _ => None,
        }
    }

    /// `out` with the verb's buffer handed back (a refused or
    /// short-circuited verb).
    pub(crate) fn back(self, mut out: Out) -> Out {
        out.data = self.into_buffer();
        out
    }
}
