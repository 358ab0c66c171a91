//! The conversation state machine's unit tests, by topic: the verb × state
//! matrix checked cell by cell against `docs/api.md#verb-by-state`
//! (`matrix`), the mapping of verb bodies to steps (`steps`), and the rules
//! outside the matrix: receive completions, non-OK return codes and what a
//! pending post allows (`rules`). The list of every step, which the matrix
//! and the rules both walk, is here.

mod matrix;
mod rules;
mod steps;

use crate::states::*;

/// Every step, listed by hand (the match below keeps the list exhaustive).
fn all_steps() -> Vec<Step> {
    let steps = vec![
        Step::Allocate,
        Step::SendConversation,
        Step::SendData(SendKind::Plain),
        Step::SendData(SendKind::Flush),
        Step::SendData(SendKind::Confirm),
        Step::SendData(SendKind::PrepareToReceive),
        Step::SendData(SendKind::Deallocate),
        Step::SendData(SendKind::DeallocateAbend),
        Step::Flush,
        Step::Confirm,
        Step::PrepareToReceive,
        Step::Deallocate(DeallocKind::Flush),
        Step::Deallocate(DeallocKind::SyncLevel),
        Step::Deallocate(DeallocKind::Abend),
        Step::Confirmed,
        Step::ReceiveAndWait,
        Step::ReceiveImmediate,
        Step::ReceiveAndPost,
        Step::PostOnReceipt,
        Step::RequestToSend,
        Step::SendError,
        Step::TestRts,
        Step::TestRtsAndPost,
        Step::GetAttributes,
        Step::GetType,
        Step::GetState,
        Step::TpVerb,
    ];
    // A new variant breaks this match, and thereby reminds to list it.
    for step in &steps {
        match step {
            Step::Allocate
            | Step::SendConversation
            | Step::SendData(
                SendKind::Plain
                | SendKind::Flush
                | SendKind::Confirm
                | SendKind::PrepareToReceive
                | SendKind::Deallocate
                | SendKind::DeallocateAbend,
            )
            | Step::Flush
            | Step::Confirm
            | Step::PrepareToReceive
            | Step::Deallocate(DeallocKind::Flush | DeallocKind::SyncLevel | DeallocKind::Abend)
            | Step::Confirmed
            | Step::ReceiveAndWait
            | Step::ReceiveImmediate
            | Step::ReceiveAndPost
            | Step::PostOnReceipt
            | Step::RequestToSend
            | Step::SendError
            | Step::TestRts
            | Step::TestRtsAndPost
            | Step::GetAttributes
            | Step::GetType
            | Step::GetState
            | Step::TpVerb => {}
        }
    }
    steps
}
