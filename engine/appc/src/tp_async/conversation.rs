//! [`Conversation`]: the conversation verbs as `async fn`s.

use super::{checked, issue, VerbError};
use crate::rc::{PrimaryRc, WhatRcvd};
use crate::verbs::{self, values, Body, Conv, ConvId, TpId, Verb};
use crate::Appc;
use std::sync::Arc;

/// Runs the verb of `$body` on conversation `$conv`: its finished body, or
/// `return`s its error. A macro rather than an `async fn` so that the body
/// is built inside the calling method's future and goes straight into the
/// engine (see [`issue`]).
macro_rules! run {
    ($conv:expr, $what:literal, $body:expr) => {
        checked($what, issue(&$conv.app, $what, $conv.verb($body))?.await)?
    };
}

/// One conversation of a [`Tp`](super::Tp), basic or mapped. Cheap to
/// clone (the clones name the same conversation; the engine allows one
/// verb at a time on it, answering a second with `AP_CONV_BUSY`, except
/// the verbs the documentation allows beside a pending receive).
#[derive(Clone, Debug)]
pub struct Conversation {
    app: Arc<Appc>,
    conv: Conv,
    opext: u8,
}

/// What a receive returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The data (empty for a status alone).
    pub data: Vec<u8>,
    /// `what_rcvd`: data, `AP_SEND`, a confirmation request, ...
    pub what_rcvd: WhatRcvd,
    /// The partner asked for the send direction.
    pub rts_rcvd: bool,
}

impl Conversation {
    pub(super) fn new(app: Arc<Appc>, tp_id: TpId, conv_id: ConvId, mapped: bool) -> Self {
        Self {
            app,
            conv: Conv { tp_id, conv_id },
            opext: u8::from(mapped),
        }
    }

    /// The TP and conversation ids.
    pub fn id(&self) -> Conv {
        self.conv
    }

    fn verb(&self, body: Body) -> Verb {
        Verb::with_opext(self.opext, body)
    }

    /// `[MC_]SEND_DATA` of one record (mapped) or of logical records
    /// (basic), buffered until a flush. Returns `rts_rcvd`.
    pub async fn send_data(&self, data: Vec<u8>) -> Result<bool, VerbError> {
        self.send_data_then(data, values::SEND_DATA_NONE).await
    }

    /// `[MC_]SEND_DATA` with a `type` ([`values::SEND_DATA_FLUSH`],
    /// `..._CONFIRM`, `..._P_TO_R_FLUSH`, `..._DEALLOC_FLUSH`, ...).
    pub async fn send_data_then(&self, data: Vec<u8>, send_type: u8) -> Result<bool, VerbError> {
        let body = Body::SendData(verbs::SendData {
            conv: self.conv,
            send_type,
            data,
            rts_rcvd: false,
        });
        match run!(self, "SEND_DATA", body).body {
            Body::SendData(v) => Ok(v.rts_rcvd),
            other => unreachable!("SEND_DATA came back as {other:?}"),
        }
    }

    /// `[MC_]RECEIVE_AND_WAIT` of at most `max_len` bytes.
    pub async fn receive(&self, max_len: u16) -> Result<Received, VerbError> {
        self.receive_into(Vec::new(), max_len).await
    }

    /// [`Conversation::receive`] into `buf` (its capacity reused).
    pub async fn receive_into(
        &self,
        mut buf: Vec<u8>,
        max_len: u16,
    ) -> Result<Received, VerbError> {
        buf.clear();
        let body = Body::ReceiveAndWait(verbs::Receive {
            conv: self.conv,
            fill: values::FILL_LL,
            max_len,
            data: buf,
            ..Default::default()
        });
        match run!(self, "RECEIVE_AND_WAIT", body).body {
            Body::ReceiveAndWait(v) => Ok(Received {
                data: v.data,
                what_rcvd: v.what_rcvd,
                rts_rcvd: v.rts_rcvd,
            }),
            other => unreachable!("RECEIVE_AND_WAIT came back as {other:?}"),
        }
    }

    /// `[MC_]CONFIRM`: waits for the partner's `CONFIRMED`. Returns
    /// `rts_rcvd`.
    pub async fn confirm(&self) -> Result<bool, VerbError> {
        let body = Body::Confirm(verbs::Confirm {
            conv: self.conv,
            rts_rcvd: false,
        });
        match run!(self, "CONFIRM", body).body {
            Body::Confirm(v) => Ok(v.rts_rcvd),
            other => unreachable!("CONFIRM came back as {other:?}"),
        }
    }

    /// `[MC_]CONFIRMED`.
    pub async fn confirmed(&self) -> Result<(), VerbError> {
        run!(self, "CONFIRMED", Body::Confirmed(self.conv));
        Ok(())
    }

