//! The KB regressions of `docs/api.md#known-problems-in-his-that-the-tests-guard-against`,
//! and the attach queue limit.

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::verbs::{self, values, Body};
use appc_engine::{Event, Target};

// ---------------------------------------------------------------------------
// KB regressions (`docs/api.md#known-problems-in-his-that-the-tests-guard-against`)
// ---------------------------------------------------------------------------

/// Q108071: cancelling a verb that already completed is WAPPCALREADY,
/// also while its completion is still queued, and it tears nothing down.
#[test]
fn kb_q108071_cancel_of_a_completed_verb_is_already() {
    use appc_engine::CancelOutcome;
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let (tx, mut rx) = b.queue();
    let h = b
        .submit(
            resp.verb(Body::ReceiveAndWait(verbs::Receive {
                conv: resp.conv,
                max_len: 10,
                ..Default::default()
            })),
            &Target::Queue(tx),
        )
        .unwrap();
    req.send_data(b"done", values::SEND_DATA_FLUSH).ok();
    // Completed; the completion waits in the queue.
    assert_eq!(b.cancel(h), CancelOutcome::AlreadyCompleted);
    let completion = rx.recv();
    assert_eq!(completion.handle, h);
    Res::of(&completion.verb).ok().data(b"done");
    assert_eq!(b.cancel(h), CancelOutcome::AlreadyCompleted);
    // The conversation was not torn down.
    req.send_data(b"more", values::SEND_DATA_FLUSH).ok();
    resp.receive_and_wait(10).ok().data(b"more");
    // An event task completed at once and not yet collected.
    let ev = Event::new(false);
    let h = resp.submit(Body::TestRts(resp.conv), &ev);
    assert_eq!(b.cancel(h).code(), appc_engine::WAPPCALREADY);
    resp.wait(&ev, h).rc(P::UNSUCCESSFUL);
}

/// Q194082: a posting verb's initial completion and its post signal
/// distinct events: the entry point's target, then `sema` / `handle`.
#[test]
fn kb_q194082_post_and_completion_signal_distinct_events() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let (e1, e2) = (Event::new(true), Event::new(true));
    let h = resp.submit(
        Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive: verbs::Receive {
                conv: resp.conv,
                max_len: 10,
                ..Default::default()
            },
            sema: e2.clone(),
            post: None,
        }),
        &e1,
    );
    let initial = resp.wait(&e1, h).ok();
    assert!(!e2.is_set());
    e1.reset();
    req.send_data(b"p", values::SEND_DATA_FLUSH).ok();
    assert!(e2.is_set());
    assert!(!e1.is_set(), "the post signalled the completion event");
    resp.post_result(&e2, &initial).ok().data(b"p");

    // TEST_RTS_AND_POST likewise.
    e2.reset();
    let h = req.submit(
        Body::TestRtsAndPost(verbs::TestRtsAndPost {
            conv: req.conv,
            handle: e2.clone(),
            post: None,
        }),
        &e1,
    );
    let initial = req.wait(&e1, h).ok();
    e1.reset();
    assert!(!e2.is_set());
    resp.request_to_send().ok();
    assert!(e2.is_set());
    assert!(!e1.is_set());
    req.post_result(&e2, &initial).ok();
}

/// Q180789: TP_ENDED with a RECEIVE_AND_POST outstanding gives the post
/// its final completion (AP_CANCELLED) exactly once; nothing is written
/// or signalled after it.
#[test]
fn kb_q180789_nothing_after_the_final_completion() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let sema = Event::new(false);
    let initial = resp.receive_and_post(10, &sema).ok();
    let post = initial.post.unwrap();
    resp.end().ok();
    let last = resp.post_result(&sema, &initial).rc(P::CANCELLED);
    assert!(last.data.is_empty());
    // The partner keeps going; the ended TP's verb hears nothing more.
    req.send_data(b"late", values::SEND_DATA_FLUSH)
        .rc(P::DEALLOC_ABEND);
    assert!(!sema.is_set(), "signalled after the final completion");
    assert_eq!(
        b.collect(post).unwrap_err(),
        appc_engine::CollectError::Collected
    );
    resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_TP_ID);
}

