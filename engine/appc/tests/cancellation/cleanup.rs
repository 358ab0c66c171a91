//! `WinAPPCCleanup`: every TP of the application ends, and startup, cleanup
//! and startup again on one thread.

use crate::support::*;
use crate::{block_on, connect, gone, receive_body, submit_receive, WAIT};
use appc::rc::{PrimaryRc as P, WhatRcvd as W};
use appc::verbs::{self, values, Body, Verb};
use appc::{Appc, Node};
use appc_engine::{Event, Handle, Reason, Target, WAPPCCANCEL, WAPPCINVALID, WINAPPC_VERSION};
use std::collections::HashMap;

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
