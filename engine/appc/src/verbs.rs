//! APPC verbs as typed values: the verb control blocks (VCBs) of
//! `winappc.h`, one struct per verb, with the documented fields.
//!
//! A [`Verb`] is the common VCB header (`opcode` via the body's variant,
//! `opext`, `primary_rc`, `secondary_rc`) plus a [`Body`] holding the
//! verb-specific part. Fields keep the VCB's representation on purpose:
//! single-byte parameters are raw `u8`s with their documented values in
//! [`values`], names are blank-padded byte arrays. That way every malformed
//! VCB an application could build is representable, and the engine, not the
//! type system, answers it with the documented `AP_PARAMETER_CHECK`.
//!
//! Basic and mapped verbs share opcodes; `opext` tells them apart
//! ([`values::BASIC_CONVERSATION`] / [`values::MAPPED_CONVERSATION`]).

use super::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc_engine::{Event, Handle, Request};

/// A TP identifier (`tp_id`), assigned by the engine.
pub type TpId = [u8; 8];
/// A conversation identifier (`conv_id`), assigned by the engine.
pub type ConvId = u32;

/// Documented verb opcodes (the symbolic value; the VCB stores it big-endian).
pub mod opcode {
    /// `AP_TP_STARTED`.
    pub const TP_STARTED: u16 = 0x1400;
    /// `AP_RECEIVE_ALLOCATE`.
    pub const RECEIVE_ALLOCATE: u16 = 0x1600;
    /// `AP_TP_ENDED`.
    pub const TP_ENDED: u16 = 0x1300;
    /// `AP_B_ALLOCATE` / `AP_M_ALLOCATE`.
    pub const ALLOCATE: u16 = 0x0100;
    /// `AP_B_CONFIRM` / `AP_M_CONFIRM`.
    pub const CONFIRM: u16 = 0x0300;
    /// `AP_B_CONFIRMED` / `AP_M_CONFIRMED`.
    pub const CONFIRMED: u16 = 0x0400;
    /// `AP_B_DEALLOCATE` / `AP_M_DEALLOCATE`.
    pub const DEALLOCATE: u16 = 0x0500;
    /// `AP_B_FLUSH` / `AP_M_FLUSH`.
    pub const FLUSH: u16 = 0x0600;
    /// `AP_B_GET_ATTRIBUTES` / `AP_M_GET_ATTRIBUTES`.
    pub const GET_ATTRIBUTES: u16 = 0x0700;
    /// `AP_GET_TYPE`.
    pub const GET_TYPE: u16 = 0x0800;
    /// `AP_GET_STATE`.
    pub const GET_STATE: u16 = 0x0900;
    /// `AP_B_PREPARE_TO_RECEIVE` / `AP_M_PREPARE_TO_RECEIVE`.
    pub const PREPARE_TO_RECEIVE: u16 = 0x0A00;
    /// `AP_B_RECEIVE_AND_WAIT` / `AP_M_RECEIVE_AND_WAIT`.
    pub const RECEIVE_AND_WAIT: u16 = 0x0B00;
    /// `AP_B_RECEIVE_IMMEDIATE` / `AP_M_RECEIVE_IMMEDIATE`.
    pub const RECEIVE_IMMEDIATE: u16 = 0x0C00;
    /// `AP_B_RECEIVE_AND_POST` / `AP_M_RECEIVE_AND_POST`.
    pub const RECEIVE_AND_POST: u16 = 0x0D00;
    /// `AP_B_REQUEST_TO_SEND` / `AP_M_REQUEST_TO_SEND`.
    pub const REQUEST_TO_SEND: u16 = 0x0E00;
    /// `AP_B_SEND_DATA` / `AP_M_SEND_DATA`.
    pub const SEND_DATA: u16 = 0x0F00;
    /// `AP_B_SEND_ERROR` / `AP_M_SEND_ERROR`.
    pub const SEND_ERROR: u16 = 0x1000;
    /// `AP_B_TEST_RTS` / `AP_M_TEST_RTS`.
    pub const TEST_RTS: u16 = 0x1200;
    /// `AP_B_SEND_CONVERSATION` / `AP_M_SEND_CONVERSATION`.
    pub const SEND_CONVERSATION: u16 = 0x1800;
    /// `AP_B_TEST_RTS_AND_POST` / `AP_M_TEST_RTS_AND_POST`.
    pub const TEST_RTS_AND_POST: u16 = 0x8100;
    /// `AP_B_POST_ON_RECEIPT` / `AP_M_POST_ON_RECEIPT`.
    pub const POST_ON_RECEIPT: u16 = 0x8200;
}

