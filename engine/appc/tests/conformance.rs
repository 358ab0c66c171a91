//! Conformance scripts: two TPs (a requester and a responder) run the LU
//! 6.2 flows of `docs/api.md#one-verb-at-a-time`, `docs/api.md#posting-verbs`, `docs/api.md#verbs` to `docs/api.md#verb-by-state` and the KB regressions of
//! `docs/api.md#known-problems-in-his-that-the-tests-guard-against` against the in-memory node. Each script is a sequence of verbs with
//! the results HIS documents. Where both sides must wait, they
//! run on two threads with blocking calls ([`support::duet`]); nothing
//! depends on timing.
#![cfg(not(loom))]

mod support;

use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{self, values, Body, Conv, Verb};
use appc::SEND_BUFFER;
use appc_engine::{Event, Target};
use std::time::Duration;
use support::*;

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

// ---------------------------------------------------------------------------
// SEND_ERROR (`docs/api.md#buffering-and-flushing`)
// ---------------------------------------------------------------------------

/// A requester with an allocated basic conversation, and the responder
/// that took it (the attach is flushed first, so nothing blocks).
fn pair<'a>(a: &'a appc::Appc, b: &'a appc::Appc, mapped: bool, sync: u8) -> (Tp<'a>, Tp<'a>) {
    let mut req = Tp::started(a, mapped);
    req.allocate(RESP, sync).ok();
    req.flush().ok();
    let resp = Tp::receive_allocate(b, RESP);
    (req, resp)
}

/// SEND_ERROR in SEND at a record boundary: the partner gets the data,
/// then *_NO_TRUNC (PROG or SVC per err_type on basic). Mapped is PROG
/// whatever `err_type` says: the project's choice, since MC_SEND_ERROR has
/// no `err_type` and the documentation says nothing of one set anyway.
#[test]
fn send_error_at_record_boundary_is_no_trunc() {
    for (mapped, err_type, code) in [
        (BASIC, values::ERR_PROG, P::PROG_ERROR_NO_TRUNC),
        (BASIC, values::ERR_SVC, P::SVC_ERROR_NO_TRUNC),
        (MAPPED, values::ERR_SVC, P::PROG_ERROR_NO_TRUNC),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_NONE);
        let record = if mapped { b"rec".to_vec() } else { ll(b"rec") };
        req.send_data(&record, values::SEND_DATA_NONE).ok();
        req.send_error(err_type, values::RCV_DIR_ERROR).ok();
        assert_eq!(req.state(), ConvState::Send);
        resp.receive_and_wait(10)
            .ok()
            .what(W::DATA_COMPLETE)
            .data(&record);
        resp.receive_and_wait(10).rc2(code, S(0));
        assert_eq!(resp.state(), ConvState::Receive);
    }
}

/// SEND_ERROR part-way through a basic logical record: the partner gets
/// the piece as DATA_INCOMPLETE, then *_TRUNC; the next record starts
/// clean on both sides.
#[test]
fn send_error_mid_record_is_trunc() {
    for (err_type, code) in [
        (values::ERR_PROG, P::PROG_ERROR_TRUNC),
        (values::ERR_SVC, P::SVC_ERROR_TRUNC),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
        let record = ll(b"0123456789");
        req.send_data(&record[..6], values::SEND_DATA_NONE).ok();
        req.send_error(err_type, values::RCV_DIR_ERROR).ok();
        resp.receive_and_wait(100)
            .ok()
            .what(W::DATA_INCOMPLETE)
            .data(&record[..6]);
        resp.receive_and_wait(100).rc2(code, S(0));
        req.send_data(&ll(b"fresh"), values::SEND_DATA_FLUSH).ok();
        resp.receive_and_wait(100)
            .ok()
            .what(W::DATA_COMPLETE)
            .data(&ll(b"fresh"));
    }
}

/// SEND_ERROR in RECEIVE purges what came in and takes the direction: the
/// partner's next verb gets *_PURGING and it is in RECEIVE.
#[test]
fn send_error_in_receive_purges_and_partner_sees_purging() {
    for (err_type, code) in [
        (values::ERR_PROG, P::PROG_ERROR_PURGING),
        (values::ERR_SVC, P::SVC_ERROR_PURGING),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
        req.send_data(&ll(b"purged"), values::SEND_DATA_FLUSH).ok();
        resp.send_error(err_type, values::RCV_DIR_ERROR).ok();
        assert_eq!(resp.state(), ConvState::Send);
        resp.prepare_to_receive(FLUSH).ok();
        req.send_data(&ll(b"also lost"), values::SEND_DATA_NONE)
            .rc2(code, S(0));
        assert_eq!(req.state(), ConvState::Receive);
        req.receive_and_wait(10).ok().what(W::SEND);
        req.send_data(&ll(b"kept"), values::SEND_DATA_P_TO_R_FLUSH)
            .ok();
        // "purged" never shows up: the first thing the responder gets is
        // what was sent after the error.
        resp.receive_and_wait(100).ok().data(&ll(b"kept"));
        resp.receive_and_wait(100).ok().what(W::SEND);
    }
}

/// A purged deallocation is reported to the SEND_ERROR issuer as
/// DEALLOC_NORMAL, and the conversation is over.
#[test]
fn send_error_purging_a_deallocation_reports_dealloc_normal() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    req.send_data(b"x", values::SEND_DATA_NONE).ok();
    req.deallocate(values::ABEND).ok();
    resp.send_error_prog().rc(P::DEALLOC_NORMAL);
    resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

/// What the partner had buffered when a SEND_ERROR reached it is purged,
/// not flushed by its DEALLOCATE(ABEND) (which reports no error first): the
/// issuer, in SEND, gets the abend on its next verb. Here that verb is a
/// CONFIRM, which once waited forever behind the stale data for a reply.
#[test]
fn data_buffered_before_a_partners_send_error_never_reaches_it() {
    for (abend, code) in [(true, P::DEALLOC_ABEND), (false, P::DEALLOC_NORMAL)] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, MAPPED, SYNC_CONFIRM);
        req.send_data(b"buffered", values::SEND_DATA_NONE).ok();
        resp.send_error_prog().ok();
        assert_eq!(resp.state(), ConvState::Send);
        if abend {
            req.deallocate(values::ABEND).ok();
        } else {
            // DEALLOCATE(FLUSH) reports the error; TP_ENDED, like cleanup,
            // ends the conversation without reporting it, flushing in SEND.
            req.call(Body::TpEnded(verbs::TpEnded {
                tp_id: req.tp_id,
                tp_type: values::SOFT,
            }))
            .ok();
        }
        let event = Event::new(true);
        let confirm = Body::Confirm(verbs::Confirm {
            conv: resp.conv,
            rts_rcvd: false,
        });
        let handle = resp.submit(confirm, &event);
        assert!(
            event.wait_timeout(Duration::from_secs(10)),
            "CONFIRM waits behind purged data"
        );
        Res::of(&b.collect(handle).unwrap()).rc(code);
        resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
    }
}

