//! A scripted far end: a backlogged session holds the send and reports
//! consumption, data in flight after a SEND_ERROR is purged on arrival,
//! and a cancelled soft end sends nothing buffered.

use crate::{allocate, call, layer, receive, received, tp, two_nodes, Far, Msg, Owned, Script};
use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::verbs::*;
use appc::{Appc, Confirmation, Node};
use appc_engine::{Target, WINAPPC_VERSION};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A node whose partner LU "LUB" is a scripted session the test drives by
/// hand, and a conversation allocated to it at `sync_level` (its attach
/// flows with the first flush). Returns the sender that reaches the
/// layer's thread, for the flows the test makes arrive.
fn scripted(sync_level: u8) -> (Node, Appc, Arc<Mutex<Script>>, Sender<Msg>, Conv) {
    let node = Node::new();
    let script = Arc::new(Mutex::new(Script::default()));
    let (tx, rx) = channel();
    node.add_partner(
        "LUB",
        layer(&node, (tx.clone(), rx), Far::Script(script.clone())),
    );
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let v = allocate(&a, tp(&a), "ECHO", sync_level);
    let Body::Allocate(al) = v.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: al.tp_id,
        conv_id: al.conv_id,
    };
    (node, a, script, tx, conv)
}

#[test]
fn a_backlogged_session_holds_the_send_and_consumption_is_reported() {
    let (_node, a, script, layer, conv) = scripted(values::SYNC_NONE);
    let (tx, mut rx) = a.queue();
    let send = |send_type| {
        Verb::mapped(Body::SendData(SendData {
            conv,
            send_type,
            data: b"data".to_vec(),
            rts_rcvd: false,
        }))
    };
    // Not backlogged: SEND_DATA completes at once.
    assert_eq!(
        a.call(send(values::SEND_DATA_FLUSH)).unwrap().primary_rc,
        PrimaryRc::OK
    );
    // Backlogged: it waits, and a verb meanwhile is CONV_BUSY, until the
    // session reports it writable.
    script.lock().unwrap().backlogged = true;
    let handle = a
        .submit(send(values::SEND_DATA_FLUSH), &Target::Queue(tx.clone()))
        .unwrap();
    assert_eq!(
        a.call(send(values::SEND_DATA_NONE)).unwrap().primary_rc,
        PrimaryRc::CONV_BUSY
    );
    assert!(rx.try_recv().is_none(), "the send still waits");
    script.lock().unwrap().backlogged = false;
    layer.send(Msg::Writable(conv.conv_id)).unwrap();
    let done = rx.recv_timeout(Duration::from_secs(5)).expect("completes");
    assert_eq!((done.handle, done.verb.primary_rc), (handle, PrimaryRc::OK));
    // The partner's data: what the TP takes is reported consumed, and only
    // then.
    assert_eq!(
        call(
            &a,
            Body::PrepareToReceive(PrepareToReceive {
                conv,
                ptr_type: values::FLUSH,
                locks: values::LOCKS_SHORT,
            })
        )
        .primary_rc,
        PrimaryRc::OK
    );
    let arrive = |flow| layer.send(Msg::Flow(conv.conv_id, flow)).unwrap();
    arrive(Owned::Data(b"hello".to_vec()));
    arrive(Owned::Data(b"world!".to_vec()));
    arrive(Owned::ChangeDirection);
    assert_eq!(script.lock().unwrap().consumed, 0);
    assert_eq!(received(&receive(&a, conv)).2, b"hello");
    assert_eq!(script.lock().unwrap().consumed, 5);
    assert_eq!(received(&receive(&a, conv)).2, b"world!");
    assert_eq!(script.lock().unwrap().consumed, 11);
    assert_eq!(received(&receive(&a, conv)).1, WhatRcvd::SEND);
    // A waiting send cancelled: AP_CANCELLED, the session aborted.
    script.lock().unwrap().backlogged = true;
    let handle = a
        .submit(send(values::SEND_DATA_FLUSH), &Target::Queue(tx.clone()))
        .unwrap();
    // A verb behind it is CONV_BUSY: the send is waiting on the layer.
    assert_eq!(
        a.call(send(values::SEND_DATA_NONE)).unwrap().primary_rc,
        PrimaryRc::CONV_BUSY
    );
    assert_eq!(a.cancel(handle).code(), 0);
    let done = rx.try_recv().expect("posted before cancel returned");
    assert_eq!(
        (done.handle, done.verb.primary_rc),
        (handle, PrimaryRc::CANCELLED)
    );
    // The teardown runs on the layer's thread, after the cancel: a verb
    // issued now runs after it there.
    assert_eq!(
        call(&a, Body::Flush(conv)).secondary_rc,
        SecondaryRc::BAD_CONV_ID
    );
    let script = script.lock().unwrap();
    assert_eq!(script.closed, Some(true));
    assert_eq!(
        script
            .flows
            .iter()
            .filter(|f| matches!(f, Owned::Data(_)))
            .count(),
        3
    );
}

