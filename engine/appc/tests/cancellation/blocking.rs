//! `WinAPPCCancelBlockingCall` from a blocking hook, and
//! `WinAPPCIsBlocking`; a partner's outstanding post when the conversation
//! fails.

use crate::support::*;
use crate::{connect, gone, only_completion, receive_body, receive_data, submit_receive};
use appc::rc::{PrimaryRc as P, WhatRcvd as W};
use appc::verbs::{self, values, Body};
use appc::Appc;
use appc_engine::{Event, Target, WAPPCALREADY, WAPPCCANCEL, WAPPCINVALID};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

// ---------------------------------------------------------------------------
// WinAPPCCancelBlockingCall and WinAPPCIsBlocking
// ---------------------------------------------------------------------------

/// From the hook of a blocking RECEIVE_AND_WAIT: `is_blocking` is true,
/// `cancel_blocking_call` returns 0 (and a second one `WAPPCINVALID`), the
/// call returns `WAPPCCANCEL` in `primary_rc` (the project's choice of
/// field: the documentation names the code, not where it goes), and the
/// partner sees the
/// closed session. Outside a call, `is_blocking` is false and
/// `cancel_blocking_call` is `WAPPCINVALID`.
#[test]
fn cancel_blocking_call_from_the_hook() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    assert!(!b.is_blocking());
    assert_eq!(b.cancel_blocking_call(), WAPPCINVALID);
    req.send_data(b"buffered", values::SEND_DATA_NONE).ok();

    let mut hooks = 0;
    let mut answers = Vec::new();
    let verb = b
        .call_with_hook(
            resp.verb(Body::ReceiveAndWait(receive_body(resp.conv, 100))),
            |handle| {
                hooks += 1;
                assert!(b.is_blocking());
                // Not the other application's call.
                assert!(!a.is_blocking());
                if hooks == 3 {
                    answers.push(b.cancel_blocking_call());
                    answers.push(b.cancel_blocking_call());
                    answers.push(b.cancel(handle).code());
                }
                assert!(hooks <= 3, "the call went on after its cancel");
                true
            },
        )
        .unwrap();
    assert_eq!(answers, [0, WAPPCINVALID, WAPPCALREADY]);
    assert_eq!(verb.primary_rc, P(WAPPCCANCEL as u16));
    assert!(receive_data(&verb).is_empty());
    assert!(!b.is_blocking());
    assert_eq!(b.cancel_blocking_call(), WAPPCINVALID);

    req.flush().rc(P::CONV_FAILURE_RETRY);
    gone(resp.get_state());
    // The thread can block again at once (no stale per-thread state).
    let (req2, resp2) = connect(&a, &b, MAPPED, SYNC_NONE);
    req2.send_data(b"next", values::SEND_DATA_FLUSH).ok();
    resp2.receive_and_wait(100).ok().data(b"next");
    assert_eq!(b.stats().live_tasks, 0);
}

/// A blocking CONFIRM cancelled from its hook does not wait for the
/// confirmation: the partner, which received the confirmation request on
/// another thread, gets `AP_CONV_FAILURE_RETRY` on its CONFIRMED.
#[test]
fn cancel_of_blocking_confirm_does_not_wait_for_confirmation() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_CONFIRM);
    req.prepare_to_receive(FLUSH).ok();
    resp.receive_and_wait(100).ok().what(W::SEND);
    let asked = AtomicBool::new(false);
    let (partner, confirm) = thread::scope(|s| {
        let partner = s.spawn(|| {
            req.receive_and_wait(100)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            asked.store(true, Ordering::Release);
            while resp_blocked(&b) {
                thread::yield_now();
            }
            req.confirmed()
        });
        let confirm = b
            .call_with_hook(
                resp.verb(Body::Confirm(verbs::Confirm {
                    conv: resp.conv,
                    rts_rcvd: false,
                })),
                |_| {
                    if asked.load(Ordering::Acquire) {
                        assert_eq!(b.cancel_blocking_call(), 0);
                    }
                    true
                },
            )
            .unwrap();
        (partner.join().unwrap(), confirm)
    });
    assert_eq!(confirm.primary_rc, P(WAPPCCANCEL as u16));
    partner.rc(P::CONV_FAILURE_RETRY);
    gone(req.get_state());
    gone(resp.get_state());
}

/// Whether `app` still has a live task (the blocking CONFIRM).
fn resp_blocked(app: &Appc) -> bool {
    app.stats().live_tasks > 0
}

/// The partner's outstanding TEST_RTS_AND_POST post completes with the
/// conversation failure when the other end's verb is cancelled (the
/// session is closed under it); its next verb reports it too.
#[test]
fn partners_outstanding_post_completes_with_conversation_failure() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let (tx, mut rx) = a.queue();
    let receive = submit_receive(&req, &Target::Queue(tx));
    resp.receive_and_wait(100).ok().what(W::SEND);
    let sema = Event::new(true);
    let post = resp.test_rts_and_post(&sema).ok().post.unwrap();
    assert_eq!(a.cancel(receive).code(), 0);
    assert_eq!(only_completion(&mut rx).1.primary_rc, P::CANCELLED);
    assert!(sema.is_set(), "the partner's post completed");
    assert_eq!(b.collect(post).unwrap().primary_rc, P::CONV_FAILURE_RETRY);
    resp.send_data(b"x", values::SEND_DATA_FLUSH)
        .rc(P::CONV_FAILURE_RETRY);
    gone(resp.get_state());
}
