//! The posting verbs: REQUEST_TO_SEND overtaking data, TEST_RTS_AND_POST,
//! RECEIVE_IMMEDIATE, RECEIVE_AND_POST and POST_ON_RECEIPT, a zero
//! `max_len` probe, and completions to a queue or a port.

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{self, values, Body};
use appc_engine::{Event, Target};

// ---------------------------------------------------------------------------
// REQUEST_TO_SEND, TEST_RTS, TEST_RTS_AND_POST (`docs/api.md#posting-verbs`, `docs/api.md#buffering-and-flushing`)
// ---------------------------------------------------------------------------

/// RTS overtakes the data in flight: the sender sees rts_rcvd on its next
/// verb although the receiver has not received the data yet; it changes
/// no state and is reported once.
#[test]
fn request_to_send_overtakes_data() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_CONFIRM);
    req.send_data(b"in flight", values::SEND_DATA_FLUSH)
        .ok()
        .rts(false);
    resp.request_to_send().ok();
    assert_eq!(resp.state(), ConvState::Receive);
    req.send_data(b"next", values::SEND_DATA_NONE)
        .ok()
        .rts(true);
    req.test_rts().rc(P::UNSUCCESSFUL);
    resp.request_to_send().ok();
    req.test_rts().ok();
    req.test_rts().rc(P::UNSUCCESSFUL);
    resp.request_to_send().ok();
    assert_eq!(req.state(), ConvState::Send);
    req.prepare_to_receive(FLUSH).ok();
    // A pending RTS is still reported by the receive: TEST_RTS was not
    // issued this time.
    req.receive_immediate(10).rc(P::UNSUCCESSFUL);
    resp.receive_and_wait(100).ok().data(b"in flight");
    resp.receive_and_wait(100).ok().data(b"next");
    resp.receive_and_wait(100).ok().what(W::SEND);
    // REQUEST_TO_SEND in SEND is a state check.
    resp.request_to_send()
        .rc2(P::STATE_CHECK, S::R_T_S_BAD_STATE);
    resp.send_data(b"r", values::SEND_DATA_P_TO_R_FLUSH).ok();
    req.receive_and_wait(10).ok().data(b"r").rts(true);
}

/// TEST_RTS_AND_POST: the initial AP_OK only registers; the post fires
/// when the partner's RTS arrives, or at once when one is already
/// pending; a deallocation cancels a registration.
#[test]
fn test_rts_and_post() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let post = Event::new(false);
    let initial = req.test_rts_and_post(&post).ok();
    assert!(initial.post.is_some());
    assert!(!post.is_set());
    assert_eq!(req.state(), ConvState::Send);
    resp.request_to_send().ok();
    req.post_result(&post, &initial).ok();
    // The RTS went to the post, not to the next verb.
    req.test_rts().rc(P::UNSUCCESSFUL);

    // Already pending: the post fires before the initial call returns.
    resp.request_to_send().ok();
    let initial = req.test_rts_and_post(&post).ok();
    assert!(post.is_set());
    req.post_result(&post, &initial).ok();

    // The conversation ends: the registration ends with AP_CANCELLED.
    let initial = req.test_rts_and_post(&post).ok();
    req.deallocate(FLUSH).ok();
    req.post_result(&post, &initial).rc(P::CANCELLED);
    resp.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
}

// ---------------------------------------------------------------------------
// RECEIVE_IMMEDIATE, RECEIVE_AND_POST, POST_ON_RECEIPT (`docs/api.md#posting-verbs`)
// ---------------------------------------------------------------------------

/// RECEIVE_IMMEDIATE never waits: AP_UNSUCCESSFUL with nothing there, no
/// state change.
#[test]
fn receive_immediate_with_nothing_is_unsuccessful() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    resp.receive_immediate(10).rc2(P::UNSUCCESSFUL, S(0));
    assert_eq!(resp.state(), ConvState::Receive);
    req.send_data(b"now", values::SEND_DATA_FLUSH).ok();
    resp.receive_immediate(10).ok().data(b"now");
    resp.receive_immediate(10).rc(P::UNSUCCESSFUL);
}

/// RECEIVE_AND_POST: initial AP_OK with a post task, PENDING_POST while
/// outstanding; the post completes on `sema` and carries the data.
#[test]
fn receive_and_post() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let sema = Event::new(false);
    let initial = resp.receive_and_post(100, &sema).ok();
    assert!(initial.post.is_some());
    assert_eq!(resp.state(), ConvState::PendingPost);
    assert!(!sema.is_set());
    req.send_data(b"posted", values::SEND_DATA_FLUSH).ok();
    resp.post_result(&sema, &initial)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"posted");
    assert_eq!(resp.state(), ConvState::Receive);
    // Already there: the post completes before the initial call returns.
    req.send_data(b"", values::SEND_DATA_P_TO_R_FLUSH).ok();
    let initial = resp.receive_and_post(100, &sema).ok();
    resp.post_result(&sema, &initial)
        .ok()
        .what(W::DATA_COMPLETE);
    let initial = resp.receive_and_post(100, &sema).ok();
    resp.post_result(&sema, &initial).ok().what(W::SEND);
    assert_eq!(resp.state(), ConvState::Send);
}

