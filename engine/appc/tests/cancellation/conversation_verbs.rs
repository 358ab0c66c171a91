//! `WinAPPCCancelAsyncRequest` on conversation verbs: the verb is purged,
//! the session closed without a flush or a wait for confirmation, the
//! partner fails, and posting verbs and futures cancel the same way.

use crate::support::*;
use crate::{
    connect, gone, only_completion, poll_once, receive_body, receive_data, submit_receive, WAIT,
};
use appc::rc::{PrimaryRc as P, WhatRcvd as W};
use appc::verbs::{self, values, Body};
use appc_engine::{Event, Target, WAPPCALREADY};
use std::pin::pin;

// ---------------------------------------------------------------------------
// WinAPPCCancelAsyncRequest on conversation verbs
// ---------------------------------------------------------------------------

/// Cancelling a pending asynchronous RECEIVE_AND_WAIT: 0, with its
/// `AP_CANCELLED` already queued when cancel returns; the session is closed
/// (the partner, in SEND with data buffered, gets `AP_CONV_FAILURE_RETRY` on
/// its next verb, then `BAD_CONV_ID`); the cancelled side's conversation id
/// is invalid; another conversation of the same TPs' applications is
/// untouched.
#[test]
fn cancel_of_pending_receive_posts_cancelled_and_fails_the_partner() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let (req2, resp2) = connect(&a, &b, MAPPED, SYNC_NONE);
    let (tx, mut rx) = b.queue();

    let receive = submit_receive(&resp, &Target::Queue(tx.clone()));
    assert!(rx.try_recv().is_none(), "the receive waits");
    req.send_data(b"buffered", values::SEND_DATA_NONE).ok();

    assert_eq!(b.cancel(receive).code(), 0);
    // Synchronous: the completion is queued before cancel returned, and a
    // second cancel finds it completed (still queued: WAPPCALREADY).
    assert_eq!(b.cancel(receive).code(), WAPPCALREADY);
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!(handle, receive);
    assert_eq!(verb.primary_rc, P::CANCELLED);
    assert!(receive_data(&verb).is_empty());
    assert_eq!(
        b.cancel(receive).code(),
        WAPPCALREADY,
        "consumed: still ALREADY"
    );

    // The session is closed: the partner's next verb reports it once.
    req.flush().rc(P::CONV_FAILURE_RETRY);
    gone(req.send_data(b"more", values::SEND_DATA_FLUSH));
    gone(resp.receive_immediate(100));
    gone(resp.get_state());

    // The other conversation is untouched, both ways.
    req2.send_data(b"still here", values::SEND_DATA_FLUSH).ok();
    resp2
        .receive_immediate(100)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"still here");
    req2.prepare_to_receive(FLUSH).ok();
    resp2.receive_immediate(100).ok().what(W::SEND);
    resp2.send_data(b"back", values::SEND_DATA_FLUSH).ok();
    req2.receive_immediate(100).ok().data(b"back");
    assert!(rx.try_recv().is_none());
}

