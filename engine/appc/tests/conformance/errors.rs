//! SEND_ERROR: truncation at and inside a record, purging a receive, a
//! deallocation or an error indicator, and the error direction; and
//! DEALLOCATE: abend codes, abend in RECEIVE, flush.

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{self, values, Body};
use appc_engine::Event;
use std::time::Duration;

// ---------------------------------------------------------------------------
// SEND_ERROR (`docs/api.md#buffering-and-flushing`)
// ---------------------------------------------------------------------------

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
