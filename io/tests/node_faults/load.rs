//! Faults under load: a cancel during a large send, a link dropped under
//! thousands of outstanding receives, and conversations waiting for a
//! BIND that is never answered.

use crate::support::*;
use crate::{
    completes, each_backend, links_lost, nothing_left, others_unaffected, send_until_it_fails, trio,
};
use appc_io::appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::engine::Target;
use appc_io::node::NodeConfig;
use std::collections::HashSet;
use std::net::TcpListener;
use std::time::Instant;

#[test]
fn cancel_during_a_large_send_ends_that_session_only() {
    each_backend(|kind| {
        // Room for the whole send in A's queue: this test is about the
        // cancel, not the queue bound (the test above).
        let mut config = NodeConfig::default();
        config.backend.max_queued_bytes = 64 << 20;
        // And room for it in A's session (held by pacing, as B's TP does
        // not receive), so that A's SEND_DATAs complete without waiting.
        config.max_send_backlog = 64 << 20;
        let mut t = trio(kind, config);
        let (a_tx, mut a_rx) = t.a.app.queue();
        let (a, b) = (&t.a.app, &t.b.app);
        let x = allocate(a, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(a, true, x, values::SEND_DATA_FLUSH, b"x"),
            PrimaryRc::OK
        );
        t.proxy.accept();
        let b_x = receive_allocate(b);
        assert_eq!(receive(b, true, b_x).2, b"x");
        // A bystander on the same link.
        let y = allocate(a, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(a, true, y, values::SEND_DATA_FLUSH, b"y"),
            PrimaryRc::OK
        );
        let b_y = receive_allocate(b);
        assert_eq!(receive(b, true, b_y).2, b"y");
        // 8 MB that B's application does not receive, then a receive
        // that flushes them, passes the direction and waits.
        let started = Instant::now();
        let record = vec![0x42; 32_000];
        for _ in 0..250 {
            assert_eq!(
                send(a, true, x, values::SEND_DATA_NONE, &record),
                PrimaryRc::OK
            );
        }
        let handle = submit_receive(a, x, &a_tx);
        assert_eq!(a.cancel(handle).code(), 0);
        let done = a_rx.try_recv().expect("posted before cancel returned");
        assert_eq!(
            (done.handle, done.verb.primary_rc),
            (handle, PrimaryRc::CANCELLED)
        );
        // B gets what A flushed, then the session's end.
        let mut got = 0;
        let rc = loop {
            let v = call(
                b,
                Body::ReceiveAndWait(Receive {
                    conv: b_x,
                    max_len: u16::MAX,
                    ..Default::default()
                }),
            );
            let Body::ReceiveAndWait(r) = v.body else {
                unreachable!()
            };
            if v.primary_rc != PrimaryRc::OK {
                break v.primary_rc;
            }
            got += r.data.len();
        };
        eprintln!(
                "{kind:?}: cancel after 8 MB of SEND_DATA: B received {} KB, then the failure, {:?} after the first send",
                got / 1000,
                started.elapsed()
            );
        assert_eq!(rc, PrimaryRc::CONV_FAILURE_RETRY);
        assert!(got <= 250 * record.len());
        // The link and its other session carry on.
        let rc = send(a, true, y, values::SEND_DATA_P_TO_R_FLUSH, b"y2");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(receive(b, true, b_y).2, b"y2");
        assert_eq!(receive(b, true, b_y).1, WhatRcvd::SEND);
        let rc = send(b, true, b_y, values::SEND_DATA_DEALLOC_FLUSH, b"bye");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(receive(a, true, y).2, b"bye");
        assert_eq!(receive(a, true, y).0, PrimaryRc::DEALLOC_NORMAL);
        let (_, _, _, va, ca) = t.a.node.stats().snapshot();
        let (_, _, _, vb, cb) = t.b.node.stats().snapshot();
        assert_eq!((va, ca, vb, cb), (0, 0, 0, 0), "no violation, no link lost");
        others_unaffected(&t);
        assert!(
            a_rx.try_recv().is_none(),
            "the cancelled verb completed once"
        );
        let tps = [
            (&t.a, x.tp_id),
            (&t.a, y.tp_id),
            (&t.b, b_x.tp_id),
            (&t.b, b_y.tp_id),
        ];
        nothing_left(&[&t.a, &t.b, &t.c], &tps);
    });
}

