//! The state matrix as the running engine applies it: every verb in
//! every reachable state; and bad input refused with its documented code
//! without disturbing the conversation.

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{self, values, Body, Conv, Verb};
use appc_engine::Event;

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
