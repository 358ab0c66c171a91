//! The async layer (`appc::tp_async`) on tokio's current-thread and
//! multi-thread runtimes: a two-TP conversation verb by verb, errors with
//! their documented codes, cancellation by dropping a pending verb (with
//! `WinAPPCCancelAsyncRequest`'s side effects: the session closes and the
//! partner's conversation fails), a timeout that cancels, and many
//! conversations at once on the multi-thread runtime.
#![cfg(not(loom))]

use appc::rc::{PrimaryRc as P, SecondaryRc as S, WhatRcvd as W};
use appc::tp_async::{Allocation, Conversation, Tp};
use appc::verbs::values;
use appc::{Appc, Node};
use appc_engine::WINAPPC_VERSION;
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn app() -> Arc<Appc> {
    Arc::new(Appc::startup(WINAPPC_VERSION, &Node::new()).unwrap().0)
}

/// A client conversation to a served TP `name`, with the attach flowed.
async fn pair(app: &Arc<Appc>, name: &str) -> (Tp, Conversation, Tp, Conversation) {
    let incoming = Tp::receive_allocate(app, name);
    let client = Tp::start(app, "", "CLIENT").await.unwrap();
    let conv = client
        .allocate(&Allocation::mapped("LOCAL", name))
        .await
        .unwrap();
    conv.flush().await.unwrap();
    let (server, served) = tokio::time::timeout(WAIT, incoming).await.unwrap().unwrap();
    (client, conv, server, served)
}

async fn exchange() {
    let app = app();
    let (client, conv, server, served) = pair(&app, "ECHO").await;
    assert_eq!(conv.state().await.unwrap(), 2, "SEND");
    assert_eq!(served.state().await.unwrap(), 3, "RECEIVE");

    let attributes = conv.attributes().await.unwrap();
    assert_eq!(attributes.sync_level, values::SYNC_CONFIRM);
    assert_eq!(&attributes.plu_alias, b"LOCAL   ");
    assert_eq!(
        served.receive_immediate(100).await.unwrap(),
        None,
        "nothing sent yet"
    );
    assert!(!conv.test_rts().await.unwrap());
    served.request_to_send().await.unwrap();
    assert!(
        conv.test_rts().await.unwrap(),
        "the server asked for the direction"
    );

    conv.send_data(b"request".to_vec()).await.unwrap();
    let confirm = tokio::spawn({
        let conv = conv.clone();
        async move { conv.confirm().await }
    });
    let got = served.receive(100).await.unwrap();
    assert_eq!(
        (got.data.as_slice(), got.what_rcvd),
        (&b"request"[..], W::DATA_COMPLETE)
    );
    let got = served.receive(100).await.unwrap();
    assert_eq!(got.what_rcvd, W::CONFIRM_WHAT_RECEIVED);
    served.confirmed().await.unwrap();
    assert!(!confirm.await.unwrap().unwrap(), "no RTS");

    // The direction turns; the server answers and ends the conversation.
    conv.prepare_to_receive(values::FLUSH).await.unwrap();
    let got = served.receive(100).await.unwrap();
    assert_eq!(got.what_rcvd, W::SEND);
    served
        .send_data_then(b"reply".to_vec(), values::SEND_DATA_DEALLOC_FLUSH)
        .await
        .unwrap();
    let got = conv.receive(100).await.unwrap();
    assert_eq!(got.data, b"reply");
    let end = conv.receive(100).await.unwrap_err();
    assert!(end.is_dealloc_normal(), "{end}");

    client.end(false).await.unwrap();
    server.end(false).await.unwrap();
    assert_eq!(app.stats().live_tasks, 0);
}

async fn check_errors() {
    let app = app();
    let (client, conv, server, _served) = pair(&app, "ERRORS").await;
    let err = conv.confirmed().await.unwrap_err();
    assert_eq!(
        (err.verb, err.primary_rc, err.secondary_rc),
        ("CONFIRMED", P::STATE_CHECK, S::CONFIRMED_BAD_STATE)
    );
    assert!(err.to_string().contains("CONFIRMED"), "{err}");
    // The conversation is still in SEND: the refused verb changed nothing.
    conv.send_data(b"still".to_vec()).await.unwrap();
    client.end(true).await.unwrap();
    server.end(true).await.unwrap();
}

