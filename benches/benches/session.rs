//! Session traffic: one request/response round trip on a conversation
//! between two nodes over loopback TCP, against the tokio peer
//! (`appc_benches::session`: tokio TCP, the same 4-byte length-prefix
//! framing, an echo task).
//!
//! The LU 6.2 contestants are two [`TcpNode`]s of the same backend
//! (`uring`; `uring` with `idle_poll`, its reactors polling before they
//! sleep; `epoll`) in this process: the APINGD echo TP on one, and on
//! the other one mapped conversation (sync level CONFIRM, version exchange
//! done) that per iteration issues `MC_SEND_DATA` with PREPARE_TO_RECEIVE
//! (change of direction) and `MC_RECEIVE_AND_WAIT` until the echo and the
//! direction come back, each verb through the engine's message queue
//! (`rtn_status`, so the data and the direction usually come in one
//! receive). So one iteration is a send and a receive on each side, and
//! the hops application → node driver → backend thread → kernel and back
//! on both nodes; the tokio peer is one write and two reads on an async
//! stream. Sizes: 64 B and 16 KiB per request (the same again in the
//! response); throughput counts both directions.
//!
//! The `appc_io_uring_task` contestant is the thread-per-core shape: both
//! TPs are tasks on their nodes' reactors (`TcpNode::spawn`), every verb
//! awaited there (`submit_future`), so a round trip is the two reactors
//! and the kernel, with no application thread in between (the echo TP
//! takes a conversation of its own, on a second pair of nodes).
//!
//! Quick on purpose (2-vCPU machine): `cargo bench -p appc-benches --bench session`.

use appc_benches::session::TokioEcho;
use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::{
    name, values, Allocate, Body, Conv, Receive, ReceiveAllocate, SendData, TpStarted, Verb,
};
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::WINAPPC_VERSION;
use appc_io::node::{NodeConfig, TcpNode};
use appc_perf::aping::client::{self, exchange_versions, round_trip};
use appc_perf::aping::daemon;
use appc_perf::aping::tp::Tp;
use appc_perf::aping::DAEMON_LU;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::{Duration, Instant};

const SIZES: [usize; 2] = [64, 16 * 1024];

/// The client end of one contestant's conversation.
struct Client {
    name: &'static str,
    _node: TcpNode,
    app: Appc,
}

/// A client node talking to an echo node of the same backend, both with
/// reactors that poll before they sleep if `idle_poll`, or `None` where
/// that backend cannot start here (io_uring blocked).
fn client(name: &'static str, kind: Kind, idle_poll: bool) -> Option<Client> {
    let mut config = NodeConfig::default();
    config.backend.idle_poll = idle_poll;
    let addr = match daemon::spawn_local(DAEMON_LU, kind, config.clone()) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("skipping {name}: {error}");
            return None;
        }
    };
    let (node, app) = client::connect(DAEMON_LU, addr, kind, config).expect("client node");
    Some(Client {
        name,
        _node: node,
        app,
    })
}

/// Starts the TP, allocates, and does the version exchange.
fn open(tp: &mut Tp<'_>) -> Conv {
    let tp_id = tp.tp_started().expect("TP_STARTED");
    let conv = tp.allocate(tp_id, DAEMON_LU).expect("ALLOCATE");
    exchange_versions(tp, conv).expect("version exchange");
    conv
}

/// Submits `verb` and awaits it.
async fn run(app: &Appc, verb: Verb) -> Verb {
    app.submit_future(verb).expect("accepted").await
}

fn receive(conv: Conv, max_len: u16) -> Verb {
    Verb::mapped(Body::ReceiveAndWait(Receive {
        conv,
        max_len,
        rtn_status: true,
        ..Default::default()
    }))
}

fn send_and_turn(conv: Conv, data: Vec<u8>) -> Verb {
    Verb::mapped(Body::SendData(SendData {
        conv,
        send_type: values::SEND_DATA_P_TO_R_FLUSH,
        data,
        rts_rcvd: false,
    }))
}

/// One message up to the change of direction, gathered into `into`; false
/// if the conversation ended instead.
async fn gather(app: &Appc, conv: Conv, max: u16, into: &mut Vec<u8>) -> bool {
    into.clear();
    loop {
        let v = run(app, receive(conv, max)).await;
        let Body::ReceiveAndWait(r) = v.body else {
            unreachable!()
        };
        if v.primary_rc != PrimaryRc::OK {
            return false;
        }
        into.extend_from_slice(&r.data);
        if r.what_rcvd.status_part() == WhatRcvd::SEND {
            return true;
        }
    }
}

/// The echo TP as a task: each message back as it came, until the
/// conversation ends.
async fn echo_task(engine: Node) {
    let (app, _) = Appc::startup(WINAPPC_VERSION, &engine).expect("startup");
    let ra = run(
        &app,
        Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        })),
    )
    .await;
    let Body::ReceiveAllocate(ra) = ra.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    let mut message = Vec::new();
    while gather(&app, conv, u16::MAX, &mut message).await {
        let data = std::mem::take(&mut message);
        let sent = run(&app, send_and_turn(conv, data)).await;
        if sent.primary_rc != PrimaryRc::OK {
            return;
        }
    }
}