/// In SEND_PENDING, err_dir picks the code: SEND_DIR → *_NO_TRUNC,
/// RCV_DIR → *_PURGING.
#[test]
fn send_error_in_send_pending_uses_err_dir() {
    for (err_dir, code) in [
        (values::SEND_DIR_ERROR, P::PROG_ERROR_NO_TRUNC),
        (values::RCV_DIR_ERROR, P::PROG_ERROR_PURGING),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
        req.send_data(b"d", values::SEND_DATA_P_TO_R_FLUSH).ok();
        resp.receive_with(FILL_LL, 10, true)
            .ok()
            .what(W::DATA_COMPLETE_SEND);
        assert_eq!(resp.state(), ConvState::SendPending);
        resp.send_error(values::ERR_PROG, err_dir).ok();
        assert_eq!(resp.state(), ConvState::Send);
        req.receive_and_wait(10).rc2(code, S(0));
        assert_eq!(req.state(), ConvState::Receive);
    }
}

/// SEND_ERROR in CONFIRM: the confirming partner's CONFIRM gets *_PURGING
/// (covered with two threads above); bad err_dir / err_type are refused
/// with nothing changed.
#[test]
fn send_error_bad_parameters() {
    let (_node, a, b) = setup();
    let (req, _resp) = pair(&a, &b, BASIC, SYNC_NONE);
    req.send_error(values::ERR_PROG, 7)
        .rc2(P::PARAMETER_CHECK, S::BAD_ERROR_DIRECTION);
    req.send_error(9, values::RCV_DIR_ERROR)
        .rc2(P::PARAMETER_CHECK, S::SEND_ERROR_BAD_TYPE);
    assert_eq!(req.state(), ConvState::Send);
}

// ---------------------------------------------------------------------------
// DEALLOCATE
// ---------------------------------------------------------------------------

/// DEALLOCATE(abend) flushes in SEND: the partner gets the data, then the
/// abend code matching dealloc_type; both conversation ids die.
#[test]
fn deallocate_abend_codes() {
    for (mapped, dealloc_type, code) in [
        (BASIC, ABEND_PROG, P::DEALLOC_ABEND_PROG),
        (BASIC, ABEND_SVC, P::DEALLOC_ABEND_SVC),
        (BASIC, ABEND_TIMER, P::DEALLOC_ABEND_TIMER),
        (MAPPED, ABEND, P::DEALLOC_ABEND),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_CONFIRM);
        let record = if mapped {
            b"tail".to_vec()
        } else {
            ll(b"tail")
        };
        req.send_data(&record, values::SEND_DATA_NONE).ok();
        req.deallocate(dealloc_type).ok();
        req.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        resp.receive_and_wait(10).ok().data(&record);
        resp.receive_and_wait(10).rc2(code, S(0));
        resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        resp.receive_and_wait(10)
            .rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
    }
}

/// SEND_DATA type DEALLOC_ABEND is DEALLOCATE(ABEND_PROG) / (ABEND).
#[test]
fn send_data_dealloc_abend() {
    for (mapped, code) in [(BASIC, P::DEALLOC_ABEND_PROG), (MAPPED, P::DEALLOC_ABEND)] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_NONE);
        let record = if mapped { b"z".to_vec() } else { ll(b"z") };
        req.send_data(&record, values::SEND_DATA_DEALLOC_ABEND).ok();
        resp.receive_and_wait(10).ok().data(&record);
        resp.receive_and_wait(10).rc(code);
    }
}

/// DEALLOCATE(abend) in RECEIVE purges the inbound data; the partner,
/// still sending, learns on its next verb.
#[test]
fn deallocate_abend_in_receive_purges() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    req.send_data(&ll(b"unread"), values::SEND_DATA_FLUSH).ok();
    resp.deallocate(ABEND_SVC).ok();
    req.send_data(&ll(b"more"), values::SEND_DATA_NONE)
        .rc(P::DEALLOC_ABEND_SVC);
    req.flush().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

/// DEALLOCATE(FLUSH) and SEND_DATA(DEALLOC_FLUSH): data first, then
/// DEALLOC_NORMAL.
#[test]
fn deallocate_flush_sends_data_then_dealloc_normal() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_CONFIRM);
    req.send_data(b"1", values::SEND_DATA_NONE).ok();
    req.send_data(b"2", values::SEND_DATA_DEALLOC_FLUSH).ok();
    resp.receive_and_wait(10).ok().data(b"1");
    resp.receive_and_wait(10).ok().data(b"2");
    resp.receive_and_wait(10).rc2(P::DEALLOC_NORMAL, S(0));
    req.send_data(b"3", values::SEND_DATA_NONE)
        .rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

