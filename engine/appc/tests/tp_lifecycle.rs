//! TP_ENDED: AP_SOFT waits for the TP's active verbs (TP verbs get
//! AP_TP_BUSY meanwhile); AP_HARD and a cancelled soft end do not wait;
//! a cancelled soft end flushes nothing.

#![cfg(not(loom))]

use appc::rc::{PrimaryRc, SecondaryRc};
use appc::verbs::*;
use appc::{Appc, Node};
use appc_engine::{Target, WINAPPC_VERSION};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn call(app: &Appc, verb: Verb) -> Verb {
    app.call(verb).expect("accepted")
}

/// Two TPs with a mapped conversation between them: (requester tp, conv), (responder conv).
fn connected(a: &Appc, b: &Appc, node: &Node) -> (Conv, Conv) {
    node.define_tp("RESP");
    let v = call(a, Verb::mapped(Body::TpStarted(TpStarted::default())));
    let Body::TpStarted(t) = v.body else {
        unreachable!()
    };
    let v = call(
        a,
        Verb::mapped(Body::Allocate(Allocate {
            tp_id: t.tp_id,
            tp_name: name("RESP"),
            ..Default::default()
        })),
    );
    let Body::Allocate(al) = v.body else {
        unreachable!()
    };
    let req = Conv {
        tp_id: t.tp_id,
        conv_id: al.conv_id,
    };
    assert_eq!(
        call(a, Verb::mapped(Body::Flush(req))).primary_rc,
        PrimaryRc::OK
    );
    let v = call(
        b,
        Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("RESP"),
            ..Default::default()
        })),
    );
    let Body::ReceiveAllocate(ra) = v.body else {
        unreachable!()
    };
    (
        req,
        Conv {
            tp_id: ra.tp_id,
            conv_id: ra.conv_id,
        },
    )
}

fn tp_ended(tp_id: TpId, tp_type: u8) -> Verb {
    Verb::mapped(Body::TpEnded(TpEnded { tp_id, tp_type }))
}

#[test]
fn soft_end_waits_for_active_verbs_and_makes_the_tp_busy() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (req, resp) = connected(&a, &b, &node);
    let (tx, mut rx) = b.queue();
    // The responder's receive is active.
    let receive = Verb::mapped(Body::ReceiveAndWait(Receive {
        conv: resp,
        max_len: 64,
        ..Default::default()
    }));
    let receive = b.submit(receive, &Target::Queue(tx.clone())).unwrap();
    let end = b
        .submit(
            tp_ended(resp.tp_id, values::SOFT),
            &Target::Queue(tx.clone()),
        )
        .unwrap();
    assert!(rx.try_recv().is_none(), "the soft end waits");
    // Meanwhile TP verbs are busy.
    let busy = call(&b, tp_ended(resp.tp_id, values::HARD));
    assert_eq!(busy.primary_rc, PrimaryRc::TP_BUSY);
    // The partner's data completes the receive, then the TP ends.
    let send = Verb::mapped(Body::SendData(SendData {
        conv: req,
        send_type: values::SEND_DATA_FLUSH,
        data: b"x".to_vec(),
        rts_rcvd: false,
    }));
    assert_eq!(call(&a, send).primary_rc, PrimaryRc::OK);
    let first = rx.recv_timeout(WAIT).expect("receive completes");
    assert_eq!(
        (first.handle, first.verb.primary_rc),
        (receive, PrimaryRc::OK)
    );
    let second = rx.recv_timeout(WAIT).expect("TP_ENDED completes");
    assert_eq!(
        (second.handle, second.verb.primary_rc),
        (end, PrimaryRc::OK)
    );
    // The TP is gone; the requester's conversation was deallocated abnormally
    // (the responder was in RECEIVE).
    let gone = call(&b, tp_ended(resp.tp_id, values::HARD));
    assert_eq!(
        (gone.primary_rc, gone.secondary_rc),
        (PrimaryRc::PARAMETER_CHECK, SecondaryRc::BAD_TP_ID)
    );
    let v = call(
        &a,
        Verb::mapped(Body::ReceiveAndWait(Receive {
            conv: req,
            max_len: 64,
            ..Default::default()
        })),
    );
    assert_eq!(v.primary_rc, PrimaryRc::DEALLOC_ABEND);
}