#[test]
fn a_link_dropped_under_thousands_of_outstanding_receives() {
    const N: usize = 2_000;
    each_backend(|kind| {
        let config = NodeConfig {
            max_sessions_per_link: N + 16,
            ..NodeConfig::default()
        };
        let b = side_with("LUB", kind, config.clone());
        b.engine.define_tp("ECHO");
        let c = side("LUC", kind);
        c.engine.define_tp("ECHO");
        let a = side_with("LUA", kind, config);
        a.node.add_partner("LUB", listen(&b));
        a.node.add_partner("LUC", listen(&c));
        let (b_tx, mut b_rx) = b.app.queue();
        for _ in 0..N {
            let ra = ReceiveAllocate {
                tp_name: name("ECHO"),
                ..Default::default()
            };
            let verb = Verb::mapped(Body::ReceiveAllocate(ra));
            b.app.submit(verb, &Target::Queue(b_tx.clone())).unwrap();
        }
        let started = Instant::now();
        let (a_tx, mut a_rx) = a.app.queue();
        let a_tp = tp(&a.app);
        let mut waiting = HashSet::new();
        for _ in 0..N {
            let conv = allocate_on(&a.app, a_tp, "LUB", true, "ECHO", values::SYNC_NONE);
            assert!(waiting.insert(submit_receive(&a.app, conv, &a_tx)));
        }
        // A's conversation on its other link waits too.
        let (c_tx, mut c_rx) = a.app.queue();
        let to_c = allocate_on(&a.app, a_tp, "LUC", true, "ECHO", values::SYNC_NONE);
        let c_handle = submit_receive(&a.app, to_c, &c_tx);
        let on_c = receive_allocate(&c.app);
        assert_eq!(receive(&c.app, true, on_c).1, WhatRcvd::SEND);
        // B has every attach: each conversation has its bound session.
        let b_convs: Vec<Conv> = (0..N)
            .map(|_| {
                let done = b_rx.recv_timeout(LIMIT).expect("B gets the attach");
                assert_eq!(done.verb.primary_rc, PrimaryRc::OK);
                let Body::ReceiveAllocate(ra) = done.verb.body else {
                    unreachable!()
                };
                Conv {
                    tp_id: ra.tp_id,
                    conv_id: ra.conv_id,
                }
            })
            .collect();
        eprintln!(
            "{kind:?}: {N} conversations on {N} sessions of one link in {:?}",
            started.elapsed()
        );
        let dropped = Instant::now();
        a.node.disconnect("LUB");
        for _ in 0..N {
            let done = a_rx.recv_timeout(LIMIT).expect("every receive completes");
            assert_eq!(done.verb.primary_rc, PrimaryRc::CONV_FAILURE_RETRY);
            assert!(waiting.remove(&done.handle), "one completion per verb");
        }
        eprintln!(
            "{kind:?}: {N} outstanding receives failed {:?} after the drop",
            dropped.elapsed()
        );
        // The other link: C's data reaches A's waiting receive.
        let rc = send(&c.app, true, on_c, values::SEND_DATA_DEALLOC_FLUSH, b"c");
        assert_eq!(rc, PrimaryRc::OK);
        let v = completes(&mut c_rx, c_handle, PrimaryRc::OK);
        let Body::ReceiveAndWait(r) = v.body else {
            unreachable!()
        };
        assert_eq!(r.data, b"c");
        assert_eq!(receive(&a.app, true, to_c).0, PrimaryRc::DEALLOC_NORMAL);
        assert!(a_rx.try_recv().is_none(), "no second completion");
        // B's ends fail too, once B has seen the link go.
        links_lost(&a, 1);
        links_lost(&b, 1);
        for &conv in &b_convs {
            assert_eq!(receive(&b.app, true, conv).0, PrimaryRc::CONV_FAILURE_RETRY);
        }
        let (binds, _, _, va, ca) = a.node.stats().snapshot();
        let (_, accepted, _, vb, _) = b.node.stats().snapshot();
        assert_eq!(
            (binds, accepted, va, ca, vb),
            (N as u64 + 1, N as u64, 0, 1, 0)
        );
        let mut tps: Vec<(&Side, TpId)> = b_convs.iter().map(|c| (&b, c.tp_id)).collect();
        tps.extend([(&a, a_tp), (&c, on_c.tp_id)]);
        nothing_left(&[&a, &b, &c], &tps);
    });
}

#[test]
fn conversations_waiting_for_an_unanswered_bind_are_bounded_and_forgotten() {
    each_backend(|kind| {
        // A partner that accepts the link and never answers a BIND.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        // Sends complete beyond the session buffer (no backpressure before
        // it), so that the bound on queued flows is what stops them.
        let config = NodeConfig {
            max_send_backlog: 4 * NodeConfig::default().max_session_buffer,
            ..NodeConfig::default()
        };
        let a = side_with("LUA", kind, config);
        a.node.add_partner("LUB", silent.local_addr().unwrap());
        let app = &a.app;
        // Closed by its TP while its flows wait for the session.
        let closed = allocate(app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(app, true, closed, values::SEND_DATA_NONE, b"z"),
            PrimaryRc::OK
        );
        let dealloc = Deallocate {
            conv: closed,
            dealloc_type: values::FLUSH,
            log_data: vec![],
        };
        assert_eq!(
            call(app, Body::Deallocate(dealloc)).primary_rc,
            PrimaryRc::OK
        );
        let (_peer, _) = silent.accept().unwrap();
        // Flows queued before the session is active are bounded by
        // max_session_buffer: the conversation fails beyond it.
        let big = allocate(app, true, "ECHO", values::SYNC_NONE);
        let limit = NodeConfig::default().max_session_buffer;
        let (v, accepted) = send_until_it_fails(app, big, limit + 64_000);
        eprintln!(
            "{kind:?}: {} kB accepted for a session never bound",
            accepted / 1000
        );
        assert_eq!(
            (v.primary_rc, v.secondary_rc),
            (
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::ALLOCATION_FAILURE_RETRY
            )
        );
        // A receive waiting for its session when the link goes.
        let (tx, mut rx) = app.queue();
        let waiting = allocate(app, true, "ECHO", values::SYNC_NONE);
        let handle = submit_receive(app, waiting, &tx);
        a.node.disconnect("LUB");
        let v = completes(&mut rx, handle, PrimaryRc::ALLOCATION_ERROR);
        assert_eq!(v.secondary_rc, SecondaryRc::ALLOCATION_FAILURE_RETRY);
        assert!(rx.try_recv().is_none());
        let tps = [(&a, closed.tp_id), (&a, big.tp_id), (&a, waiting.tp_id)];
        nothing_left(&[&a], &tps);
        assert_eq!(a.node.stats().live(), (0, 0));
    });
}