/// A receive already waiting when the data and the SEND indicator arrive
/// together (one flush) still gets them combined with rtn_status.
#[test]
fn rtn_status_combines_for_a_receive_already_waiting() {
    for (mapped, send_type, what) in [
        (
            MAPPED,
            values::SEND_DATA_P_TO_R_FLUSH,
            W::DATA_COMPLETE_SEND,
        ),
        (BASIC, values::SEND_DATA_P_TO_R_FLUSH, W::DATA_COMPLETE_SEND),
        (MAPPED, values::SEND_DATA_CONFIRM, W::DATA_COMPLETE_CONFIRM),
        (
            BASIC,
            values::SEND_DATA_P_TO_R_SYNC_LEVEL,
            W::DATA_COMPLETE_CONFIRM_SEND,
        ),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_CONFIRM);
        let record = if mapped {
            b"data".to_vec()
        } else {
            ll(b"data")
        };
        let sema = Event::new(false);
        let initial = resp.call(Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive: verbs::Receive {
                conv: resp.conv,
                rtn_status: true,
                fill: FILL_LL,
                max_len: 100,
                ..Default::default()
            },
            sema: sema.clone(),
            post: None,
        }));
        let initial = initial.ok();
        let ev = Event::new(false);
        let h = req.submit(
            Body::SendData(verbs::SendData {
                conv: req.conv,
                send_type,
                data: record.clone(),
                rts_rcvd: false,
            }),
            &ev,
        );
        resp.post_result(&sema, &initial)
            .ok()
            .what(what)
            .data(&record);
        if what != W::DATA_COMPLETE_SEND {
            resp.confirmed().ok();
        }
        req.wait(&ev, h).ok();
    }
}

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
// Basic logical records and mapped records
// ---------------------------------------------------------------------------

/// fill LL: one record per receive, LL included; a small max_len gives
/// DATA_INCOMPLETE pieces then DATA_COMPLETE; a record split across
/// SEND_DATAs arrives whole.
#[test]
fn basic_records_fill_ll() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    let first = ll(b"hello world");
    req.send_data(&records(&[b"abc", b"de"]), values::SEND_DATA_NONE)
        .ok();
    req.send_data(&first[..1], values::SEND_DATA_NONE).ok();
    req.send_data(&first[1..7], values::SEND_DATA_NONE).ok();
    req.send_data(&first[7..], values::SEND_DATA_NONE).ok();
    req.send_data(&ll(b""), values::SEND_DATA_P_TO_R_FLUSH).ok();
    resp.receive_and_wait(100)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(&ll(b"abc"));
    resp.receive_and_wait(100).ok().data(&ll(b"de"));
    resp.receive_and_wait(5)
        .ok()
        .what(W::DATA_INCOMPLETE)
        .data(&first[..5]);
    resp.receive_and_wait(5)
        .ok()
        .what(W::DATA_INCOMPLETE)
        .data(&first[5..10]);
    resp.receive_and_wait(5)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(&first[10..]);
    resp.receive_and_wait(100)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(&[0, 2]);
    resp.receive_and_wait(100).ok().what(W::SEND);
}

/// fill BUFFER: the stream regardless of record boundaries, as AP_DATA,
/// up to max_len or the end of the data.
#[test]
fn basic_records_fill_buffer() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    let stream = records(&[b"abc", b"defg"]);
    req.send_data(&stream, values::SEND_DATA_P_TO_R_FLUSH).ok();
    resp.receive_with(FILL_BUFFER, 4, false)
        .ok()
        .what(W::DATA)
        .data(&stream[..4]);
    resp.receive_with(FILL_BUFFER, 100, false)
        .ok()
        .what(W::DATA)
        .data(&stream[4..]);
    resp.receive_with(FILL_BUFFER, 100, false)
        .ok()
        .what(W::SEND);
}

/// A bad LL is a parameter check that changes nothing.
#[test]
fn basic_bad_ll_is_a_parameter_check() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_NONE);
    for bad in [&[0u8, 0][..], &[0, 1], &[0x80, 0x02, 0], &[0xFF]] {
        req.send_data(bad, values::SEND_DATA_FLUSH)
            .rc2(P::PARAMETER_CHECK, S::BAD_LL);
    }
    assert_eq!(req.state(), ConvState::Send);
    req.send_data(&ll(b"fine"), values::SEND_DATA_P_TO_R_FLUSH)
        .ok();
    resp.receive_and_wait(100).ok().data(&ll(b"fine"));
}

/// A verb that needs a record boundary fails with its *_NOT_LL_BDY state
/// check while a record is half sent, with nothing changed; once the
/// record is complete it works.
#[test]
fn basic_verbs_needing_a_record_boundary() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, BASIC, SYNC_CONFIRM);
    let record = ll(b"0123456789");
    req.send_data(&record[..4], values::SEND_DATA_NONE).ok();
    let not_ll_bdy = |res: Res, secondary| res.rc2(P::STATE_CHECK, secondary);
    not_ll_bdy(req.confirm(), S::CONFIRM_NOT_LL_BDY);
    not_ll_bdy(req.deallocate(FLUSH), S::DEALLOC_NOT_LL_BDY);
    not_ll_bdy(req.deallocate(SYNC_LEVEL), S::DEALLOC_NOT_LL_BDY);
    not_ll_bdy(req.prepare_to_receive(FLUSH), S::P_TO_R_NOT_LL_BDY);
    not_ll_bdy(req.receive_and_wait(10), S::RCV_AND_WAIT_NOT_LL_BDY);
    let sema = Event::new(false);
    not_ll_bdy(req.receive_and_post(10, &sema), S::RCV_AND_POST_NOT_LL_BDY);
    not_ll_bdy(
        req.send_data(&record[4..5], values::SEND_DATA_CONFIRM),
        S::SEND_DATA_NOT_LL_BDY,
    );
    // FLUSH and SEND_DATA(FLUSH) need no boundary.
    req.flush().ok();
    req.send_data(&record[4..6], values::SEND_DATA_FLUSH).ok();
    assert_eq!(req.state(), ConvState::Send);
    // This SEND_DATA completes the record, so CONFIRM is fine.
    duet(
        || {
            req.send_data(&record[6..], values::SEND_DATA_CONFIRM).ok();
        },
        || {
            resp.receive_and_wait(100)
                .ok()
                .what(W::DATA_COMPLETE)
                .data(&record);
            resp.receive_and_wait(100)
                .ok()
                .what(W::CONFIRM_WHAT_RECEIVED);
            resp.confirmed().ok();
        },
    );
}

/// Mapped: one record per MC_SEND_DATA, never merged; a small max_len
/// gives DATA_INCOMPLETE then DATA_COMPLETE.
#[test]
fn mapped_records() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    req.send_data(b"first", values::SEND_DATA_NONE).ok();
    req.send_data(b"second record", values::SEND_DATA_NONE).ok();
    req.send_data(b"", values::SEND_DATA_P_TO_R_FLUSH).ok();
    resp.receive_and_wait(100)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"first");
    resp.receive_and_wait(6)
        .ok()
        .what(W::DATA_INCOMPLETE)
        .data(b"second");
    resp.receive_and_wait(6)
        .ok()
        .what(W::DATA_INCOMPLETE)
        .data(b" recor");
    resp.receive_and_wait(6)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"d");
    resp.receive_and_wait(6)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"");
    resp.receive_and_wait(6).ok().what(W::SEND);
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