#[test]
fn cancelling_a_waiting_soft_end_ends_the_tp_at_once() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (req, resp) = connected(&a, &b, &node);
    let (tx, mut rx) = b.queue();
    let receive = Verb::mapped(Body::ReceiveAndWait(Receive {
        conv: resp,
        max_len: 64,
        ..Default::default()
    }));
    let receive = b.submit(receive, &Target::Queue(tx.clone())).unwrap();
    let end = b
        .submit(tp_ended(resp.tp_id, values::SOFT), &Target::Queue(tx))
        .unwrap();
    assert_eq!(b.cancel(end).code(), 0);
    let mut done: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(WAIT).expect("completion"))
        .map(|c| (c.handle, c.verb.primary_rc))
        .collect();
    done.sort_by_key(|(h, _)| u64::from(*h));
    let mut want = vec![(receive, PrimaryRc::CANCELLED), (end, PrimaryRc::CANCELLED)];
    want.sort_by_key(|(h, _)| u64::from(*h));
    assert_eq!(done, want);
    let v = call(
        &a,
        Verb::mapped(Body::ReceiveAndWait(Receive {
            conv: req,
            max_len: 64,
            ..Default::default()
        })),
    );
    assert_eq!(v.primary_rc, PrimaryRc::DEALLOC_ABEND);
}

/// A cancelled TP verb flushes nothing. TP X holds c1 and c2 to a
/// partner; a RECEIVE_AND_WAIT waits on c2, so X's TP_ENDED(AP_SOFT)
/// waits; "secret" is buffered on c1 (SEND_DATA with AP_NONE); the soft
/// end is cancelled. The partner's receive on c1 must get no data, only
/// the abnormal end (with AP_HARD semantics it would get "secret", then
/// AP_DEALLOC_NORMAL).
#[test]
fn a_cancelled_soft_end_flushes_nothing() {
    let node = Node::new();
    node.define_tp("RESP");
    let (x, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (partner, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let v = call(&x, Verb::mapped(Body::TpStarted(TpStarted::default())));
    let Body::TpStarted(TpStarted { tp_id, .. }) = v.body else {
        unreachable!()
    };
    // c1 and c2, each with its attach flowed and taken by the partner.
    let open = || {
        let v = call(
            &x,
            Verb::mapped(Body::Allocate(Allocate {
                tp_id,
                tp_name: name("RESP"),
                ..Default::default()
            })),
        );
        let Body::Allocate(Allocate { conv_id, .. }) = v.body else {
            unreachable!()
        };
        let mine = Conv { tp_id, conv_id };
        assert_eq!(
            call(&x, Verb::mapped(Body::Flush(mine))).primary_rc,
            PrimaryRc::OK
        );
        let v = call(
            &partner,
            Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
                tp_name: name("RESP"),
                ..Default::default()
            })),
        );
        let Body::ReceiveAllocate(ra) = v.body else {
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
            max_len: 64,
            ..Default::default()
        }))
    };
    let (ptx, mut prx) = partner.queue();
    let theirs = partner.submit(receive(p1), &Target::Queue(ptx)).unwrap();
    let (tx, mut rx) = x.queue();
    let active = x.submit(receive(c2), &Target::Queue(tx.clone())).unwrap();
    let send = Verb::mapped(Body::SendData(SendData {
        conv: c1,
        send_type: values::SEND_DATA_NONE,
        data: b"secret".to_vec(),
        rts_rcvd: false,
    }));
    assert_eq!(call(&x, send).primary_rc, PrimaryRc::OK);
    let end = x
        .submit(tp_ended(tp_id, values::SOFT), &Target::Queue(tx))
        .unwrap();
    assert!(
        rx.try_recv().is_none(),
        "the soft end waits for c2's receive"
    );
    assert_eq!(x.cancel(end).code(), 0);
    let mut done: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(WAIT).expect("completion"))
        .map(|c| (c.handle, c.verb.primary_rc))
        .collect();
    done.sort_by_key(|(h, _)| u64::from(*h));
    let mut want = vec![(active, PrimaryRc::CANCELLED), (end, PrimaryRc::CANCELLED)];
    want.sort_by_key(|(h, _)| u64::from(*h));
    assert_eq!(done, want);

    let got = prx.recv_timeout(WAIT).expect("the partner's receive ends");
    assert_eq!(got.handle, theirs);
    let Body::ReceiveAndWait(r) = &got.verb.body else {
        unreachable!()
    };
    assert_eq!(
        (got.verb.primary_rc, r.data.as_slice()),
        (PrimaryRc::DEALLOC_ABEND, &b""[..]),
        "no data, and the conversation ended abnormally"
    );
}
