//! The remote verb path, measured: an application's SEND_DATA(FLUSH) on a
//! conversation whose partner is on another node, from `Appc::submit`
//! through the node's routing to the session layer's [`RemoteEnd`] and
//! back to the application's completion queue. The session layer's peer
//! discards what it is sent, so what is measured is this crate's work per
//! verb, not a wire's.
//!
//! `cargo bench -p appc --bench remote_verbs -- [inline|threads] [verbs]`
//!
//! * `inline` (the default): one thread plays the application and the
//!   session layer, running the layer's work right after each submit.
//!   Deterministic: run it under `valgrind --tool=callgrind` for
//!   instructions per verb.
//! * `threads`: two applications, each with its conversation on its own
//!   session layer thread (as `appc-io` gives each reactor its own), each
//!   keeping a window of verbs outstanding: the two layer threads run
//!   verbs of the same node at once, so whatever they share per verb
//!   shows as contention.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use appc::rc::{PrimaryRc, SecondaryRc};
use appc::verbs::{name, values, Allocate, Body, Conv, SendData, TpStarted, Verb};
use appc::{Appc, Attach, Flow, Node, Owner, Peer, RemoteEnd, Work};
use appc_engine::{Target, WINAPPC_VERSION};

/// Bytes each SEND_DATA sends.
const RECORD: usize = 100;
/// Verbs each application keeps outstanding in `threads` mode.
const WINDOW: usize = 64;

/// A session whose partner takes everything and says nothing.
struct Discard;

impl Peer for Discard {
    fn attach(&mut self, _: &Attach) -> Result<(), SecondaryRc> {
        Ok(())
    }

    fn send(&mut self, _: Flow<'_>) {}

    fn close(&mut self, _: bool) {}
}

/// A session layer: the work its node posts, for its thread to run.
struct Layer {
    tx: Mutex<Sender<Work>>,
}

impl Owner for Layer {
    fn post(&self, work: Work) {
        let _ = self.tx.lock().unwrap().send(work);
    }
}

/// Runs one item of work on the layer's conversations.
fn run(convs: &mut HashMap<u32, RemoteEnd>, work: Work) {
    match work {
        Work::Open(end) => {
            let mut end = *end;
            end.open(&mut Discard);
            convs.insert(end.conv_id(), end);
        }
        Work::Verb(verb) => {
            if let Some(end) = convs.get_mut(&verb.conv_id()) {
                end.issue(verb, &mut Discard);
            }
        }
        Work::Abort(ids, _) => {
            if let Some(end) = convs.get_mut(&ids.conv_id) {
                end.abort(ids, &mut Discard);
            }
        }
        Work::EndTp(conv_id, how, ending) => {
            if let Some(end) = convs.get_mut(&conv_id) {
                end.end_tp(how, &mut Discard);
            }
            ending.done();
        }
        Work::Attached(conv_id, attachment) => {
            if let Some(end) = convs.get_mut(&conv_id) {
                end.attached(attachment, &mut Discard);
            }
        }
    }
}

/// A layer registered on `node` for partner LU `alias`, and the receiving
/// side of its work.
fn layer(node: &Node, alias: &str) -> Receiver<Work> {
    let (tx, rx) = channel();
    node.add_partner(alias, Arc::new(Layer { tx: Mutex::new(tx) }));
    rx
}

/// A TP on `app` with a mapped conversation to partner LU `alias`.
fn conversation(app: &Appc, alias: &str) -> Conv {
    let started = app
        .call(Verb::mapped(Body::TpStarted(TpStarted::default())))
        .unwrap();
    let Body::TpStarted(tp) = started.body else {
        unreachable!()
    };
    let allocated = app
        .call(Verb::mapped(Body::Allocate(Allocate {
            tp_id: tp.tp_id,
            plu_alias: name(alias),
            tp_name: name("SINK"),
            ..Default::default()
        })))
        .unwrap();
    assert_eq!(allocated.primary_rc, PrimaryRc::OK);
    let Body::Allocate(allocated) = allocated.body else {
        unreachable!()
    };
    Conv {
        tp_id: tp.tp_id,
        conv_id: allocated.conv_id,
    }
}

/// SEND_DATA(FLUSH) of `data` on `conv`.
fn send(conv: Conv, data: Vec<u8>) -> Verb {
    Verb::mapped(Body::SendData(SendData {
        conv,
        send_type: values::SEND_DATA_FLUSH,
        data,
        rts_rcvd: false,
    }))
}

/// The buffer a completed SEND_DATA hands back, checking it succeeded.
fn returned(verb: Verb) -> Vec<u8> {
    assert_eq!(verb.primary_rc, PrimaryRc::OK, "{verb:?}");
    let Body::SendData(v) = verb.body else {
        unreachable!()
    };
    v.data
}

/// One thread: submit, run the layer's work, collect. Nanoseconds per verb.
fn inline(verbs: usize) -> f64 {
    let node = Node::new();
    let work = layer(&node, "LUB");
    let (app, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let conv = conversation(&app, "LUB");
    let mut convs = HashMap::new();
    let (tx, mut rx) = app.queue();
    let target = Target::Queue(tx);
    let mut data = vec![7; RECORD];
    let start = Instant::now();
    for _ in 0..verbs {
        app.submit(send(conv, data), &target).unwrap();
        while let Ok(item) = work.try_recv() {
            run(&mut convs, item);
        }
        data = returned(rx.try_recv().expect("completed inline").verb);
    }
    start.elapsed().as_nanos() as f64 / verbs as f64
}

/// Two applications, two layer threads. Nanoseconds per verb, over both.
fn threads(verbs: usize) -> f64 {
    let node = Node::new();
    let mut layers = Vec::new();
    let mut apps = Vec::new();
    for alias in ["LUB", "LUC"] {
        let work = layer(&node, alias);
        layers.push(thread::spawn(move || {
            let mut convs = HashMap::new();
            for item in work {
                run(&mut convs, item);
            }
        }));
        let (app, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
        let conv = conversation(&app, alias);
        apps.push((app, conv));
    }
    let start = Instant::now();
    thread::scope(|s| {
        for (app, conv) in &apps {
            s.spawn(move || {
                let (tx, mut rx) = app.queue();
                let target = Target::Queue(tx);
                let mut spare: Vec<Vec<u8>> = (0..WINDOW).map(|_| vec![7; RECORD]).collect();
                for sent in 0..verbs / 2 {
                    if sent >= WINDOW {
                        spare.push(returned(rx.recv().verb));
                    }
                    app.submit(send(*conv, spare.pop().unwrap()), &target)
                        .unwrap();
                }
                for _ in 0..WINDOW.min(verbs / 2) {
                    returned(rx.recv().verb);
                }
            });
        }
    });
    let elapsed = start.elapsed();
    drop(apps);
    drop(node);
    elapsed.as_nanos() as f64 / verbs as f64
}

fn main() {
    // `cargo bench` passes `--bench`; the rest is ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mode = args.first().map_or("inline", String::as_str);
    let verbs = args.get(1).map_or(1_000_000, |n| n.parse().expect("verbs"));
    let ns = match mode {
        "inline" => inline(verbs),
        "threads" => threads(verbs),
        other => panic!("unknown mode {other}: inline or threads"),
    };
    println!("{mode}: {verbs} verbs, {ns:.1} ns per verb");
}