// ---------------------------------------------------------------------------
// State checks (`docs/api.md#verb-by-state`): the running engine applies the state matrix
// ---------------------------------------------------------------------------

/// Every conversation verb, with valid parameters, for `tp`.
fn every_verb(tp: &Tp<'_>) -> Vec<Body> {
    let conv = tp.conv;
    let ev = Event::new(false);
    let abend = if tp.mapped { ABEND } else { ABEND_PROG };
    let receive = verbs::Receive {
        conv,
        fill: FILL_LL,
        max_len: 10,
        ..Default::default()
    };
    let mut bodies: Vec<Body> = (values::SEND_DATA_NONE..=values::SEND_DATA_DEALLOC_ABEND)
        .map(|send_type| {
            Body::SendData(verbs::SendData {
                conv,
                send_type,
                ..Default::default()
            })
        })
        .collect();
    bodies.extend([FLUSH, SYNC_LEVEL, abend].map(|dealloc_type| {
        Body::Deallocate(verbs::Deallocate {
            conv,
            dealloc_type,
            log_data: vec![],
        })
    }));
    bodies.extend([FLUSH, SYNC_LEVEL].map(|ptr_type| {
        Body::PrepareToReceive(verbs::PrepareToReceive {
            conv,
            ptr_type,
            locks: 0,
        })
    }));
    bodies.extend([
        Body::Flush(conv),
        Body::Confirm(verbs::Confirm {
            conv,
            rts_rcvd: false,
        }),
        Body::Confirmed(conv),
        Body::ReceiveAndWait(receive.clone()),
        Body::ReceiveImmediate(receive.clone()),
        Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive,
            sema: ev.clone(),
            post: None,
        }),
        Body::PostOnReceipt(verbs::PostOnReceipt {
            conv,
            fill: FILL_LL,
            max_len: 1,
            sema: ev.clone(),
            post: None,
        }),
        Body::RequestToSend(conv),
        Body::TestRts(conv),
        Body::TestRtsAndPost(verbs::TestRtsAndPost {
            conv,
            handle: ev,
            post: None,
        }),
        Body::SendError(verbs::SendError {
            conv,
            ..Default::default()
        }),
        Body::GetAttributes(verbs::GetAttributes {
            conv,
            ..Default::default()
        }),
        Body::GetType(verbs::GetType { conv, conv_type: 0 }),
    ]);
    bodies
}

/// Issues every verb the state matrix rejects in `tp`'s current state and
/// checks the engine answers AP_STATE_CHECK with the matrix's secondary
/// code and leaves the state alone. Returns how many were rejected.
fn check_rejections(tp: &Tp<'_>, sync_level: u8) -> usize {
    use appc::states::{self, Entry, Step};
    let state = tp.state();
    let mut rejected = 0;
    for body in every_verb(tp) {
        let step = Step::of(&body);
        if let Err(secondary) = states::check(state, step, Entry::Blocking, sync_level) {
            let res = tp.call(body);
            assert_eq!(
                (res.primary, res.secondary),
                (P::STATE_CHECK, secondary),
                "{step:?} in {state:?}"
            );
            assert_eq!(tp.state(), state, "{step:?} changed {state:?}");
            rejected += 1;
        }
    }
    rejected
}

#[test]
fn state_checks_follow_the_matrix() {
    for mapped in [MAPPED, BASIC] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_CONFIRM);
        // A few cells spelled out.
        resp.send_data(b"", values::SEND_DATA_NONE)
            .rc2(P::STATE_CHECK, S::SEND_DATA_NOT_SEND_STATE);
        resp.flush().rc2(P::STATE_CHECK, S::FLUSH_NOT_SEND_STATE);
        resp.confirm().rc2(P::STATE_CHECK, S::CONFIRM_BAD_STATE);
        resp.confirmed().rc2(P::STATE_CHECK, S::CONFIRMED_BAD_STATE);
        resp.prepare_to_receive(FLUSH)
            .rc2(P::STATE_CHECK, S::P_TO_R_NOT_SEND_STATE);
        resp.deallocate(SYNC_LEVEL)
            .rc2(P::STATE_CHECK, S::DEALLOC_CONFIRM_BAD_STATE);
        req.receive_immediate(10)
            .rc2(P::STATE_CHECK, S::RCV_IMMD_BAD_STATE);
        req.confirmed().rc2(P::STATE_CHECK, S::CONFIRMED_BAD_STATE);

        // SEND and RECEIVE.
        assert!(check_rejections(&req, SYNC_CONFIRM) > 0);
        assert!(check_rejections(&resp, SYNC_CONFIRM) > 0);
        let record = if mapped { b"d".to_vec() } else { ll(b"d") };

        // CONFIRM, CONFIRM_SEND, CONFIRM_DEALLOCATE: the requester waits
        // on the event entry point meanwhile.
        for (send_type, what) in [
            (values::SEND_DATA_CONFIRM, W::DATA_COMPLETE_CONFIRM),
            (
                values::SEND_DATA_P_TO_R_SYNC_LEVEL,
                W::DATA_COMPLETE_CONFIRM_SEND,
            ),
        ] {
            let ev = Event::new(false);
            let h = req.submit(
                Body::SendData(verbs::SendData {
                    conv: req.conv,
                    send_type,
                    data: record.clone(),
                    rts_rcvd: false,
                }),
                &ev,
            );
            resp.receive_with(FILL_LL, 10, true).ok().what(what);
            assert!(check_rejections(&resp, SYNC_CONFIRM) > 0);
            resp.confirmed().ok();
            req.wait(&ev, h).ok();
        }
        // Now the responder sends: SEND_PENDING on the requester.
        resp.send_data(&record, values::SEND_DATA_P_TO_R_FLUSH).ok();
        req.receive_with(FILL_LL, 10, true)
            .ok()
            .what(W::DATA_COMPLETE_SEND);
        assert!(check_rejections(&req, SYNC_CONFIRM) > 0);
        let ev = Event::new(false);
        let h = req.submit(
            Body::Deallocate(verbs::Deallocate {
                conv: req.conv,
                dealloc_type: SYNC_LEVEL,
                log_data: vec![],
            }),
            &ev,
        );
        resp.receive_and_wait(10).ok().what(W::CONFIRM_DEALLOCATE);
        assert!(check_rejections(&resp, SYNC_CONFIRM) > 0);
        resp.confirmed().ok();
        req.wait(&ev, h).ok();
    }
}

