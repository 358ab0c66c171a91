//! Cancellation and cleanup of APPC verbs (`docs/api.md#cancel`, `docs/api.md#known-problems-in-his-that-the-tests-guard-against`):
//! `WinAPPCCancelAsyncRequest` purges the verb and closes the session
//! (no flush, no wait for confirmation; the partner sees
//! `AP_CONV_FAILURE_RETRY`), withdraws a waiting RECEIVE_ALLOCATE, and posts
//! the `AP_CANCELLED` completion before it returns;
//! `WinAPPCCancelBlockingCall` / `WinAPPCIsBlocking`; `WinAPPCCleanup` ends
//! every TP of the application; and a stress run of cancels racing
//! completions (exactly one completion per task, KB Q153523).
#![cfg(not(loom))]

mod support;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::verbs::{self, values, Body, Conv, TpId, Verb};
use appc::{Appc, Node};
use appc_engine::{
    CancelOutcome, Event, Handle, Reason, Receiver, Target, TaskFuture, WAPPCALREADY, WAPPCCANCEL,
    WAPPCINVALID, WINAPPC_VERSION,
};
use support::*;

/// Generous bound on any single wait: a test that needs it has hung.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A requester (on `a`) and a responder (on `b`) with a live conversation
/// to [`RESP`]: the attach has flowed and the responder accepted it.
fn connect<'a, 'b>(a: &'a Appc, b: &'b Appc, mapped: bool, sync_level: u8) -> (Tp<'a>, Tp<'b>) {
    let mut req = Tp::started(a, mapped);
    req.allocate(RESP, sync_level).ok();
    req.flush().ok();
    let resp = Tp::receive_allocate(b, RESP);
    (req, resp)
}

fn receive_body(conv: Conv, max_len: u16) -> verbs::Receive {
    verbs::Receive {
        conv,
        fill: values::FILL_LL,
        max_len,
        ..Default::default()
    }
}

/// An asynchronous RECEIVE_AND_WAIT of `tp` to `target`.
fn submit_receive(tp: &Tp<'_>, target: &Target<Verb>) -> Handle {
    tp.app
        .submit(
            tp.verb(Body::ReceiveAndWait(receive_body(tp.conv, 1000))),
            target,
        )
        .expect("accepted")
}

fn receive_data(verb: &Verb) -> &[u8] {
    match &verb.body {
        Body::ReceiveAndWait(r) | Body::ReceiveImmediate(r) => &r.data,
        Body::ReceiveAndPost(r) => &r.receive.data,
        _ => &[],
    }
}

/// The one completion already queued on `rx` (asserts there is exactly one).
#[track_caller]
fn only_completion(rx: &mut Receiver<Verb>) -> (Handle, Verb) {
    let done = rx.try_recv().expect("a completion is queued");
    assert!(rx.try_recv().is_none(), "a second completion was queued");
    (done.handle, done.verb)
}

/// Asserts `PARAMETER_CHECK` / `BAD_CONV_ID`: the conversation is gone.
#[track_caller]
fn gone(res: Res) {
    res.rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it resolves (at most [`WAIT`]).
fn block_on(future: TaskFuture<Verb>) -> Verb {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Poll::Ready(verb) = future.as_mut().poll(&mut cx) {
            return verb;
        }
        assert!(Instant::now() < deadline, "future never resolved");
        thread::park_timeout(Duration::from_millis(10));
    }
}

/// Whether `future` has resolved yet (one poll).
fn poll_once(future: &mut std::pin::Pin<&mut TaskFuture<Verb>>) -> Option<Verb> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(verb) => Some(verb),
        Poll::Pending => None,
    }
}

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

// ---------------------------------------------------------------------------
// WinAPPCCancelAsyncRequest on TP verbs, completed verbs, bad handles
// ---------------------------------------------------------------------------

/// A cancelled RECEIVE_ALLOCATE is withdrawn: the next attach for its name
/// goes to a later RECEIVE_ALLOCATE (or waits for one), never to it.
#[test]
fn cancel_of_receive_allocate_withdraws_it() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (tx, mut rx) = b.queue();
    let target = Target::Queue(tx);
    let first = b.submit(receive_allocate_verb("SVC"), &target).unwrap();
    let second = b.submit(receive_allocate_verb("SVC"), &target).unwrap();
    assert_eq!(b.cancel(first).code(), 0);
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (first, P::CANCELLED));

    // The attach goes to the second, still waiting, RECEIVE_ALLOCATE.
    let mut req = Tp::started(&a, MAPPED);
    req.allocate("SVC", SYNC_NONE).ok();
    req.send_data(b"one", values::SEND_DATA_FLUSH).ok();
    let done = rx
        .recv_timeout(WAIT)
        .expect("the second RECEIVE_ALLOCATE completes");
    assert_eq!(done.handle, second);
    let resp = Tp::accepted(&b, &done.verb);
    resp.receive_immediate(10).ok().data(b"one");
    assert_eq!(b.cancel(first).code(), WAPPCALREADY);

    // None waiting after another cancel: the attach queues and the next
    // RECEIVE_ALLOCATE takes it at once.
    let third = b.submit(receive_allocate_verb("SVC"), &target).unwrap();
    assert_eq!(b.cancel(third).code(), 0);
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (third, P::CANCELLED));
    let mut req2 = Tp::started(&a, MAPPED);
    req2.allocate("SVC", SYNC_NONE).ok();
    req2.send_data(b"two", values::SEND_DATA_FLUSH).ok();
    assert!(
        rx.try_recv().is_none(),
        "the withdrawn verb took the attach"
    );
    let resp2 = Tp::receive_allocate(&b, "SVC");
    resp2.receive_immediate(10).ok().data(b"two");
    assert!(rx.try_recv().is_none());
}

/// A blocking RECEIVE_ALLOCATE cancelled from its hook is withdrawn too:
/// the call returns `WAPPCCANCEL` and the next attach waits for the next
/// RECEIVE_ALLOCATE.
#[test]
fn cancel_of_blocking_receive_allocate_withdraws_it() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let mut hooks = 0;
    let verb = b
        .call_with_hook(receive_allocate_verb("SVC"), |_| {
            hooks += 1;
            if hooks == 2 {
                assert_eq!(b.cancel_blocking_call(), 0);
            }
            true
        })
        .unwrap();
    assert_eq!(verb.primary_rc, P(WAPPCCANCEL as u16));
    let mut req = Tp::started(&a, MAPPED);
    req.allocate("SVC", SYNC_NONE).ok();
    req.send_data(b"x", values::SEND_DATA_FLUSH).ok();
    let resp = Tp::receive_allocate(&b, "SVC");
    resp.receive_immediate(10).ok().data(b"x");
    assert_eq!(b.stats().live_tasks, 0);
}

/// The completion-port target: the cancelled verb's packet (with the
/// caller's key, token and byte count) is in the port when cancel returns.
#[test]
fn cancel_posts_to_a_completion_port_before_returning() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let port = b.port();
    let target = Target::Port {
        port: port.clone(),
        key: 7,
        token: 0xABCD,
        bytes: 42,
    };
    let receive = submit_receive(&resp, &target);
    assert!(port.try_get().is_none());
    assert_eq!(b.cancel(receive).code(), 0);
    let packet = port.try_get().expect("queued before cancel returned");
    assert_eq!(packet.handle, receive);
    assert_eq!((packet.key, packet.token, packet.bytes), (7, 0xABCD, 42));
    assert_eq!(packet.verb.primary_rc, P::CANCELLED);
    assert!(port.try_get().is_none());
    req.flush().rc(P::CONV_FAILURE_RETRY);
}

