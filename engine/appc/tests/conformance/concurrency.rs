//! The one-verb-at-a-time rules: a conversation is busy while a blocking
//! verb waits, a pending RECEIVE_AND_POST allows its exceptions and is
//! cancelled by SEND_ERROR or DEALLOCATE(abend), and a receive cancels
//! POST_ON_RECEIPT.

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{self, values, Body};
use appc_engine::Event;

// ---------------------------------------------------------------------------
// Concurrency rules (`docs/api.md#one-verb-at-a-time`)
// ---------------------------------------------------------------------------

/// Runs `body` as a blocking call of `tp` and, once the call is blocked
/// (in its hook), runs `meanwhile` once on the blocked thread, then
/// signals `ready` so the partner may let the call finish.
fn blocked_call(
    tp: &Tp<'_>,
    body: Body,
    ready: std::sync::mpsc::Sender<()>,
    meanwhile: impl FnOnce(),
) -> Res {
    let mut meanwhile = Some(meanwhile);
    let verb = tp
        .app
        .call_with_hook(tp.verb(body), |_| {
            if let Some(check) = meanwhile.take() {
                check();
                ready.send(()).unwrap();
            }
            true
        })
        .unwrap();
    Res::of(&verb)
}

/// One verb at a time per conversation: while a blocking RECEIVE_AND_WAIT
/// waits, every other verb on its conversation gets AP_CONV_BUSY (another
/// conversation is not affected), and a blocking call from inside the
/// blocking hook gets AP_THREAD_BLOCKING.
#[test]
fn conv_busy_while_a_blocking_receive_waits() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let (other_req, other_resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let (ready, go) = std::sync::mpsc::channel();
    duet(
        move || {
            go.recv().unwrap();
            req.send_data(b"go", values::SEND_DATA_FLUSH).ok();
        },
        || {
            let receive = Body::ReceiveAndWait(verbs::Receive {
                conv: resp.conv,
                max_len: 10,
                fill: FILL_LL,
                ..Default::default()
            });
            blocked_call(&resp, receive, ready, || {
                let ev = Event::new(false);
                for body in [
                    Body::TestRts(resp.conv),
                    Body::RequestToSend(resp.conv),
                    Body::GetType(verbs::GetType {
                        conv: resp.conv,
                        conv_type: 0,
                    }),
                    Body::SendError(verbs::SendError {
                        conv: resp.conv,
                        ..Default::default()
                    }),
                    Body::Deallocate(verbs::Deallocate {
                        conv: resp.conv,
                        dealloc_type: ABEND,
                        log_data: vec![],
                    }),
                ] {
                    let h = resp.submit(body, &ev);
                    resp.wait(&ev, h).rc2(P::CONV_BUSY, S(0));
                }
                // Another conversation is free.
                let h = other_resp.submit(Body::TestRts(other_resp.conv), &ev);
                other_resp.wait(&ev, h).rc(P::UNSUCCESSFUL);
                // A blocking call inside the blocking hook.
                assert!(resp.app.is_blocking());
                other_resp.test_rts().rc(P::THREAD_BLOCKING);
            })
            .ok()
            .data(b"go");
        },
    );
    other_req.test_rts().rc(P::UNSUCCESSFUL);
}

/// While a CONFIRM waits for its reply, the conversation is busy.
#[test]
fn conv_busy_while_confirm_waits() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_CONFIRM);
    let (ready, go) = std::sync::mpsc::channel();
    duet(
        || {
            let confirm = Body::Confirm(verbs::Confirm {
                conv: req.conv,
                rts_rcvd: false,
            });
            blocked_call(&req, confirm, ready, || {
                let ev = Event::new(false);
                let h = req.submit(
                    Body::SendData(verbs::SendData {
                        conv: req.conv,
                        data: ll(b"x"),
                        ..Default::default()
                    }),
                    &ev,
                );
                req.wait(&ev, h).rc(P::CONV_BUSY);
                let h = req.submit(Body::Flush(req.conv), &ev);
                req.wait(&ev, h).rc(P::CONV_BUSY);
            })
            .ok();
            assert_eq!(req.state(), ConvState::Send);
        },
        move || {
            go.recv().unwrap();
            resp.receive_and_wait(10)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            resp.confirmed().ok();
        },
    );
}