// ---------------------------------------------------------------------------
// Bad input: refused with the documented code, nothing disturbed
// ---------------------------------------------------------------------------

#[test]
fn bad_input_is_refused_and_disturbs_nothing() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let (breq, bresp) = pair(&a, &b, BASIC, SYNC_NONE);
    let conv = req.conv;

    req.call(Body::Unknown { opcode: 0x7777 })
        .rc2(P::INVALID_VERB, S(0));
    let stranger = Tp {
        tp_id: [0xEE; 8],
        ..Tp::started(&a, MAPPED)
    };
    stranger
        .call(Body::Flush(Conv {
            tp_id: [0xEE; 8],
            conv_id: conv.conv_id,
        }))
        .rc2(P::PARAMETER_CHECK, S::BAD_TP_ID);
    stranger.end().rc2(P::PARAMETER_CHECK, S::BAD_TP_ID);
    req.call(Body::Flush(Conv {
        tp_id: conv.tp_id,
        conv_id: 0xDEAD_BEEF,
    }))
    .rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
    // The partner's conversation id does not belong to this TP.
    req.call(Body::Flush(Conv {
        tp_id: conv.tp_id,
        conv_id: resp.conv.conv_id,
    }))
    .rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
    // Another application's TP is not this application's.
    b.call(req.verb(Body::Flush(conv)))
        .map(|v| Res::of(&v))
        .unwrap()
        .rc2(P::PARAMETER_CHECK, S::BAD_TP_ID);
    // Basic verb on a mapped conversation and vice versa.
    let send = |conv, data: &[u8], send_type| {
        Body::SendData(verbs::SendData {
            conv,
            send_type,
            data: data.to_vec(),
            rts_rcvd: false,
        })
    };
    Res::of(&req.call_verb(Verb::basic(send(conv, &ll(b"x"), 0))))
        .rc2(P::CONVERSATION_TYPE_MIXED, S(0));
    Res::of(&breq.call_verb(Verb::mapped(send(breq.conv, b"x", 0))))
        .rc2(P::CONVERSATION_TYPE_MIXED, S(0));
    req.send_data(&vec![0; 65_536], values::SEND_DATA_NONE)
        .rc2(P::PARAMETER_CHECK, S::INVALID_DATA_SEGMENT);
    req.send_data(b"x", 8)
        .rc2(P::PARAMETER_CHECK, S::SEND_DATA_INVALID_TYPE);
    bresp
        .receive_with(7, 10, false)
        .rc2(P::PARAMETER_CHECK, S::RCV_AND_WAIT_BAD_FILL);
    bresp
        .call(Body::ReceiveImmediate(verbs::Receive {
            conv: bresp.conv,
            fill: 7,
            ..Default::default()
        }))
        .rc2(P::PARAMETER_CHECK, S::RCV_IMMD_BAD_FILL);
    req.deallocate(9)
        .rc2(P::PARAMETER_CHECK, S::DEALLOC_BAD_TYPE);
    req.deallocate(ABEND_PROG)
        .rc2(P::PARAMETER_CHECK, S::DEALLOC_BAD_TYPE);
    breq.deallocate(ABEND)
        .rc2(P::PARAMETER_CHECK, S::DEALLOC_BAD_TYPE);
    req.send_error(values::ERR_PROG, 2)
        .rc2(P::PARAMETER_CHECK, S::BAD_ERROR_DIRECTION);
    req.prepare_to_receive(2)
        .rc2(P::PARAMETER_CHECK, S::P_TO_R_INVALID_TYPE);

    // Nothing changed: both conversations still work end to end.
    assert_eq!(req.state(), ConvState::Send);
    assert_eq!(resp.state(), ConvState::Receive);
    assert_eq!(breq.state(), ConvState::Send);
    req.send_data(&vec![1; 65_535], values::SEND_DATA_DEALLOC_FLUSH)
        .ok();
    resp.receive_and_wait(u16::MAX).ok().data(&vec![1; 65_535]);
    resp.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
    breq.send_data(&ll(b"fine"), values::SEND_DATA_DEALLOC_FLUSH)
        .ok();
    bresp.receive_and_wait(10).ok().data(&ll(b"fine"));
    bresp.receive_and_wait(10).rc(P::DEALLOC_NORMAL);
}

// ---------------------------------------------------------------------------
// SEND_CONVERSATION (`docs/api.md#verbs`)
// ---------------------------------------------------------------------------

/// SEND_CONVERSATION is ALLOCATE + SEND_DATA + DEALLOCATE(FLUSH): the
/// responder gets the data, then DEALLOC_NORMAL; the requester gets AP_OK
/// and no conversation id, and its TP goes on.
#[test]
fn send_conversation_delivers_data_then_dealloc_normal() {
    for mapped in [MAPPED, BASIC] {
        let (_node, a, b) = setup();
        let record = if mapped {
            b"whole".to_vec()
        } else {
            records(&[b"one", b"two"])
        };
        let mut req = Tp::started(&a, mapped);
        let verb = req.send_conversation(RESP, &record);
        Res::of(&verb).ok();
        let Body::SendConversation(v) = &verb.body else {
            unreachable!()
        };
        assert_eq!(
            v.allocate.conv_id, 0,
            "SEND_CONVERSATION returned a conv_id"
        );
        let resp = Tp::receive_allocate(&b, RESP);
        assert_eq!(resp.mapped, mapped);
        if mapped {
            resp.receive_and_wait(100)
                .ok()
                .what(W::DATA_COMPLETE)
                .data(&record);
        } else {
            resp.receive_and_wait(100).ok().data(&ll(b"one"));
            resp.receive_and_wait(100).ok().data(&ll(b"two"));
        }
        resp.receive_and_wait(100).rc2(P::DEALLOC_NORMAL, S(0));
        resp.get_state().rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
        // The requester's TP is still usable.
        req.allocate(RESP, SYNC_NONE).ok();
        req.send_data(&record, values::SEND_DATA_DEALLOC_FLUSH).ok();
        let resp = Tp::receive_allocate(&b, RESP);
        resp.receive_and_wait(100).ok();
    }
}

