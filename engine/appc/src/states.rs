//! The LU 6.2 (half-duplex) conversation state machine of HIS APPC, as data
//! plus pure functions.
//!
//! # The matrix
//!
//! `MATRIX` is the verb × state matrix of `docs/api.md#verb-by-state`: one `Row`
//! per verb class, one `Cell` per state, the columns in the table's
//! order (T, S, SP, R, C, CS, CD, PP) followed by PEND_DEALL and END_CONV.
//! A cell says whether the verb passes the state check and, if it does,
//! what becomes of the state:
//!
//! * `X`: rejected with `AP_STATE_CHECK` and the row's secondary code; the
//!   verb is not executed and the state does not change.
//! * `K` ("keep", the table's `=`): allowed, no state change.
//! * a state (`T`, `S`, `R`, `SP`): allowed, that state on `AP_OK`.
//! * `RCV`: a receive; the state on `AP_OK` follows `what_rcvd`
//!   ([`after_receive`], `docs/api.md#what_rcvd`), and nothing changes while it is outstanding.
//! * `POST`: a posting receive; PENDING_POST while it is outstanding, then
//!   as `RCV`.
//!
//! [`check`], [`while_outstanding`] and [`after_ok`] only look cells up. The
//! other rules are smaller and written as matches: [`after_receive`]
//! (`docs/api.md#what_rcvd`), [`after_error`] (`docs/api.md#return-codes`), and [`during_pending`] (`docs/api.md#one-verb-at-a-time` rules 4 and
//! 5: what may be issued while a posting receive holds the conversation's
//! verb slot).
//!
//! # Sources and inferred choices
//!
//! That table (`docs/api.md#verb-by-state`) merges the HIS per-verb "Remarks"
//! with SNAP-IX (SIX) and SNAplus2 (SP2). Where it marks a cell as
//! inferred, unsure or SIX-only, this module takes the reading the
//! documentation states, and says so at the row:
//!
//! * **SIX allowances are accepted.** SEND_DATA (NONE / FLUSH / CONFIRM),
//!   FLUSH, CONFIRM and DEALLOCATE (FLUSH / SYNC_LEVEL) are allowed in
//!   SEND_PENDING and lead to SEND (DEALLOCATE: RESET); HIS documents only
//!   SEND for them.
//! * **SEND_DATA with a combined type** is the composite of SEND_DATA and the
//!   verb it names (inferred): `P_TO_R_*` goes to RECEIVE, `DEALLOC_*`
//!   (including `DEALLOC_ABEND`) to RESET, from SEND and SEND_PENDING only,
//!   since it is still a SEND_DATA.
//! * **PREPARE_TO_RECEIVE in SEND_PENDING** goes to RECEIVE (unsure in the
//!   documentation; HIS does not say).
//! * **Sync level.** DEALLOCATE(SYNC_LEVEL) and PREPARE_TO_RECEIVE(SYNC_LEVEL)
//!   at sync level CONFIRM complete with `AP_OK` only after the partner's
//!   CONFIRMED, so on `AP_OK` they end exactly as their FLUSH forms (RESET /
//!   RECEIVE); if the partner answers with an error instead, the verb
//!   completes with `*_PURGING` and [`after_error`] gives RECEIVE. The sync
//!   level therefore only picks DEALLOCATE's state-check secondary code
//!   (`AP_DEALLOC_FLUSH_BAD_STATE` or `AP_DEALLOC_CONFIRM_BAD_STATE`), and
//!   the PREPARE_TO_RECEIVE type matters to no cell at all ([`Step`] does
//!   not carry it).
//! * **RECEIVE_AND_WAIT on an async entry point** behaves like
//!   RECEIVE_AND_POST: PENDING_POST while outstanding (`docs/api.md#one-verb-at-a-time` rule 4).
//! * **REQUEST_TO_SEND** is allowed in RECEIVE, CONFIRM and PENDING_POST
//!   (HIS lists CONFIRM, RECEIVE and "PENDING_POST (OS/2)"; the Windows
//!   async pages allow it while a receive-and-post is outstanding).
//! * **TEST_RTS_AND_POST** shares the TEST_RTS / GET_ATTRIBUTES / GET_TYPE
//!   row: any state but RESET, no change (`docs/api.md#posting-verbs`).
//! * **PEND_DEALL and END_CONV** have undocumented transitions; the engine
//!   never enters them. They are treated as closed, like RESET without the
//!   verbs that create a conversation: every verb is rejected except
//!   GET_STATE (which must be able to report them) and the TP-level verbs.
//!   GET_TYPE is rejected there as it is in RESET.
//! * **TP-level verbs** ([`Step::TpVerb`]: TP_STARTED, RECEIVE_ALLOCATE,
//!   TP_ENDED, and any unknown opcode, which is answered `AP_INVALID_VERB`
//!   before any state check) are never state-checked and change no
//!   conversation state here; what TP_ENDED does to the TP's conversations
//!   (an implicit DEALLOCATE, so RESET) is the TP layer's business.
//! * **Secondary codes.** Each row carries the documented state-check
//!   secondary code (`docs/api.md#return-codes`). Verbs with none documented (ALLOCATE,
//!   SEND_CONVERSATION, DEALLOCATE with an abend type, POST_ON_RECEIPT,
//!   SEND_ERROR, TEST_RTS, TEST_RTS_AND_POST, GET_ATTRIBUTES, GET_TYPE)
//!   report `SecondaryRc(0)`; GET_STATE is never rejected.
//!
//! The choices outside the matrix are documented at their functions, in
//! short: a completion never revives a RESET conversation, and a posting
//! receive that is cancelled or fails to execute while still in
//! PENDING_POST returns to the state it was issued in ([`after_error`]);
//! GET_STATE may be issued while a post is pending, TP-level verbs never
//! find the conversation busy, and the pending rules do not depend on basic
//! versus mapped ([`during_pending`]); an undocumented `what_rcvd` status
//! gives RECEIVE ([`after_receive`]).