/// While a RECEIVE_AND_POST is outstanding: GET_ATTRIBUTES, GET_TYPE,
/// GET_STATE, REQUEST_TO_SEND and TEST_RTS are allowed; everything else
/// is busy; SEND_ERROR is allowed and ends the post with AP_CANCELLED.
#[test]
fn receive_and_post_allows_its_exceptions_and_send_error_cancels_it() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_CONFIRM);
    let sema = Event::new(false);
    let initial = resp.receive_and_post(100, &sema).ok();
    resp.call(Body::GetAttributes(verbs::GetAttributes {
        conv: resp.conv,
        ..Default::default()
    }))
    .ok();
    resp.call(Body::GetType(verbs::GetType {
        conv: resp.conv,
        conv_type: 0,
    }))
    .ok();
    assert_eq!(resp.state(), ConvState::PendingPost);
    resp.request_to_send().ok();
    resp.test_rts().rc(P::UNSUCCESSFUL);
    let other = Event::new(false);
    for res in [
        resp.receive_immediate(10),
        resp.receive_and_wait(10),
        resp.receive_and_post(10, &other),
        resp.post_on_receipt(1, &other),
        resp.test_rts_and_post(&other),
        resp.confirmed(),
        resp.deallocate(FLUSH),
        resp.send_data(b"x", values::SEND_DATA_NONE),
    ] {
        res.rc2(P::CONV_BUSY, S(0));
    }
    assert!(!sema.is_set());
    resp.send_error_prog().ok();
    resp.post_result(&sema, &initial).rc(P::CANCELLED);
    assert_eq!(resp.state(), ConvState::Send);
    req.send_data(b"y", values::SEND_DATA_NONE)
        .rc(P::PROG_ERROR_PURGING)
        .rts(true);
}

/// DEALLOCATE(abend) during a RECEIVE_AND_POST ends the post with
/// AP_CANCELLED and the conversation.
#[test]
fn deallocate_abend_cancels_a_pending_receive_and_post() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    let sema = Event::new(false);
    let initial = resp.receive_and_post(100, &sema).ok();
    resp.deallocate(ABEND_PROG).ok();
    resp.post_result(&sema, &initial).rc(P::CANCELLED);
    resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
    req.flush().rc(P::DEALLOC_ABEND_PROG);
}

/// A RECEIVE_AND_WAIT on an async entry point behaves like
/// RECEIVE_AND_POST: PENDING_POST, with the same exceptions.
#[test]
fn async_receive_and_wait_is_a_posting_receive() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let ev = Event::new(false);
    let h = resp.submit(
        Body::ReceiveAndWait(verbs::Receive {
            conv: resp.conv,
            max_len: 10,
            ..Default::default()
        }),
        &ev,
    );
    assert_eq!(resp.state(), ConvState::PendingPost);
    resp.test_rts().rc(P::UNSUCCESSFUL);
    resp.confirmed().rc(P::CONV_BUSY);
    req.send_data(b"a", values::SEND_DATA_FLUSH).ok();
    resp.wait(&ev, h).ok().data(b"a");
    assert_eq!(resp.state(), ConvState::Receive);
}

/// POST_ON_RECEIPT is ended (AP_CANCELLED) by RECEIVE_AND_WAIT,
/// RECEIVE_IMMEDIATE, SEND_ERROR and DEALLOCATE(abend); a DEALLOCATE the
/// state check refuses leaves it pending; other verbs are busy.
#[test]
fn post_on_receipt_is_cancelled_by_a_receive() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    let sema = Event::new(false);
    let other = Event::new(false);

    // RECEIVE_AND_WAIT: the data is below the threshold, so the post is
    // still pending; the receive takes the data and cancels the post.
    let initial = resp.post_on_receipt(100, &sema).ok();
    req.send_data(&ll(b"abc"), values::SEND_DATA_FLUSH).ok();
    resp.confirmed().rc(P::CONV_BUSY);
    resp.receive_and_post(10, &other).rc(P::CONV_BUSY);
    resp.deallocate(FLUSH)
        .rc2(P::STATE_CHECK, S::DEALLOC_FLUSH_BAD_STATE);
    assert!(!sema.is_set());
    resp.receive_and_wait(100).ok().data(&ll(b"abc"));
    resp.post_result(&sema, &initial).rc(P::CANCELLED);

    // RECEIVE_IMMEDIATE.
    let initial = resp.post_on_receipt(100, &sema).ok();
    resp.receive_immediate(100).rc(P::UNSUCCESSFUL);
    resp.post_result(&sema, &initial).rc(P::CANCELLED);

    // SEND_ERROR.
    let initial = resp.post_on_receipt(100, &sema).ok();
    resp.send_error_prog().ok();
    resp.post_result(&sema, &initial).rc(P::CANCELLED);
    resp.prepare_to_receive(FLUSH).ok();
    req.flush().rc(P::PROG_ERROR_PURGING);
    req.receive_and_wait(10).ok().what(W::SEND);

    // DEALLOCATE(abend).
    let initial = resp.post_on_receipt(100, &sema).ok();
    resp.deallocate(ABEND_TIMER).ok();
    resp.post_result(&sema, &initial).rc(P::CANCELLED);
    req.flush().rc(P::DEALLOC_ABEND_TIMER);
}