/// Q182578: an error and a confirm-deallocate on one conversation leave
/// nothing behind: on the next conversation CONFIRMED after
/// CONFIRM_DEALLOCATE completes both sides.
#[test]
fn kb_q182578_confirmed_after_confirm_deallocate_on_a_later_conversation() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            // First conversation: the deallocation is refused by an error.
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.deallocate(SYNC_LEVEL).rc(P::PROG_ERROR_PURGING);
            req.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
            // Second conversation: confirm-deallocate, CONFIRMED.
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.send_data(b"2", values::SEND_DATA_NONE).ok();
            req.deallocate(SYNC_LEVEL).ok();
            req.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        },
        || {
            let first = Tp::receive_allocate(&b, RESP);
            first.receive_and_wait(10).ok().what(W::CONFIRM_DEALLOCATE);
            first.send_error_prog().ok();
            first.deallocate(FLUSH).ok();
            first.end().ok();
            let second = Tp::receive_allocate(&b, RESP);
            second
                .receive_with(FILL_LL, 10, true)
                .ok()
                .what(W::DATA_COMPLETE_CONFIRM_DEALL);
            second.confirmed().ok();
            second.end().ok();
        },
    );
}

/// The attach queue limit Microsoft's Host Integration Server documents
/// (`RECEIVE_ALLOCATE_EX`: a server queues up to 2,048 attaches while no
/// RECEIVE_ALLOCATE is outstanding and rejects the next with sense
/// `084B6031`): a full queue of attaches, each taken in order by
/// RECEIVE_ALLOCATE (each conversation's first record names its place), and
/// the 2,049th refused as `AP_ALLOCATION_ERROR` /
/// `AP_TRANS_PGM_NOT_AVAIL_RETRY` on the verb after the flush (as any
/// refused attach, see `allocation_error_surfaces_on_a_later_verb`). KB
/// Q140833 (a counter that overflowed past 65,535 attaches) too: the queue
/// is filled and emptied until more than 65,535 attaches went through it,
/// and every one is accepted and taken in order.
#[test]
fn attach_queue_limit_and_kb_q140833_more_than_65535_attaches() {
    use appc::MAX_QUEUED_ATTACHES;
    assert_eq!(MAX_QUEUED_ATTACHES, 2048);
    let rounds = 65_535 / MAX_QUEUED_ATTACHES + 1;
    let (_node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    let mut sent = 0u32;
    for round in 0..rounds {
        for _ in 0..MAX_QUEUED_ATTACHES {
            req.allocate(RESP, SYNC_NONE).ok();
            req.send_data(&sent.to_be_bytes(), values::SEND_DATA_FLUSH)
                .ok();
            sent += 1;
        }
        if round == 0 {
            // The queue is full: the next attach is refused, as documented.
            req.allocate(RESP, SYNC_NONE).ok();
            req.flush().ok();
            req.send_data(b"refused", values::SEND_DATA_FLUSH)
                .rc2(P::ALLOCATION_ERROR, S::TRANS_PGM_NOT_AVAIL_RETRY);
        }
        let first = sent - MAX_QUEUED_ATTACHES as u32;
        for expected in first..sent {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10)
                .ok()
                .what(W::DATA_COMPLETE)
                .data(&expected.to_be_bytes());
        }
    }
    assert!(sent > 65_535);
    // Nothing else is queued.
    let ev = Event::new(false);
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Event(ev.clone()))
        .unwrap();
    assert!(!ev.is_set());
    assert_eq!(b.cancel(ra), appc_engine::CancelOutcome::Cancelled);
}

/// The queue limit is the node's to set: with 1, the second attach is
/// refused; lifted (`usize::MAX`), attaches far past the default queue,
/// and every one is taken in order.
#[test]
fn the_attach_queue_limit_can_be_set() {
    let (node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    node.set_max_queued_attaches(1);
    req.allocate(RESP, SYNC_NONE).ok();
    req.send_data(b"first", values::SEND_DATA_FLUSH).ok();
    req.allocate(RESP, SYNC_NONE).ok();
    req.flush().ok();
    req.send_data(b"refused", values::SEND_DATA_FLUSH)
        .rc2(P::ALLOCATION_ERROR, S::TRANS_PGM_NOT_AVAIL_RETRY);
    assert_eq!(node.queued_attaches(), 1);
    node.set_max_queued_attaches(usize::MAX);
    let more = appc::MAX_QUEUED_ATTACHES as u32 + 100;
    for i in 0..more {
        req.allocate(RESP, SYNC_NONE).ok();
        req.send_data(&i.to_be_bytes(), values::SEND_DATA_FLUSH)
            .ok();
    }
    assert_eq!(node.queued_attaches(), more as usize + 1);
    Tp::receive_allocate(&b, RESP)
        .receive_and_wait(10)
        .ok()
        .data(b"first");
    for i in 0..more {
        Tp::receive_allocate(&b, RESP)
            .receive_and_wait(10)
            .ok()
            .data(&i.to_be_bytes());
    }
    assert_eq!(node.queued_attaches(), 0);
}
