//! Startup, ALLOCATE and SEND_DATA buffering until a flush, change of
//! direction (`what_rcvd` with its combined statuses), and CONFIRM /
//! CONFIRMED with the sync-level forms of PREPARE_TO_RECEIVE and
//! DEALLOCATE.

use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{values, Body, Verb};
use appc::SEND_BUFFER;
use appc_engine::{Event, Target};

// ---------------------------------------------------------------------------
// ALLOCATE and SEND_DATA buffering (`docs/api.md#buffering-and-flushing`)
// ---------------------------------------------------------------------------

/// `WinAPPCStartup` refuses the versions the engine refuses, and a 1.x
/// request is granted as 1.0.
#[test]
fn startup_refuses_versions_as_the_engine_does() {
    use appc::{Appc, Node};
    use appc_engine::{StartupError, WAPPCINVALID, WAPPCVERNOTSUPPORTED, WINAPPC_VERSION};
    let node = Node::new();
    for below in [0x0000, 0x0100, 0xFF00] {
        let err = Appc::startup(below, &node).unwrap_err();
        assert_eq!((err, err.code()), (StartupError::Invalid, WAPPCINVALID));
    }
    for above in [0x0002, 0x0102, 0x00FF] {
        let err = Appc::startup(above, &node).unwrap_err();
        assert_eq!(
            (err, err.code()),
            (StartupError::VersionNotSupported, WAPPCVERNOTSUPPORTED)
        );
    }
    // 1.x is granted as 1.0, and the refusals left the node usable.
    let (app, data) = Appc::startup(0x0501, &node).expect("1.5 is granted");
    assert_eq!(data.version, WINAPPC_VERSION);
    let v = app
        .call(Verb::mapped(Body::TpStarted(Default::default())))
        .expect("accepted");
    assert_eq!(v.primary_rc, P::OK);
}

/// The attach and the data wait in the send buffer: nothing reaches the
/// responder until FLUSH.
#[test]
fn allocate_and_send_data_are_buffered_until_flush() {
    let (_node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.send_data(b"one", values::SEND_DATA_NONE).ok();
    // Nothing flowed: no attach is waiting for RESP yet. A second TP name
    // check: RECEIVE_ALLOCATE would block, so probe with an async one.
    let ev = Event::new(true);
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Event(ev.clone()))
        .unwrap();
    assert!(!ev.is_set(), "the attach flowed before any flush");
    req.flush().ok();
    ev.wait();
    let resp = Tp::accepted(&b, &b.collect(ra).unwrap());
    resp.receive_immediate(100)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"one");
    resp.receive_immediate(100).rc(P::UNSUCCESSFUL);
    req.send_data(b"two", values::SEND_DATA_NONE).ok();
    resp.receive_immediate(100).rc(P::UNSUCCESSFUL);
    req.flush().ok();
    resp.receive_immediate(100).ok().data(b"two");
}

/// Each verb that flushes makes the buffered data visible: CONFIRM,
/// DEALLOCATE, PREPARE_TO_RECEIVE, a receive in SEND, a combined
/// SEND_DATA type.
#[test]
fn buffered_data_flows_with_every_flushing_verb() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.send_data(b"c", values::SEND_DATA_NONE).ok();
            req.confirm().ok();
            req.send_data(b"p", values::SEND_DATA_NONE).ok();
            req.prepare_to_receive(FLUSH).ok();
            req.receive_and_wait(10).ok().what(W::SEND);
            req.send_data(b"r", values::SEND_DATA_NONE).ok();
            req.receive_and_wait(10).ok().what(W::SEND);
            req.send_data(b"f", values::SEND_DATA_FLUSH).ok();
            req.send_data(b"d", values::SEND_DATA_NONE).ok();
            req.deallocate(FLUSH).ok();
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10)
                .ok()
                .what(W::DATA_COMPLETE)
                .data(b"c");
            resp.receive_and_wait(10)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            resp.confirmed().ok();
            resp.receive_and_wait(10).ok().data(b"p");
            resp.receive_and_wait(10).ok().what(W::SEND);
            resp.prepare_to_receive(FLUSH).ok();
            resp.receive_and_wait(10).ok().data(b"r");
            resp.receive_and_wait(10).ok().what(W::SEND);
            resp.prepare_to_receive(FLUSH).ok();
            resp.receive_and_wait(10).ok().data(b"f");
            resp.receive_and_wait(10).ok().data(b"d");
            resp.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
        },
    );
}

