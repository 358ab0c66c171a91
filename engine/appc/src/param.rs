//! Parameter checks: what a verb's own fields must satisfy before the
//! engine looks at any TP or conversation (`docs/api.md#verbs`, `docs/api.md#return-codes`, `docs/api.md#return-codes`).
//!
//! A verb that fails here is answered with `AP_PARAMETER_CHECK` (or
//! `AP_INVALID_VERB` for an unknown opcode) and the documented secondary
//! code; it did not execute, so no state anywhere changes. Checks that need
//! the conversation (basic and mapped mixed, logical-record lengths,
//! CONFIRM at sync level NONE) are the conversation's.

use super::rc::{PrimaryRc, SecondaryRc};
use super::verbs::{self, values, Body, Verb, MAX_DATA, MAX_LOG_DATA, MAX_PIP};

/// A verb that cannot run: its return codes.
pub(crate) type Refusal = (PrimaryRc, SecondaryRc);

fn parameter(secondary: SecondaryRc) -> Refusal {
    (PrimaryRc::PARAMETER_CHECK, secondary)
}

/// Fails with `secondary` unless `ok`.
fn require(ok: bool, secondary: SecondaryRc) -> Result<(), Refusal> {
    if ok {
        Ok(())
    } else {
        Err(parameter(secondary))
    }
}

/// The mode name LU 6.2 reserves for its own service transactions.
const SNASVCMG: [u8; 8] = *b"SNASVCMG";

fn blank(name: &[u8]) -> bool {
    name.iter().all(|&b| b == b' ' || b == 0)
}

/// Checks the fields of `verb` that need no TP or conversation. (Inlined
/// into the entry points, whose own match on the verb it shares.)
#[inline(always)]
pub(crate) fn check(verb: &Verb) -> Result<(), Refusal> {
    let mapped = verb.is_mapped();
    // Only bit 0 (basic / mapped) and the extended-VCB flag are defined.
    let opext_ok = verb.opext & !(values::MAPPED_CONVERSATION | values::EXTD_VCB) == 0;
    match &verb.body {
        Body::Unknown { .. } => Err((PrimaryRc::INVALID_VERB, SecondaryRc(0))),
        Body::TpStarted(_) => Ok(()),
        Body::ReceiveAllocate(v) => require(!blank(&v.tp_name), SecondaryRc::UNDEFINED_TP_NAME),
        Body::TpEnded(v) => require(
            matches!(v.tp_type, values::SOFT | values::HARD),
            SecondaryRc::BAD_TYPE,
        ),
        // ALLOCATE's opext picks basic or mapped as a conversation verb's does.
        Body::Allocate(_) | Body::SendConversation(_) if !opext_ok => {
            Err(parameter(SecondaryRc::BAD_CONV_TYPE))
        }
        Body::Allocate(v) => allocate(v),
        Body::SendConversation(v) => {
            allocate(&v.allocate)?;
            require(v.data.len() <= MAX_DATA, SecondaryRc::INVALID_DATA_SEGMENT)
        }
        _ if !opext_ok => Err(parameter(SecondaryRc::BAD_CONV_TYPE)),
        Body::SendData(v) => {
            require(v.data.len() <= MAX_DATA, SecondaryRc::INVALID_DATA_SEGMENT)?;
            require(
                v.send_type <= values::SEND_DATA_DEALLOC_ABEND,
                SecondaryRc::SEND_DATA_INVALID_TYPE,
            )
        }
        Body::ReceiveAndWait(v) => fill(mapped, v.fill, SecondaryRc::RCV_AND_WAIT_BAD_FILL),
        Body::ReceiveImmediate(v) => fill(mapped, v.fill, SecondaryRc::RCV_IMMD_BAD_FILL),
        Body::ReceiveAndPost(v) => fill(mapped, v.receive.fill, SecondaryRc::RCV_AND_POST_BAD_FILL),
        Body::PostOnReceipt(v) => fill(mapped, v.fill, SecondaryRc::POST_ON_RECEIPT_BAD_FILL),
        Body::PrepareToReceive(v) => require(
            matches!(v.ptr_type, values::SYNC_LEVEL | values::FLUSH)
                && matches!(v.locks, values::LOCKS_SHORT | values::LOCKS_LONG),
            SecondaryRc::P_TO_R_INVALID_TYPE,
        ),
        Body::SendError(v) => {
            require(
                mapped || matches!(v.err_type, values::ERR_PROG | values::ERR_SVC),
                SecondaryRc::SEND_ERROR_BAD_TYPE,
            )?;
            require(
                matches!(v.err_dir, values::RCV_DIR_ERROR | values::SEND_DIR_ERROR),
                SecondaryRc::BAD_ERROR_DIRECTION,
            )?;
            require(
                v.log_data.len() <= MAX_LOG_DATA && (!mapped || v.log_data.is_empty()),
                SecondaryRc::SEND_ERROR_LOG_LL_WRONG,
            )
        }
        Body::Deallocate(v) => {
            let abend_types: &[u8] = if mapped {
                &[values::ABEND]
            } else {
                &[values::ABEND_PROG, values::ABEND_SVC, values::ABEND_TIMER]
            };
            require(
                matches!(v.dealloc_type, values::SYNC_LEVEL | values::FLUSH)
                    || abend_types.contains(&v.dealloc_type),
                SecondaryRc::DEALLOC_BAD_TYPE,
            )?;
            // Basic log data goes with an abend only, and must fit a GDS
            // variable; mapped DEALLOCATE has no log data at all.
            require(
                v.log_data.is_empty()
                    || (!mapped
                        && abend_types.contains(&v.dealloc_type)
                        && v.log_data.len() <= MAX_LOG_DATA),
                SecondaryRc::DEALLOC_LOG_LL_WRONG,
            )
        }
        Body::Confirm(_)
        | Body::Confirmed(_)
        | Body::Flush(_)
        | Body::RequestToSend(_)
        | Body::TestRts(_)
        | Body::TestRtsAndPost(_)
        | Body::GetAttributes(_)
        | Body::GetType(_)
        | Body::GetState(_) => Ok(()),
    }
}

/// A basic receive's `fill`; mapped receives have none.
fn fill(mapped: bool, fill: u8, secondary: SecondaryRc) -> Result<(), Refusal> {
    require(
        mapped || matches!(fill, values::FILL_BUFFER | values::FILL_LL),
        secondary,
    )
}

fn allocate(v: &verbs::Allocate) -> Result<(), Refusal> {
    require(
        matches!(
            v.conv_type,
            values::BASIC_CONVERSATION | values::MAPPED_CONVERSATION
        ),
        SecondaryRc::BAD_CONV_TYPE,
    )?;
    // Sync point (AP_SYNCPT) needs a transaction manager this engine does
    // not have.
    require(
        matches!(v.sync_level, values::SYNC_NONE | values::SYNC_CONFIRM),
        SecondaryRc::BAD_SYNC_LEVEL,
    )?;
    require(
        v.rtn_ctl <= values::WHEN_CONV_GROUP_ALLOCATED,
        SecondaryRc::BAD_RETURN_CONTROL,
    )?;
    require(
        v.security <= values::SECURITY_STRONG,
        SecondaryRc::BAD_SECURITY,
    )?;
    require(v.pip.len() <= MAX_PIP, SecondaryRc::PIP_LEN_INCORRECT)?;
    require(v.mode_name != SNASVCMG, SecondaryRc::NO_USE_OF_SNASVCMG)?;
    require(!blank(&v.tp_name), SecondaryRc::UNDEFINED_TP_NAME)
}
