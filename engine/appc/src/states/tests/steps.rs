//! Which step each verb body is: the `Step` a `Body` maps to, with the
//! conversation's sync level and type.

use crate::states::*;
use crate::verbs::{self, Conv};

#[test]
fn steps_of_bodies() {
    let conv = Conv::default();
    let allocate = verbs::Allocate {
        tp_id: [0; 8],
        conv_type: values::MAPPED_CONVERSATION,
        sync_level: values::SYNC_NONE,
        rtn_ctl: values::WHEN_SESSION_ALLOCATED,
        plu_alias: verbs::name("PLU"),
        mode_name: verbs::name("MODE"),
        tp_name: verbs::name("TP"),
        security: values::SECURITY_NONE,
        pwd: [b' '; 10],
        user_id: [b' '; 10],
        pip: Vec::new(),
        conv_id: 0,
        sense_data: 0,
    };
    let event = appc_engine::Event::new(false);
    let send_data = |send_type| {
        Body::SendData(verbs::SendData {
            conv,
            send_type,
            data: Vec::new(),
            rts_rcvd: false,
        })
    };
    let deallocate = |dealloc_type| {
        Body::Deallocate(verbs::Deallocate {
            conv,
            dealloc_type,
            log_data: Vec::new(),
        })
    };
    let cases = vec![
        (
            Body::TpStarted(verbs::TpStarted {
                lu_alias: verbs::name(""),
                tp_name: verbs::name("TP"),
                tp_id: [0; 8],
            }),
            Step::TpVerb,
        ),
        (
            Body::ReceiveAllocate(verbs::ReceiveAllocate {
                tp_name: verbs::name("TP"),
                lu_alias: verbs::name(""),
                tp_id: [0; 8],
                conv_id: 0,
                sync_level: 0,
                conv_type: 0,
                user_id: [b' '; 10],
                plu_alias: verbs::name(""),
                mode_name: verbs::name(""),
                pip: Vec::new(),
            }),
            Step::TpVerb,
        ),
        (
            Body::TpEnded(verbs::TpEnded {
                tp_id: [0; 8],
                tp_type: values::SOFT,
            }),
            Step::TpVerb,
        ),
        (Body::Unknown { opcode: 0x1234 }, Step::TpVerb),
        (Body::Allocate(allocate.clone()), Step::Allocate),
        (
            Body::SendConversation(verbs::SendConversation {
                allocate,
                data: Vec::new(),
            }),
            Step::SendConversation,
        ),
        (
            Body::ReceiveAndWait(verbs::Receive::default()),
            Step::ReceiveAndWait,
        ),
        (
            Body::ReceiveImmediate(verbs::Receive::default()),
            Step::ReceiveImmediate,
        ),
        (
            Body::ReceiveAndPost(verbs::ReceiveAndPost {
                receive: verbs::Receive::default(),
                sema: event.clone(),
                post: None,
            }),
            Step::ReceiveAndPost,
        ),
        (
            Body::PostOnReceipt(verbs::PostOnReceipt {
                conv,
                fill: values::FILL_LL,
                max_len: 0,
                sema: event.clone(),
                post: None,
            }),
            Step::PostOnReceipt,
        ),
        (Body::Confirm(verbs::Confirm::default()), Step::Confirm),
        (Body::Confirmed(conv), Step::Confirmed),
        (Body::Flush(conv), Step::Flush),
        (Body::RequestToSend(conv), Step::RequestToSend),
        (Body::TestRts(conv), Step::TestRts),
        (
            Body::TestRtsAndPost(verbs::TestRtsAndPost {
                conv,
                handle: event,
                post: None,
            }),
            Step::TestRtsAndPost,
        ),
        (
            Body::SendError(verbs::SendError::default()),
            Step::SendError,
        ),
        (
            Body::GetAttributes(verbs::GetAttributes::default()),
            Step::GetAttributes,
        ),
        (Body::GetType(verbs::GetType::default()), Step::GetType),
        (Body::GetState(verbs::GetState::default()), Step::GetState),
    ];
    for (body, step) in &cases {
        assert_eq!(Step::of(body), *step, "{body:?}");
    }
    for ptr_type in 0..=u8::MAX {
        let body = Body::PrepareToReceive(verbs::PrepareToReceive {
            conv,
            ptr_type,
            locks: values::LOCKS_SHORT,
        });
        assert_eq!(Step::of(&body), Step::PrepareToReceive);
    }
    for send_type in 0..=u8::MAX {
        let expected = match send_type {
            0x01 => SendKind::Flush,
            0x02 => SendKind::Confirm,
            0x03 | 0x04 => SendKind::PrepareToReceive,
            0x05 | 0x06 => SendKind::Deallocate,
            0x07 => SendKind::DeallocateAbend,
            _ => SendKind::Plain,
        };
        assert_eq!(Step::of(&send_data(send_type)), Step::SendData(expected));
    }
    for dealloc_type in 0..=u8::MAX {
        let expected = match dealloc_type {
            0x00 => DeallocKind::SyncLevel,
            0x02..=0x05 => DeallocKind::Abend,
            _ => DeallocKind::Flush,
        };
        assert_eq!(
            Step::of(&deallocate(dealloc_type)),
            Step::Deallocate(expected),
            "dealloc_type {dealloc_type:#04x}"
        );
    }
}
