//! Whole conversations, mapped and basic; what a node refuses to start
//! with or attach to; nodes and engines freed; fifty conversations sharing
//! one link and reusing sessions.

use crate::support::*;
use crate::{b_and, record};
use appc_io::appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::backend::Kind;
use appc_io::node::NodeConfig;
use std::thread;
use std::time::Instant;

fn full_conversation(kind: Kind, mapped: bool) {
    let (a, b, _) = pair(kind);
    thread::scope(|s| {
        s.spawn(|| {
            let conv = receive_allocate(&b.app);
            let (rc, what, data) = receive(&b.app, mapped, conv);
            assert_eq!((rc, what), (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE));
            assert!(data.ends_with(b"ping"), "{data:?}");
            assert_eq!(receive(&b.app, mapped, conv).1, WhatRcvd::SEND);
            let pong = record(mapped, b"pong");
            let rc = send(&b.app, mapped, conv, values::SEND_DATA_CONFIRM, &pong);
            assert_eq!(rc, PrimaryRc::OK);
            assert_eq!(receive(&b.app, mapped, conv).0, PrimaryRc::DEALLOC_NORMAL);
        });
        let conv = allocate(&a.app, mapped, "ECHO", values::SYNC_CONFIRM);
        let ping = record(mapped, b"ping");
        assert_eq!(
            send(&a.app, mapped, conv, values::SEND_DATA_NONE, &ping),
            PrimaryRc::OK
        );
        let (rc, what, data) = receive(&a.app, mapped, conv);
        assert_eq!((rc, what), (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE));
        assert!(data.ends_with(b"pong"));
        assert_eq!(
            receive(&a.app, mapped, conv).1,
            WhatRcvd::CONFIRM_WHAT_RECEIVED
        );
        assert_eq!(
            call_as(&a.app, mapped, Body::Confirmed(conv)).primary_rc,
            PrimaryRc::OK
        );
        assert_eq!(receive(&a.app, mapped, conv).1, WhatRcvd::SEND);
        let dealloc = Deallocate {
            conv,
            dealloc_type: values::FLUSH,
            log_data: vec![],
        };
        assert_eq!(
            call_as(&a.app, mapped, Body::Deallocate(dealloc)).primary_rc,
            PrimaryRc::OK
        );
    });
    assert_eq!(a.node.stats().snapshot().0, 1, "one BIND");
    assert_eq!(b.node.stats().snapshot().3, 0, "no violation");
}

#[test]
fn start_refuses_what_is_not_an_lu_name() {
    use appc_io::appc::Node;
    use appc_io::node::TcpNode;
    let kind = if cfg!(windows) {
        Kind::Iocp
    } else {
        Kind::Poll
    };
    // Empty, one past the 17 characters of a network-qualified name, and
    // characters outside the EBCDIC name set.
    for bad in ["", "NETWORK1.LUNAME123", "LU-1", "LU\u{e9}"] {
        let error = TcpNode::start(bad, Node::new(), kind, NodeConfig::default())
            .err()
            .unwrap_or_else(|| panic!("{bad:?} was taken for an LU name"));
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
        assert!(error.to_string().contains("not an LU name"), "{error}");
    }
    for good in ["L", "NETWORK1.LUNAME12"] {
        TcpNode::start(good, Node::new(), kind, NodeConfig::default())
            .unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
}

#[test]
fn mapped_conversation() {
    for_each_backend(|kind| full_conversation(kind, true));
}

#[test]
fn basic_conversation() {
    for_each_backend(|kind| full_conversation(kind, false));
}

#[test]
fn unknown_tp_is_rejected_on_a_later_verb() {
    for_each_backend(|kind| {
        let (a, _b, _) = pair(kind);
        let conv = allocate(&a.app, true, "NOBODY", values::SYNC_CONFIRM);
        let v = call(
            &a.app,
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
        // The session went back to the pool: the next conversation reuses it.
        let conv = allocate(&a.app, true, "NOBODY", values::SYNC_CONFIRM);
        let rc = send(&a.app, true, conv, values::SEND_DATA_NONE, b"x");
        assert_eq!(rc, PrimaryRc::OK);
        let v = call(
            &a.app,
            Body::Deallocate(Deallocate {
                conv,
                dealloc_type: values::SYNC_LEVEL,
                log_data: vec![],
            }),
        );
        assert_eq!(
            (v.primary_rc, v.secondary_rc),
            (
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::TP_NAME_NOT_RECOGNIZED
            ),
        );
        let (binds, _, reused, _, _) = a.node.stats().snapshot();
        assert_eq!((binds, reused), (1, 1));
    });
}

/// A node and its engine hold each other (the engine holds the node's
/// shards as the owners of their conversations): once both sides are
/// dropped after an exchange, each engine is freed.
#[test]
fn nodes_and_their_engines_are_freed() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        echo_round(&a, &b, "LUB", 3);
        let engines = [a.engine.downgrade(), b.engine.downgrade()];
        drop((a, b));
        for (side, engine) in ["A", "B"].iter().zip(&engines) {
            assert!(
                engine.upgrade().is_none(),
                "{kind:?}: {side}'s engine lives on"
            );
        }
    });
}

#[test]
fn fifty_conversations_share_one_link_and_reuse_sessions() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let started = Instant::now();
        echo_round(&a, &b, "LUB", 50);
        let (binds, _, _, _, _) = a.node.stats().snapshot();
        assert!(binds <= 50, "{binds} sessions for 50 conversations");
        echo_round(&a, &b, "LUB", 50);
        let (binds2, accepted, reused, violations, closed) = b_and(&a, &b);
        assert!(binds2 <= 50, "{binds2} sessions");
        assert_eq!(binds2 + reused, 100, "every conversation binds or reuses");
        assert!(reused >= 50, "round two reuses: {reused}");
        assert_eq!((accepted, violations, closed), (binds2, 0, 0));
        eprintln!(
            "{kind:?}: 100 conversations over {binds} sessions on one link in {:?}",
            started.elapsed()
        );
    });
}