/// Documented single-byte parameter values (`winappc.h`).
pub mod values {
    /// `opext` / `conv_type`: basic conversation.
    pub const BASIC_CONVERSATION: u8 = 0x00;
    /// `opext` / `conv_type`: mapped conversation.
    pub const MAPPED_CONVERSATION: u8 = 0x01;
    /// `opext` flag: extended VCB.
    pub const EXTD_VCB: u8 = 0x80;

    /// `sync_level`: none.
    pub const SYNC_NONE: u8 = 0x00;
    /// `sync_level`: confirm.
    pub const SYNC_CONFIRM: u8 = 0x01;
    /// `sync_level`: syncpoint (not supported by this engine).
    pub const SYNC_SYNCPT: u8 = 0x02;

    /// `security`: none.
    pub const SECURITY_NONE: u8 = 0;
    /// `security`: same.
    pub const SECURITY_SAME: u8 = 1;
    /// `security`: program (user id and password).
    pub const SECURITY_PGM: u8 = 2;
    /// `security`: strong.
    pub const SECURITY_STRONG: u8 = 3;

    /// `rtn_ctl`: when a session is allocated.
    pub const WHEN_SESSION_ALLOCATED: u8 = 0;
    /// `rtn_ctl`: immediate.
    pub const IMMEDIATE: u8 = 1;
    /// `rtn_ctl`: when a session is free.
    pub const WHEN_SESSION_FREE: u8 = 2;
    /// `rtn_ctl`: when a contention-winner session is allocated.
    pub const WHEN_CONWINNER_ALLOCATED: u8 = 3;
    /// `rtn_ctl`: when a session of the conversation group is allocated.
    pub const WHEN_CONV_GROUP_ALLOCATED: u8 = 4;

    /// `send_data.type`: buffer only.
    pub const SEND_DATA_NONE: u8 = 0x00;
    /// `send_data.type`: then FLUSH.
    pub const SEND_DATA_FLUSH: u8 = 0x01;
    /// `send_data.type`: then CONFIRM.
    pub const SEND_DATA_CONFIRM: u8 = 0x02;
    /// `send_data.type`: then PREPARE_TO_RECEIVE(FLUSH).
    pub const SEND_DATA_P_TO_R_FLUSH: u8 = 0x03;
    /// `send_data.type`: then PREPARE_TO_RECEIVE(SYNC_LEVEL).
    pub const SEND_DATA_P_TO_R_SYNC_LEVEL: u8 = 0x04;
    /// `send_data.type`: then DEALLOCATE(FLUSH).
    pub const SEND_DATA_DEALLOC_FLUSH: u8 = 0x05;
    /// `send_data.type`: then DEALLOCATE(SYNC_LEVEL).
    pub const SEND_DATA_DEALLOC_SYNC_LEVEL: u8 = 0x06;
    /// `send_data.type`: then DEALLOCATE(ABEND).
    pub const SEND_DATA_DEALLOC_ABEND: u8 = 0x07;

    /// `dealloc_type` / `ptr_type`: per the sync level.
    pub const SYNC_LEVEL: u8 = 0x00;
    /// `dealloc_type` / `ptr_type`: flush.
    pub const FLUSH: u8 = 0x01;
    /// `dealloc_type`: abend (program), basic.
    pub const ABEND_PROG: u8 = 0x02;
    /// `dealloc_type`: abend (service), basic.
    pub const ABEND_SVC: u8 = 0x03;
    /// `dealloc_type`: abend (timer), basic.
    pub const ABEND_TIMER: u8 = 0x04;
    /// `dealloc_type`: abend, mapped.
    pub const ABEND: u8 = 0x05;

    /// `fill`: fill the buffer regardless of record boundaries.
    pub const FILL_BUFFER: u8 = 0x00;
    /// `fill`: one logical record.
    pub const FILL_LL: u8 = 0x01;

    /// `err_type`: program error.
    pub const ERR_PROG: u8 = 0;
    /// `err_type`: service error.
    pub const ERR_SVC: u8 = 1;
    /// `err_dir`: error in the receive direction.
    pub const RCV_DIR_ERROR: u8 = 0;
    /// `err_dir`: error in the send direction.
    pub const SEND_DIR_ERROR: u8 = 1;