/// A cancel purges without flushing: the requester buffers data, then its
/// TEST_RTS_AND_POST post (which does not flush) is cancelled (KB Q172800:
/// the cancel works and there is one completion). The responder's pending
/// receive completes with `AP_CONV_FAILURE_RETRY` and no data: the buffered
/// record never flowed.
#[test]
fn cancel_closes_the_session_without_flushing_buffered_data() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let (tx, mut rx) = b.queue();
    let receive = submit_receive(&resp, &Target::Queue(tx.clone()));
    // A second kind of target for the partner: an event task on another
    // conversation must not be touched.
    let (req2, resp2) = connect(&a, &b, MAPPED, SYNC_NONE);
    let other_ev = Event::new(true);
    let other = submit_receive(&resp2, &Target::Event(other_ev.clone()));

    req.send_data(b"never sent", values::SEND_DATA_NONE).ok();
    let sema = Event::new(true);
    let initial = req.test_rts_and_post(&sema).ok();
    let post = initial
        .post
        .expect("an AP_OK initial return carries the post");
    assert!(!sema.is_set());
    assert!(
        rx.try_recv().is_none(),
        "buffered: nothing reached the responder"
    );

    assert_eq!(a.cancel(post).code(), 0);
    assert!(
        sema.is_set(),
        "the post's completion is signalled before cancel returns"
    );
    let cancelled = a.collect(post).unwrap();
    assert_eq!(cancelled.primary_rc, P::CANCELLED);
    assert_eq!(a.cancel(post).code(), WAPPCALREADY);

    // The partner's outstanding receive failed, without the buffered data.
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!(handle, receive);
    assert_eq!(verb.primary_rc, P::CONV_FAILURE_RETRY, "{verb:?}");
    assert!(
        receive_data(&verb).is_empty(),
        "buffered data was flushed: {verb:?}"
    );
    gone(resp.receive_immediate(100));
    gone(req.send_data(b"x", values::SEND_DATA_FLUSH));

    assert!(!other_ev.is_set());
    req2.send_data(b"ok", values::SEND_DATA_FLUSH).ok();
    assert!(other_ev.wait_timeout(WAIT));
    let verb = b.collect(other).unwrap();
    assert_eq!((verb.primary_rc, receive_data(&verb)), (P::OK, &b"ok"[..]));
}

/// A partner with no outstanding verb learns of the closed session from
/// its next verb, whatever that verb is; the one after that finds the
/// conversation gone.
#[test]
fn partner_without_outstanding_verb_sees_failure_on_its_next_verb() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, BASIC, SYNC_CONFIRM);
    // The requester goes to RECEIVE with a pending async receive (event);
    // the responder (now able to send) buffers a record.
    let ev = Event::new(true);
    let receive = submit_receive(&req, &Target::Event(ev.clone()));
    resp.receive_and_wait(100).ok().what(W::SEND);
    resp.send_data(&ll(b"buffered"), values::SEND_DATA_NONE)
        .ok();
    assert!(!ev.is_set());
    assert_eq!(a.cancel(receive).code(), 0);
    assert!(ev.is_set());
    assert_eq!(a.collect(receive).unwrap().primary_rc, P::CANCELLED);
    resp.confirm().rc(P::CONV_FAILURE_RETRY);
    gone(resp.deallocate(FLUSH));
    gone(req.get_state());
}

/// Cancelling a CONFIRM that waits for CONFIRMED does not wait for the
/// reply: the responder, in CONFIRM state, gets `AP_CONV_FAILURE_RETRY` on
/// its CONFIRMED.
#[test]
fn cancel_during_confirm_does_not_wait_for_confirmation() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_CONFIRM);
    let (tx, mut rx) = a.queue();
    req.send_data(b"data", values::SEND_DATA_NONE).ok();
    let confirm = a
        .submit(
            req.verb(Body::Confirm(verbs::Confirm {
                conv: req.conv,
                rts_rcvd: false,
            })),
            &Target::Queue(tx),
        )
        .unwrap();
    resp.receive_and_wait(100).ok().data(b"data");
    resp.receive_and_wait(100)
        .ok()
        .what(W::CONFIRM_WHAT_RECEIVED);
    assert!(rx.try_recv().is_none(), "CONFIRM waits for CONFIRMED");

    assert_eq!(a.cancel(confirm).code(), 0);
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (confirm, P::CANCELLED));
    resp.confirmed().rc(P::CONV_FAILURE_RETRY);
    gone(resp.get_state());
    gone(req.get_state());
}

/// The same with the confirmation request carried by a SEND_DATA
/// (SEND_DATA_CONFIRM) and the partner's receive outstanding when the
/// cancel comes (its receive already completed with the confirmation
/// request; the partner's CONFIRMED fails).
#[test]
fn cancel_of_send_data_confirm_on_a_future_target() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, BASIC, SYNC_CONFIRM);
    let future = a
        .submit_future(req.verb(Body::SendData(verbs::SendData {
            conv: req.conv,
            send_type: values::SEND_DATA_CONFIRM,
            data: ll(b"rec"),
            rts_rcvd: false,
        })))
        .unwrap();
    let handle = future.handle();
    let mut future = pin!(future);
    assert!(poll_once(&mut future).is_none());
    resp.receive_with(FILL_LL, 100, true)
        .ok()
        .what(W::DATA_COMPLETE_CONFIRM);
    assert_eq!(a.cancel(handle).code(), 0);
    assert_eq!(
        poll_once(&mut future).expect("ready").primary_rc,
        P::CANCELLED
    );
    resp.confirmed().rc(P::CONV_FAILURE_RETRY);
}