/// Data a remote partner sent before this end's SEND_ERROR reached it is
/// purged on arrival (and reported consumed, for pacing): this end, in
/// SEND, gets the partner's abend that follows on its next verb.
#[test]
fn data_in_flight_after_a_send_error_is_purged_on_arrival() {
    let (_node, a, script, layer, conv) = scripted(values::SYNC_CONFIRM);
    let rc = |body| call(&a, body).primary_rc;
    let ptr = Body::PrepareToReceive(PrepareToReceive {
        conv,
        ptr_type: values::FLUSH,
        locks: values::LOCKS_SHORT,
    });
    assert_eq!(rc(ptr), PrimaryRc::OK);
    let arrive = |flow| layer.send(Msg::Flow(conv.conv_id, flow)).unwrap();
    arrive(Owned::Data(b"received".to_vec()));
    let error = Body::SendError(SendError {
        conv,
        err_type: values::ERR_PROG,
        err_dir: values::RCV_DIR_ERROR,
        ..Default::default()
    });
    assert_eq!(rc(error), PrimaryRc::OK);
    // What the partner sent before it learned of the error, then its abend.
    arrive(Owned::Data(b"in flight".to_vec()));
    arrive(Owned::ConfirmRequest(Confirmation::Plain));
    arrive(Owned::Deallocate(PrimaryRc::DEALLOC_ABEND));
    assert_eq!(rc(Body::Flush(conv)), PrimaryRc::DEALLOC_ABEND);
    assert_eq!(script.lock().unwrap().consumed, 8 + 9);
}

/// A cancelled TP_ENDED(AP_SOFT) flushes nothing across nodes either: TP X
/// on A holds c1 and c2 to B, waits in a receive on c2 (so its soft end
/// waits), buffers "secret" on c1, and cancels the soft end. B's receive
/// on c1 gets no data, only the abnormal end.
#[test]
fn a_cancelled_soft_end_sends_nothing_buffered_to_the_remote_partner() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let open = || {
        let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
            unreachable!()
        };
        let mine = Conv {
            tp_id,
            conv_id: al.conv_id,
        };
        assert_eq!(call(&a, Body::Flush(mine)).primary_rc, PrimaryRc::OK);
        let ra = ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        };
        let Body::ReceiveAllocate(ra) = call(&b, Body::ReceiveAllocate(ra)).body else {
            unreachable!()
        };
        let theirs = Conv {
            tp_id: ra.tp_id,
            conv_id: ra.conv_id,
        };
        (mine, theirs)
    };
    let (c1, p1) = open();
    let (c2, _p2) = open();
    let receive = |conv| {
        Verb::mapped(Body::ReceiveAndWait(Receive {
            conv,
            max_len: 100,
            ..Default::default()
        }))
    };
    let (btx, mut brx) = b.queue();
    let theirs = b.submit(receive(p1), &Target::Queue(btx)).unwrap();
    let (tx, mut rx) = a.queue();
    let active = a.submit(receive(c2), &Target::Queue(tx.clone())).unwrap();
    let send = SendData {
        conv: c1,
        send_type: values::SEND_DATA_NONE,
        data: b"secret".to_vec(),
        rts_rcvd: false,
    };
    assert_eq!(call(&a, Body::SendData(send)).primary_rc, PrimaryRc::OK);
    let ended = TpEnded {
        tp_id,
        tp_type: values::SOFT,
    };
    let end = a
        .submit(Verb::mapped(Body::TpEnded(ended)), &Target::Queue(tx))
        .unwrap();
    assert!(
        rx.try_recv().is_none(),
        "the soft end waits for c2's receive"
    );
    assert_eq!(a.cancel(end).code(), 0);
    let mut done: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .map(|c| c.handle)
        .collect();
    done.sort();
    let mut want = vec![active, end];
    want.sort();
    assert_eq!(done, want);

    let got = brx
        .recv_timeout(Duration::from_secs(10))
        .expect("B's receive ends");
    assert_eq!(got.handle, theirs);
    assert_eq!(
        (received(&got.verb).0, received(&got.verb).2),
        (PrimaryRc::DEALLOC_ABEND, vec![]),
        "no data, and the conversation ended abnormally"
    );
}