    /// `tp_ended.type`: soft.
    pub const SOFT: u8 = 0;
    /// `tp_ended.type`: hard.
    pub const HARD: u8 = 1;

    /// `locks`: short.
    pub const LOCKS_SHORT: u8 = 0;
    /// `locks`: long.
    pub const LOCKS_LONG: u8 = 1;
}

/// The largest `SEND_DATA` / receive buffer (`dlen` / `max_len` are u16).
pub const MAX_DATA: usize = 0xFFFF;
/// The largest program initialisation parameter block.
pub const MAX_PIP: usize = 32_767;
/// The largest error log data block.
pub const MAX_LOG_DATA: usize = 32_767;

/// A blank-padded VCB name field from ASCII text (truncated to `N`).
pub fn name<const N: usize>(text: &str) -> [u8; N] {
    let mut field = [b' '; N];
    for (dst, src) in field.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
    field
}

/// A verb control block: the common header and the verb's own fields.
#[derive(Clone, Debug)]
pub struct Verb {
    /// `opext`: basic or mapped (plus flags).
    pub opext: u8,
    /// `primary_rc`, set when the verb completes.
    pub primary_rc: PrimaryRc,
    /// `secondary_rc`, set when the verb completes.
    pub secondary_rc: SecondaryRc,
    /// The verb-specific fields.
    pub body: Body,
}

impl Verb {
    /// A mapped-conversation verb (`opext = AP_MAPPED_CONVERSATION`).
    pub fn mapped(body: Body) -> Self {
        Self::with_opext(values::MAPPED_CONVERSATION, body)
    }

    /// A basic-conversation verb (`opext = AP_BASIC_CONVERSATION`).
    pub fn basic(body: Body) -> Self {
        Self::with_opext(values::BASIC_CONVERSATION, body)
    }

    /// A verb with an explicit `opext`.
    pub fn with_opext(opext: u8, body: Body) -> Self {
        Self {
            opext,
            primary_rc: PrimaryRc::OK,
            secondary_rc: SecondaryRc(0),
            body,
        }
    }

    /// The documented opcode.
    pub fn opcode(&self) -> u16 {
        self.body.opcode()
    }

    /// True for a mapped-conversation verb.
    pub fn is_mapped(&self) -> bool {
        self.opext & values::MAPPED_CONVERSATION != 0
    }

    /// Sets both return codes.
    pub fn set_rc(&mut self, primary: PrimaryRc, secondary: SecondaryRc) {
        self.primary_rc = primary;
        self.secondary_rc = secondary;
    }
}

impl Request for Verb {
    fn set_return_codes(&mut self, primary: u16, secondary: u32) {
        self.set_rc(PrimaryRc(primary), SecondaryRc(secondary));
    }
}

/// The verb-specific part of a VCB.
#[derive(Clone, Debug)]
pub enum Body {
    /// `TP_STARTED`.
    TpStarted(TpStarted),
    /// `RECEIVE_ALLOCATE`.
    ReceiveAllocate(ReceiveAllocate),
    /// `TP_ENDED`.
    TpEnded(TpEnded),
    /// `[MC_]ALLOCATE`.
    Allocate(Allocate),
    /// `[MC_]SEND_DATA`.
    SendData(SendData),
    /// `[MC_]RECEIVE_AND_WAIT`.
    ReceiveAndWait(Receive),
    /// `[MC_]RECEIVE_IMMEDIATE`.
    ReceiveImmediate(Receive),
    /// `[MC_]RECEIVE_AND_POST`.
    ReceiveAndPost(ReceiveAndPost),
    /// `[MC_]POST_ON_RECEIPT`.
    PostOnReceipt(PostOnReceipt),
    /// `[MC_]CONFIRM`.
    Confirm(Confirm),
    /// `[MC_]CONFIRMED`.
    Confirmed(Conv),
    /// `[MC_]FLUSH`.
    Flush(Conv),
    /// `[MC_]PREPARE_TO_RECEIVE`.
    PrepareToReceive(PrepareToReceive),
    /// `[MC_]REQUEST_TO_SEND`.
    RequestToSend(Conv),
    /// `[MC_]TEST_RTS`.
    TestRts(Conv),
    /// `[MC_]TEST_RTS_AND_POST`.
    TestRtsAndPost(TestRtsAndPost),
    /// `[MC_]SEND_ERROR`.
    SendError(SendError),
    /// `[MC_]DEALLOCATE`.
    Deallocate(Deallocate),
    /// `[MC_]GET_ATTRIBUTES`.
    GetAttributes(GetAttributes),
    /// `GET_TYPE`.
    GetType(GetType),
    /// `GET_STATE`.
    GetState(GetState),
    /// `[MC_]SEND_CONVERSATION`.
    SendConversation(SendConversation),
    /// A VCB whose opcode is not an APPC verb (answered `AP_INVALID_VERB`).
    Unknown {
        /// The opcode found.
        opcode: u16,
    },
}

