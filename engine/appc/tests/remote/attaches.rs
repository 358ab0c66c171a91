//! Attaches that end before a RECEIVE_ALLOCATE takes them (the session
//! fails, the allocator abends) leave the queue; one past the remote
//! queue limit is refused.

use crate::{allocate, call, receive, received, tp, two_nodes};
use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::verbs::*;
use appc::{Appc, Node};
use appc_engine::{Target, WINAPPC_VERSION};
use std::thread;
use std::time::Duration;

/// Waits (bounded) until `node` holds `n` queued attaches.
fn await_queued(node: &Node, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while node.queued_attaches() != n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} queued attaches, not {n}",
            node.queued_attaches()
        );
        thread::yield_now();
    }
}

/// An attach from A waits on B for a RECEIVE_ALLOCATE; A's verb is
/// cancelled, so the session fails before any TP on B took it: B drops the
/// attach, and its next RECEIVE_ALLOCATE gets the next live conversation.
#[test]
fn an_attach_whose_session_fails_before_it_is_taken_leaves_the_queue() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    let pending = Receive {
        conv,
        max_len: 100,
        ..Default::default()
    };
    let (tx, _rx) = a.queue();
    let handle = a
        .submit(
            Verb::mapped(Body::ReceiveAndWait(pending)),
            &Target::Queue(tx),
        )
        .unwrap();
    await_queued(&node_b, 1);
    assert_eq!(a.cancel(handle).code(), 0);
    await_queued(&node_b, 0);

    let (btx, mut brx) = b.queue();
    let ra = ReceiveAllocate {
        tp_name: name("ECHO"),
        ..Default::default()
    };
    let ra = b
        .submit(Verb::mapped(Body::ReceiveAllocate(ra)), &Target::Queue(btx))
        .unwrap();
    assert!(brx.try_recv().is_none(), "B took a dead conversation");
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let live = SendData {
        conv: Conv {
            tp_id,
            conv_id: al.conv_id,
        },
        send_type: values::SEND_DATA_FLUSH,
        data: b"live".to_vec(),
        rts_rcvd: false,
    };
    assert_eq!(call(&a, Body::SendData(live)).primary_rc, PrimaryRc::OK);
    let got = brx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((got.handle, got.verb.primary_rc), (ra, PrimaryRc::OK));
    let Body::ReceiveAllocate(ra) = got.verb.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(
        received(&receive(&b, conv)),
        (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"live".to_vec())
    );
}

/// RECEIVE_ALLOCATE on B for "ECHO", submitted: it waits while no live
/// attach is queued.
fn submit_receive_allocate(b: &Appc) -> (appc_engine::Handle, appc_engine::Receiver<Verb>) {
    let (btx, brx) = b.queue();
    let ra = ReceiveAllocate {
        tp_name: name("ECHO"),
        ..Default::default()
    };
    let ra = b
        .submit(Verb::mapped(Body::ReceiveAllocate(ra)), &Target::Queue(btx))
        .unwrap();
    (ra, brx)
}

/// An attach from A waits on B for a RECEIVE_ALLOCATE; A's TP abends the
/// conversation (DEALLOCATE(ABEND)), and the abnormal end crosses the
/// session before any TP on B took the attach: B drops the attach, and a
/// RECEIVE_ALLOCATE on B waits for a live one.
#[test]
fn an_attach_its_allocator_abends_before_it_is_taken_leaves_the_queue() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    assert_eq!(call(&a, Body::Flush(conv)).primary_rc, PrimaryRc::OK);
    await_queued(&node_b, 1);
    let abend = Deallocate {
        conv,
        dealloc_type: values::ABEND,
        log_data: Vec::new(),
    };
    assert_eq!(call(&a, Body::Deallocate(abend)).primary_rc, PrimaryRc::OK);
    await_queued(&node_b, 0);
    let (_ra, mut brx) = submit_receive_allocate(&b);
    assert!(brx.try_recv().is_none(), "B took a dead conversation");
}

/// B queues at most the attaches its limit allows for a name nobody
/// serves yet: here one. The next attach from A is refused with
/// `AP_TRANS_PGM_NOT_AVAIL_RETRY`, which A's TP sees as an allocation
/// error on its next verb; the queued one is still taken whole.
#[test]
fn an_attach_past_the_remote_queue_limit_is_refused() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    node_b.set_max_queued_attaches(1);
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let open = |data: &[u8]| {
        let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
            unreachable!()
        };
        let conv = Conv {
            tp_id,
            conv_id: al.conv_id,
        };
        let send = SendData {
            conv,
            send_type: values::SEND_DATA_FLUSH,
            data: data.to_vec(),
            rts_rcvd: false,
        };
        assert_eq!(call(&a, Body::SendData(send)).primary_rc, PrimaryRc::OK);
        conv
    };
    open(b"queued");
    await_queued(&node_b, 1);
    let refused = open(b"refused");
    let verb = receive(&a, refused);
    assert_eq!(
        (verb.primary_rc, verb.secondary_rc),
        (
            PrimaryRc::ALLOCATION_ERROR,
            SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY
        )
    );
    assert_eq!(node_b.queued_attaches(), 1);
    let (ra, mut brx) = submit_receive_allocate(&b);
    let got = brx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((got.handle, got.verb.primary_rc), (ra, PrimaryRc::OK));
    let Body::ReceiveAllocate(ra) = got.verb.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(
        received(&receive(&b, conv)),
        (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"queued".to_vec())
    );
}