/// More than `SEND_BUFFER` bytes flush by themselves.
#[test]
fn a_full_send_buffer_flushes_by_itself() {
    let (_node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    let chunk = vec![7u8; 4096];
    let mut sent = 0;
    while sent + chunk.len() <= SEND_BUFFER {
        req.send_data(&chunk, values::SEND_DATA_NONE).ok();
        sent += chunk.len();
    }
    // Exactly SEND_BUFFER buffered: the attach has not flowed.
    let resp_ev = Event::new(true);
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Event(resp_ev.clone()))
        .unwrap();
    assert!(!resp_ev.is_set());
    req.send_data(b"x", values::SEND_DATA_NONE).ok();
    resp_ev.wait();
    let resp = Tp::accepted(&b, &b.collect(ra).unwrap());
    for _ in 0..sent / chunk.len() {
        resp.receive_immediate(u16::MAX).ok().data(&chunk);
    }
    resp.receive_immediate(10).ok().data(b"x");
    resp.receive_immediate(10).rc(P::UNSUCCESSFUL);
}

/// An attach nobody accepts surfaces on a later verb: ALLOCATE, SEND_DATA
/// and FLUSH succeed; the next verb gets the allocation error and the
/// conversation is gone.
#[test]
fn allocation_error_surfaces_on_a_later_verb() {
    let (_node, a, _b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate("NOBODY", SYNC_NONE).ok();
    req.send_data(b"lost", values::SEND_DATA_NONE).ok();
    req.flush().ok();
    req.send_data(b"more", values::SEND_DATA_NONE)
        .rc2(P::ALLOCATION_ERROR, S::TP_NAME_NOT_RECOGNIZED);
    req.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

/// CONFIRM right after ALLOCATE is the idiom for verifying an allocation.
#[test]
fn allocation_error_reported_by_confirm() {
    let (_node, a, _b) = setup();
    let mut req = Tp::started(&a, BASIC);
    req.allocate("NOBODY", SYNC_CONFIRM).ok();
    req.confirm()
        .rc2(P::ALLOCATION_ERROR, S::TP_NAME_NOT_RECOGNIZED);
    req.flush().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

// ---------------------------------------------------------------------------
// Change of direction (`docs/api.md#what_rcvd`)
// ---------------------------------------------------------------------------

/// A receive issued in SEND flushes and hands over the direction: the
/// partner gets its data, then AP_SEND, and may send back.
#[test]
fn receive_in_send_gives_the_partner_send() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            req.allocate(RESP, SYNC_NONE).ok();
            req.send_data(b"ping", values::SEND_DATA_NONE).ok();
            req.receive_and_wait(10)
                .ok()
                .what(W::DATA_COMPLETE)
                .data(b"pong");
            assert_eq!(req.state(), ConvState::Receive);
            req.receive_and_wait(10).ok().what(W::SEND);
            assert_eq!(req.state(), ConvState::Send);
            req.deallocate(FLUSH).ok();
            req.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            assert_eq!(resp.state(), ConvState::Receive);
            resp.receive_and_wait(10).ok().data(b"ping");
            resp.receive_and_wait(10).ok().what(W::SEND).data(b"");
            assert_eq!(resp.state(), ConvState::Send);
            resp.send_data(b"pong", values::SEND_DATA_NONE).ok();
            resp.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
            resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        },
    );
}

/// With rtn_status the data and the SEND indicator that follows it come
/// back together (AP_DATA_COMPLETE_SEND → SEND_PENDING), also when the
/// receive was already waiting when both arrived.
#[test]
fn rtn_status_combines_data_and_send() {
    for mapped in [MAPPED, BASIC] {
        let (_node, a, b) = setup();
        let record = if mapped {
            b"data".to_vec()
        } else {
            ll(b"data")
        };
        duet(
            || {
                let mut req = Tp::started(&a, mapped);
                req.allocate(RESP, SYNC_NONE).ok();
                req.send_data(&record, values::SEND_DATA_NONE).ok();
                req.receive_and_wait(10).ok().data(&record);
                req.receive_and_wait(10).ok().what(W::SEND);
            },
            || {
                let resp = Tp::receive_allocate(&b, RESP);
                resp.receive_with(FILL_LL, 100, true)
                    .ok()
                    .what(W::DATA_COMPLETE_SEND)
                    .data(&record);
                assert_eq!(resp.state(), ConvState::SendPending);
                resp.send_data(&record, values::SEND_DATA_NONE).ok();
                assert_eq!(resp.state(), ConvState::Send);
                resp.prepare_to_receive(FLUSH).ok();
            },
        );
    }
}

/// rtn_status with a confirmation request: AP_DATA_COMPLETE_CONFIRM →
/// CONFIRM; without rtn_status the two come separately.
#[test]
fn rtn_status_combines_data_and_confirm() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.send_data(b"x", values::SEND_DATA_CONFIRM)
                .ok()
                .rts(false);
            req.send_data(b"y", values::SEND_DATA_CONFIRM).ok();
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_with(FILL_LL, 10, true)
                .ok()
                .what(W::DATA_COMPLETE_CONFIRM)
                .data(b"x");
            assert_eq!(resp.state(), ConvState::Confirm);
            resp.confirmed().ok();
            resp.receive_and_wait(10).ok().what(W::DATA_COMPLETE);
            resp.receive_and_wait(10)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            resp.confirmed().ok();
        },
    );
}