impl Body {
    /// The documented opcode of this verb.
    pub fn opcode(&self) -> u16 {
        match self {
            Body::TpStarted(_) => opcode::TP_STARTED,
            Body::ReceiveAllocate(_) => opcode::RECEIVE_ALLOCATE,
            Body::TpEnded(_) => opcode::TP_ENDED,
            Body::Allocate(_) => opcode::ALLOCATE,
            Body::SendData(_) => opcode::SEND_DATA,
            Body::ReceiveAndWait(_) => opcode::RECEIVE_AND_WAIT,
            Body::ReceiveImmediate(_) => opcode::RECEIVE_IMMEDIATE,
            Body::ReceiveAndPost(_) => opcode::RECEIVE_AND_POST,
            Body::PostOnReceipt(_) => opcode::POST_ON_RECEIPT,
            Body::Confirm(_) => opcode::CONFIRM,
            Body::Confirmed(_) => opcode::CONFIRMED,
            Body::Flush(_) => opcode::FLUSH,
            Body::PrepareToReceive(_) => opcode::PREPARE_TO_RECEIVE,
            Body::RequestToSend(_) => opcode::REQUEST_TO_SEND,
            Body::TestRts(_) => opcode::TEST_RTS,
            Body::TestRtsAndPost(_) => opcode::TEST_RTS_AND_POST,
            Body::SendError(_) => opcode::SEND_ERROR,
            Body::Deallocate(_) => opcode::DEALLOCATE,
            Body::GetAttributes(_) => opcode::GET_ATTRIBUTES,
            Body::GetType(_) => opcode::GET_TYPE,
            Body::GetState(_) => opcode::GET_STATE,
            Body::SendConversation(_) => opcode::SEND_CONVERSATION,
            Body::Unknown { opcode } => *opcode,
        }
    }

    /// The TP and conversation a conversation verb names.
    pub fn conv(&self) -> Option<Conv> {
        Some(match self {
            Body::SendData(v) => v.conv,
            Body::ReceiveAndWait(v) | Body::ReceiveImmediate(v) => v.conv,
            Body::ReceiveAndPost(v) => v.receive.conv,
            Body::PostOnReceipt(v) => v.conv,
            Body::Confirm(v) => v.conv,
            Body::Confirmed(c) | Body::Flush(c) | Body::RequestToSend(c) | Body::TestRts(c) => *c,
            Body::TestRtsAndPost(v) => v.conv,
            Body::PrepareToReceive(v) => v.conv,
            Body::SendError(v) => v.conv,
            Body::Deallocate(v) => v.conv,
            Body::GetAttributes(v) => v.conv,
            Body::GetType(v) => v.conv,
            Body::GetState(v) => v.conv,
            _ => return None,
        })
    }
}

/// The `tp_id` and `conv_id` every conversation verb carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Conv {
    /// `tp_id`.
    pub tp_id: TpId,
    /// `conv_id`.
    pub conv_id: ConvId,
}

/// `TP_STARTED`: start an invoking TP.
#[derive(Clone, Debug)]
pub struct TpStarted {
    /// In: local LU alias (blank-padded; blanks mean the default LU).
    pub lu_alias: [u8; 8],
    /// In: the TP's name.
    pub tp_name: [u8; 64],
    /// Out: the new TP's id.
    pub tp_id: TpId,
}

/// `RECEIVE_ALLOCATE`: start an invoked TP, waiting for an incoming attach.
#[derive(Clone, Debug)]
pub struct ReceiveAllocate {
    /// In: the TP name attaches must carry.
    pub tp_name: [u8; 64],
    /// In: local LU alias the TP listens on.
    pub lu_alias: [u8; 8],
    /// Out: the new TP's id.
    pub tp_id: TpId,
    /// Out: the new conversation's id.
    pub conv_id: ConvId,
    /// Out: the conversation's sync level.
    pub sync_level: u8,
    /// Out: basic or mapped.
    pub conv_type: u8,
    /// Out: the partner's user id (security PGM / SAME).
    pub user_id: [u8; 10],
    /// Out: the partner LU alias.
    pub plu_alias: [u8; 8],
    /// Out: the mode name.
    pub mode_name: [u8; 8],
    /// Out: the program initialisation parameters the partner sent.
    pub pip: Vec<u8>,
}