    /// `[MC_]FLUSH`.
    pub async fn flush(&self) -> Result<(), VerbError> {
        run!(self, "FLUSH", Body::Flush(self.conv));
        Ok(())
    }

    /// `[MC_]PREPARE_TO_RECEIVE` with `ptr_type` ([`values::FLUSH`] or
    /// [`values::SYNC_LEVEL`]).
    pub async fn prepare_to_receive(&self, ptr_type: u8) -> Result<(), VerbError> {
        let body = Body::PrepareToReceive(verbs::PrepareToReceive {
            conv: self.conv,
            ptr_type,
            locks: values::LOCKS_SHORT,
        });
        run!(self, "PREPARE_TO_RECEIVE", body).body;
        Ok(())
    }

    /// `[MC_]REQUEST_TO_SEND`.
    pub async fn request_to_send(&self) -> Result<(), VerbError> {
        run!(self, "REQUEST_TO_SEND", Body::RequestToSend(self.conv));
        Ok(())
    }

    /// `[MC_]SEND_ERROR` (program error, in the receive direction). Returns
    /// `rts_rcvd`.
    pub async fn send_error(&self) -> Result<bool, VerbError> {
        let body = Body::SendError(verbs::SendError {
            conv: self.conv,
            err_type: values::ERR_PROG,
            err_dir: values::RCV_DIR_ERROR,
            ..Default::default()
        });
        match run!(self, "SEND_ERROR", body).body {
            Body::SendError(v) => Ok(v.rts_rcvd),
            other => unreachable!("SEND_ERROR came back as {other:?}"),
        }
    }

    /// `[MC_]DEALLOCATE` with `dealloc_type` ([`values::FLUSH`],
    /// [`values::SYNC_LEVEL`], [`values::ABEND`], ...).
    pub async fn deallocate(&self, dealloc_type: u8) -> Result<(), VerbError> {
        let body = Body::Deallocate(verbs::Deallocate {
            conv: self.conv,
            dealloc_type,
            log_data: Vec::new(),
        });
        run!(self, "DEALLOCATE", body).body;
        Ok(())
    }

    /// `GET_STATE`: the conversation state (`AP_RESET_STATE` 1 ..
    /// `AP_SEND_PENDING_STATE` 10).
    pub async fn state(&self) -> Result<u8, VerbError> {
        let body = Body::GetState(verbs::GetState {
            conv: self.conv,
            conv_state: 0,
        });
        match run!(self, "GET_STATE", body).body {
            Body::GetState(v) => Ok(v.conv_state),
            other => unreachable!("GET_STATE came back as {other:?}"),
        }
    }

    /// `[MC_]RECEIVE_IMMEDIATE` of at most `max_len` bytes: what has
    /// arrived, or `None` (`AP_UNSUCCESSFUL`) if nothing has.
    pub async fn receive_immediate(&self, max_len: u16) -> Result<Option<Received>, VerbError> {
        let body = Body::ReceiveImmediate(verbs::Receive {
            conv: self.conv,
            fill: values::FILL_LL,
            max_len,
            ..Default::default()
        });
        let done = issue(&self.app, "RECEIVE_IMMEDIATE", self.verb(body))?.await;
        if done.primary_rc == PrimaryRc::UNSUCCESSFUL {
            return Ok(None);
        }
        match checked("RECEIVE_IMMEDIATE", done)?.body {
            Body::ReceiveImmediate(v) => Ok(Some(Received {
                data: v.data,
                what_rcvd: v.what_rcvd,
                rts_rcvd: v.rts_rcvd,
            })),
            other => unreachable!("RECEIVE_IMMEDIATE came back as {other:?}"),
        }
    }

    /// `[MC_]TEST_RTS`: whether the partner has asked for the send
    /// direction (`AP_OK`: yes; `AP_UNSUCCESSFUL`: no).
    pub async fn test_rts(&self) -> Result<bool, VerbError> {
        let done = issue(&self.app, "TEST_RTS", self.verb(Body::TestRts(self.conv)))?.await;
        if done.primary_rc == PrimaryRc::UNSUCCESSFUL {
            return Ok(false);
        }
        checked("TEST_RTS", done).map(|_| true)
    }

    /// `[MC_]GET_ATTRIBUTES`: sync level, mode, aliases and user id.
    pub async fn attributes(&self) -> Result<verbs::GetAttributes, VerbError> {
        let body = Body::GetAttributes(verbs::GetAttributes {
            conv: self.conv,
            ..Default::default()
        });
        match run!(self, "GET_ATTRIBUTES", body).body {
            Body::GetAttributes(v) => Ok(v),
            other => unreachable!("GET_ATTRIBUTES came back as {other:?}"),
        }
    }
}