/// Two io_uring nodes whose TPs are tasks on their reactors.
struct TaskPair {
    client: TcpNode,
    _server: TcpNode,
    /// The client TP's application and conversation, handed to each batch's
    /// task and back.
    tp: Option<(Appc, Conv)>,
}

impl TaskPair {
    fn start(idle_poll: bool) -> Option<Self> {
        let mut config = NodeConfig::default();
        config.backend.idle_poll = idle_poll;
        let server_engine = Node::new();
        server_engine.define_tp("ECHO");
        let server =
            match TcpNode::start("ECHOLU", server_engine.clone(), Kind::Uring, config.clone()) {
                Ok(node) => node,
                Err(error) => {
                    eprintln!("skipping appc_io_uring_task: {error}");
                    return None;
                }
            };
        let addr = server
            .listen("127.0.0.1:0".parse().unwrap())
            .expect("listen");
        let _ = server.spawn(move || echo_task(server_engine));
        let engine = Node::new();
        let client = TcpNode::start("CLIENT", engine.clone(), Kind::Uring, config).ok()?;
        client.add_partner("ECHOLU", addr);
        let (app, _) = Appc::startup(WINAPPC_VERSION, &engine).expect("startup");
        let tp = client
            .spawn(move || async move {
                let Body::TpStarted(t) =
                    run(&app, Verb::mapped(Body::TpStarted(TpStarted::default())))
                        .await
                        .body
                else {
                    unreachable!()
                };
                let allocated = run(
                    &app,
                    Verb::mapped(Body::Allocate(Allocate {
                        tp_id: t.tp_id,
                        plu_alias: name("ECHOLU"),
                        tp_name: name("ECHO"),
                        conv_type: values::MAPPED_CONVERSATION,
                        ..Default::default()
                    })),
                )
                .await;
                let Body::Allocate(al) = allocated.body else {
                    unreachable!()
                };
                let conv = Conv {
                    tp_id: t.tp_id,
                    conv_id: al.conv_id,
                };
                (app, conv)
            })
            .join()?;
        Some(Self {
            client,
            _server: server,
            tp: Some(tp),
        })
    }

    /// `iters` round trips of `block`, timed on the client's reactor.
    fn round_trips(&mut self, block: &[u8], iters: u64) -> Duration {
        let (app, conv) = self.tp.take().expect("the client TP is back");
        let block = block.to_vec();
        let (app, conv, elapsed) = self
            .client
            .spawn(move || async move {
                let mut echo = Vec::with_capacity(block.len());
                let mut data = block.clone();
                let start = Instant::now();
                for _ in 0..iters {
                    let sent = run(&app, send_and_turn(conv, data)).await;
                    let Body::SendData(s) = sent.body else {
                        unreachable!()
                    };
                    assert_eq!(sent.primary_rc, PrimaryRc::OK);
                    data = s.data;
                    assert!(gather(&app, conv, u16::MAX, &mut echo).await);
                    assert_eq!(echo, block, "the echo");
                }
                (app, conv, start.elapsed())
            })
            .join()
            .expect("the batch ran");
        self.tp = Some((app, conv));
        elapsed
    }
}

fn session(c: &mut Criterion) {
    let clients: Vec<Client> = [
        ("appc_io_uring", Kind::Uring, false),
        ("appc_io_uring_idle_poll", Kind::Uring, true),
        ("appc_epoll", Kind::Poll, false),
    ]
    .into_iter()
    .filter_map(|(name, kind, idle_poll)| client(name, kind, idle_poll))
    .collect();
    let mut convs: Vec<(&str, Tp<'_>, Conv)> = clients
        .iter()
        .map(|client| {
            let mut tp = Tp::new(&client.app, Some(Duration::from_secs(10)));
            let conv = open(&mut tp);
            (client.name, tp, conv)
        })
        .collect();
    let mut tokio = TokioEcho::start().expect("tokio echo");
    let mut tasks: Vec<(&str, TaskPair)> = [
        ("appc_io_uring_task", false),
        ("appc_io_uring_task_idle_poll", true),
    ]
    .into_iter()
    .filter_map(|(name, idle_poll)| Some((name, TaskPair::start(idle_poll)?)))
    .collect();
    let mut g = c.benchmark_group("session_round_trip");
    for size in SIZES {
        let block: Vec<u8> = (0..size).map(|i| i as u8).collect();
        g.throughput(Throughput::Bytes(2 * size as u64));
        for (name, tp, conv) in &mut convs {
            g.bench_with_input(BenchmarkId::new(*name, size), &block, |b, block| {
                b.iter(|| {
                    let echo = round_trip(tp, *conv, block, 1).expect("round trip");
                    assert!(echo.is_exact(1), "{echo:?}");
                })
            });
        }
        for (name, tasks) in &mut tasks {
            g.bench_with_input(BenchmarkId::new(*name, size), &block, |b, block| {
                b.iter_custom(|iters| tasks.round_trips(block, iters))
            });
        }
        g.bench_with_input(BenchmarkId::new("tokio_tcp", size), &block, |b, block| {
            b.iter_custom(|iters| tokio.round_trips(block, iters))
        });
    }
    g.finish();
    for (_, tp, conv) in &mut convs {
        tp.deallocate(*conv).expect("DEALLOCATE");
        tp.tp_ended(conv.tp_id).expect("TP_ENDED");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    targets = session
}
criterion_main!(benches);