/// `TP_ENDED`.
#[derive(Clone, Debug, Default)]
pub struct TpEnded {
    /// In: the TP to end.
    pub tp_id: TpId,
    /// In: [`values::SOFT`] or [`values::HARD`].
    pub tp_type: u8,
}

/// `[MC_]ALLOCATE`: start a conversation with a partner TP.
#[derive(Clone, Debug)]
pub struct Allocate {
    /// In: the invoking TP.
    pub tp_id: TpId,
    /// In: basic or mapped (a basic ALLOCATE may start a mapped conversation).
    pub conv_type: u8,
    /// In: [`values::SYNC_NONE`] or [`values::SYNC_CONFIRM`].
    pub sync_level: u8,
    /// In: when the verb returns ([`values::WHEN_SESSION_ALLOCATED`], ...).
    pub rtn_ctl: u8,
    /// In: partner LU alias.
    pub plu_alias: [u8; 8],
    /// In: mode name.
    pub mode_name: [u8; 8],
    /// In: partner TP name.
    pub tp_name: [u8; 64],
    /// In: [`values::SECURITY_NONE`], `SAME`, `PGM` or `STRONG`.
    pub security: u8,
    /// In: password (security PGM).
    pub pwd: [u8; 10],
    /// In: user id (security PGM / SAME).
    pub user_id: [u8; 10],
    /// In: program initialisation parameters (at most [`MAX_PIP`] bytes).
    pub pip: Vec<u8>,
    /// Out: the new conversation's id.
    pub conv_id: ConvId,
    /// Out: sense data of an allocation failure.
    pub sense_data: u32,
}

/// `[MC_]SEND_DATA`.
#[derive(Clone, Debug, Default)]
pub struct SendData {
    /// In: TP and conversation.
    pub conv: Conv,
    /// In: what follows the data ([`values::SEND_DATA_NONE`], ...).
    pub send_type: u8,
    /// In: the data (basic: logical records with LL prefixes; mapped: one
    /// record). At most [`MAX_DATA`] bytes.
    pub data: Vec<u8>,
    /// Out: the partner asked for the send direction.
    pub rts_rcvd: bool,
}

/// `[MC_]RECEIVE_AND_WAIT` and `[MC_]RECEIVE_IMMEDIATE`.
#[derive(Clone, Debug, Default)]
pub struct Receive {
    /// In: TP and conversation.
    pub conv: Conv,
    /// In: return status together with data when possible.
    pub rtn_status: bool,
    /// In (basic): [`values::FILL_BUFFER`] or [`values::FILL_LL`].
    pub fill: u8,
    /// In: the most bytes to receive (0 probes for status).
    pub max_len: u16,
    /// Out: the data received.
    pub data: Vec<u8>,
    /// Out: what was received.
    pub what_rcvd: WhatRcvd,
    /// Out: the partner asked for the send direction.
    pub rts_rcvd: bool,
}

/// `[MC_]RECEIVE_AND_POST`: a receive whose final completion signals `sema`.
#[derive(Clone, Debug, Default)]
pub struct ReceiveAndPost {
    /// The receive's fields.
    pub receive: Receive,
    /// The event for the final ("post") completion.
    pub sema: Event,
    /// Out: the task of the final completion, set by an `AP_OK` initial
    /// completion; collect its finished verb once `sema` is signalled.
    pub post: Option<Handle>,
}

/// `[MC_]POST_ON_RECEIPT`.
#[derive(Clone, Debug, Default)]
pub struct PostOnReceipt {
    /// In: TP and conversation.
    pub conv: Conv,
    /// In (basic): fill mode.
    pub fill: u8,
    /// In: data threshold.
    pub max_len: u16,
    /// The event to signal when data or status arrives.
    pub sema: Event,
    /// Out: the task of the post, as for [`ReceiveAndPost::post`].
    pub post: Option<Handle>,
}

/// `[MC_]CONFIRM`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Confirm {
    /// In: TP and conversation.
    pub conv: Conv,
    /// Out: the partner asked for the send direction.
    pub rts_rcvd: bool,
}

