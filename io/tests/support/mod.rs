//! Helpers shared by the io crate's test binaries (`node/`,
//! `node_faults/`, `tshark.rs`): the per-backend watchdog, what a test may
//! find missing, a node with its engine and application, and the verbs as
//! one-liners.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::{Handle, Sender, Target, WINAPPC_VERSION};
use appc_io::node::{NodeConfig, TcpNode};
use std::net::SocketAddr;
use std::sync::mpsc::channel;
use std::thread;
use std::time::{Duration, Instant};

/// How long one backend's run of a test body may take before it counts as
/// a hang.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The backends of this platform.
#[cfg(windows)]
const KINDS: [Kind; 1] = [Kind::Iocp];
#[cfg(not(windows))]
const KINDS: [Kind; 2] = [Kind::Poll, Kind::Uring];

/// The environment variable naming what a test run may find missing: a
/// comma-separated list of `uring`, `poll`, `iocp` (a backend that cannot
/// start here, e.g. io_uring blocked by a container's seccomp) and `tshark`
/// (not installed). Unset, as in CI, anything missing fails the test, so a
/// test never passes having tested nothing.
pub const ALLOW_MISSING_ENV: &str = "APPC_TEST_ALLOW_MISSING";

/// Whether [`ALLOW_MISSING_ENV`] lets `what` be missing.
pub fn may_be_missing(what: &str) -> bool {
    std::env::var(ALLOW_MISSING_ENV)
        .is_ok_and(|list| list.split(',').any(|name| name.trim() == what))
}

/// A backend's name in [`ALLOW_MISSING_ENV`].
fn missing_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Auto => "auto",
        Kind::Uring => "uring",
        Kind::Poll => "poll",
        Kind::Iocp => "iocp",
    }
}

/// Runs `body` for each backend of this platform (epoll and io_uring on
/// Linux, IOCP on Windows). A hang ends the test process (see below). A backend that cannot start
/// fails the test unless [`ALLOW_MISSING_ENV`] names it, and a test that
/// ran on no backend fails whatever it names.
pub fn for_each_backend(body: impl Fn(Kind) + Copy + Send + 'static) {
    let mut ran = 0;
    for kind in KINDS {
        let probe = TcpNode::start("PROBE", Node::new(), kind, NodeConfig::default());
        if let Err(e) = probe {
            let name = missing_name(kind);
            assert!(
                may_be_missing(name),
                "the {kind:?} backend cannot start here ({e}); \
                 set {ALLOW_MISSING_ENV}={name} to run without it"
            );
            eprintln!("skipping {kind:?} ({ALLOW_MISSING_ENV} allows it): {e}");
            continue;
        }
        drop(probe);
        ran += 1;
        let (tx, rx) = channel();
        thread::spawn(move || {
            body(kind);
            let _ = tx.send(());
        });
        match rx.recv_timeout(LIMIT) {
            Ok(()) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                // The body cannot be stopped: a panic here would fail this
                // test but leave the body running beside the next tests,
                // holding sockets their descriptor counts would see. So the
                // whole test binary fails here.
                eprintln!("{kind:?}: test timed out after {LIMIT:?}; ending the test process");
                std::process::abort();
            }
            Err(_) => panic!("{kind:?}: test body panicked"),
        }
    }
    assert!(ran > 0, "no backend could start: the test ran nothing");
}

/// Waits (polling, up to half of [`LIMIT`], so that the failure names
/// `what` before the watchdog fires) for a condition that no event
/// announces, such as a node gauge; panics if it never holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT / 2;
    while !done() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// A node, its engine and one application on it.
pub struct Side {
    pub node: TcpNode,
    pub app: Appc,
    pub engine: Node,
}

pub fn side(lu: &str, kind: Kind) -> Side {
    side_with(lu, kind, NodeConfig::default())
}

pub fn side_with(lu: &str, kind: Kind, config: NodeConfig) -> Side {
    let engine = Node::new();
    let node = TcpNode::start(lu, engine.clone(), kind, config).unwrap();
    let (app, _) = Appc::startup(WINAPPC_VERSION, &engine).unwrap();
    Side { node, app, engine }
}

pub fn listen(side: &Side) -> SocketAddr {
    side.node.listen("127.0.0.1:0".parse().unwrap()).unwrap()
}

/// A allocates to B ("LUB", TP "ECHO" defined on B).
pub fn pair(kind: Kind) -> (Side, Side, SocketAddr) {
    let b = side("LUB", kind);
    b.engine.define_tp("ECHO");
    let addr = listen(&b);
    let a = side("LUA", kind);
    a.node.add_partner("LUB", addr);
    (a, b, addr)
}

pub fn verb(mapped: bool, body: Body) -> Verb {
    if mapped {
        Verb::mapped(body)
    } else {
        Verb::basic(body)
    }
}

pub fn call_as(app: &Appc, mapped: bool, body: Body) -> Verb {
    app.call(verb(mapped, body)).expect("accepted")
}

