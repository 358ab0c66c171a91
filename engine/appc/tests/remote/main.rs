//! Conversations between two nodes through the session boundary
//! (`appc::session`): a test session layer per node owns the node's remote
//! conversations on a thread of its own, as the TCP session layer does,
//! and carries flows between the nodes, so every verb runs with its
//! partner end on another node.
//!
//! One test binary: the test session layer and the verb helpers are here;
//! the tests by topic in `conversations` (verbs across the nodes, refusals,
//! cancel), `scripted` (a scripted far end: backlog, purging, soft ends),
//! `attaches` (attaches that fail or are refused before they are taken)
//! and `lifetime` (what a node's owner holds when the node goes).

mod attaches;
mod conversations;
mod lifetime;
mod scripted;

use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::verbs::*;
use appc::{Appc, Attach, Confirmation, Failure, Flow, Node, Owner, Peer, RemoteEnd, Work};
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;

/// A flow, owned, to cross threads.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owned {
    Data(Vec<u8>),
    ChangeDirection,
    ConfirmRequest(Confirmation),
    Confirmed,
    Error(PrimaryRc),
    Deallocate(PrimaryRc),
    RequestToSend,
}

impl Owned {
    fn of(flow: Flow<'_>) -> Self {
        match flow {
            Flow::Data(data) => Owned::Data(data.to_vec()),
            Flow::ChangeDirection => Owned::ChangeDirection,
            Flow::ConfirmRequest(c) => Owned::ConfirmRequest(c),
            Flow::Confirmed => Owned::Confirmed,
            Flow::Error(code) => Owned::Error(code),
            Flow::Deallocate(code) => Owned::Deallocate(code),
            Flow::RequestToSend => Owned::RequestToSend,
        }
    }

    fn flow(&self) -> Flow<'_> {
        match self {
            Owned::Data(data) => Flow::Data(data),
            Owned::ChangeDirection => Flow::ChangeDirection,
            Owned::ConfirmRequest(c) => Flow::ConfirmRequest(*c),
            Owned::Confirmed => Flow::Confirmed,
            Owned::Error(code) => Flow::Error(*code),
            Owned::Deallocate(code) => Flow::Deallocate(*code),
            Owned::RequestToSend => Flow::RequestToSend,
        }
    }
}

/// A conversation's name on the wire: the allocating node's conversation
/// id (both nodes know it).
type Key = ConvId;

/// What a session layer's thread handles, in order.
enum Msg {
    /// From its node.
    Work(Work),
    /// From the other node's session layer.
    Attach(Key, Attach),
    Flow(Key, Owned),
    Fail(Key, Failure),
    /// From a test driving a scripted session by hand.
    Writable(Key),
}

/// A session layer: its node's [`Owner`], a thread that owns the node's
/// remote conversations.
struct Layer {
    tx: Mutex<Sender<Msg>>,
}

impl Owner for Layer {
    fn post(&self, work: Work) {
        let _ = self.tx.lock().unwrap().send(Msg::Work(work));
    }
}

/// Where a layer's peers send: the other node's layer, or a script.
#[derive(Clone)]
enum Far {
    Layer(Sender<Msg>),
    Script(Arc<Mutex<Script>>),
}

/// What a scripted session records and how it answers.
#[derive(Default)]
struct Script {
    flows: Vec<Owned>,
    consumed: usize,
    closed: Option<bool>,
    backlogged: bool,
}

/// One conversation's peer on a layer's thread.
struct WirePeer<'a> {
    key: Key,
    far: &'a Far,
}

impl Peer for WirePeer<'_> {
    fn attach(&mut self, attach: &Attach) -> Result<(), SecondaryRc> {
        if let Far::Layer(far) = self.far {
            let _ = far.send(Msg::Attach(self.key, attach.clone()));
        }
        Ok(())
    }

    fn send(&mut self, flow: Flow<'_>) {
        match self.far {
            Far::Layer(far) => {
                let _ = far.send(Msg::Flow(self.key, Owned::of(flow)));
            }
            Far::Script(script) => script.lock().unwrap().flows.push(Owned::of(flow)),
        }
    }

    fn close(&mut self, abort: bool) {
        match self.far {
            Far::Layer(far) if abort => {
                let failure = Failure {
                    primary: PrimaryRc::CONV_FAILURE_RETRY,
                    secondary: SecondaryRc(0),
                };
                let _ = far.send(Msg::Fail(self.key, failure));
            }
            Far::Layer(_) => {}
            Far::Script(script) => script.lock().unwrap().closed = Some(abort),
        }
    }

    fn consumed(&mut self, bytes: usize) {
        if let Far::Script(script) = self.far {
            script.lock().unwrap().consumed += bytes;
        }
    }

    fn backlogged(&mut self) -> bool {
        match self.far {
            Far::Script(script) => script.lock().unwrap().backlogged,
            Far::Layer(_) => false,
        }
    }
}