/// Dropping a pending receive cancels it: the session closes, so the
/// partner's next verb fails, and the engine holds no task of it.
async fn check_dropped_receive() {
    let app = app();
    let (client, conv, server, served) = pair(&app, "DROPPED").await;
    {
        let receive = served.receive(100);
        let waited = tokio::time::timeout(Duration::from_millis(20), receive).await;
        assert!(waited.is_err(), "nothing was sent: the receive waits");
    } // the timeout dropped the receive: WinAPPCCancelAsyncRequest
    let err = conv
        .send_data_then(b"late".to_vec(), values::SEND_DATA_FLUSH)
        .await
        .unwrap_err();
    assert_eq!(err.primary_rc, P::CONV_FAILURE_RETRY, "{err}");
    let err = served.receive(100).await.unwrap_err();
    assert_eq!(
        err.primary_rc,
        P::PARAMETER_CHECK,
        "the conversation is gone: {err}"
    );
    client.end(true).await.unwrap();
    server.end(true).await.unwrap();
    assert_eq!(app.stats().live_tasks, 0);
}

/// A dropped RECEIVE_ALLOCATE is withdrawn: the next attach for the name
/// waits for, and goes to, a later RECEIVE_ALLOCATE, not the dropped one.
async fn check_dropped_receive_allocate() {
    let app = app();
    drop(Tp::receive_allocate(&app, "GONE"));
    assert_eq!(app.stats().live_tasks, 0, "the dropped verb is no task");
    let client = Tp::start(&app, "", "CLIENT").await.unwrap();
    let conv = client
        .allocate(&Allocation::mapped("LOCAL", "GONE"))
        .await
        .unwrap();
    conv.send_data_then(b"to whom".to_vec(), values::SEND_DATA_FLUSH)
        .await
        .unwrap();
    let (server, served) = tokio::time::timeout(WAIT, Tp::receive_allocate(&app, "GONE"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.receive(100).await.unwrap().data, b"to whom");
    client.end(true).await.unwrap();
    server.end(true).await.unwrap();
    assert_eq!(app.stats().live_tasks, 0);
}

async fn many_conversations(count: usize) {
    let app = app();
    let server = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut served = Vec::new();
            for _ in 0..count {
                let (tp, conv) = Tp::receive_allocate(&app, "MANY").await.unwrap();
                served.push(tokio::spawn(async move {
                    let got = conv.receive(64).await.unwrap();
                    let mut reply = got.data.clone();
                    reply.reverse();
                    let got = conv.receive(64).await.unwrap();
                    assert_eq!(got.what_rcvd, W::SEND);
                    conv.send_data_then(reply, values::SEND_DATA_DEALLOC_FLUSH)
                        .await
                        .unwrap();
                    tp.end(false).await.unwrap();
                }));
            }
            for task in served {
                task.await.unwrap();
            }
        })
    };
    let clients: Vec<_> = (0..count)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let tp = Tp::start(&app, "", "CLIENT").await.unwrap();
                let conv = tp
                    .allocate(&Allocation::mapped("LOCAL", "MANY"))
                    .await
                    .unwrap();
                let msg = format!("request {i}").into_bytes();
                conv.send_data_then(msg.clone(), values::SEND_DATA_P_TO_R_FLUSH)
                    .await
                    .unwrap();
                let got = conv.receive(64).await.unwrap();
                let mut expected = msg;
                expected.reverse();
                assert_eq!(got.data, expected);
                assert!(conv.receive(64).await.unwrap_err().is_dealloc_normal());
                tp.end(false).await.unwrap();
            })
        })
        .collect();
    for client in clients {
        tokio::time::timeout(WAIT, client).await.unwrap().unwrap();
    }
    tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert_eq!(app.stats().live_tasks, 0);
}

macro_rules! on_both_runtimes {
    ($($name:ident => $body:expr;)*) => {
        mod current_thread {
            use super::*;
            $(
                #[tokio::test(flavor = "current_thread")]
                async fn $name() {
                    $body.await
                }
            )*
        }
        mod multi_thread {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $body.await
                }
            )*
        }
    };
}

on_both_runtimes! {
    a_conversation_verb_by_verb => exchange();
    errors_carry_the_documented_codes => check_errors();
    dropping_a_pending_receive_cancels_it => check_dropped_receive();
    dropping_receive_allocate_withdraws_it => check_dropped_receive_allocate();
    two_hundred_conversations_at_once => many_conversations(200);
}