use super::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use super::verbs::{values, Body};

/// A conversation state, with its `GET_STATE` code (`AP_RESET_STATE` 1 ..
/// `AP_SEND_PENDING_STATE` 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ConvState {
    /// RESET (T): no conversation, or it has ended.
    Reset = 1,
    /// SEND (S): the local side has the send direction.
    Send = 2,
    /// RECEIVE (R): the local side receives.
    Receive = 3,
    /// CONFIRM (C): the partner asked for confirmation.
    Confirm = 4,
    /// CONFIRM_SEND (CS): as CONFIRM; after CONFIRMED the local side sends.
    ConfirmSend = 5,
    /// CONFIRM_DEALLOCATE (CD): as CONFIRM; after CONFIRMED the conversation
    /// ends.
    ConfirmDeallocate = 6,
    /// PENDING_POST (PP): a RECEIVE_AND_POST (or an async RECEIVE_AND_WAIT)
    /// is outstanding.
    PendingPost = 7,
    /// PEND_DEALL: "DEALLOCATE pending" (transitions undocumented; never
    /// entered by this engine).
    PendDeall = 8,
    /// END_CONV: "END_CONVERSATION" (transitions undocumented; never entered
    /// by this engine).
    EndConv = 9,
    /// SEND_PENDING (SP): the last receive returned data together with SEND.
    SendPending = 10,
}

impl ConvState {
    /// Every state, in `GET_STATE` code order.
    pub const ALL: [ConvState; 10] = [
        ConvState::Reset,
        ConvState::Send,
        ConvState::Receive,
        ConvState::Confirm,
        ConvState::ConfirmSend,
        ConvState::ConfirmDeallocate,
        ConvState::PendingPost,
        ConvState::PendDeall,
        ConvState::EndConv,
        ConvState::SendPending,
    ];

    /// The `GET_STATE` `conv_state` code (1..=10).
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// How a verb was issued. A RECEIVE_AND_WAIT issued on an async entry point
/// behaves like RECEIVE_AND_POST: the conversation is in PENDING_POST while
/// it is outstanding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A blocking entry point (`APPC`).
    Blocking,
    /// An asynchronous entry point (`WinAsyncAPPC`, `WinAsyncAPPCEx`, ...).
    Async,
}