/// Starts `node`'s session layer on `channel`, sending to `far`; returns
/// its owner.
fn layer(node: &Node, channel: (Sender<Msg>, Receiver<Msg>), far: Far) -> Arc<dyn Owner> {
    let (tx, rx) = channel;
    let owner: Arc<dyn Owner> = Arc::new(Layer { tx: Mutex::new(tx) });
    let node = node.clone();
    let me = owner.clone();
    thread::spawn(move || run(node, me, far, rx));
    owner
}

/// One step of a layer on one conversation.
type Step = Box<dyn FnMut(&mut RemoteEnd, &mut WirePeer<'_>)>;

/// A layer's thread: its conversations by key.
fn run(node: Node, me: Arc<dyn Owner>, far: Far, rx: Receiver<Msg>) {
    let mut convs: HashMap<Key, RemoteEnd> = HashMap::new();
    // The key of each conversation this node holds, by its local id.
    let mut keys: HashMap<ConvId, Key> = HashMap::new();
    for msg in rx {
        let (key, mut step): (Key, Step) = match msg {
            Msg::Work(Work::Open(end)) => {
                let key = end.conv_id();
                keys.insert(key, key);
                let mut end = *end;
                end.open(&mut WirePeer { key, far: &far });
                convs.insert(key, end);
                continue;
            }
            Msg::Work(Work::Verb(request)) => {
                let Some(&key) = keys.get(&request.conv_id()) else {
                    node.refuse(request);
                    continue;
                };
                let mut request = Some(request);
                (
                    key,
                    Box::new(move |end, peer| end.issue(request.take().unwrap(), peer)),
                )
            }
            Msg::Work(Work::Abort(ids, _)) => match keys.get(&ids.conv_id) {
                Some(&key) => (key, Box::new(move |end, peer| end.abort(ids, peer))),
                None => continue,
            },
            Msg::Work(Work::EndTp(conv, how, ending)) => {
                if let Some(&key) = keys.get(&conv) {
                    if let Some(end) = convs.get_mut(&key) {
                        end.end_tp(how, &mut WirePeer { key, far: &far });
                    }
                }
                ending.done();
                (0, Box::new(|_, _| {}))
            }
            Msg::Work(Work::Attached(conv, attachment)) => match keys.get(&conv) {
                Some(&key) => {
                    let mut attachment = Some(attachment);
                    (
                        key,
                        Box::new(move |end, peer| end.attached(attachment.take().unwrap(), peer)),
                    )
                }
                None => continue,
            },
            Msg::Attach(key, attach) => {
                match node.incoming_attach(attach, &me) {
                    Ok(end) => {
                        keys.insert(end.conv_id(), key);
                        convs.insert(key, end);
                    }
                    Err(sense) => {
                        if let Far::Layer(far) = &far {
                            let failure = Failure {
                                primary: PrimaryRc::ALLOCATION_ERROR,
                                secondary: sense,
                            };
                            let _ = far.send(Msg::Fail(key, failure));
                        }
                    }
                }
                continue;
            }
            Msg::Flow(key, flow) => (
                key,
                Box::new(move |end, peer| end.arrive(flow.flow(), true, peer)),
            ),
            Msg::Fail(key, failure) => (key, Box::new(move |end, peer| end.fail(failure, peer))),
            Msg::Writable(key) => (key, Box::new(|end, peer| end.writable(peer))),
        };
        if let Some(end) = convs.get_mut(&key) {
            step(end, &mut WirePeer { key, far: &far });
            if end.is_over() {
                keys.remove(&end.conv_id());
                convs.remove(&key);
            }
        }
    }
}

/// Two nodes, each with its session layer; node A reaches B as partner LU
/// "LUB".
fn two_nodes() -> (Node, Node) {
    let (a, b) = (Node::new(), Node::new());
    let (to_a, to_b) = (channel::<Msg>(), channel::<Msg>());
    let (a_tx, b_tx) = (to_a.0.clone(), to_b.0.clone());
    layer(&b, to_b, Far::Layer(a_tx));
    a.add_partner("LUB", layer(&a, to_a, Far::Layer(b_tx)));
    (a, b)
}

fn call(app: &Appc, body: Body) -> Verb {
    app.call(Verb::mapped(body)).expect("accepted")
}

fn tp(app: &Appc) -> TpId {
    let Body::TpStarted(t) = call(app, Body::TpStarted(TpStarted::default())).body else {
        unreachable!()
    };
    t.tp_id
}

fn allocate(app: &Appc, tp_id: TpId, tp_name: &str, sync_level: u8) -> Verb {
    call(
        app,
        Body::Allocate(Allocate {
            tp_id,
            plu_alias: name("LUB"),
            tp_name: name(tp_name),
            sync_level,
            ..Default::default()
        }),
    )
}

fn receive(app: &Appc, conv: Conv) -> Verb {
    call(
        app,
        Body::ReceiveAndWait(Receive {
            conv,
            max_len: 1000,
            ..Default::default()
        }),
    )
}

fn received(verb: &Verb) -> (PrimaryRc, WhatRcvd, Vec<u8>) {
    let Body::ReceiveAndWait(r) = &verb.body else {
        unreachable!()
    };
    (verb.primary_rc, r.what_rcvd, r.data.clone())
}
