//! Basic logical records (LL fields, buffer filling, bad LLs, verbs that
//! need a record boundary) and mapped records.

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::values;
use appc_engine::Event;

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