/// SEND_CONVERSATION does not report what the partner LU makes of the
/// attach: an unknown TP name is still AP_OK. Another application's TP is
/// BAD_TP_ID; a basic one must end at a record boundary.
#[test]
fn send_conversation_errors() {
    let (_node, a, b) = setup();
    let req = Tp::started(&a, BASIC);
    Res::of(&req.send_conversation("NOBODY", &ll(b"lost"))).ok();
    let stranger = Tp {
        app: &b,
        tp_id: req.tp_id,
        conv: req.conv,
        mapped: BASIC,
    };
    Res::of(&stranger.send_conversation(RESP, &ll(b"x"))).rc2(P::PARAMETER_CHECK, S::BAD_TP_ID);
    Res::of(&req.send_conversation(RESP, &ll(b"cut")[..3]))
        .rc2(P::STATE_CHECK, S::DEALLOC_NOT_LL_BDY);
    Res::of(&req.send_conversation(RESP, &vec![0; 65_536]))
        .rc2(P::PARAMETER_CHECK, S::INVALID_DATA_SEGMENT);
    // None of them reached RESP.
    let ev = Event::new(false);
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Event(ev.clone()))
        .unwrap();
    assert!(!ev.is_set());
    assert_eq!(b.cancel(ra), appc_engine::CancelOutcome::Cancelled);
    req.end().ok();
}

// ---------------------------------------------------------------------------
// GET_ATTRIBUTES, GET_TYPE and RECEIVE_ALLOCATE's outputs (`docs/api.md#verbs`)
// ---------------------------------------------------------------------------

/// Both ends report the ALLOCATE's sync level, mode and user id; the LU
/// aliases cross over: the responder's partner LU is the requester's
/// TP_STARTED LU ("LU1"), its own LU is ALLOCATE's plu_alias ("LU2").
/// RECEIVE_ALLOCATE returns the same, plus the conversation type and PIP.
#[test]
fn attributes_and_receive_allocate_outputs_match_the_allocate() {
    for (mapped, sync_level) in [(MAPPED, SYNC_CONFIRM), (BASIC, SYNC_NONE)] {
        let (_node, a, b) = setup();
        let mut req = Tp::started(&a, mapped);
        let allocate = verbs::Allocate {
            mode_name: verbs::name("BATCH"),
            security: values::SECURITY_PGM,
            user_id: verbs::name("ALICE"),
            pwd: verbs::name("SECRET"),
            pip: b"program init".to_vec(),
            ..req.allocate_body(RESP, sync_level)
        };
        req.allocate_vcb(req.verb(Body::Allocate(allocate))).ok();
        let mine = req.attributes();
        assert_eq!(mine.sync_level, sync_level);
        assert_eq!(mine.mode_name, verbs::name("BATCH"));
        assert_eq!(mine.lu_alias, verbs::name("LU1"));
        assert_eq!(mine.plu_alias, verbs::name("LU2"));
        assert_eq!(mine.user_id, verbs::name("ALICE"));
        req.flush().ok();

        let verb = b.call(receive_allocate_verb(RESP)).unwrap();
        let Body::ReceiveAllocate(ra) = &verb.body else {
            unreachable!()
        };
        assert_eq!(ra.sync_level, sync_level);
        assert_eq!(ra.conv_type, u8::from(mapped));
        assert_eq!(ra.mode_name, verbs::name("BATCH"));
        assert_eq!(ra.user_id, verbs::name("ALICE"));
        assert_eq!(ra.plu_alias, verbs::name("LU1"));
        assert_eq!(ra.pip, b"program init");
        assert_ne!(ra.tp_id, req.tp_id);
        let resp = Tp::accepted(&b, &verb);
        let theirs = resp.attributes();
        assert_eq!(theirs.sync_level, sync_level);
        assert_eq!(theirs.mode_name, verbs::name("BATCH"));
        assert_eq!(theirs.lu_alias, verbs::name("LU2"));
        assert_eq!(theirs.plu_alias, verbs::name("LU1"));
        assert_eq!(theirs.user_id, verbs::name("ALICE"));
        // GET_ATTRIBUTES changes nothing.
        assert_eq!(req.state(), ConvState::Send);
        assert_eq!(resp.state(), ConvState::Receive);
    }
}

/// GET_TYPE reports basic or mapped on both ends, whichever opext it is
/// issued with; a basic ALLOCATE with conv_type mapped starts a mapped
/// conversation, on which basic verbs are CONVERSATION_TYPE_MIXED.
#[test]
fn get_type_reports_the_conversation_type() {
    for mapped in [MAPPED, BASIC] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_NONE);
        let conv_type = u8::from(mapped);
        assert_eq!(req.conv_type(), conv_type);
        assert_eq!(resp.conv_type(), conv_type);
        // The other opext: GET_TYPE is not a mixed-type verb.
        let other = Verb::with_opext(
            u8::from(!mapped),
            Body::GetType(verbs::GetType {
                conv: resp.conv,
                conv_type: 0xFF,
            }),
        );
        let verb = resp.call_verb(other);
        Res::of(&verb).ok();
        let Body::GetType(v) = verb.body else {
            unreachable!()
        };
        assert_eq!(v.conv_type, conv_type);
    }

    let (_node, a, b) = setup();
    let mut req = Tp::started(&a, BASIC);
    let allocate = verbs::Allocate {
        conv_type: values::MAPPED_CONVERSATION,
        ..req.allocate_body(RESP, SYNC_NONE)
    };
    req.allocate_vcb(Verb::basic(Body::Allocate(allocate))).ok();
    assert_eq!(req.conv_type(), values::MAPPED_CONVERSATION);
    req.flush().rc2(P::CONVERSATION_TYPE_MIXED, S(0));
    req.mapped = MAPPED;
    req.send_data(b"mapped", values::SEND_DATA_FLUSH).ok();
    let verb = b.call(receive_allocate_verb(RESP)).unwrap();
    let Body::ReceiveAllocate(ra) = &verb.body else {
        unreachable!()
    };
    assert_eq!(ra.conv_type, values::MAPPED_CONVERSATION);
    let resp = Tp::accepted(&b, &verb);
    assert_eq!(resp.conv_type(), values::MAPPED_CONVERSATION);
    resp.receive_and_wait(100)
        .ok()
        .what(W::DATA_COMPLETE)
        .data(b"mapped");
}

