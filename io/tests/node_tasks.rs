//! Tasks on a node's reactors (`TcpNode::spawn`): TPs written as async
//! code that awaits its verbs on the reactor thread that carries their
//! conversations, a timer, and what becomes of a task when its node goes.

mod support;

use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::appc::{Appc, Node};
use appc_io::engine::WINAPPC_VERSION;
use appc_io::node::sleep;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// Submits `body` (mapped) and awaits its completion.
async fn run(app: &Appc, body: Body) -> Verb {
    app.submit_future(Verb::mapped(body))
        .expect("accepted")
        .await
}

fn application(engine: &Node) -> Appc {
    Appc::startup(WINAPPC_VERSION, engine).expect("startup").0
}

/// The echo TP as a task: takes one conversation, echoes its one request,
/// deallocates, ends; returns the request.
async fn echo_once(engine: Node) -> Vec<u8> {
    let app = application(&engine);
    let ra = run(
        &app,
        Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        }),
    )
    .await;
    assert_eq!(ra.primary_rc, PrimaryRc::OK, "{ra:?}");
    let Body::ReceiveAllocate(ra) = ra.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    let received = run(
        &app,
        Body::ReceiveAndWait(Receive {
            conv,
            max_len: 1000,
            rtn_status: true,
            ..Default::default()
        }),
    )
    .await;
    let Body::ReceiveAndWait(r) = received.body else {
        unreachable!()
    };
    assert_eq!(
        (received.primary_rc, r.what_rcvd.status_part()),
        (PrimaryRc::OK, WhatRcvd::SEND)
    );
    let sent = run(
        &app,
        Body::SendData(SendData {
            conv,
            send_type: values::SEND_DATA_DEALLOC_FLUSH,
            data: r.data.clone(),
            rts_rcvd: false,
        }),
    )
    .await;
    assert_eq!(sent.primary_rc, PrimaryRc::OK);
    let ended = run(
        &app,
        Body::TpEnded(TpEnded {
            tp_id: conv.tp_id,
            tp_type: values::HARD,
        }),
    )
    .await;
    assert_eq!(ended.primary_rc, PrimaryRc::OK);
    r.data
}

/// The client TP as a task: one request, its echo, and the partner's
/// deallocation.
async fn ask_once(engine: Node, request: &'static [u8]) -> (Vec<u8>, PrimaryRc) {
    let app = application(&engine);
    let Body::TpStarted(t) = run(&app, Body::TpStarted(TpStarted::default())).await.body else {
        unreachable!()
    };
    let allocated = run(
        &app,
        Body::Allocate(Allocate {
            tp_id: t.tp_id,
            plu_alias: name("LUB"),
            tp_name: name("ECHO"),
            conv_type: values::MAPPED_CONVERSATION,
            ..Default::default()
        }),
    )
    .await;
    let Body::Allocate(al) = allocated.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: t.tp_id,
        conv_id: al.conv_id,
    };
    let sent = run(
        &app,
        Body::SendData(SendData {
            conv,
            send_type: values::SEND_DATA_P_TO_R_FLUSH,
            data: request.to_vec(),
            rts_rcvd: false,
        }),
    )
    .await;
    assert_eq!(sent.primary_rc, PrimaryRc::OK);
    let receive = || {
        Body::ReceiveAndWait(Receive {
            conv,
            max_len: 1000,
            ..Default::default()
        })
    };
    let echo = run(&app, receive()).await;
    let Body::ReceiveAndWait(r) = echo.body else {
        unreachable!()
    };
    let last = run(&app, receive()).await;
    let _ = run(
        &app,
        Body::TpEnded(TpEnded {
            tp_id: t.tp_id,
            tp_type: values::HARD,
        }),
    )
    .await;
    (r.data, last.primary_rc)
}

/// Both TPs as tasks on their nodes' reactors, every verb awaited there:
/// the request, its echo and the deallocation go through.
#[test]
fn tps_as_tasks_on_the_reactors_converse() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let b_engine = b.engine.clone();
        let server = b.node.spawn(move || echo_once(b_engine));
        let a_engine = a.engine.clone();
        let client = a.node.spawn(move || ask_once(a_engine, b"ping"));
        assert_eq!(
            client.join(),
            Some((b"ping".to_vec(), PrimaryRc::DEALLOC_NORMAL)),
            "{kind:?}"
        );
        assert_eq!(server.join(), Some(b"ping".to_vec()), "{kind:?}");
    });
}

/// A task's sleep ends after its time, woken by the reactor's timer, and
/// other tasks run meanwhile.
#[test]
fn a_task_sleeps_on_the_reactor() {
    for_each_backend(|kind| {
        let a = side("LUA", kind);
        let started = Instant::now();
        let slow = a.node.spawn(|| async {
            sleep(Duration::from_millis(60)).await;
            Instant::now()
        });
        let quick = a.node.spawn(|| async { Instant::now() });
        let quick = quick.join().expect("the quick task ran");
        let slow = slow.join().expect("the sleeper ran");
        assert!(slow >= started + Duration::from_millis(60), "{kind:?}");
        assert!(quick < slow, "{kind:?}: the sleep held up the other task");
    });
}

/// A task still waiting when its node goes is dropped (`join` says so);
/// a conversation it was receiving on fails first, as the node's
/// shutdown fails every conversation, and the task sees that.
#[test]
fn tasks_end_with_their_node() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(&a.app, true, conv, values::SEND_DATA_FLUSH, b"1"),
            PrimaryRc::OK
        );
        let b_engine = b.engine.clone();
        let receiving = b.node.spawn(move || async move {
            let app = application(&b_engine);
            let ra = run(
                &app,
                Body::ReceiveAllocate(ReceiveAllocate {
                    tp_name: name("ECHO"),
                    ..Default::default()
                }),
            )
            .await;
            let Body::ReceiveAllocate(ra) = ra.body else {
                unreachable!()
            };
            let conv = Conv {
                tp_id: ra.tp_id,
                conv_id: ra.conv_id,
            };
            // The data, then a receive that nothing answers.
            let _ = run(&app, receive_verb(true, conv).body).await;
            run(&app, receive_verb(true, conv).body).await.primary_rc
        });
        // Started before the shutdown, and never woken by anything else.
        let sleeping = b.node.spawn(|| sleep(Duration::from_secs(3600)));
        wait_until("the attach is taken", || b.engine.queued_attaches() == 0);
        thread::sleep(Duration::from_millis(50));
        drop(b);
        assert_eq!(
            receiving.join(),
            Some(PrimaryRc::CONV_FAILURE_RETRY),
            "{kind:?}"
        );
        assert!(
            sleeping.join().is_none(),
            "{kind:?}: the sleeper was dropped"
        );
        let (rc, _, _) = receive(&a.app, true, conv);
        assert_eq!(rc, PrimaryRc::CONV_FAILURE_RETRY, "{kind:?}");
    });
}