/// TP_STARTED, and every verb that finishes at once, completes before a
/// cancel can reach it: `WAPPCALREADY` while its completion is still queued
/// and after it is consumed. Handles this engine never issued are
/// `WAPPCINVALID`, including another application's.
#[test]
fn cancel_of_completed_and_unknown_handles() {
    let (_node, a, b) = setup();
    let (tx, mut rx) = a.queue();
    let started = a
        .submit(
            Verb::mapped(Body::TpStarted(verbs::TpStarted {
                lu_alias: verbs::name("LU1"),
                tp_name: verbs::name("REQ"),
                tp_id: [0; 8],
            })),
            &Target::Queue(tx.clone()),
        )
        .unwrap();
    assert_eq!(a.cancel(started).code(), WAPPCALREADY, "still queued");
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (started, P::OK));
    assert_eq!(a.cancel(started).code(), WAPPCALREADY, "consumed");
    // A refused verb is a task too, already completed.
    let refused = a
        .submit(
            Verb::mapped(Body::Flush(Conv {
                tp_id: [9; 8],
                conv_id: 77,
            })),
            &Target::Queue(tx.clone()),
        )
        .unwrap();
    assert_eq!(a.cancel(refused).code(), WAPPCALREADY);
    let (_, verb) = only_completion(&mut rx);
    assert_eq!(verb.primary_rc, P::PARAMETER_CHECK);

    // Tag 0 (never an engine's), and this engine's slot with a generation
    // it has not reached.
    let future = u64::from(started) + (1_000_000 << 32);
    for garbage in [0, 1, 0xF000, future] {
        assert_eq!(a.cancel(garbage).code(), WAPPCINVALID, "{garbage:#x}");
    }
    // A live task of another application is not this one's to cancel.
    let (_req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let (btx, mut brx) = b.queue();
    let pending = submit_receive(&resp, &Target::Queue(btx));
    assert_eq!(a.cancel(pending).code(), WAPPCINVALID);
    assert!(brx.try_recv().is_none());
    assert_eq!(b.cancel(pending).code(), 0);
    assert_eq!(only_completion(&mut brx).1.primary_rc, P::CANCELLED);
    assert!(rx.try_recv().is_none());
}

/// KB Q153523: a cancel racing the verb's own completion (the partner's
/// data arriving) leaves exactly one completion, and it matches the
/// cancel's answer: 0 → `AP_CANCELLED` (and the partner sees the failure),
/// `WAPPCALREADY` → the data.
#[test]
fn cancel_racing_completion_gives_exactly_one_completion() {
    let (_node, a, b) = setup();
    let (tx, mut rx) = b.queue();
    let (mut cancelled, mut completed) = (0, 0);
    for round in 0..300 {
        let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
        let receive = submit_receive(&resp, &Target::Queue(tx.clone()));
        let go = AtomicBool::new(false);
        let (outcome, sent) = thread::scope(|s| {
            let canceller = s.spawn(|| {
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                if round % 2 == 0 {
                    thread::yield_now();
                }
                b.cancel(receive)
            });
            go.store(true, Ordering::Release);
            let sent = req.send_data(b"race", values::SEND_DATA_FLUSH);
            (canceller.join().unwrap(), sent)
        });
        let (handle, verb) = only_completion(&mut rx);
        assert_eq!(handle, receive);
        match outcome {
            CancelOutcome::Cancelled => {
                cancelled += 1;
                assert_eq!(verb.primary_rc, P::CANCELLED);
                // The send either got in first or found the session closed.
                assert!(
                    matches!(sent.primary, P::OK | P::CONV_FAILURE_RETRY),
                    "{sent:?}"
                );
                if sent.primary == P::OK {
                    req.flush().rc(P::CONV_FAILURE_RETRY);
                }
                gone(resp.get_state());
            }
            CancelOutcome::AlreadyCompleted => {
                completed += 1;
                sent.ok();
                assert_eq!(
                    (verb.primary_rc, receive_data(&verb)),
                    (P::OK, &b"race"[..])
                );
                req.deallocate(FLUSH).ok();
                resp.receive_immediate(10).rc(P::DEALLOC_NORMAL);
            }
            CancelOutcome::Invalid => panic!("a live handle was invalid"),
        }
        req.end().ok();
        resp.end().ok();
    }
    assert_eq!(cancelled + completed, 300);
    assert_eq!(b.stats().live_tasks, 0);
}

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

// ---------------------------------------------------------------------------
// WinAPPCCleanup
// ---------------------------------------------------------------------------

/// Cleanup ends every TP of the application as TP_ENDED(AP_HARD): each
/// pending verb (queue, event, future and post targets) gets exactly one
/// `AP_CANCELLED`; partners see `AP_DEALLOC_NORMAL` where the TP was in
/// SEND at a record boundary (with the buffered data flushed first) and an
/// abnormal deallocation otherwise; a waiting RECEIVE_ALLOCATE is
/// withdrawn; the TPs are gone; the engine drains to no live task.
#[test]
fn cleanup_ends_every_tp_of_the_application() {
    let (node, mut a, b) = setup();
    node.define_tp("ASVC");
    let (tx, mut rx) = a.queue();
    let queue = Target::Queue(tx);

    // 1: in SEND at a record boundary, data buffered.
    let (req1, resp1) = connect(&a, &b, MAPPED, SYNC_NONE);
    req1.send_data(b"tail", values::SEND_DATA_NONE).ok();
    // 2: in RECEIVE with a pending receive to the queue.
    let (req2, resp2) = connect(&a, &b, MAPPED, SYNC_NONE);
    let recv2 = submit_receive(&req2, &queue);
    resp2.receive_and_wait(10).ok().what(W::SEND);
    // 3: basic, in SEND in the middle of a logical record.
    let (req3, resp3) = connect(&a, &b, BASIC, SYNC_NONE);
    req3.send_data(&[0, 10, b'a', b'b'], values::SEND_DATA_NONE)
        .ok();
    let ev3 = Event::new(true);
    let recv3 = submit_receive(&resp3, &Target::Event(ev3.clone()));
    // 4: pending receive to an event; 5: to a future.
    let (req4, resp4) = connect(&a, &b, MAPPED, SYNC_NONE);
    let ev4 = Event::new(true);
    let recv4 = submit_receive(&req4, &Target::Event(ev4.clone()));
    resp4.receive_and_wait(10).ok().what(W::SEND);
    let (req5, resp5) = connect(&a, &b, MAPPED, SYNC_NONE);
    let fut5 = a
        .submit_future(req5.verb(Body::ReceiveAndWait(receive_body(req5.conv, 10))))
        .unwrap();
    resp5.receive_and_wait(10).ok().what(W::SEND);
    // 6: RECEIVE_AND_POST's post pending; 7: TEST_RTS_AND_POST's, in SEND.
    let (req6, resp6) = connect(&a, &b, MAPPED, SYNC_NONE);
    let sema6 = Event::new(true);
    let post6 = req6.receive_and_post(10, &sema6).ok().post.unwrap();
    resp6.receive_and_wait(10).ok().what(W::SEND);
    let (req7, resp7) = connect(&a, &b, MAPPED, SYNC_NONE);
    let sema7 = Event::new(true);
    let post7 = req7.test_rts_and_post(&sema7).ok().post.unwrap();
    // 8: a waiting RECEIVE_ALLOCATE.
    let ra = a.submit(receive_allocate_verb("ASVC"), &queue).unwrap();
    // 9: a TP with no conversation.
    let idle = Tp::started(&a, MAPPED);
    assert!(rx.try_recv().is_none());
    // (The requester TPs borrow `a` and are not used after this point, so
    // cleanup can have it exclusively.)
    let _ = (req1, req2, req3, req4, req5, req6, req7, idle);

    assert!(a.cleanup());
    assert!(!a.cleanup(), "a second cleanup does nothing");

    // Every pending verb: exactly one AP_CANCELLED.
    let mut queued: HashMap<Handle, P> = HashMap::new();
    while let Some(done) = rx.try_recv() {
        assert!(queued.insert(done.handle, done.verb.primary_rc).is_none());
    }
    let want: HashMap<Handle, P> = [(recv2, P::CANCELLED), (ra, P::CANCELLED)].into();
    assert_eq!(queued, want);
    for (ev, handle) in [(&ev4, recv4), (&sema6, post6), (&sema7, post7)] {
        assert!(ev.is_set());
        assert_eq!(a.collect(handle).unwrap().primary_rc, P::CANCELLED);
    }
    assert_eq!(block_on(fut5).primary_rc, P::CANCELLED);
    assert_eq!(a.stats().live_tasks, 0);

    // The partners.
    resp1.receive_and_wait(10).ok().data(b"tail");
    resp1.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
    resp2
        .send_data(b"x", values::SEND_DATA_FLUSH)
        .rc(P::DEALLOC_ABEND);
    assert!(ev3.wait_timeout(WAIT));
    assert_eq!(b.collect(recv3).unwrap().primary_rc, P::DEALLOC_ABEND_PROG);
    resp4
        .send_data(b"x", values::SEND_DATA_NONE)
        .rc(P::DEALLOC_ABEND);
    resp5.flush().rc(P::DEALLOC_ABEND);
    resp6.flush().rc(P::DEALLOC_ABEND);
    resp7.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
    for resp in [&resp1, &resp2, &resp3, &resp4, &resp5, &resp6, &resp7] {
        gone(resp.get_state());
    }

    // The application's TPs and conversations are gone: the node holds only
    // the responder's TPs.
    assert_eq!(format!("{node:?}"), "Node { tps: 7, conversations: 0 }");
    // The withdrawn RECEIVE_ALLOCATE takes no attach: it waits for the next.
    let mut late = Tp::started(&b, MAPPED);
    late.allocate("ASVC", SYNC_NONE).ok();
    late.send_data(b"q", values::SEND_DATA_FLUSH).ok();
    assert!(rx.try_recv().is_none());
    let taker = Tp::receive_allocate(&b, "ASVC");
    taker.receive_immediate(10).ok().data(b"q");

    // Nothing more is accepted.
    let refused = a.submit(receive_allocate_verb("ASVC"), &queue).unwrap_err();
    assert_eq!(refused.reason, Reason::CleanedUp);
    assert_eq!(a.stats().live_tasks, 0);
}