/// Dropping an unresolved future cancels its task ("dropping the future
/// cancels the task"), with the same teardown as
/// `WinAPPCCancelAsyncRequest`: the session is closed, rather than the
/// abandoned receive silently swallowing the partner's next data.
#[test]
fn dropping_a_pending_future_cancels_like_cancel() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let future = b
        .submit_future(resp.verb(Body::ReceiveAndWait(receive_body(resp.conv, 100))))
        .unwrap();
    let handle = future.handle();
    drop(future);
    assert_eq!(b.cancel(handle).code(), WAPPCALREADY);
    req.send_data(b"lost?", values::SEND_DATA_FLUSH)
        .rc(P::CONV_FAILURE_RETRY);
    gone(resp.receive_immediate(100));
    assert_eq!(b.stats().live_tasks, 0);
}

/// RECEIVE_AND_POST and POST_ON_RECEIPT: the initial completion is
/// finished (cancelling it is `WAPPCALREADY`); cancelling the post closes
/// the session and signals the post with `AP_CANCELLED` before cancel
/// returns.
#[test]
fn cancel_of_posts_of_receive_and_post_and_post_on_receipt() {
    let (_node, a, b) = setup();
    for verb in ["RECEIVE_AND_POST", "POST_ON_RECEIPT"] {
        let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
        let (tx, mut rx) = b.queue();
        let sema = Event::new(true);
        let body = if verb == "RECEIVE_AND_POST" {
            Body::ReceiveAndPost(verbs::ReceiveAndPost {
                receive: receive_body(resp.conv, 100),
                sema: sema.clone(),
                post: None,
            })
        } else {
            Body::PostOnReceipt(verbs::PostOnReceipt {
                conv: resp.conv,
                fill: values::FILL_LL,
                max_len: 100,
                sema: sema.clone(),
                post: None,
            })
        };
        let initial = b.submit(resp.verb(body), &Target::Queue(tx)).unwrap();
        let (handle, done) = only_completion(&mut rx);
        assert_eq!(handle, initial);
        let res = Res::of(&done).ok();
        let post = res.post.expect("a post task");
        assert_eq!(b.cancel(initial).code(), WAPPCALREADY, "{verb}");
        assert!(!sema.is_set());
        assert_eq!(b.cancel(post).code(), 0, "{verb}");
        assert!(sema.is_set(), "{verb}");
        assert_eq!(b.collect(post).unwrap().primary_rc, P::CANCELLED, "{verb}");
        assert_eq!(b.cancel(post).code(), WAPPCALREADY, "{verb}");
        req.send_data(b"late", values::SEND_DATA_FLUSH)
            .rc(P::CONV_FAILURE_RETRY);
        gone(resp.receive_immediate(100));
        assert!(rx.try_recv().is_none(), "{verb}");
    }
}

/// KB Q172800: cancelling a TEST_RTS_AND_POST post works (one completion,
/// `AP_CANCELLED`), and the partner's REQUEST_TO_SEND afterwards finds the
/// session closed rather than signalling the post a second time.
#[test]
fn cancel_of_test_rts_and_post_works_once() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let sema = Event::new(false);
    let post = req.test_rts_and_post(&sema).ok().post.unwrap();
    assert_eq!(a.cancel(post).code(), 0);
    assert!(sema.try_wait(), "signalled once");
    assert_eq!(a.collect(post).unwrap().primary_rc, P::CANCELLED);
    resp.request_to_send().rc(P::CONV_FAILURE_RETRY);
    assert!(!sema.is_set(), "no second signal");
    assert_eq!(a.cancel(post).code(), WAPPCALREADY);
    gone(req.get_state());
    gone(resp.get_state());
}
