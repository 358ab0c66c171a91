//! The rules outside the matrix: the state after a receive completes (by
//! `what_rcvd`), after a non-OK primary code, when a post is cancelled, and
//! which verbs may be issued while a post is pending.

use crate::states::*;
use ConvState::*;

use super::all_steps;

#[test]
fn receive_completion_by_what_rcvd() {
    let expected = [
        (WhatRcvd::NONE, Receive),
        (WhatRcvd::DATA, Receive),
        (WhatRcvd::DATA_COMPLETE, Receive),
        (WhatRcvd::NOT_DATA, Receive),
        (WhatRcvd::DATA_INCOMPLETE, Receive),
        (WhatRcvd::USER_CONTROL_DATA_COMPLETE, Receive),
        (WhatRcvd::USER_CONTROL_DATA_INCOMPLETE, Receive),
        (WhatRcvd::PS_HEADER_COMPLETE, Receive),
        (WhatRcvd::PS_HEADER_INCOMPLETE, Receive),
        (WhatRcvd::SEND, Send),
        (WhatRcvd::DATA_SEND, SendPending),
        (WhatRcvd::DATA_COMPLETE_SEND, SendPending),
        (WhatRcvd::CONFIRM_WHAT_RECEIVED, Confirm),
        (WhatRcvd::DATA_CONFIRM, Confirm),
        (WhatRcvd::DATA_COMPLETE_CONFIRM, Confirm),
        (WhatRcvd::CONFIRM_SEND, ConfirmSend),
        (WhatRcvd::DATA_CONFIRM_SEND, ConfirmSend),
        (WhatRcvd::DATA_COMPLETE_CONFIRM_SEND, ConfirmSend),
        (WhatRcvd::CONFIRM_DEALLOCATE, ConfirmDeallocate),
        (WhatRcvd::DATA_CONFIRM_DEALLOCATE, ConfirmDeallocate),
        (WhatRcvd::DATA_COMPLETE_CONFIRM_DEALL, ConfirmDeallocate),
    ];
    for (what, state) in expected {
        assert!(what.name().is_some(), "{what:?} is a documented value");
        assert_eq!(after_receive(what), state, "{what:?}");
    }
    // Undocumented values: the status part decides, unknown status is
    // RECEIVE.
    assert_eq!(after_receive(WhatRcvd(0x0104)), SendPending);
    assert_eq!(after_receive(WhatRcvd(0x0500)), Receive);
    assert_eq!(after_receive(WhatRcvd(0xFFFF)), Receive);
    for value in 0..=u16::MAX {
        let _ = after_receive(WhatRcvd(value));
    }
}

#[test]
fn non_ok_primary_codes() {
    let reset_group = [
        PrimaryRc::ALLOCATION_ERROR,
        PrimaryRc::CONV_FAILURE_RETRY,
        PrimaryRc::CONV_FAILURE_NO_RETRY,
        PrimaryRc::DEALLOC_ABEND,
        PrimaryRc::DEALLOC_ABEND_PROG,
        PrimaryRc::DEALLOC_ABEND_SVC,
        PrimaryRc::DEALLOC_ABEND_TIMER,
        PrimaryRc::DEALLOC_NORMAL,
        PrimaryRc::COMM_SUBSYSTEM_ABENDED,
        PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED,
    ];
    let receive_group = [
        PrimaryRc::PROG_ERROR_NO_TRUNC,
        PrimaryRc::PROG_ERROR_TRUNC,
        PrimaryRc::PROG_ERROR_PURGING,
        PrimaryRc::SVC_ERROR_NO_TRUNC,
        PrimaryRc::SVC_ERROR_TRUNC,
        PrimaryRc::SVC_ERROR_PURGING,
        PrimaryRc::BACKED_OUT,
    ];
    let unchanged_group = [
        PrimaryRc::PARAMETER_CHECK,
        PrimaryRc::STATE_CHECK,
        PrimaryRc::CONVERSATION_TYPE_MIXED,
        PrimaryRc::INVALID_VERB,
        PrimaryRc::INVALID_VERB_SEGMENT,
        PrimaryRc::STACK_TOO_SMALL,
        PrimaryRc::TP_BUSY,
        PrimaryRc::CONV_BUSY,
        PrimaryRc::THREAD_BLOCKING,
        PrimaryRc::UNEXPECTED_DOS_ERROR,
        PrimaryRc::UNSUCCESSFUL,
        PrimaryRc::CANCELLED,
        // Not named by `docs/api.md#return-codes`: no change.
        PrimaryRc::SECURITY_REQUESTED_NOT_SUPPORTED,
        PrimaryRc::CANT_ENLIST_TX,
        PrimaryRc(0x0004),
        PrimaryRc(0xABCD),
    ];
    let live = [
        Send,
        SendPending,
        Receive,
        Confirm,
        ConfirmSend,
        ConfirmDeallocate,
        PendingPost,
        PendDeall,
        EndConv,
    ];
    for step in all_steps() {
        for state in live {
            for rc in reset_group {
                assert_eq!(after_error(state, step, rc, state), Reset, "{rc:?}");
            }
            for rc in receive_group {
                assert_eq!(after_error(state, step, rc, state), Receive, "{rc:?}");
            }
            for rc in unchanged_group {
                assert_eq!(after_error(state, step, rc, state), state, "{rc:?}");
            }
        }
        // RESET is final.
        for rc in reset_group
            .iter()
            .chain(&receive_group)
            .chain(&unchanged_group)
        {
            for issued_in in ConvState::ALL {
                assert_eq!(after_error(Reset, step, *rc, issued_in), Reset, "{rc:?}");
            }
        }
    }
    // A posting receive still in PENDING_POST goes back to where it was
    // issued when cancelled or not executed...
    for step in [Step::ReceiveAndPost, Step::ReceiveAndWait] {
        for issued_in in [Send, SendPending, Receive] {
            for rc in unchanged_group {
                assert_eq!(after_error(PendingPost, step, rc, issued_in), issued_in);
            }
            assert_eq!(
                after_error(PendingPost, step, PrimaryRc::PROG_ERROR_PURGING, issued_in),
                Receive
            );
            assert_eq!(
                after_error(PendingPost, step, PrimaryRc::DEALLOC_NORMAL, issued_in),
                Reset
            );
        }
    }
    // ...but a verb issued in PENDING_POST leaves it, and a state
    // another verb set meanwhile stands.
    let cancelled = PrimaryRc::CANCELLED;
    assert_eq!(
        after_error(PendingPost, Step::TestRts, cancelled, PendingPost),
        PendingPost
    );
    assert_eq!(
        after_error(PendingPost, Step::PostOnReceipt, cancelled, Receive),
        PendingPost
    );
    assert_eq!(
        after_error(Send, Step::ReceiveAndPost, cancelled, Receive),
        Send
    );
}

