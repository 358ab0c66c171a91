//! Verbs across two nodes: a whole conversation, a verb for another TP's
//! conversation refused by its owner, an attach the remote node rejects,
//! and a cancel that closes the remote session.

use crate::{allocate, call, receive, received, tp, two_nodes};
use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::verbs::*;
use appc::Appc;
use appc_engine::{Event, Target, WINAPPC_VERSION};
use std::thread;
use std::time::Duration;

#[test]
fn conversation_across_nodes() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let v = call(
                &b,
                Body::ReceiveAllocate(ReceiveAllocate {
                    tp_name: name("ECHO"),
                    ..Default::default()
                }),
            );
            assert_eq!(v.primary_rc, PrimaryRc::OK);
            let Body::ReceiveAllocate(ra) = v.body else {
                unreachable!()
            };
            assert_eq!(ra.sync_level, values::SYNC_CONFIRM);
            let conv = Conv {
                tp_id: ra.tp_id,
                conv_id: ra.conv_id,
            };
            assert_eq!(
                received(&receive(&b, conv)),
                (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"ping".to_vec())
            );
            assert_eq!(received(&receive(&b, conv)).1, WhatRcvd::SEND);
            let send = SendData {
                conv,
                send_type: values::SEND_DATA_CONFIRM,
                data: b"pong".to_vec(),
                rts_rcvd: false,
            };
            let sent = call(&b, Body::SendData(send));
            assert_eq!(sent.primary_rc, PrimaryRc::OK);
            let Body::SendData(sent) = sent.body else {
                unreachable!()
            };
            assert_eq!(sent.data, b"pong", "the buffer comes back with the verb");
            assert_eq!(received(&receive(&b, conv)).0, PrimaryRc::DEALLOC_NORMAL);
        });
        let tp_id = tp(&a);
        let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_CONFIRM).body else {
            unreachable!()
        };
        let conv = Conv {
            tp_id,
            conv_id: al.conv_id,
        };
        let send = SendData {
            conv,
            send_type: values::SEND_DATA_NONE,
            data: b"ping".to_vec(),
            rts_rcvd: false,
        };
        assert_eq!(call(&a, Body::SendData(send)).primary_rc, PrimaryRc::OK);
        assert_eq!(
            received(&receive(&a, conv)),
            (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"pong".to_vec())
        );
        assert_eq!(
            received(&receive(&a, conv)).1,
            WhatRcvd::CONFIRM_WHAT_RECEIVED
        );
        assert_eq!(call(&a, Body::Confirmed(conv)).primary_rc, PrimaryRc::OK);
        // B turns the direction round with its next receive.
        assert_eq!(received(&receive(&a, conv)).1, WhatRcvd::SEND);
        let dealloc = Deallocate {
            conv,
            dealloc_type: values::FLUSH,
            log_data: vec![],
        };
        assert_eq!(
            call(&a, Body::Deallocate(dealloc)).primary_rc,
            PrimaryRc::OK
        );
    });
}

#[test]
fn a_verb_for_another_tps_conversation_is_refused_by_its_owner() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (other, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let flush = |app: &Appc, tp_id| {
        let v = call(
            app,
            Body::Flush(Conv {
                tp_id,
                conv_id: al.conv_id,
            }),
        );
        (v.primary_rc, v.secondary_rc)
    };
    // Another TP of the same application: the conversation is not its.
    let second = tp(&a);
    assert_eq!(
        flush(&a, second),
        (PrimaryRc::PARAMETER_CHECK, SecondaryRc::BAD_CONV_ID)
    );
    // Another application: the TP is not its.
    assert_eq!(
        flush(&other, tp_id),
        (PrimaryRc::PARAMETER_CHECK, SecondaryRc::BAD_TP_ID)
    );
    assert_eq!(flush(&a, tp_id), (PrimaryRc::OK, SecondaryRc(0)));
}

#[test]
fn attach_rejected_by_the_remote_node_surfaces_later() {
    let (node_a, _node_b) = two_nodes();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "NOBODY", values::SYNC_CONFIRM).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    // CONFIRM flushes the attach and waits: the remote rejection ends it.
    let v = call(
        &a,
        Body::Confirm(Confirm {
            conv,
            rts_rcvd: false,
        }),
    );
    assert_eq!(
        (v.primary_rc, v.secondary_rc),
        (
            PrimaryRc::ALLOCATION_ERROR,
            SecondaryRc::TP_NAME_NOT_RECOGNIZED
        )
    );
}

#[test]
fn cancel_closes_the_remote_session_and_fails_the_partner() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_CONFIRM).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    // An asynchronous receive on A flushes the attach and hands B the direction.
    let (tx, mut rx) = a.queue();
    let pending = Receive {
        conv,
        max_len: 100,
        ..Default::default()
    };
    let handle = a
        .submit(
            Verb::mapped(Body::ReceiveAndWait(pending)),
            &Target::Queue(tx),
        )
        .unwrap();
    let v = call(
        &b,
        Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        }),
    );
    let Body::ReceiveAllocate(ra) = v.body else {
        unreachable!()
    };
    let b_conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(received(&receive(&b, b_conv)).1, WhatRcvd::SEND);
    // B holds the send direction, so B's outstanding verb is a post: a
    // TEST_RTS_AND_POST registration waiting for A's REQUEST_TO_SEND.
    let event = Event::default();
    let registered = call(
        &b,
        Body::TestRtsAndPost(TestRtsAndPost {
            conv: b_conv,
            handle: event.clone(),
            post: None,
        }),
    );
    let Body::TestRtsAndPost(TestRtsAndPost {
        post: Some(post), ..
    }) = registered.body
    else {
        panic!("the registration has a post: {registered:?}")
    };
    assert_eq!(a.cancel(handle).code(), 0);
    let done = rx.try_recv().expect("posted before cancel returned");
    assert_eq!(
        (done.handle, done.verb.primary_rc),
        (handle, PrimaryRc::CANCELLED)
    );
    // The session's deactivation reaches B: its outstanding post fails, and
    // so does its next verb.
    assert!(
        event.wait_timeout(Duration::from_secs(10)),
        "B's post completes"
    );
    assert_eq!(
        b.collect(post).unwrap().primary_rc,
        PrimaryRc::CONV_FAILURE_RETRY
    );
    let send = SendData {
        conv: b_conv,
        send_type: values::SEND_DATA_FLUSH,
        data: b"x".to_vec(),
        rts_rcvd: false,
    };
    assert_eq!(
        call(&b, Body::SendData(send)).primary_rc,
        PrimaryRc::CONV_FAILURE_RETRY
    );
}
