//! Node behaviour that needs a private hook: a panic injected into the
//! driver's step on a reactor thread.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{NodeConfig, TcpNode};
use crate::appc::rc::PrimaryRc;
use crate::appc::verbs::*;
use crate::appc::{Appc, Node};
use crate::backend::Kind;
use crate::engine::{Target, WINAPPC_VERSION};

struct Side {
    node: TcpNode,
    app: Appc,
    engine: Node,
}

fn side(lu: &str, kind: Kind) -> Side {
    let engine = Node::new();
    let node = TcpNode::start(lu, engine.clone(), kind, NodeConfig::default()).unwrap();
    let (app, _) = Appc::startup(WINAPPC_VERSION, &engine).unwrap();
    Side { node, app, engine }
}

fn call(app: &Appc, body: Body) -> Verb {
    app.call(Verb::mapped(body)).expect("accepted")
}

fn allocate(app: &Appc, partner: &str) -> Conv {
    let Body::TpStarted(t) = call(app, Body::TpStarted(TpStarted::default())).body else {
        unreachable!()
    };
    let v = call(
        app,
        Body::Allocate(Allocate {
            tp_id: t.tp_id,
            plu_alias: name(partner),
            tp_name: name("ECHO"),
            conv_type: values::MAPPED_CONVERSATION,
            ..Default::default()
        }),
    );
    let Body::Allocate(al) = v.body else {
        unreachable!()
    };
    Conv {
        tp_id: t.tp_id,
        conv_id: al.conv_id,
    }
}

fn send(app: &Appc, conv: Conv, data: &[u8]) -> PrimaryRc {
    let send = SendData {
        conv,
        send_type: values::SEND_DATA_FLUSH,
        data: data.to_vec(),
        rts_rcvd: false,
    };
    call(app, Body::SendData(send)).primary_rc
}

fn receive_verb(conv: Conv) -> Verb {
    Verb::mapped(Body::ReceiveAndWait(Receive {
        conv,
        max_len: 100,
        ..Default::default()
    }))
}

/// A panic in the driver's step on a reactor thread fails the node: its
/// owner sees it in `health` (and `listen`), its conversations' verbs
/// complete with `AP_COMM_SUBSYSTEM_ABENDED`, so does a later ALLOCATE
/// to any partner, its links close (the partner's conversation fails
/// `AP_CONV_FAILURE_RETRY`) and nothing waits for ever.
fn a_reactor_panic_fails_the_node(kind: Kind) {
    let b = side("LUB", kind);
    b.engine.define_tp("ECHO");
    let addr = b.node.listen("127.0.0.1:0".parse().unwrap()).unwrap();
    let a = side("LUA", kind);
    a.node.add_partner("LUB", addr);
    let a_conv = allocate(&a.app, "LUB");
    assert_eq!(send(&a.app, a_conv, b"1"), PrimaryRc::OK);
    let ra = call(
        &b.app,
        Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        }),
    );
    let Body::ReceiveAllocate(ra) = ra.body else {
        unreachable!()
    };
    let b_conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(
        b.app.call(receive_verb(b_conv)).unwrap().primary_rc,
        PrimaryRc::OK
    );
    let (queue, mut done) = b.app.queue();
    b.app
        .submit(receive_verb(b_conv), &Target::Queue(queue))
        .unwrap();
    assert!(b.node.health().is_ok());

    b.node.shared.panic_on_receive.store(true, Ordering::SeqCst);
    assert_eq!(send(&a.app, a_conv, b"2"), PrimaryRc::OK);
    let failed = done
        .recv_timeout(Duration::from_secs(20))
        .expect("the waiting receive completes");
    assert_eq!(
        failed.verb.primary_rc,
        PrimaryRc::COMM_SUBSYSTEM_ABENDED,
        "{kind:?}"
    );
    let health = b.node.health().unwrap_err().to_string();
    assert!(health.contains("injected"), "{health}");
    assert!(b.node.listen("127.0.0.1:0".parse().unwrap()).is_err());
    assert_eq!(b.node.stats().live(), (0, 0), "nothing left");
    // The partner lost the link.
    let v = a.app.call(receive_verb(a_conv)).unwrap();
    assert_eq!(v.primary_rc, PrimaryRc::CONV_FAILURE_RETRY, "{kind:?}");
    // A later ALLOCATE from the failed node fails at its first flush.
    b.node.add_partner("LUA", addr);
    let late = allocate(&b.app, "LUA");
    let rc = send(&b.app, late, b"3");
    let rc = if rc == PrimaryRc::OK {
        b.app.call(receive_verb(late)).unwrap().primary_rc
    } else {
        rc
    };
    assert_eq!(rc, PrimaryRc::COMM_SUBSYSTEM_ABENDED, "{kind:?}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_reactor_panic_fails_the_node_epoll() {
    a_reactor_panic_fails_the_node(Kind::Poll);
}

#[cfg(target_os = "linux")]
#[test]
fn a_reactor_panic_fails_the_node_io_uring() {
    a_reactor_panic_fails_the_node(Kind::Uring);
}

#[cfg(windows)]
#[test]
fn a_reactor_panic_fails_the_node_iocp() {
    a_reactor_panic_fails_the_node(Kind::Iocp);
}