/// `[MC_]PREPARE_TO_RECEIVE`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PrepareToReceive {
    /// In: TP and conversation.
    pub conv: Conv,
    /// In: [`values::SYNC_LEVEL`] or [`values::FLUSH`].
    pub ptr_type: u8,
    /// In: [`values::LOCKS_SHORT`] or [`values::LOCKS_LONG`].
    pub locks: u8,
}

/// `[MC_]TEST_RTS_AND_POST`.
#[derive(Clone, Debug, Default)]
pub struct TestRtsAndPost {
    /// In: TP and conversation.
    pub conv: Conv,
    /// The event to signal when the partner's REQUEST_TO_SEND arrives.
    pub handle: Event,
    /// Out: the task of the post, as for [`ReceiveAndPost::post`].
    pub post: Option<Handle>,
}

/// `[MC_]SEND_ERROR`.
#[derive(Clone, Debug, Default)]
pub struct SendError {
    /// In: TP and conversation.
    pub conv: Conv,
    /// In (basic): [`values::ERR_PROG`] or [`values::ERR_SVC`].
    pub err_type: u8,
    /// In: [`values::RCV_DIR_ERROR`] or [`values::SEND_DIR_ERROR`].
    pub err_dir: u8,
    /// In (basic): error log data (a GDS variable), at most [`MAX_LOG_DATA`].
    pub log_data: Vec<u8>,
    /// Out: the partner asked for the send direction.
    pub rts_rcvd: bool,
}

/// `[MC_]DEALLOCATE`.
#[derive(Clone, Debug, Default)]
pub struct Deallocate {
    /// In: TP and conversation.
    pub conv: Conv,
    /// In: [`values::SYNC_LEVEL`], [`values::FLUSH`] or an abend type.
    pub dealloc_type: u8,
    /// In (basic): error log data, at most [`MAX_LOG_DATA`].
    pub log_data: Vec<u8>,
}

/// `[MC_]GET_ATTRIBUTES`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GetAttributes {
    /// In: TP and conversation.
    pub conv: Conv,
    /// Out: sync level.
    pub sync_level: u8,
    /// Out: mode name.
    pub mode_name: [u8; 8],
    /// Out: local LU alias.
    pub lu_alias: [u8; 8],
    /// Out: partner LU alias.
    pub plu_alias: [u8; 8],
    /// Out: user id.
    pub user_id: [u8; 10],
}

/// `GET_TYPE`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GetType {
    /// In: TP and conversation.
    pub conv: Conv,
    /// Out: basic or mapped.
    pub conv_type: u8,
}

/// `GET_STATE`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GetState {
    /// In: TP and conversation.
    pub conv: Conv,
    /// Out: the conversation state (`AP_RESET_STATE` 1 .. `AP_SEND_PENDING_STATE` 10).
    pub conv_state: u8,
}

/// `[MC_]SEND_CONVERSATION`: ALLOCATE + SEND_DATA + DEALLOCATE in one verb.
#[derive(Clone, Debug)]
pub struct SendConversation {
    /// The allocation parameters (its `conv_id` and `sense_data` are unused).
    pub allocate: Allocate,
    /// The data to send.
    pub data: Vec<u8>,
}

/// Zeroed VCBs, as the documentation asks callers to start from ("zero the
/// whole VCB before filling it in"); `[u8; 64]` has no derived `Default`.
macro_rules! zeroed {
    ($($ty:ident { $($field:ident: $value:expr),* $(,)? })*) => {$(
        impl Default for $ty {
            fn default() -> Self {
                Self { $($field: $value),* }
            }
        }
    )*};
}

zeroed! {
    TpStarted { lu_alias: [0; 8], tp_name: [0; 64], tp_id: [0; 8] }
    ReceiveAllocate {
        tp_name: [0; 64], lu_alias: [0; 8], tp_id: [0; 8], conv_id: 0, sync_level: 0,
        conv_type: 0, user_id: [0; 10], plu_alias: [0; 8], mode_name: [0; 8], pip: Vec::new(),
    }
    Allocate {
        tp_id: [0; 8], conv_type: 0, sync_level: 0, rtn_ctl: 0, plu_alias: [0; 8],
        mode_name: [0; 8], tp_name: [0; 64], security: 0, pwd: [0; 10], user_id: [0; 10],
        pip: Vec::new(), conv_id: 0, sense_data: 0,
    }
    SendConversation { allocate: Allocate::default(), data: Vec::new() }
}
