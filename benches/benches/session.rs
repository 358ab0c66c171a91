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
//! Quick on purpose (2-vCPU machine): `cargo bench -p appc-benches --bench session`.

use appc_benches::session::TokioEcho;
use appc_io::appc::verbs::Conv;
use appc_io::appc::Appc;
use appc_io::backend::Kind;
use appc_io::node::{NodeConfig, TcpNode};
use appc_perf::aping::client::{self, exchange_versions, round_trip};
use appc_perf::aping::daemon;
use appc_perf::aping::tp::Tp;
use appc_perf::aping::DAEMON_LU;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

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