/// POST_ON_RECEIPT: AP_OK with AP_DATA once enough data is there (the data
/// stays to be received), AP_NOT_DATA when a status is next; RECEIVE only.
#[test]
fn post_on_receipt() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    let sema = Event::new(true);
    let initial = resp.post_on_receipt(6, &sema).ok();
    assert_eq!(resp.state(), ConvState::Receive);
    req.send_data(&ll(b"ab"), values::SEND_DATA_FLUSH).ok();
    assert!(!sema.is_set(), "4 bytes are below the threshold of 6");
    req.send_data(&ll(b"cd"), values::SEND_DATA_FLUSH).ok();
    resp.post_result(&sema, &initial)
        .rc2(P::OK, S(u32::from(W::DATA.0)));
    sema.reset();
    resp.receive_immediate(100).ok().data(&ll(b"ab"));
    resp.receive_immediate(100).ok().data(&ll(b"cd"));
    let initial = resp.post_on_receipt(1, &sema).ok();
    req.prepare_to_receive(FLUSH).ok();
    resp.post_result(&sema, &initial)
        .rc2(P::OK, S(u32::from(W::NOT_DATA.0)));
    resp.receive_immediate(100).ok().what(W::SEND);
    let initial = resp.post_on_receipt(1, &sema);
    initial.rc(P::STATE_CHECK);
}

// ---------------------------------------------------------------------------
// Posting verbs: max_len 0 and queue / port targets (`docs/api.md#posting-verbs`, `docs/api.md#buffering-and-flushing`)
// ---------------------------------------------------------------------------

/// RECEIVE_AND_POST with max_len 0 probes: its post reports that data is
/// waiting (DATA_INCOMPLETE, no bytes, nothing taken), or the status that
/// is next.
#[test]
fn receive_and_post_max_len_zero_probes_for_status() {
    for mapped in [MAPPED, BASIC] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_NONE);
        let record = if mapped {
            b"probe".to_vec()
        } else {
            ll(b"probe")
        };
        let sema = Event::new(false);
        let initial = resp.receive_and_post(0, &sema).ok();
        assert_eq!(resp.state(), ConvState::PendingPost);
        assert!(!sema.is_set());
        req.send_data(&record, values::SEND_DATA_FLUSH).ok();
        resp.post_result(&sema, &initial)
            .ok()
            .what(W::DATA_INCOMPLETE)
            .data(b"");
        assert_eq!(resp.state(), ConvState::Receive);
        resp.receive_and_wait(100)
            .ok()
            .what(W::DATA_COMPLETE)
            .data(&record);
        req.prepare_to_receive(FLUSH).ok();
        let initial = resp.receive_and_post(0, &sema).ok();
        resp.post_result(&sema, &initial)
            .ok()
            .what(W::SEND)
            .data(b"");
        assert_eq!(resp.state(), ConvState::Send);
    }
}

/// A posting verb's initial completion goes to the entry point's queue or
/// port (the port's key, token and bytes untouched); its post goes to its
/// own event only, never to the queue or port.
#[test]
fn posting_verbs_complete_to_queue_and_port_and_post_to_the_event() {
    use std::time::Duration;
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let sema = Event::new(false);
    let receive_and_post = || {
        resp.verb(Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive: verbs::Receive {
                conv: resp.conv,
                max_len: 10,
                ..Default::default()
            },
            sema: sema.clone(),
            post: None,
        }))
    };

    // Queue.
    let (tx, mut rx) = b.queue();
    let h = b.submit(receive_and_post(), &Target::Queue(tx)).unwrap();
    let completion = rx.recv();
    assert_eq!(completion.handle, h);
    let initial = Res::of(&completion.verb).ok();
    assert_ne!(initial.post, Some(h));
    assert_eq!(resp.state(), ConvState::PendingPost);
    assert!(!sema.is_set());
    req.send_data(b"queued", values::SEND_DATA_FLUSH).ok();
    resp.post_result(&sema, &initial).ok().data(b"queued");
    assert!(rx.try_recv().is_none(), "the post went to the queue");

    // Port.
    let port = b.port();
    let target = Target::Port {
        port: port.clone(),
        key: 0xFEED_F00D,
        token: usize::MAX - 3,
        bytes: 1234,
    };
    let h = b.submit(receive_and_post(), &target).unwrap();
    let packet = port.get(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        (packet.key, packet.token, packet.bytes, packet.handle),
        (0xFEED_F00D, usize::MAX - 3, 1234, h)
    );
    let initial = Res::of(&packet.verb).ok();
    assert!(!sema.is_set());
    req.send_data(b"ported", values::SEND_DATA_FLUSH).ok();
    resp.post_result(&sema, &initial).ok().data(b"ported");
    assert!(port.try_get().is_none(), "the post went to the port");

    // TEST_RTS_AND_POST through the requester application's port.
    let port = a.port();
    let h = a
        .submit(
            req.verb(Body::TestRtsAndPost(verbs::TestRtsAndPost {
                conv: req.conv,
                handle: sema.clone(),
                post: None,
            })),
            &Target::Port {
                port: port.clone(),
                key: 7,
                token: 8,
                bytes: 9,
            },
        )
        .unwrap();
    let packet = port.get(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        (packet.key, packet.token, packet.bytes, packet.handle),
        (7, 8, 9, h)
    );
    let initial = Res::of(&packet.verb).ok();
    assert!(!sema.is_set());
    resp.request_to_send().ok();
    req.post_result(&sema, &initial).ok();
    assert!(port.try_get().is_none(), "the post went to the port");
}