/// What a SEND_DATA does after buffering its data (its `type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendKind {
    /// `AP_NONE`: buffer only (also any undocumented `type`, which a
    /// parameter check rejects before the state check).
    Plain,
    /// `AP_SEND_DATA_FLUSH`.
    Flush,
    /// `AP_SEND_DATA_CONFIRM`.
    Confirm,
    /// `AP_SEND_DATA_P_TO_R_FLUSH` or `AP_SEND_DATA_P_TO_R_SYNC_LEVEL`.
    PrepareToReceive,
    /// `AP_SEND_DATA_DEALLOC_FLUSH` or `AP_SEND_DATA_DEALLOC_SYNC_LEVEL`.
    Deallocate,
    /// `AP_SEND_DATA_DEALLOC_ABEND`.
    DeallocateAbend,
}

/// A DEALLOCATE's `dealloc_type`, as far as the state machine cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeallocKind {
    /// `AP_FLUSH` (also any undocumented type, which a parameter check
    /// rejects before the state check).
    Flush,
    /// `AP_SYNC_LEVEL`.
    SyncLevel,
    /// `AP_ABEND_PROG`, `AP_ABEND_SVC`, `AP_ABEND_TIMER` (basic) or
    /// `AP_ABEND` (mapped).
    Abend,
}

/// The state-relevant classification of a verb. Basic and mapped forms
/// (`opext`) are the same step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// `[MC_]ALLOCATE`.
    Allocate,
    /// `[MC_]SEND_CONVERSATION`.
    SendConversation,
    /// `[MC_]SEND_DATA`, by its `type`.
    SendData(SendKind),
    /// `[MC_]FLUSH`.
    Flush,
    /// `[MC_]CONFIRM`.
    Confirm,
    /// `[MC_]PREPARE_TO_RECEIVE` (either `ptr_type`: both end in RECEIVE on
    /// `AP_OK`, see the module docs).
    PrepareToReceive,
    /// `[MC_]DEALLOCATE`, by its `dealloc_type`.
    Deallocate(DeallocKind),
    /// `[MC_]CONFIRMED`.
    Confirmed,
    /// `[MC_]RECEIVE_AND_WAIT` (see [`Entry`]).
    ReceiveAndWait,
    /// `[MC_]RECEIVE_IMMEDIATE`.
    ReceiveImmediate,
    /// `[MC_]RECEIVE_AND_POST`.
    ReceiveAndPost,
    /// `[MC_]POST_ON_RECEIPT`.
    PostOnReceipt,
    /// `[MC_]REQUEST_TO_SEND`.
    RequestToSend,
    /// `[MC_]SEND_ERROR`.
    SendError,
    /// `[MC_]TEST_RTS`.
    TestRts,
    /// `[MC_]TEST_RTS_AND_POST`.
    TestRtsAndPost,
    /// `[MC_]GET_ATTRIBUTES`.
    GetAttributes,
    /// `GET_TYPE`.
    GetType,
    /// `GET_STATE`.
    GetState,
    /// A TP-level verb (TP_STARTED, RECEIVE_ALLOCATE, TP_ENDED) or an
    /// unknown opcode: never state-checked.
    TpVerb,
}