// ---------------------------------------------------------------------------
// CONFIRM / CONFIRMED, PREPARE_TO_RECEIVE and DEALLOCATE at sync CONFIRM
// ---------------------------------------------------------------------------

/// CONFIRM waits for CONFIRMED; the requester stays in SEND, the
/// responder goes CONFIRM → RECEIVE.
#[test]
fn confirm_and_confirmed() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, BASIC);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.send_data(&ll(b"a"), values::SEND_DATA_NONE).ok();
            req.confirm().ok().rts(false);
            assert_eq!(req.state(), ConvState::Send);
            req.deallocate(FLUSH).ok();
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10).ok().data(&ll(b"a"));
            resp.receive_and_wait(10)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            assert_eq!(resp.state(), ConvState::Confirm);
            resp.confirmed().ok();
            assert_eq!(resp.state(), ConvState::Receive);
            resp.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
        },
    );
}

/// CONFIRM and SEND_DATA(CONFIRM) need sync level CONFIRM.
#[test]
fn confirm_at_sync_none_is_a_parameter_check() {
    let (_node, a, _b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.confirm()
        .rc2(P::PARAMETER_CHECK, S::CONFIRM_ON_SYNC_LEVEL_NONE);
    req.send_data(b"x", values::SEND_DATA_CONFIRM)
        .rc2(P::PARAMETER_CHECK, S::SEND_DATA_CONFIRM_SYNC_NONE);
    assert_eq!(req.state(), ConvState::Send);
}

/// PREPARE_TO_RECEIVE(SYNC_LEVEL) at sync CONFIRM: the partner sees
/// CONFIRM_SEND and, after CONFIRMED, sends.
#[test]
fn prepare_to_receive_sync_level_asks_for_confirmation() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.prepare_to_receive(SYNC_LEVEL).ok();
            assert_eq!(req.state(), ConvState::Receive);
            req.receive_and_wait(10).ok().data(b"back");
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10).ok().what(W::CONFIRM_SEND);
            assert_eq!(resp.state(), ConvState::ConfirmSend);
            resp.confirmed().ok();
            assert_eq!(resp.state(), ConvState::Send);
            resp.send_data(b"back", values::SEND_DATA_FLUSH).ok();
        },
    );
}

/// PREPARE_TO_RECEIVE(SYNC_LEVEL) at sync NONE is a plain change of
/// direction.
#[test]
fn prepare_to_receive_sync_level_at_sync_none_just_turns() {
    let (_node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.prepare_to_receive(SYNC_LEVEL).ok();
    let resp = Tp::receive_allocate(&b, RESP);
    resp.receive_and_wait(10).ok().what(W::SEND);
}

/// DEALLOCATE(SYNC_LEVEL) at sync CONFIRM: the partner sees
/// CONFIRM_DEALLOCATE; the conversation ends after CONFIRMED.
#[test]
fn deallocate_sync_level_ends_after_confirmed() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.send_data(b"last", values::SEND_DATA_NONE).ok();
            req.deallocate(SYNC_LEVEL).ok();
            req.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10).ok().data(b"last");
            resp.receive_and_wait(10).ok().what(W::CONFIRM_DEALLOCATE);
            assert_eq!(resp.state(), ConvState::ConfirmDeallocate);
            resp.confirmed().ok();
            resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        },
    );
}

/// DEALLOCATE(SYNC_LEVEL) answered with SEND_ERROR: the deallocator gets
/// PROG_ERROR_PURGING and stays allocated, in RECEIVE.
#[test]
fn deallocate_sync_level_answered_with_send_error_stays_allocated() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, MAPPED);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.deallocate(SYNC_LEVEL).rc(P::PROG_ERROR_PURGING);
            assert_eq!(req.state(), ConvState::Receive);
            req.receive_and_wait(10).ok().data(b"why");
            req.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10).ok().what(W::CONFIRM_DEALLOCATE);
            resp.send_error_prog().ok();
            assert_eq!(resp.state(), ConvState::Send);
            resp.send_data(b"why", values::SEND_DATA_DEALLOC_FLUSH).ok();
        },
    );
}

/// A plain CONFIRM answered with SEND_ERROR: PROG_ERROR_PURGING, RECEIVE.
#[test]
fn confirm_answered_with_send_error() {
    let (_node, a, b) = setup();
    duet(
        || {
            let mut req = Tp::started(&a, BASIC);
            req.allocate(RESP, SYNC_CONFIRM).ok();
            req.confirm().rc(P::PROG_ERROR_PURGING);
            assert_eq!(req.state(), ConvState::Receive);
            req.receive_and_wait(10).ok().what(W::SEND);
        },
        || {
            let resp = Tp::receive_allocate(&b, RESP);
            resp.receive_and_wait(10)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            resp.send_error_prog().ok();
            resp.prepare_to_receive(FLUSH).ok();
        },
    );
}