pub fn call(app: &Appc, body: Body) -> Verb {
    call_as(app, true, body)
}

pub fn tp(app: &Appc) -> TpId {
    let Body::TpStarted(t) = call(app, Body::TpStarted(TpStarted::default())).body else {
        unreachable!()
    };
    t.tp_id
}

/// TP_ENDED(HARD) for `tp_id`, which must succeed.
pub fn tp_ended(app: &Appc, tp_id: TpId) {
    let v = call(
        app,
        Body::TpEnded(TpEnded {
            tp_id,
            tp_type: values::HARD,
        }),
    );
    assert_eq!(v.primary_rc, PrimaryRc::OK, "{v:?}");
}

/// A new TP allocating to TP `tp_name` on partner "LUB".
pub fn allocate(app: &Appc, mapped: bool, tp_name: &str, sync_level: u8) -> Conv {
    allocate_on(app, tp(app), "LUB", mapped, tp_name, sync_level)
}

/// TP `tp_id` allocating to TP `tp_name` on partner `plu_alias`.
pub fn allocate_on(
    app: &Appc,
    tp_id: TpId,
    plu_alias: &str,
    mapped: bool,
    tp_name: &str,
    sync_level: u8,
) -> Conv {
    let v = call_as(
        app,
        mapped,
        Body::Allocate(Allocate {
            tp_id,
            plu_alias: name(plu_alias),
            tp_name: name(tp_name),
            sync_level,
            conv_type: if mapped {
                values::MAPPED_CONVERSATION
            } else {
                values::BASIC_CONVERSATION
            },
            ..Default::default()
        }),
    );
    assert_eq!(v.primary_rc, PrimaryRc::OK, "{v:?}");
    let Body::Allocate(al) = v.body else {
        unreachable!()
    };
    Conv {
        tp_id,
        conv_id: al.conv_id,
    }
}

pub fn receive_allocate(app: &Appc) -> Conv {
    let v = call(
        app,
        Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        }),
    );
    assert_eq!(v.primary_rc, PrimaryRc::OK);
    let Body::ReceiveAllocate(ra) = v.body else {
        unreachable!()
    };
    Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    }
}

/// RECEIVE_AND_WAIT (up to 1000 bytes, basic: LL records).
pub fn receive_verb(mapped: bool, conv: Conv) -> Verb {
    verb(
        mapped,
        Body::ReceiveAndWait(Receive {
            conv,
            max_len: 1000,
            fill: values::FILL_LL,
            ..Default::default()
        }),
    )
}

pub fn receive(app: &Appc, mapped: bool, conv: Conv) -> (PrimaryRc, WhatRcvd, Vec<u8>) {
    let v = app.call(receive_verb(mapped, conv)).expect("accepted");
    let Body::ReceiveAndWait(r) = v.body else {
        unreachable!()
    };
    (v.primary_rc, r.what_rcvd, r.data)
}

/// An asynchronous (mapped) RECEIVE_AND_WAIT completing to `queue`.
pub fn submit_receive(app: &Appc, conv: Conv, queue: &Sender<Verb>) -> Handle {
    app.submit(receive_verb(true, conv), &Target::Queue(queue.clone()))
        .expect("accepted")
}

pub fn send(app: &Appc, mapped: bool, conv: Conv, send_type: u8, data: &[u8]) -> PrimaryRc {
    call_as(
        app,
        mapped,
        Body::SendData(SendData {
            conv,
            send_type,
            data: data.to_vec(),
            rts_rcvd: false,
        }),
    )
    .primary_rc
}

/// One round: `n` conversations at once from `a` to `b` (`a`'s partner
/// `plu_alias`), each an echo; every TP ends.
pub fn echo_round(a: &Side, b: &Side, plu_alias: &str, n: usize) {
    thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| {
                let conv = receive_allocate(&b.app);
                let (rc, _, data) = receive(&b.app, true, conv);
                assert_eq!(rc, PrimaryRc::OK);
                assert_eq!(receive(&b.app, true, conv).1, WhatRcvd::SEND);
                let rc = send(&b.app, true, conv, values::SEND_DATA_DEALLOC_FLUSH, &data);
                assert_eq!(rc, PrimaryRc::OK);
                tp_ended(&b.app, conv.tp_id);
            });
        }
        for i in 0..n {
            s.spawn(move || {
                let conv = allocate_on(
                    &a.app,
                    tp(&a.app),
                    plu_alias,
                    true,
                    "ECHO",
                    values::SYNC_NONE,
                );
                let msg = format!("message {i}").into_bytes();
                assert_eq!(
                    send(&a.app, true, conv, values::SEND_DATA_NONE, &msg),
                    PrimaryRc::OK
                );
                let (rc, what, data) = receive(&a.app, true, conv);
                assert_eq!(
                    (rc, what, data),
                    (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, msg)
                );
                assert_eq!(receive(&a.app, true, conv).0, PrimaryRc::DEALLOC_NORMAL);
                tp_ended(&a.app, conv.tp_id);
            });
        }
    });
}