/// SEND_ERROR / DEALLOCATE(abend) cancelling a post: the same final
/// state whichever completion is processed first.
#[test]
fn cancelling_a_post_is_order_independent() {
    for issued_in in [Send, SendPending, Receive] {
        for (canceller, end) in [
            (Step::SendError, Send),
            (Step::Deallocate(DeallocKind::Abend), Reset),
        ] {
            assert_eq!(
                during_pending(Pending::ReceivePost, canceller),
                Concurrent::Allowed {
                    cancels_pending: true
                }
            );
            let pp = while_outstanding(issued_in, Step::ReceiveAndPost, Entry::Async);
            assert_eq!(pp, PendingPost);
            assert_eq!(
                check(pp, canceller, Entry::Async, values::SYNC_NONE),
                Ok(())
            );
            // The canceller first, then the cancelled receive.
            let first = after_ok(pp, canceller);
            let cancelled = PrimaryRc::CANCELLED;
            assert_eq!(
                after_error(first, Step::ReceiveAndPost, cancelled, issued_in),
                end
            );
            // The cancelled receive first, then the canceller.
            let back = after_error(pp, Step::ReceiveAndPost, cancelled, issued_in);
            assert_eq!(back, issued_in);
            assert_eq!(after_ok(back, canceller), end);
        }
    }
}

#[test]
fn verbs_allowed_while_pending() {
    let busy = Concurrent::Busy;
    let allowed = Concurrent::Allowed {
        cancels_pending: false,
    };
    let cancels = Concurrent::Allowed {
        cancels_pending: true,
    };
    // (step, during a receive-post, during POST_ON_RECEIPT)
    let expected = [
        (Step::Allocate, busy, busy),
        (Step::SendConversation, busy, busy),
        (Step::SendData(SendKind::Plain), busy, busy),
        (Step::SendData(SendKind::Flush), busy, busy),
        (Step::SendData(SendKind::Confirm), busy, busy),
        (Step::SendData(SendKind::PrepareToReceive), busy, busy),
        (Step::SendData(SendKind::Deallocate), busy, busy),
        (Step::SendData(SendKind::DeallocateAbend), busy, busy),
        (Step::Flush, busy, busy),
        (Step::Confirm, busy, busy),
        (Step::PrepareToReceive, busy, busy),
        (Step::Deallocate(DeallocKind::Flush), busy, cancels),
        (Step::Deallocate(DeallocKind::SyncLevel), busy, cancels),
        (Step::Deallocate(DeallocKind::Abend), cancels, cancels),
        (Step::Confirmed, busy, busy),
        (Step::ReceiveAndWait, busy, cancels),
        (Step::ReceiveImmediate, busy, cancels),
        (Step::ReceiveAndPost, busy, busy),
        (Step::PostOnReceipt, busy, busy),
        (Step::RequestToSend, allowed, allowed),
        (Step::SendError, cancels, cancels),
        (Step::TestRts, allowed, allowed),
        (Step::TestRtsAndPost, busy, busy),
        (Step::GetAttributes, allowed, allowed),
        (Step::GetType, allowed, allowed),
        (Step::GetState, allowed, allowed),
        (Step::TpVerb, allowed, allowed),
    ];
    assert_eq!(expected.len(), all_steps().len());
    for (step, receive_post, post_on_receipt) in expected {
        assert_eq!(
            during_pending(Pending::ReceivePost, step),
            receive_post,
            "{step:?}"
        );
        assert_eq!(
            during_pending(Pending::PostOnReceipt, step),
            post_on_receipt,
            "{step:?}"
        );
    }
    // Everything allowed during a receive-post also passes the state
    // check in PENDING_POST.
    for step in all_steps() {
        if during_pending(Pending::ReceivePost, step) != busy {
            assert_eq!(
                check(PendingPost, step, Entry::Async, values::SYNC_NONE),
                Ok(()),
                "{step:?}"
            );
        }
    }
}