/// KB Q236797: Startup → a blocking call cancelled from its hook → an
/// async verb left pending → Cleanup (which cancels it) → Startup → a
/// blocking call right away, all on one thread, works: no stale "is
/// blocking" flag. Dropping the application instead of Cleanup too.
#[test]
fn startup_cleanup_startup_on_one_thread() {
    let node = Node::new();
    node.define_tp(RESP);
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    for round in 0..3 {
        let (mut a, data) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
        assert_eq!(data.version, WINAPPC_VERSION);
        assert!(!a.is_blocking(), "round {round}");
        // A blocking call cancelled from its hook, so that any per-thread
        // blocking state has been set and should have been cleared.
        let (req, _resp) = connect(&a, &b, MAPPED, SYNC_NONE);
        req.prepare_to_receive(FLUSH).ok();
        let verb = a
            .call_with_hook(
                req.verb(Body::ReceiveAndWait(receive_body(req.conv, 10))),
                |_| {
                    assert!(a.is_blocking());
                    assert_eq!(a.cancel_blocking_call(), 0);
                    true
                },
            )
            .unwrap();
        assert_eq!(verb.primary_rc, P(WAPPCCANCEL as u16));
        // A pending async verb for cleanup to cancel.
        let (tx, mut rx) = a.queue();
        let ra = a
            .submit(receive_allocate_verb("NOBODY"), &Target::Queue(tx))
            .unwrap();
        if round == 2 {
            drop(a); // Drop cleans up too.
            let done = rx.try_recv().expect("cancelled by the drop");
            assert_eq!((done.handle, done.verb.primary_rc), (ra, P::CANCELLED));
        } else {
            assert!(a.cleanup());
            assert!(!a.is_blocking());
            assert_eq!(a.cancel_blocking_call(), WAPPCINVALID);
            let done = rx.try_recv().expect("cancelled by cleanup");
            assert_eq!((done.handle, done.verb.primary_rc), (ra, P::CANCELLED));
            assert_eq!(a.stats().live_tasks, 0);
        }
        // Startup again at once: a blocking call right away works.
        let (a2, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
        assert!(!a2.is_blocking());
        let verb = a2
            .call(Verb::mapped(Body::TpStarted(verbs::TpStarted {
                lu_alias: verbs::name("LU1"),
                tp_name: verbs::name("REQ"),
                tp_id: [0; 8],
            })))
            .unwrap();
        assert_eq!(verb.primary_rc, P::OK, "round {round}: {verb:?}");
        let tp = Tp::started(&a2, MAPPED);
        tp.end().ok();
        assert_eq!(a2.stats().live_tasks, 0);
    }
}

// ---------------------------------------------------------------------------
// Attaches whose conversation ends before a RECEIVE_ALLOCATE takes them
// ---------------------------------------------------------------------------

/// With only dead attaches queued (none, once they left), a RECEIVE_ALLOCATE
/// waits, and the next live attach is the one it gets: its data arrives.
fn next_receive_allocate_gets_a_live_conversation(node: &Node, a: &Appc, b: &Appc) {
    assert_eq!(node.queued_attaches(), 0, "a dead attach is still queued");
    let (tx, mut rx) = b.queue();
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Queue(tx))
        .unwrap();
    assert!(
        rx.try_recv().is_none(),
        "a RECEIVE_ALLOCATE got a dead conversation"
    );
    let mut req = Tp::started(a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.send_data(b"live", values::SEND_DATA_FLUSH).ok();
    let done = rx.recv_timeout(WAIT).expect("the live attach");
    assert_eq!(done.handle, ra);
    let resp = Tp::accepted(b, &done.verb);
    resp.receive_and_wait(10).ok().data(b"live");
}

/// The allocator's receive (which flushed the attach) is cancelled: the
/// session closes before any TP took the attach, so the attach goes.
#[test]
fn an_attach_whose_allocating_verb_is_cancelled_leaves_the_queue() {
    let (node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.flush().ok();
    assert_eq!(node.queued_attaches(), 1);
    let (tx, _rx) = a.queue();
    let receive = submit_receive(&req, &Target::Queue(tx));
    assert_eq!(a.cancel(receive), CancelOutcome::Cancelled);
    next_receive_allocate_gets_a_live_conversation(&node, &a, &b);
}

/// The allocator's application is cleaned up while its receive waits: its
/// TP ends, abending the conversation before any TP took the attach.
#[test]
fn an_attach_whose_allocator_is_cleaned_up_leaves_the_queue() {
    let (node, a, b) = setup();
    let (mut gone, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (tx, _rx) = gone.queue();
    {
        let mut req = Tp::started(&gone, MAPPED);
        req.allocate(RESP, SYNC_NONE).ok();
        req.flush().ok();
        submit_receive(&req, &Target::Queue(tx));
    }
    assert_eq!(node.queued_attaches(), 1);
    assert!(gone.cleanup());
    next_receive_allocate_gets_a_live_conversation(&node, &a, &b);
}

/// Three attaches queue; the middle one's allocating receive is cancelled,
/// so it leaves from the middle of the queue: the other two are still
/// taken in the order they arrived, each with its own data.
#[test]
fn an_attach_leaving_the_middle_of_the_queue_keeps_the_order() {
    let (node, a, b) = setup();
    let words: [&[u8]; 3] = [b"first", b"middle", b"last"];
    let mut reqs = Vec::new();
    for word in words {
        let mut req = Tp::started(&a, MAPPED);
        req.allocate(RESP, SYNC_NONE).ok();
        req.send_data(word, values::SEND_DATA_FLUSH).ok();
        reqs.push(req);
    }
    assert_eq!(node.queued_attaches(), 3);
    let (tx, _rx) = a.queue();
    let receive = submit_receive(&reqs[1], &Target::Queue(tx));
    assert_eq!(a.cancel(receive), CancelOutcome::Cancelled);
    assert_eq!(node.queued_attaches(), 2);
    for word in [words[0], words[2]] {
        let resp = Tp::receive_allocate(&b, RESP);
        resp.receive_and_wait(20).ok().data(word);
    }
    assert_eq!(node.queued_attaches(), 0);
}

/// A conversation its allocator ended normally (here TP_ENDED in SEND,
/// which deallocates with a flush) is whole: it stays queued, and the TP
/// that takes it gets the data and the end.
#[test]
fn a_normally_ended_conversation_still_waits_for_its_tp() {
    let (node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.send_data(b"last words", values::SEND_DATA_NONE).ok();
    req.end().ok();
    assert_eq!(node.queued_attaches(), 1);
    let resp = Tp::receive_allocate(&b, RESP);
    resp.receive_and_wait(20).ok().data(b"last words");
    resp.receive_and_wait(20).rc(P::DEALLOC_NORMAL);
}

/// A thousand allocations to a name nobody serves, each cancelled after
/// its attach was queued: none stays.
#[test]
fn dead_attaches_do_not_pile_up_on_an_unserved_name() {
    let (node, a, _b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    let (tx, mut rx) = a.queue();
    for _ in 0..1000 {
        req.allocate(RESP, SYNC_NONE).ok();
        req.flush().ok();
        let receive = submit_receive(&req, &Target::Queue(tx.clone()));
        assert_eq!(a.cancel(receive), CancelOutcome::Cancelled);
        assert_eq!(rx.try_recv().unwrap().handle, receive);
    }
    assert_eq!(node.queued_attaches(), 0);
}

// ---------------------------------------------------------------------------
// Stress: cancels racing completions
// ---------------------------------------------------------------------------

/// xorshift64*: enough randomness for verb choice, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PAIRS: usize = 64;
const THREADS: usize = 4;
/// The run goes on until every [`Goals`] count is reached, at most this
/// long (a cap for a machine where a goal cannot be reached, not a
/// duration: on an idle 2-core machine the goals take well under a
/// second, under ThreadSanitizer some seconds).
const RUN_CAP: Duration = Duration::from_secs(60);
/// A pair with verbs outstanding and no completion for this long cancels
/// its oldest verb itself (the random canceller may never pick it).
const STUCK: Duration = Duration::from_millis(20);
/// How many recent handles the canceller picks from.
const RECENT: usize = 2048;
/// Pairs driven through the blocking entry point (one more thread).
const BLOCKING_PAIRS: usize = 4;

/// What the stress run must have done before it stops: tasks accepted, a
/// cancel won by the random canceller, a blocking call cancelled from its
/// hook, a partner that saw a cancel's session failure. Counted as they
/// happen, so the run stops on events, not on the clock.
struct Goals {
    submitted: AtomicUsize,
    cancel_wins: AtomicUsize,
    hook_wins: AtomicUsize,
    retry_failures: AtomicUsize,
}

impl Goals {
    const SUBMITTED: usize = 100_000;
    const CANCEL_WINS: usize = 100;
    const HOOK_WINS: usize = 10;
    const RETRY_FAILURES: usize = 10;

    const fn new() -> Self {
        Self {
            submitted: AtomicUsize::new(0),
            cancel_wins: AtomicUsize::new(0),
            hook_wins: AtomicUsize::new(0),
            retry_failures: AtomicUsize::new(0),
        }
    }

    fn count(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn met(&self) -> bool {
        self.submitted.load(Ordering::Relaxed) >= Self::SUBMITTED
            && self.cancel_wins.load(Ordering::Relaxed) >= Self::CANCEL_WINS
            && self.hook_wins.load(Ordering::Relaxed) >= Self::HOOK_WINS
            && self.retry_failures.load(Ordering::Relaxed) >= Self::RETRY_FAILURES
    }
}

/// The stress run's goals (one stress run per process).
static GOALS: Goals = Goals::new();

/// Which application a task belongs to: 0 the requesters', 1 the responders'.
type AppIx = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Allocate,
    ReceiveAllocate,
    TpEnded,
    Conversation,
    Post,
}

/// One outstanding task of a driver.
#[derive(Clone, Copy)]
struct Meta {
    pair: usize,
    side: usize,
    kind: Kind,
    conv: Conv,
}

/// What the drivers learn, merged at the end.
#[derive(Default)]
struct Tally {
    /// (app, handle) of every accepted task (initial and post).
    accepted: HashSet<(AppIx, u64)>,
    /// Every completion seen, per task.
    completions: HashMap<(AppIx, u64), Vec<P>>,
    /// Every cancel answer, per task.
    cancels: HashMap<(AppIx, u64), Vec<CancelOutcome>>,
    submitted: usize,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.accepted.extend(other.accepted);
        for (k, v) in other.completions {
            self.completions.entry(k).or_default().extend(v);
        }
        for (k, v) in other.cancels {
            self.cancels.entry(k).or_default().extend(v);
        }
        self.submitted += other.submitted;
    }
}

/// One conversation pair as a driver sees it.
struct PairState {
    name: String,
    req_tp: TpId,
    /// The requester's conversation, once ALLOCATE returned; `None` while
    /// allocating or once it is known to be gone.
    req: Option<Conv>,
    resp: Option<Conv>,
    resp_tp: Option<TpId>,
    allocating: bool,
    receive_allocate: bool,
    req_gone: bool,
    resp_gone: bool,
    /// Outstanding tasks of this pair, oldest first.
    inflight: VecDeque<(AppIx, Handle)>,
    last_progress: Instant,
    rounds: usize,
}

struct Driver<'a> {
    apps: [&'a Appc; 2],
    targets: [Target<Verb>; 2],
    receivers: [Receiver<Verb>; 2],
    recent: &'a Mutex<VecDeque<(AppIx, u64)>>,
    meta: HashMap<(AppIx, Handle), Meta>,
    posts: Vec<(AppIx, Handle, Event)>,
    pairs: Vec<PairState>,
    tally: Tally,
    rng: Rng,
}

impl<'a> Driver<'a> {
    fn submit(&mut self, app: AppIx, verb: Verb, meta: Meta) {
        // Offer the canceller the verbs that may wait, and a sample of the
        // rest (stale handles by the time it gets to them).
        let may_wait = match &verb.body {
            Body::ReceiveAndWait(_) | Body::Confirm(_) | Body::ReceiveAllocate(_) => true,
            Body::SendData(v) => v.send_type == values::SEND_DATA_CONFIRM,
            Body::PrepareToReceive(v) => v.ptr_type == values::SYNC_LEVEL,
            Body::Deallocate(v) => v.dealloc_type == values::SYNC_LEVEL,
            _ => false,
        };
        let handle = self.apps[app]
            .submit(verb, &self.targets[app])
            .expect("the engine accepts every verb during the run");
        let share = may_wait || self.rng.below(8) == 0;
        self.accept(app, handle, meta, share);
        self.pairs[meta.pair].inflight.push_back((app, handle));
    }

    fn accept(&mut self, app: AppIx, handle: Handle, meta: Meta, offer: bool) {
        self.tally.submitted += 1;
        Goals::count(&GOALS.submitted);
        assert!(self.tally.accepted.insert((app, u64::from(handle))));
        self.meta.insert((app, handle), meta);
        if offer {
            share(self.recent, app, handle);
        }
    }

    /// Handles every queued completion and every signalled post.
    fn pump(&mut self) {
        for app in 0..2 {
            while let Some(done) = self.receivers[app].try_recv() {
                self.completed(app, done.handle, done.verb);
            }
        }
        let mut i = 0;
        while i < self.posts.len() {
            let (app, handle, ref event) = self.posts[i];
            if event.is_set() {
                self.posts.swap_remove(i);
                let verb = self.apps[app].collect(handle).expect("a signalled post");
                self.completed(app, handle, verb);
            } else {
                i += 1;
            }
        }
    }

    fn completed(&mut self, app: AppIx, handle: Handle, verb: Verb) {
        let rc = verb.primary_rc;
        if rc == P::CONV_FAILURE_RETRY {
            Goals::count(&GOALS.retry_failures);
        }
        self.tally
            .completions
            .entry((app, u64::from(handle)))
            .or_default()
            .push(rc);
        let meta = self
            .meta
            .remove(&(app, handle))
            .expect("a completion for a task of this driver");
        let now = Instant::now();
        let pair = &mut self.pairs[meta.pair];
        pair.inflight.retain(|&(a, h)| (a, h) != (app, handle));
        pair.last_progress = now;
        match meta.kind {
            Kind::Allocate => {
                pair.allocating = false;
                let Body::Allocate(v) = &verb.body else {
                    unreachable!()
                };
                assert_eq!(rc, P::OK, "ALLOCATE: {verb:?}");
                let conv = Conv {
                    tp_id: pair.req_tp,
                    conv_id: v.conv_id,
                };
                pair.req = Some(conv);
                pair.req_gone = false;
                // Send the attach at once, so the responder always gets it.
                let flush = Verb::mapped(Body::Flush(conv));
                let meta = Meta {
                    kind: Kind::Conversation,
                    conv,
                    ..meta
                };
                self.submit(0, flush, meta);
            }
            Kind::ReceiveAllocate => {
                pair.receive_allocate = false;
                if rc == P::OK {
                    let Body::ReceiveAllocate(v) = &verb.body else {
                        unreachable!()
                    };
                    pair.resp = Some(Conv {
                        tp_id: v.tp_id,
                        conv_id: v.conv_id,
                    });
                    pair.resp_tp = Some(v.tp_id);
                    pair.resp_gone = false;
                } else {
                    assert_eq!(rc, P::CANCELLED, "RECEIVE_ALLOCATE: {verb:?}");
                }
            }
            Kind::TpEnded => {}
            Kind::Conversation | Kind::Post => {
                // A conversation id that is no longer valid: that end is gone.
                let current = if meta.side == 0 { pair.req } else { pair.resp };
                if rc == P::PARAMETER_CHECK
                    && matches!(verb.secondary_rc, S::BAD_CONV_ID | S::BAD_TP_ID)
                    && current == Some(meta.conv)
                {
                    if meta.side == 0 {
                        pair.req_gone = true;
                    } else {
                        pair.resp_gone = true;
                    }
                }
                let post = match &verb.body {
                    Body::ReceiveAndPost(v) if meta.kind == Kind::Conversation => {
                        v.post.map(|p| (p, v.sema.clone()))
                    }
                    Body::PostOnReceipt(v) if meta.kind == Kind::Conversation => {
                        v.post.map(|p| (p, v.sema.clone()))
                    }
                    Body::TestRtsAndPost(v) if meta.kind == Kind::Conversation => {
                        v.post.map(|p| (p, v.handle.clone()))
                    }
                    _ => None,
                };
                if let Some((post, event)) = post {
                    assert_eq!(rc, P::OK, "a post only comes with AP_OK");
                    let meta = Meta {
                        kind: Kind::Post,
                        ..meta
                    };
                    self.accept(app, post, meta, true);
                    self.pairs[meta.pair].inflight.push_back((app, post));
                    self.posts.push((app, post, event));
                }
            }
        }
    }

    /// Moves pair `i` on: (re)connects it, issues a random verb, or cancels
    /// a verb that has waited too long.
    fn tick(&mut self, i: usize) {
        let now = Instant::now();
        let pair = &mut self.pairs[i];
        if let Some(&(app, handle)) = pair.inflight.front() {
            if now.duration_since(pair.last_progress) > STUCK {
                pair.last_progress = now;
                let outcome = self.apps[app].cancel(handle);
                self.tally
                    .cancels
                    .entry((app, u64::from(handle)))
                    .or_default()
                    .push(outcome);
                return;
            }
        }
        let req_dead = pair.req.is_none() || pair.req_gone;
        let resp_dead = pair.resp.is_none() || pair.resp_gone;
        if req_dead && resp_dead && pair.inflight.is_empty() {
            // Reconnect: end the old responder TP, then ALLOCATE + FLUSH and
            // a RECEIVE_ALLOCATE.
            pair.rounds += 1;
            pair.req = None;
            pair.resp = None;
            pair.allocating = true;
            pair.receive_allocate = true;
            let meta = Meta {
                pair: i,
                side: 1,
                kind: Kind::TpEnded,
                conv: Conv::default(),
            };
            let old = pair.resp_tp.take();
            let req_tp = pair.req_tp;
            let name = pair.name.clone();
            if let Some(tp_id) = old {
                let end = Verb::mapped(Body::TpEnded(verbs::TpEnded {
                    tp_id,
                    tp_type: values::HARD,
                }));
                self.submit(1, end, meta);
            }
            let ra = receive_allocate_verb(&name);
            self.submit(
                1,
                ra,
                Meta {
                    kind: Kind::ReceiveAllocate,
                    ..meta
                },
            );
            let allocate = Verb::mapped(Body::Allocate(verbs::Allocate {
                tp_id: req_tp,
                conv_type: values::MAPPED_CONVERSATION,
                sync_level: values::SYNC_CONFIRM,
                plu_alias: verbs::name("LU2"),
                mode_name: verbs::name("#INTER"),
                tp_name: verbs::name(&name),
                ..Default::default()
            }));
            self.submit(
                0,
                allocate,
                Meta {
                    side: 0,
                    kind: Kind::Allocate,
                    ..meta
                },
            );
            return;
        }
        if pair.req.is_none() && !pair.allocating {
            unreachable!("a requester end is always allocated or allocating");
        }
        if pair.resp.is_none() && !pair.receive_allocate {
            // The RECEIVE_ALLOCATE was cancelled: issue another; the attach
            // waits for it.
            pair.receive_allocate = true;
            let name = pair.name.clone();
            let meta = Meta {
                pair: i,
                side: 1,
                kind: Kind::ReceiveAllocate,
                conv: Conv::default(),
            };
            self.submit(1, receive_allocate_verb(&name), meta);
            return;
        }
        if pair.inflight.len() >= 4 {
            return;
        }
        if let (Some(tp_id), false, 0) = (pair.resp_tp, resp_dead, self.rng.below(500)) {
            // Now and then the responder TP ends (AP_HARD) under whatever
            // is going on; its verbs then find the TP gone.
            let end = Verb::mapped(Body::TpEnded(verbs::TpEnded {
                tp_id,
                tp_type: values::HARD,
            }));
            let meta = Meta {
                pair: i,
                side: 1,
                kind: Kind::TpEnded,
                conv: Conv::default(),
            };
            self.submit(1, end, meta);
            return;
        }
        let side = self.rng.below(2);
        let conv = if side == 0 { pair.req } else { pair.resp };
        let Some(conv) = conv else {
            return;
        };
        let verb = random_verb(&mut self.rng, conv);
        let meta = Meta {
            pair: i,
            side,
            kind: Kind::Conversation,
            conv,
        };
        self.submit(side, verb, meta);
    }
}

/// Offers `handle` to the canceller.
fn share(recent: &Mutex<VecDeque<(AppIx, u64)>>, app: AppIx, handle: Handle) {
    let mut recent = recent.lock().unwrap();
    if recent.len() >= RECENT {
        recent.pop_front();
    }
    recent.push_back((app, u64::from(handle)));
}

/// A blocking pair: its TP name, the requester TP, the requester and
/// responder conversations (`None`: not there or gone), the responder TP.
type BlockingPair = (String, TpId, Option<Conv>, Option<Conv>, Option<TpId>);

/// Pairs driven through the blocking entry point on one thread: each call's
/// hook publishes the call's handle to the canceller and cancels the call
/// itself (`WinAPPCCancelBlockingCall`) once it has waited a little (both
/// ends are on this thread, so a receive would otherwise wait forever).
struct Blocking<'a> {
    apps: [&'a Appc; 2],
    recent: &'a Mutex<VecDeque<(AppIx, u64)>>,
    /// Per pair: requester conv, responder conv and TP.
    pairs: Vec<BlockingPair>,
    tally: Tally,
    /// What each hook's `cancel_blocking_call` answered.
    hook_cancels: HashMap<(AppIx, u64), i32>,
    posts: Vec<(AppIx, Handle, Event)>,
    rng: Rng,
    calls: usize,
}

impl Blocking<'_> {
    /// One blocking call; the finished verb.
    fn call(&mut self, app: AppIx, verb: Verb) -> Verb {
        self.calls += 1;
        let patience = self.rng.below(3);
        let (mut seen, mut hooks, mut answer) = (None, 0, None);
        let engine = self.apps[app];
        let recent = self.recent;
        let verb = engine
            .call_with_hook(verb, |handle| {
                if seen.is_none() {
                    seen = Some(handle);
                    share(recent, app, handle);
                }
                hooks += 1;
                if hooks > patience && answer.is_none() {
                    assert!(engine.is_blocking());
                    answer = Some(engine.cancel_blocking_call());
                }
                true
            })
            .expect("accepted");
        if let Some(handle) = seen {
            let key = (app, u64::from(handle));
            self.tally.submitted += 1;
            self.tally.accepted.insert(key);
            self.tally
                .completions
                .entry(key)
                .or_default()
                .push(verb.primary_rc);
            if let Some(answer) = answer {
                assert!(answer == 0 || answer == WAPPCINVALID, "{answer:#x}");
                if answer == 0 {
                    Goals::count(&GOALS.hook_wins);
                }
                self.hook_cancels.insert(key, answer);
            }
        }
        let post = match &verb.body {
            Body::ReceiveAndPost(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::PostOnReceipt(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::TestRtsAndPost(v) => v.post.map(|p| (p, v.handle.clone())),
            _ => None,
        };
        if let Some((post, event)) = post {
            self.tally.submitted += 1;
            self.tally.accepted.insert((app, u64::from(post)));
            share(self.recent, app, post);
            self.posts.push((app, post, event));
        }
        verb
    }

    fn collect_posts(&mut self) {
        let mut i = 0;
        while i < self.posts.len() {
            let (app, post, ref event) = self.posts[i];
            if event.is_set() {
                self.posts.swap_remove(i);
                let verb = self.apps[app].collect(post).expect("a signalled post");
                self.tally
                    .completions
                    .entry((app, u64::from(post)))
                    .or_default()
                    .push(verb.primary_rc);
            } else {
                i += 1;
            }
        }
    }

    fn step(&mut self) {
        self.collect_posts();
        let i = self.rng.below(self.pairs.len());
        let (name, req_tp, req, resp, resp_tp) = self.pairs[i].clone();
        match (req, resp) {
            (None, None) => {
                if let Some(tp_id) = resp_tp {
                    let end = Verb::mapped(Body::TpEnded(verbs::TpEnded {
                        tp_id,
                        tp_type: values::HARD,
                    }));
                    self.call(1, end);
                    self.pairs[i].4 = None;
                }
                let allocate = self.call(
                    0,
                    Verb::mapped(Body::Allocate(verbs::Allocate {
                        tp_id: req_tp,
                        conv_type: values::MAPPED_CONVERSATION,
                        sync_level: values::SYNC_CONFIRM,
                        tp_name: verbs::name(&name),
                        ..Default::default()
                    })),
                );
                let Body::Allocate(v) = &allocate.body else {
                    unreachable!()
                };
                assert_eq!(allocate.primary_rc, P::OK);
                let conv = Conv {
                    tp_id: req_tp,
                    conv_id: v.conv_id,
                };
                let flush = self.call(0, Verb::mapped(Body::Flush(conv)));
                assert_eq!(flush.primary_rc, P::OK, "{flush:?}");
                self.pairs[i].2 = Some(conv);
                self.pairs[i].3 = None;
                self.receive_allocate(i);
            }
            (_, None) => self.receive_allocate(i),
            _ => {
                let side = self.rng.below(2);
                let Some(conv) = (if side == 0 { req } else { resp }) else {
                    return;
                };
                let verb = random_verb(&mut self.rng, conv);
                let verb = self.call(side, verb);
                if verb.primary_rc == P::PARAMETER_CHECK
                    && matches!(verb.secondary_rc, S::BAD_CONV_ID | S::BAD_TP_ID)
                {
                    if side == 0 {
                        self.pairs[i].2 = None;
                    } else {
                        self.pairs[i].3 = None;
                    }
                }
            }
        }
    }

    /// RECEIVE_ALLOCATE for pair `i`'s name: its attach is queued, so it
    /// completes at once unless a cancel gets it first (then retried later).
    fn receive_allocate(&mut self, i: usize) {
        let verb = self.call(1, receive_allocate_verb(&self.pairs[i].0.clone()));
        if verb.primary_rc == P::OK {
            let Body::ReceiveAllocate(v) = &verb.body else {
                unreachable!()
            };
            self.pairs[i].3 = Some(Conv {
                tp_id: v.tp_id,
                conv_id: v.conv_id,
            });
            self.pairs[i].4 = Some(v.tp_id);
        } else {
            assert!(
                verb.primary_rc == P::CANCELLED || verb.primary_rc == P(WAPPCCANCEL as u16),
                "{verb:?}"
            );
        }
    }
}

/// A random mapped conversation verb on `conv` (mostly ones that keep the
/// conversation going; deallocation now and then).
fn random_verb(rng: &mut Rng, conv: Conv) -> Verb {
    let data = |rng: &mut Rng| vec![b'd'; rng.below(64)];
    let receive = verbs::Receive {
        conv,
        fill: values::FILL_LL,
        max_len: 64,
        rtn_status: rng.below(2) == 0,
        ..Default::default()
    };
    let send = |rng: &mut Rng, send_type| {
        Body::SendData(verbs::SendData {
            conv,
            send_type,
            data: data(rng),
            rts_rcvd: false,
        })
    };
    let body = match rng.below(100) {
        0..=11 => send(rng, values::SEND_DATA_NONE),
        12..=17 => send(rng, values::SEND_DATA_FLUSH),
        18..=21 => send(rng, values::SEND_DATA_CONFIRM),
        22..=26 => send(rng, values::SEND_DATA_P_TO_R_FLUSH),
        27 => send(rng, values::SEND_DATA_DEALLOC_FLUSH),
        28..=31 => Body::Flush(conv),
        32..=35 => Body::Confirm(verbs::Confirm {
            conv,
            rts_rcvd: false,
        }),
        36..=43 => Body::Confirmed(conv),
        44..=48 => Body::PrepareToReceive(verbs::PrepareToReceive {
            conv,
            ptr_type: if rng.below(2) == 0 {
                values::FLUSH
            } else {
                values::SYNC_LEVEL
            },
            locks: values::LOCKS_SHORT,
        }),
        49..=62 => Body::ReceiveAndWait(receive),
        63..=67 => Body::ReceiveImmediate(receive),
        68..=72 => Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive,
            sema: Event::new(true),
            post: None,
        }),
        73..=76 => Body::PostOnReceipt(verbs::PostOnReceipt {
            conv,
            fill: values::FILL_LL,
            max_len: 8,
            sema: Event::new(true),
            post: None,
        }),
        77..=80 => Body::TestRtsAndPost(verbs::TestRtsAndPost {
            conv,
            handle: Event::new(true),
            post: None,
        }),
        81..=84 => Body::RequestToSend(conv),
        85..=86 => Body::TestRts(conv),
        87..=89 => Body::SendError(verbs::SendError {
            conv,
            err_type: values::ERR_PROG,
            err_dir: values::RCV_DIR_ERROR,
            ..Default::default()
        }),
        90 => Body::Deallocate(verbs::Deallocate {
            conv,
            dealloc_type: values::ABEND,
            log_data: Vec::new(),
        }),
        91 => Body::Deallocate(verbs::Deallocate {
            conv,
            dealloc_type: values::SYNC_LEVEL,
            log_data: Vec::new(),
        }),
        _ => Body::GetState(verbs::GetState {
            conv,
            conv_state: 0,
        }),
    };
    Verb::mapped(body)
}

/// Many conversations on several threads run random asynchronous verbs
/// while a canceller cancels random recent handles (live and stale) and
/// random numbers. Afterwards, once everything is cleaned up and drained:
/// every accepted task (posts included) had exactly one completion; every
/// cancel that answered 0 matches an `AP_CANCELLED` completion, at most once
/// per task; no cancel of a real task answered `WAPPCINVALID`; no garbage
/// cancel succeeded; nothing is left live. A hang fails the test.
#[test]
fn stress_cancels_race_random_conversations() {
    let (done_tx, done_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        let summary = stress_run();
        let _ = done_tx.send(summary);
    });
    match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(summary) => {
            runner.join().unwrap();
            eprintln!("{summary}");
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The run panicked: report its panic.
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
            unreachable!("the runner ended without a summary");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the stress run hung (deadlock?)"),
    }
}

fn stress_run() -> String {
    let node = Node::new();
    let (mut a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (mut b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    for i in 0..PAIRS {
        node.define_tp(&format!("P{i}"));
    }
    for i in 0..BLOCKING_PAIRS {
        node.define_tp(&format!("B{i}"));
    }
    let recent = Mutex::new(VecDeque::with_capacity(RECENT));
    let stop = AtomicBool::new(false);
    let cap = Instant::now() + RUN_CAP;
    let running = || !GOALS.met() && Instant::now() < cap;

    let (drivers, canceller, blocking) = thread::scope(|s| {
        let drivers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (apps, recent) = ([&a, &b], &recent);
                s.spawn(move || {
                    let (tx_a, rx_a) = apps[0].queue();
                    let (tx_b, rx_b) = apps[1].queue();
                    let pairs = (t..PAIRS)
                        .step_by(THREADS)
                        .map(|i| PairState {
                            name: format!("P{i}"),
                            req_tp: Tp::started(apps[0], MAPPED).tp_id,
                            req: None,
                            resp: None,
                            resp_tp: None,
                            allocating: false,
                            receive_allocate: false,
                            req_gone: false,
                            resp_gone: false,
                            inflight: VecDeque::new(),
                            last_progress: Instant::now(),
                            rounds: 0,
                        })
                        .collect();
                    let mut driver = Driver {
                        apps,
                        targets: [Target::Queue(tx_a), Target::Queue(tx_b)],
                        receivers: [rx_a, rx_b],
                        recent,
                        meta: HashMap::new(),
                        posts: Vec::new(),
                        pairs,
                        tally: Tally::default(),
                        rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1000_0001)),
                    };
                    while running() {
                        driver.pump();
                        for i in 0..driver.pairs.len() {
                            driver.tick(i);
                        }
                        thread::yield_now();
                    }
                    // Let the last completions in, then hand over what is
                    // still outstanding (cleanup cancels it).
                    driver.pump();
                    driver
                })
            })
            .collect();
        let blocking = s.spawn(|| {
            let mut driver = Blocking {
                apps: [&a, &b],
                recent: &recent,
                pairs: (0..BLOCKING_PAIRS)
                    .map(|i| {
                        (
                            format!("B{i}"),
                            Tp::started(&a, MAPPED).tp_id,
                            None,
                            None,
                            None,
                        )
                    })
                    .collect(),
                tally: Tally::default(),
                hook_cancels: HashMap::new(),
                posts: Vec::new(),
                rng: Rng(0x2545_F491_4F6C_DD1D),
                calls: 0,
            };
            while running() {
                driver.step();
            }
            driver.collect_posts();
            let posts: Vec<_> = driver.posts.iter().map(|&(app, h, _)| (app, h)).collect();
            (driver.tally, driver.hook_cancels, posts, driver.calls)
        });
        let canceller = s.spawn(|| {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03);
            let mut tally = Tally::default();
            let (mut garbage, mut hits) = (0usize, 0usize);
            while running() && !stop.load(Ordering::Relaxed) {
                let pick = {
                    let recent = recent.lock().unwrap();
                    // Half the time one of the newest handles, which are
                    // the likeliest to be still pending.
                    let len = recent.len();
                    let from = if rng.below(2) == 0 {
                        len.saturating_sub(8)
                    } else {
                        0
                    };
                    (len > 0).then(|| recent[from + rng.below(len - from)])
                };
                if rng.below(8) == 0 {
                    // Garbage: random numbers, and a real handle given to
                    // the other application.
                    let random = rng.next();
                    for app in [&a, &b] {
                        assert_ne!(app.cancel(random), CancelOutcome::Cancelled);
                    }
                    if let Some((app, handle)) = pick {
                        let other = [&a, &b][1 - app];
                        assert_eq!(other.cancel(handle), CancelOutcome::Invalid);
                    }
                    garbage += 1;
                } else if let Some((app, handle)) = pick {
                    let outcome = [&a, &b][app].cancel(handle);
                    if outcome == CancelOutcome::Cancelled {
                        hits += 1;
                        Goals::count(&GOALS.cancel_wins);
                    }
                    tally
                        .cancels
                        .entry((app, handle))
                        .or_default()
                        .push(outcome);
                }
                if rng.below(16) == 0 {
                    thread::sleep(Duration::from_micros(20));
                }
            }
            (tally, garbage, hits)
        });
        let drivers: Vec<Driver<'_>> = drivers
            .into_iter()
            .map(|d| d.join().expect("driver panicked"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let canceller = canceller.join().expect("canceller panicked");
        let blocking = blocking.join().expect("blocking driver panicked");
        // Detach the drivers from the borrowed applications.
        let drivers: Vec<_> = drivers
            .into_iter()
            .map(|d| (d.receivers, d.meta, d.posts, d.tally, rounds(&d.pairs)))
            .collect();
        (drivers, canceller, blocking)
    });

    // Everything still outstanding is cancelled by the cleanups.
    assert!(a.cleanup());
    assert!(b.cleanup());
    let apps = [&a, &b];
    let mut total = Tally::default();
    let mut outstanding_at_end = 0;
    let mut reconnections = 0;
    for (mut receivers, mut meta, posts, tally, rounds) in drivers {
        outstanding_at_end += meta.len();
        reconnections += rounds;
        total.merge(tally);
        let mut record = |app: AppIx, handle: Handle, verb: &Verb, total: &mut Tally| {
            total
                .completions
                .entry((app, u64::from(handle)))
                .or_default()
                .push(verb.primary_rc);
            meta.remove(&(app, handle))
                .expect("a completion for a task the driver issued");
        };
        let mut posts: Vec<_> = posts.into_iter().map(|(app, h, _)| (app, h)).collect();
        for (app, receiver) in receivers.iter_mut().enumerate() {
            while let Some(done) = receiver.try_recv() {
                record(app, done.handle, &done.verb, &mut total);
                // A posting verb completed at the very end: its post too.
                let post = match &done.verb.body {
                    Body::ReceiveAndPost(v) => v.post,
                    Body::PostOnReceipt(v) => v.post,
                    Body::TestRtsAndPost(v) => v.post,
                    _ => None,
                };
                if let Some(post) = post {
                    total.accepted.insert((app, u64::from(post)));
                    posts.push((app, post));
                }
            }
        }
        for (app, post) in posts {
            let verb = apps[app].collect(post).expect("every post is finished");
            total
                .completions
                .entry((app, u64::from(post)))
                .or_default()
                .push(verb.primary_rc);
            meta.remove(&(app, post));
        }
        assert!(
            meta.is_empty(),
            "tasks without a completion: {}",
            meta.len()
        );
    }
    let (cancel_tally, garbage, hits) = canceller;
    total.merge(cancel_tally);
    let (blocking_tally, hook_cancels, blocking_posts, blocking_calls) = blocking;
    total.merge(blocking_tally);
    for (app, post) in blocking_posts {
        let verb = apps[app].collect(post).expect("every post is finished");
        total
            .completions
            .entry((app, u64::from(post)))
            .or_default()
            .push(verb.primary_rc);
    }
    // A blocking call cancelled from its hook returned WAPPCCANCEL, unless
    // the canceller's cancel won first (then AP_CANCELLED); never both.
    let mut hook_wins = 0;
    for (key, &answer) in &hook_cancels {
        let async_wins = total.cancels.get(key).map_or(0, |outcomes| {
            outcomes
                .iter()
                .filter(|&&o| o == CancelOutcome::Cancelled)
                .count()
        });
        let rc = total.completions[key][0];
        if answer == 0 {
            hook_wins += 1;
            assert_eq!(async_wins, 0, "{key:?} cancelled by both");
            assert_eq!(rc, P(WAPPCCANCEL as u16), "{key:?}");
        } else {
            assert_ne!(rc, P(WAPPCCANCEL as u16), "{key:?}");
        }
    }
    assert!(
        hook_wins >= Goals::HOOK_WINS,
        "{hook_wins} blocking calls cancelled from their hook in {RUN_CAP:?}"
    );

    // Exactly one completion per accepted task, and none for anything else.
    for key in &total.accepted {
        let got = total.completions.get(key).map_or(0, Vec::len);
        assert_eq!(got, 1, "task {key:?}: {:?}", total.completions.get(key));
    }
    for key in total.completions.keys() {
        assert!(
            total.accepted.contains(key),
            "completion of unknown {key:?}"
        );
    }
    // Every cancel answer agrees with what was delivered.
    let mut cancelled = 0;
    for (key, outcomes) in &total.cancels {
        assert!(total.accepted.contains(key), "cancel of unknown {key:?}");
        let wins = outcomes
            .iter()
            .filter(|&&o| o == CancelOutcome::Cancelled)
            .count();
        assert!(wins <= 1, "task {key:?} cancelled twice: {outcomes:?}");
        assert!(
            !outcomes.contains(&CancelOutcome::Invalid),
            "a real task was WAPPCINVALID: {key:?}"
        );
        let rc = total.completions[key][0];
        if wins == 1 {
            cancelled += 1;
            assert_eq!(
                rc,
                P::CANCELLED,
                "task {key:?} cancelled but completed {rc:?}"
            );
        }
    }
    assert_eq!(a.stats().live_tasks, 0);
    assert_eq!(b.stats().live_tasks, 0);
    assert!(
        total.submitted >= Goals::SUBMITTED,
        "{} tasks in {RUN_CAP:?}",
        total.submitted
    );
    assert!(
        hits >= Goals::CANCEL_WINS && cancelled >= hits,
        "{hits} cancels won in {RUN_CAP:?}"
    );
    let count = |rc: P| {
        total
            .completions
            .values()
            .filter(|rcs| rcs[0] == rc)
            .count()
    };
    let failures = count(P::CONV_FAILURE_RETRY);
    assert!(
        failures >= Goals::RETRY_FAILURES,
        "{failures} partners saw a cancel's session failure in {RUN_CAP:?}"
    );
    format!(
        "stress: {} tasks, {} cancels ({cancelled} won), {garbage} garbage cancels, \
         {reconnections} conversations, {outstanding_at_end} outstanding at the end; \
         completions: {} AP_OK, {} AP_CANCELLED, {failures} AP_CONV_FAILURE_RETRY",
        total.submitted,
        total.cancels.values().map(Vec::len).sum::<usize>(),
        count(P::OK),
        count(P::CANCELLED),
    ) + &format!("; {blocking_calls} blocking calls, {hook_wins} cancelled from the hook")
}

fn rounds(pairs: &[PairState]) -> usize {
    pairs.iter().map(|p| p.rounds).sum()
}

/// One application's share of a concurrent load: random asynchronous verbs
/// on its ends of some conversations, with its own cancels, and the tally
/// of what it accepted, what completed and what its cancels answered.
struct Load {
    target: Target<Verb>,
    rx: Receiver<Verb>,
    posts: Vec<(Handle, Event)>,
    accepted: HashSet<u64>,
    completions: HashMap<u64, Vec<P>>,
    cancels: HashMap<u64, Vec<CancelOutcome>>,
    recent: VecDeque<Handle>,
    rng: Rng,
}

impl Load {
    fn new(app: &Appc, seed: u64) -> Self {
        let (tx, rx) = app.queue();
        Load {
            target: Target::Queue(tx),
            rx,
            posts: Vec::new(),
            accepted: HashSet::new(),
            completions: HashMap::new(),
            cancels: HashMap::new(),
            recent: VecDeque::new(),
            rng: Rng(seed),
        }
    }

    /// One step: a random verb on a random conversation, or a cancel of a
    /// recent task; then whatever completed.
    fn step(&mut self, app: &Appc, convs: &[Conv]) {
        if self.rng.below(6) == 0 && !self.recent.is_empty() {
            let handle = self.recent[self.rng.below(self.recent.len())];
            let outcome = app.cancel(handle);
            self.cancels
                .entry(u64::from(handle))
                .or_default()
                .push(outcome);
        } else {
            let conv = convs[self.rng.below(convs.len())];
            let verb = random_verb(&mut self.rng, conv);
            let handle = app.submit(verb, &self.target).expect("accepted");
            assert!(self.accepted.insert(u64::from(handle)));
            if self.recent.len() == 64 {
                self.recent.pop_front();
            }
            self.recent.push_back(handle);
        }
        self.pump(app);
    }

    fn pump(&mut self, app: &Appc) {
        while let Some(done) = self.rx.try_recv() {
            self.completed(done.handle, &done.verb);
        }
        let mut i = 0;
        while i < self.posts.len() {
            if self.posts[i].1.is_set() {
                let (post, _) = self.posts.swap_remove(i);
                let verb = app.collect(post).expect("a signalled post");
                self.completed(post, &verb);
            } else {
                i += 1;
            }
        }
    }

    fn completed(&mut self, handle: Handle, verb: &Verb) {
        self.completions
            .entry(u64::from(handle))
            .or_default()
            .push(verb.primary_rc);
        let post = match &verb.body {
            Body::ReceiveAndPost(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::PostOnReceipt(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::TestRtsAndPost(v) => v.post.map(|p| (p, v.handle.clone())),
            _ => None,
        };
        // A collected post carries the same `post` field as its initial
        // completion; only the initial one introduces the task.
        if let Some((post, event)) = post {
            if post != handle && self.accepted.insert(u64::from(post)) {
                self.posts.push((post, event));
            }
        }
    }

    /// After cleanup, with every completion in: checks the tally.
    fn check(mut self, app: &Appc) {
        self.pump(app);
        assert!(self.posts.is_empty(), "posts never signalled");
        for key in &self.accepted {
            let got = self.completions.get(key).map_or(0, Vec::len);
            assert_eq!(got, 1, "task {key:#x}: {:?}", self.completions.get(key));
        }
        for key in self.completions.keys() {
            assert!(
                self.accepted.contains(key),
                "completion of unknown {key:#x}"
            );
        }
        for (key, outcomes) in &self.cancels {
            let wins = outcomes
                .iter()
                .filter(|&&o| o == CancelOutcome::Cancelled)
                .count();
            assert!(wins <= 1 && !outcomes.contains(&CancelOutcome::Invalid));
            if wins == 1 {
                assert_eq!(self.completions[key][0], P::CANCELLED, "{key:#x}");
            }
        }
        assert_eq!(app.stats().live_tasks, 0);
    }
}

/// Cleanup of one application while its partner application keeps issuing
/// and cancelling verbs on the same conversations from another thread: no
/// deadlock, exactly one completion per task on both sides, every one of
/// the partner's conversations ends, and both engines drain.
#[test]
fn cleanup_while_the_partner_application_is_busy() {
    let (done_tx, done_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        for round in 0..20 {
            cleanup_under_load(round);
        }
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(()) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("cleanup under load hung (deadlock?)"),
    }
}

fn cleanup_under_load(round: u64) {
    let (node, mut a, mut b) = setup();
    let (reqs, resps): (Vec<Conv>, Vec<Conv>) = (0..16)
        .map(|_| {
            let (req, resp) = connect(&a, &b, MAPPED, SYNC_CONFIRM);
            (req.conv, resp.conv)
        })
        .unzip();
    let cleaned = AtomicBool::new(false);
    let mut a_load = Load::new(&a, 0x5A5A + round);
    let b_load = thread::scope(|s| {
        let (b, resps, cleaned, node) = (&b, &resps, &cleaned, &node);
        let partner = s.spawn(move || {
            let mut load = Load::new(b, 0xA5A5 + round);
            // Until the other application is cleaned up and every
            // conversation has ended on this side too.
            let mut steps = 0u64;
            loop {
                load.step(b, resps);
                steps += 1;
                if steps % 64 == 0
                    && cleaned.load(Ordering::Acquire)
                    && format!("{node:?}").ends_with("conversations: 0 }")
                {
                    return load;
                }
            }
        });
        let until = Instant::now() + Duration::from_millis(30);
        while Instant::now() < until {
            a_load.step(&a, &reqs);
        }
        // In the middle of the partner's traffic.
        assert!(a.cleanup());
        cleaned.store(true, Ordering::Release);
        partner.join().expect("partner panicked")
    });
    a_load.check(&a);
    assert!(b.cleanup());
    b_load.check(&b);
}
