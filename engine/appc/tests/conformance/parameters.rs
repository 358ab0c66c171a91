//! SEND_CONVERSATION, GET_ATTRIBUTES and GET_TYPE, the outputs of
//! RECEIVE_ALLOCATE, and the verbs' parameter checks (refused, nothing
//! changed).

use crate::pair;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::states::ConvState;
use appc::verbs::{self, values, Body, Verb};
use appc_engine::{Event, Target};

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