impl Step {
    /// Classifies a verb body. Undocumented `send_type` / `dealloc_type`
    /// values (including the sync-point and attach-manager ones this engine
    /// does not support) are classified as [`SendKind::Plain`] /
    /// [`DeallocKind::Flush`]; the parameter check, done before the state
    /// check, rejects them.
    pub fn of(body: &Body) -> Step {
        match body {
            Body::TpStarted(_)
            | Body::ReceiveAllocate(_)
            | Body::TpEnded(_)
            | Body::Unknown { .. } => Step::TpVerb,
            Body::Allocate(_) => Step::Allocate,
            Body::SendConversation(_) => Step::SendConversation,
            Body::SendData(v) => Step::SendData(match v.send_type {
                values::SEND_DATA_FLUSH => SendKind::Flush,
                values::SEND_DATA_CONFIRM => SendKind::Confirm,
                values::SEND_DATA_P_TO_R_FLUSH | values::SEND_DATA_P_TO_R_SYNC_LEVEL => {
                    SendKind::PrepareToReceive
                }
                values::SEND_DATA_DEALLOC_FLUSH | values::SEND_DATA_DEALLOC_SYNC_LEVEL => {
                    SendKind::Deallocate
                }
                values::SEND_DATA_DEALLOC_ABEND => SendKind::DeallocateAbend,
                _ => SendKind::Plain,
            }),
            Body::Flush(_) => Step::Flush,
            Body::Confirm(_) => Step::Confirm,
            Body::PrepareToReceive(_) => Step::PrepareToReceive,
            Body::Deallocate(v) => Step::Deallocate(match v.dealloc_type {
                values::SYNC_LEVEL => DeallocKind::SyncLevel,
                values::ABEND_PROG | values::ABEND_SVC | values::ABEND_TIMER | values::ABEND => {
                    DeallocKind::Abend
                }
                _ => DeallocKind::Flush,
            }),
            Body::Confirmed(_) => Step::Confirmed,
            Body::ReceiveAndWait(_) => Step::ReceiveAndWait,
            Body::ReceiveImmediate(_) => Step::ReceiveImmediate,
            Body::ReceiveAndPost(_) => Step::ReceiveAndPost,
            Body::PostOnReceipt(_) => Step::PostOnReceipt,
            Body::RequestToSend(_) => Step::RequestToSend,
            Body::SendError(_) => Step::SendError,
            Body::TestRts(_) => Step::TestRts,
            Body::TestRtsAndPost(_) => Step::TestRtsAndPost,
            Body::GetAttributes(_) => Step::GetAttributes,
            Body::GetType(_) => Step::GetType,
            Body::GetState(_) => Step::GetState,
        }
    }
}

/// One cell of the matrix (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cell {
    /// Rejected with `AP_STATE_CHECK`.
    Reject,
    /// Allowed; no state change.
    Keep,
    /// Allowed; this state on `AP_OK`.
    To(ConvState),
    /// Allowed; a receive: on `AP_OK` the state follows `what_rcvd`.
    Receive,
    /// Allowed; a posting receive: PENDING_POST while outstanding, then as
    /// [`Cell::Receive`].
    Post,
}

/// The number of columns: one per state.
const COLUMNS: usize = ConvState::ALL.len();

/// The column of a state: the table's order (T, S, SP, R, C, CS, CD,
/// PP), then PEND_DEALL and END_CONV.
const fn column(state: ConvState) -> usize {
    match state {
        ConvState::Reset => 0,
        ConvState::Send => 1,
        ConvState::SendPending => 2,
        ConvState::Receive => 3,
        ConvState::Confirm => 4,
        ConvState::ConfirmSend => 5,
        ConvState::ConfirmDeallocate => 6,
        ConvState::PendingPost => 7,
        ConvState::PendDeall => 8,
        ConvState::EndConv => 9,
    }
}

/// One verb class of the matrix.
#[derive(Debug)]
struct Row {
    /// One cell per state, in [`column()`] order.
    cells: [Cell; COLUMNS],
    /// The `AP_STATE_CHECK` secondary code for a `Reject` cell.
    reject: SecondaryRc,
}

/// The matrix, one named row per verb class, in the table's order.
#[derive(Debug)]
struct Matrix {
    allocate: Row,
    send_conversation: Row,
    send_data: Row,
    send_data_ptr: Row,
    send_data_dealloc: Row,
    flush: Row,
    confirm: Row,
    prepare_to_receive: Row,
    deallocate: Row,
    deallocate_abend: Row,
    confirmed: Row,
    receive_and_wait: Row,
    receive_and_wait_async: Row,
    receive_immediate: Row,
    receive_and_post: Row,
    post_on_receipt: Row,
    request_to_send: Row,
    send_error: Row,
    test_and_get: Row,
    get_state: Row,
    tp_verb: Row,
}

/// Short cell names for the table, mirroring the table's notation.
mod notation {
    use super::{Cell, ConvState};

    pub(super) const X: Cell = Cell::Reject;
    pub(super) const K: Cell = Cell::Keep;
    pub(super) const T: Cell = Cell::To(ConvState::Reset);
    pub(super) const S: Cell = Cell::To(ConvState::Send);
    pub(super) const R: Cell = Cell::To(ConvState::Receive);
    pub(super) const RCV: Cell = Cell::Receive;
    pub(super) const POST: Cell = Cell::Post;
}

/// No state-check secondary code is documented for the verb.
const UNDOCUMENTED: SecondaryRc = SecondaryRc(0);