// ---------------------------------------------------------------------------
// Parameter checks (`docs/api.md#verbs`, `docs/api.md#return-codes`): refused, nothing changed
// ---------------------------------------------------------------------------

/// ALLOCATE's fields, RECEIVE_ALLOCATE's tp_name and TP_ENDED's type are
/// checked first; a refused verb allocates nothing and the TP and its
/// conversation go on.
#[test]
fn tp_verb_parameter_checks() {
    let (_node, a, b) = setup();
    let (mut req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let conv = req.conv;
    let good = req.allocate_body(RESP, SYNC_NONE);
    let bad: [(verbs::Allocate, S); 10] = [
        (
            verbs::Allocate {
                conv_type: 2,
                ..good.clone()
            },
            S::BAD_CONV_TYPE,
        ),
        (
            verbs::Allocate {
                sync_level: values::SYNC_SYNCPT,
                ..good.clone()
            },
            S::BAD_SYNC_LEVEL,
        ),
        (
            verbs::Allocate {
                sync_level: 3,
                ..good.clone()
            },
            S::BAD_SYNC_LEVEL,
        ),
        (
            verbs::Allocate {
                rtn_ctl: values::WHEN_CONV_GROUP_ALLOCATED + 1,
                ..good.clone()
            },
            S::BAD_RETURN_CONTROL,
        ),
        (
            verbs::Allocate {
                security: values::SECURITY_STRONG + 1,
                ..good.clone()
            },
            S::BAD_SECURITY,
        ),
        (
            verbs::Allocate {
                pip: vec![0; verbs::MAX_PIP + 1],
                ..good.clone()
            },
            S::PIP_LEN_INCORRECT,
        ),
        (
            verbs::Allocate {
                mode_name: *b"SNASVCMG",
                ..good.clone()
            },
            S::NO_USE_OF_SNASVCMG,
        ),
        (
            verbs::Allocate {
                tp_name: verbs::name(""),
                ..good.clone()
            },
            S::UNDEFINED_TP_NAME,
        ),
        (
            verbs::Allocate {
                tp_name: [0; 64],
                ..good.clone()
            },
            S::UNDEFINED_TP_NAME,
        ),
        (
            verbs::Allocate {
                conv_type: 0x81,
                ..good.clone()
            },
            S::BAD_CONV_TYPE,
        ),
    ];
    for (allocate, secondary) in bad {
        req.allocate_vcb(Verb::mapped(Body::Allocate(allocate.clone())))
            .rc2(P::PARAMETER_CHECK, secondary);
        req.allocate_vcb(Verb::basic(Body::Allocate(allocate.clone())))
            .rc2(P::PARAMETER_CHECK, secondary);
        req.call(Body::SendConversation(verbs::SendConversation {
            allocate,
            data: b"x".to_vec(),
        }))
        .rc2(P::PARAMETER_CHECK, secondary);
        assert_eq!(req.conv, conv, "a refused ALLOCATE returned a conv_id");
    }
    // ALLOCATE's opext picks basic or mapped too: undefined bits refused.
    for opext in [0x02, 0x83] {
        req.allocate_vcb(Verb::with_opext(opext, Body::Allocate(good.clone())))
            .rc2(P::PARAMETER_CHECK, S::BAD_CONV_TYPE);
        Res::of(&req.call_verb(Verb::with_opext(
            opext,
            Body::SendConversation(verbs::SendConversation {
                allocate: good.clone(),
                data: b"x".to_vec(),
            }),
        )))
        .rc2(P::PARAMETER_CHECK, S::BAD_CONV_TYPE);
    }
    assert_eq!(req.conv, conv, "a refused ALLOCATE returned a conv_id");
    b.call(receive_allocate_verb(""))
        .map(|v| Res::of(&v))
        .unwrap()
        .rc2(P::PARAMETER_CHECK, S::UNDEFINED_TP_NAME);
    req.call(Body::TpEnded(verbs::TpEnded {
        tp_id: req.tp_id,
        tp_type: 9,
    }))
    .rc2(P::PARAMETER_CHECK, S::BAD_TYPE);
    resp.call(Body::TpEnded(verbs::TpEnded {
        tp_id: resp.tp_id,
        tp_type: 9,
    }))
    .rc2(P::PARAMETER_CHECK, S::BAD_TYPE);

    // Nothing was allocated: no attach is waiting for RESP.
    let ev = Event::new(false);
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Event(ev.clone()))
        .unwrap();
    assert!(!ev.is_set());
    assert_eq!(b.cancel(ra), appc_engine::CancelOutcome::Cancelled);
    // The conversation goes on.
    req.send_data(b"still here", values::SEND_DATA_FLUSH).ok();
    resp.receive_and_wait(100).ok().data(b"still here");
    // Every field at its largest valid value is accepted; the largest PIP
    // reaches the partner whole.
    let allocate = verbs::Allocate {
        rtn_ctl: values::WHEN_CONV_GROUP_ALLOCATED,
        security: values::SECURITY_STRONG,
        sync_level: SYNC_CONFIRM,
        pip: vec![7; verbs::MAX_PIP],
        ..good
    };
    req.allocate_vcb(req.verb(Body::Allocate(allocate))).ok();
    assert_ne!(req.conv, conv);
    req.flush().ok();
    let verb = b.call(receive_allocate_verb(RESP)).unwrap();
    let Body::ReceiveAllocate(ra) = &verb.body else {
        unreachable!()
    };
    assert_eq!(ra.pip, vec![7; verbs::MAX_PIP]);
    Tp::accepted(&b, &verb);
    req.end().ok();
    resp.end().ok();
}