/// The verb × state matrix (`docs/api.md#verb-by-state`), with each row's state-check
/// secondary code (`docs/api.md#return-codes`).
#[rustfmt::skip]
static MATRIX: Matrix = {
    use notation::*;
    Matrix {
        // PD (PEND_DEALL), EC (END_CONV): closed, see the module docs.
        //                                   T     S     SP    R     C  CS CD PP    PD EC
        allocate: Row {
            cells:                         [ S,    X,    X,    X,    X, X, X, X,    X, X],
            reject: UNDOCUMENTED,
        },
        // Allocate + send + deallocate in one verb: RESET before and after.
        send_conversation: Row {
            cells:                         [ K,    X,    X,    X,    X, X, X, X,    X, X],
            reject: UNDOCUMENTED,
        },
        // Type NONE / FLUSH / CONFIRM. SP: SIX.
        send_data: Row {
            cells:                         [ X,    S,    S,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::SEND_DATA_NOT_SEND_STATE,
        },
        // Type P_TO_R_*: the composite of PREPARE_TO_RECEIVE (inferred).
        send_data_ptr: Row {
            cells:                         [ X,    R,    R,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::SEND_DATA_NOT_SEND_STATE,
        },
        // Type DEALLOC_* (including DEALLOC_ABEND): the composite of
        // DEALLOCATE (inferred); still a SEND_DATA, so SEND / SP only.
        send_data_dealloc: Row {
            cells:                         [ X,    T,    T,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::SEND_DATA_NOT_SEND_STATE,
        },
        // SP: SIX.
        flush: Row {
            cells:                         [ X,    K,    S,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::FLUSH_NOT_SEND_STATE,
        },
        // SP: SIX. (Sync level NONE is a parameter check, done earlier.)
        confirm: Row {
            cells:                         [ X,    K,    S,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::CONFIRM_BAD_STATE,
        },
        // SP: unsure in the documentation; RECEIVE, as from SEND.
        prepare_to_receive: Row {
            cells:                         [ X,    R,    R,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::P_TO_R_NOT_SEND_STATE,
        },
        // FLUSH / SYNC_LEVEL. SP: SIX. `check` reports
        // AP_DEALLOC_CONFIRM_BAD_STATE instead for SYNC_LEVEL at a sync
        // level other than NONE.
        deallocate: Row {
            cells:                         [ X,    T,    T,    X,    X, X, X, X,    X, X],
            reject: SecondaryRc::DEALLOC_FLUSH_BAD_STATE,
        },
        // PP: cancels the pending post (`docs/api.md#one-verb-at-a-time`).
        deallocate_abend: Row {
            cells:                         [ X,    T,    T,    T,    T, T, T, T,    X, X],
            reject: UNDOCUMENTED,
        },
        confirmed: Row {
            cells:                         [ X,    X,    X,    X,    R, S, T, X,    X, X],
            reject: SecondaryRc::CONFIRMED_BAD_STATE,
        },
        // S: flushes and sends the SEND indicator first. SP: SP2.
        receive_and_wait: Row {
            cells:                         [ X,    RCV,  RCV,  RCV,  X, X, X, X,    X, X],
            reject: SecondaryRc::RCV_AND_WAIT_BAD_STATE,
        },
        // On an async entry point it behaves like RECEIVE_AND_POST.
        receive_and_wait_async: Row {
            cells:                         [ X,    POST, POST, POST, X, X, X, X,    X, X],
            reject: SecondaryRc::RCV_AND_WAIT_BAD_STATE,
        },
        receive_immediate: Row {
            cells:                         [ X,    X,    X,    RCV,  X, X, X, X,    X, X],
            reject: SecondaryRc::RCV_IMMD_BAD_STATE,
        },
        // SP: SP2.
        receive_and_post: Row {
            cells:                         [ X,    POST, POST, POST, X, X, X, X,    X, X],
            reject: SecondaryRc::RCV_AND_POST_BAD_STATE,
        },
        post_on_receipt: Row {
            cells:                         [ X,    X,    X,    K,    X, X, X, X,    X, X],
            reject: UNDOCUMENTED,
        },
        // PP: allowed while a post is pending.
        request_to_send: Row {
            cells:                         [ X,    X,    X,    K,    K, X, X, K,    X, X],
            reject: SecondaryRc::R_T_S_BAD_STATE,
        },
        // R: purges inbound data. PP: cancels the pending post.
        send_error: Row {
            cells:                         [ X,    S,    S,    S,    S, S, S, S,    X, X],
            reject: UNDOCUMENTED,
        },
        // TEST_RTS, TEST_RTS_AND_POST, GET_ATTRIBUTES, GET_TYPE.
        test_and_get: Row {
            cells:                         [ X,    K,    K,    K,    K, K, K, K,    X, X],
            reject: UNDOCUMENTED,
        },
        get_state: Row {
            cells:                         [ K,    K,    K,    K,    K, K, K, K,    K, K],
            reject: UNDOCUMENTED,
        },
        // TP-level: any state, no conversation state change.
        tp_verb: Row {
            cells:                         [ K,    K,    K,    K,    K, K, K, K,    K, K],
            reject: UNDOCUMENTED,
        },
    }
};

/// The matrix row of a step issued on `entry`.
fn row(step: Step, entry: Entry) -> &'static Row {
    let m = &MATRIX;
    match step {
        Step::Allocate => &m.allocate,
        Step::SendConversation => &m.send_conversation,
        Step::SendData(SendKind::Plain | SendKind::Flush | SendKind::Confirm) => &m.send_data,
        Step::SendData(SendKind::PrepareToReceive) => &m.send_data_ptr,
        Step::SendData(SendKind::Deallocate | SendKind::DeallocateAbend) => &m.send_data_dealloc,
        Step::Flush => &m.flush,
        Step::Confirm => &m.confirm,
        Step::PrepareToReceive => &m.prepare_to_receive,
        Step::Deallocate(DeallocKind::Flush | DeallocKind::SyncLevel) => &m.deallocate,
        Step::Deallocate(DeallocKind::Abend) => &m.deallocate_abend,
        Step::Confirmed => &m.confirmed,
        Step::ReceiveAndWait => match entry {
            Entry::Blocking => &m.receive_and_wait,
            Entry::Async => &m.receive_and_wait_async,
        },
        Step::ReceiveImmediate => &m.receive_immediate,
        Step::ReceiveAndPost => &m.receive_and_post,
        Step::PostOnReceipt => &m.post_on_receipt,
        Step::RequestToSend => &m.request_to_send,
        Step::SendError => &m.send_error,
        Step::TestRts | Step::TestRtsAndPost | Step::GetAttributes | Step::GetType => {
            &m.test_and_get
        }
        Step::GetState => &m.get_state,
        Step::TpVerb => &m.tp_verb,
    }
}

/// The matrix cell of a step issued on `entry` in `state`.
fn cell(state: ConvState, step: Step, entry: Entry) -> Cell {
    row(step, entry).cells[column(state)]
}

/// The state check, done before anything is sent: `Ok(())`, or the
/// secondary code to return with `AP_STATE_CHECK` (the state does not
/// change then).
///
/// `sync_level` is the conversation's; it only picks DEALLOCATE(SYNC_LEVEL)'s
/// code: `AP_DEALLOC_FLUSH_BAD_STATE` at sync level NONE,
/// `AP_DEALLOC_CONFIRM_BAD_STATE` otherwise (this engine supports NONE and
/// CONFIRM only). Verbs without a documented code get `SecondaryRc(0)`.
pub fn check(
    state: ConvState,
    step: Step,
    entry: Entry,
    sync_level: u8,
) -> Result<(), SecondaryRc> {
    let row = row(step, entry);
    if row.cells[column(state)] != Cell::Reject {
        Ok(())
    } else if step == Step::Deallocate(DeallocKind::SyncLevel) && sync_level != values::SYNC_NONE {
        Err(SecondaryRc::DEALLOC_CONFIRM_BAD_STATE)
    } else {
        Err(row.reject)
    }
}

/// The state while the verb is outstanding: PENDING_POST for
/// RECEIVE_AND_POST, and for RECEIVE_AND_WAIT on an async entry point,
/// issued in SEND, SEND_PENDING or RECEIVE; otherwise `state` (also for a
/// verb [`check`] rejects).
pub fn while_outstanding(state: ConvState, step: Step, entry: Entry) -> ConvState {
    match cell(state, step, entry) {
        Cell::Post => ConvState::PendingPost,
        Cell::Reject | Cell::Keep | Cell::To(_) | Cell::Receive => state,
    }
}

/// The state after the verb, issued in `state`, completes with `AP_OK`.
///
/// Receives are not decided here: for them (and for a verb [`check`]
/// rejects, which cannot complete with `AP_OK`) this returns `state`; use
/// [`after_receive`] with the `what_rcvd` instead. DEALLOCATE(SYNC_LEVEL)
/// and PREPARE_TO_RECEIVE(SYNC_LEVEL) end in RESET / RECEIVE at either sync
/// level: at CONFIRM their `AP_OK` already means the partner confirmed.
pub fn after_ok(state: ConvState, step: Step) -> ConvState {
    // The entry only distinguishes RECEIVE_AND_WAIT's two rows, which differ
    // only while the verb is outstanding.
    match cell(state, step, Entry::Blocking) {
        Cell::To(next) => next,
        Cell::Reject | Cell::Keep | Cell::Receive | Cell::Post => state,
    }
}

/// The state after a receive (RECEIVE_AND_WAIT, RECEIVE_IMMEDIATE, or the
/// final completion of a posting receive) completes with `AP_OK`, from its
/// `what_rcvd` (`docs/api.md#what_rcvd`; basic and mapped alike).
///
/// The status part (high byte) decides: `AP_SEND` gives SEND (also for a
/// receive issued in SEND whose partner hands the direction straight back:
/// S → S), or SEND_PENDING if data came with it; the confirmation requests
/// give CONFIRM, CONFIRM_SEND and CONFIRM_DEALLOCATE with or without data.
/// No status (data only, `AP_NONE`, `AP_NOT_DATA`, the sync-point values)
/// gives RECEIVE; so does an undocumented status, the only state a receive
/// can be sure of.
pub fn after_receive(what: WhatRcvd) -> ConvState {
    match what.status_part() {
        WhatRcvd::SEND if what.data_part() == WhatRcvd::NONE => ConvState::Send,
        WhatRcvd::SEND => ConvState::SendPending,
        WhatRcvd::CONFIRM_WHAT_RECEIVED => ConvState::Confirm,
        WhatRcvd::CONFIRM_SEND => ConvState::ConfirmSend,
        WhatRcvd::CONFIRM_DEALLOCATE => ConvState::ConfirmDeallocate,
        _ => ConvState::Receive,
    }
}

/// The state after the verb completes with a non-OK `primary` (`docs/api.md#return-codes`).
///
/// * `state` is the conversation's state now; `issued_in` the state the
///   verb was issued in (the one [`check`] saw). They differ for a posting
///   receive (`state` is PENDING_POST), or when another verb changed the
///   state while this one was outstanding.
/// * RESET stays RESET whatever the code: a completion processed after the
///   conversation ended (say, the final completion of a post whose
///   cancelling DEALLOCATE(abend) was processed first) does not revive it.
/// * `AP_ALLOCATION_ERROR`, `AP_CONV_FAILURE_*`, `AP_DEALLOC_ABEND*`,
///   `AP_DEALLOC_NORMAL`, `AP_COMM_SUBSYSTEM_*`: RESET.
/// * `AP_PROG_ERROR_*`, `AP_SVC_ERROR_*` and `AP_BACKED_OUT` (sync point;
///   (unsure), grouped with the errors as SP2 does): RECEIVE.
/// * Every other code (the "did not execute" group: `AP_PARAMETER_CHECK`,
///   `AP_STATE_CHECK`, `AP_CONVERSATION_TYPE_MIXED`, `AP_INVALID_VERB*`,
///   `AP_STACK_TOO_SMALL`, `AP_*_BUSY`, `AP_THREAD_BLOCKING`,
///   `AP_UNEXPECTED_DOS_ERROR`, `AP_UNSUCCESSFUL`; then `AP_CANCELLED` and
///   any code not named above): no change, except that a posting receive
///   whose outstanding PENDING_POST is still in force goes back to
///   `issued_in`. For `AP_CANCELLED` the documentation says "no change"; the
///   cancelling verb (DEALLOCATE(abend) → RESET, SEND_ERROR → SEND) decides,
///   and the result is the same in either completion order.
pub fn after_error(
    state: ConvState,
    step: Step,
    primary: PrimaryRc,
    issued_in: ConvState,
) -> ConvState {
    if state == ConvState::Reset {
        return state;
    }
    match primary {
        PrimaryRc::ALLOCATION_ERROR
        | PrimaryRc::CONV_FAILURE_RETRY
        | PrimaryRc::CONV_FAILURE_NO_RETRY
        | PrimaryRc::DEALLOC_ABEND
        | PrimaryRc::DEALLOC_ABEND_PROG
        | PrimaryRc::DEALLOC_ABEND_SVC
        | PrimaryRc::DEALLOC_ABEND_TIMER
        | PrimaryRc::DEALLOC_NORMAL
        | PrimaryRc::COMM_SUBSYSTEM_ABENDED
        | PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED => ConvState::Reset,
        PrimaryRc::PROG_ERROR_NO_TRUNC
        | PrimaryRc::PROG_ERROR_TRUNC
        | PrimaryRc::PROG_ERROR_PURGING
        | PrimaryRc::SVC_ERROR_NO_TRUNC
        | PrimaryRc::SVC_ERROR_TRUNC
        | PrimaryRc::SVC_ERROR_PURGING
        | PrimaryRc::BACKED_OUT => ConvState::Receive,
        _ if state == ConvState::PendingPost
            && while_outstanding(issued_in, step, Entry::Async) == ConvState::PendingPost =>
        {
            issued_in
        }
        _ => state,
    }
}

/// The kind of verb holding a conversation's verb slot while pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pending {
    /// A RECEIVE_AND_POST, or a RECEIVE_AND_WAIT on an async entry point.
    ReceivePost,
    /// A POST_ON_RECEIPT.
    PostOnReceipt,
}

/// Whether a verb may be issued on a conversation whose verb slot a
/// [`Pending`] verb holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Concurrent {
    /// Not allowed: `AP_CONV_BUSY`.
    Busy,
    /// Allowed (the state check still applies).
    Allowed {
        /// The verb ends the pending one with `AP_CANCELLED`.
        cancels_pending: bool,
    },
}

/// While a posting receive or POST_ON_RECEIPT is outstanding, may `step` be
/// issued on the same conversation (`docs/api.md#one-verb-at-a-time` rules 4 and 5)?
///
/// * During a receive-post: DEALLOCATE(abend) and SEND_ERROR (both cancel
///   it), GET_ATTRIBUTES, GET_TYPE, REQUEST_TO_SEND, TEST_RTS.
/// * During POST_ON_RECEIPT: DEALLOCATE of any type, RECEIVE_AND_WAIT,
///   RECEIVE_IMMEDIATE and SEND_ERROR (all cancel it), GET_ATTRIBUTES,
///   GET_TYPE, REQUEST_TO_SEND, TEST_RTS. (The state check then rejects a
///   non-abend DEALLOCATE, since POST_ON_RECEIPT is issued in RECEIVE.)
/// * GET_STATE is allowed during both (inferred): it only reads the state,
///   and without it PENDING_POST could never be observed.
/// * TP-level verbs ([`Step::TpVerb`]) do not use the conversation's verb
///   slot, so they are never busy here; TP_ENDED's cancelling of every
///   pending verb of its TP belongs to the TP layer.
/// * Everything else is busy, including TEST_RTS_AND_POST (not listed).
///
/// The rules are the same for basic and mapped conversations: the one
/// difference the documentation names (which abend `dealloc_type` is valid)
/// is a parameter check, and [`DeallocKind::Abend`] covers all of them.
pub fn during_pending(pending: Pending, step: Step) -> Concurrent {
    let allowed = |cancels_pending| Concurrent::Allowed { cancels_pending };
    match (pending, step) {
        (_, Step::GetAttributes | Step::GetType | Step::GetState | Step::TpVerb) => allowed(false),
        (_, Step::RequestToSend | Step::TestRts) => allowed(false),
        (_, Step::SendError | Step::Deallocate(DeallocKind::Abend)) => allowed(true),
        (
            Pending::PostOnReceipt,
            Step::Deallocate(_) | Step::ReceiveAndWait | Step::ReceiveImmediate,
        ) => allowed(true),
        _ => Concurrent::Busy,
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