/// Log data: basic DEALLOCATE takes it with an abend type only and basic
/// SEND_ERROR up to 32,767 bytes; mapped verbs take none. An opext with
/// undefined bits is BAD_CONV_TYPE. Each refusal leaves the conversation
/// as it was.
#[test]
fn log_data_and_opext_parameter_checks() {
    let (_node, a, b) = setup();
    let (req, resp) = pair(&a, &b, MAPPED, SYNC_NONE);
    let (breq, bresp) = pair(&a, &b, BASIC, SYNC_NONE);
    let deallocate = |tp: &Tp<'_>, dealloc_type, log_data: Vec<u8>| {
        tp.call(Body::Deallocate(verbs::Deallocate {
            conv: tp.conv,
            dealloc_type,
            log_data,
        }))
    };
    let send_error = |tp: &Tp<'_>, log_data: Vec<u8>| {
        tp.call(Body::SendError(verbs::SendError {
            conv: tp.conv,
            err_type: values::ERR_PROG,
            err_dir: values::RCV_DIR_ERROR,
            log_data,
            rts_rcvd: false,
        }))
    };
    let log = || b"log record".to_vec();
    let too_long = || vec![0x5A; verbs::MAX_LOG_DATA + 1];
    for dealloc_type in [FLUSH, SYNC_LEVEL] {
        deallocate(&breq, dealloc_type, log()).rc2(P::PARAMETER_CHECK, S::DEALLOC_LOG_LL_WRONG);
    }
    deallocate(&breq, ABEND_PROG, too_long()).rc2(P::PARAMETER_CHECK, S::DEALLOC_LOG_LL_WRONG);
    deallocate(&req, ABEND, log()).rc2(P::PARAMETER_CHECK, S::DEALLOC_LOG_LL_WRONG);
    send_error(&req, log()).rc2(P::PARAMETER_CHECK, S::SEND_ERROR_LOG_LL_WRONG);
    send_error(&breq, too_long()).rc2(P::PARAMETER_CHECK, S::SEND_ERROR_LOG_LL_WRONG);
    for tp in [&req, &resp, &breq, &bresp] {
        for opext in [0x02, 0x04, 0x40, 0x83] {
            for body in [
                Body::Flush(tp.conv),
                Body::ReceiveImmediate(verbs::Receive {
                    conv: tp.conv,
                    max_len: 10,
                    ..Default::default()
                }),
                Body::GetState(verbs::GetState {
                    conv: tp.conv,
                    conv_state: 0,
                }),
            ] {
                Res::of(&tp.call_verb(Verb::with_opext(opext, body)))
                    .rc2(P::PARAMETER_CHECK, S::BAD_CONV_TYPE);
            }
        }
    }
    // Nothing changed.
    assert_eq!(req.state(), ConvState::Send);
    assert_eq!(resp.state(), ConvState::Receive);
    assert_eq!(breq.state(), ConvState::Send);
    assert_eq!(bresp.state(), ConvState::Receive);
    // The extended-VCB flag is defined.
    Res::of(&req.call_verb(Verb::with_opext(
        values::MAPPED_CONVERSATION | values::EXTD_VCB,
        Body::SendData(verbs::SendData {
            conv: req.conv,
            send_type: values::SEND_DATA_DEALLOC_FLUSH,
            data: b"extended".to_vec(),
            rts_rcvd: false,
        }),
    )))
    .ok();
    resp.receive_and_wait(100).ok().data(b"extended");
    resp.receive_and_wait(100).rc(P::DEALLOC_NORMAL);
    // Basic log data within the limits is accepted.
    breq.send_data(&ll(b"rec"), values::SEND_DATA_NONE).ok();
    send_error(&breq, vec![0x5A; verbs::MAX_LOG_DATA]).ok();
    deallocate(&breq, ABEND_SVC, log()).ok();
    bresp.receive_and_wait(100).ok().data(&ll(b"rec"));
    bresp
        .receive_and_wait(100)
        .rc2(P::PROG_ERROR_NO_TRUNC, S(0));
    bresp.receive_and_wait(100).rc2(P::DEALLOC_ABEND_SVC, S(0));
}

// ---------------------------------------------------------------------------
// SEND_ERROR purging an error indicator (`docs/api.md#buffering-and-flushing`)
// ---------------------------------------------------------------------------

/// Both ends issue SEND_ERROR: the sender's error flows at once, and the
/// receiver's SEND_ERROR, issued in RECEIVE before it saw it, purges it
/// (with any data before it). A purged error indicator is reported to the
/// purging end as AP_OK; the first end gets the purger's *_PURGING and
/// nothing purged ever shows up.
#[test]
fn send_error_purging_an_error_indicator_reports_ok() {
    for (mapped, err_type, received_first) in [
        (MAPPED, values::ERR_PROG, false),
        (MAPPED, values::ERR_PROG, true),
        (BASIC, values::ERR_PROG, false),
        (BASIC, values::ERR_SVC, true),
    ] {
        let (_node, a, b) = setup();
        let (req, resp) = pair(&a, &b, mapped, SYNC_NONE);
        let record = |text: &[u8]| if mapped { text.to_vec() } else { ll(text) };
        req.send_data(&record(b"purged"), values::SEND_DATA_NONE)
            .ok();
        req.send_error(err_type, values::RCV_DIR_ERROR).ok();
        assert_eq!(req.state(), ConvState::Send);
        if received_first {
            // Only the error indicator is left.
            resp.receive_and_wait(100).ok().data(&record(b"purged"));
        }
        resp.request_to_send().ok();
        resp.send_error(values::ERR_SVC, values::RCV_DIR_ERROR)
            .rc2(P::OK, S(0))
            .rts(false);
        assert_eq!(resp.state(), ConvState::Send);
        let code = if mapped {
            P::PROG_ERROR_PURGING
        } else {
            P::SVC_ERROR_PURGING
        };
        req.send_data(&record(b"lost"), values::SEND_DATA_NONE)
            .rc2(code, S(0))
            .rts(true);
        assert_eq!(req.state(), ConvState::Receive);
        resp.send_data(&record(b"answer"), values::SEND_DATA_P_TO_R_FLUSH)
            .ok();
        req.receive_and_wait(100).ok().data(&record(b"answer"));
        req.receive_and_wait(100).ok().what(W::SEND);
        req.send_data(&record(b"next"), values::SEND_DATA_P_TO_R_FLUSH)
            .ok();
        resp.receive_and_wait(100).ok().data(&record(b"next"));
        resp.receive_and_wait(100).ok().what(W::SEND);
    }
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
