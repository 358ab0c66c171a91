//! Conversations between two nodes through the session boundary
//! (`appc::session`): a test session layer per node owns the node's remote
//! conversations on a thread of its own, as the TCP session layer does,
//! and carries flows between the nodes, so every verb runs with its
//! partner end on another node.

use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::verbs::*;
use appc::{Appc, Attach, Confirmation, Failure, Flow, Node, Owner, Peer, RemoteEnd, Work};
use appc_engine::{Event, Target, WINAPPC_VERSION};
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

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

#[test]
fn conversation_across_nodes() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    thread::scope(|s| {
        s.spawn(|| {
            let v = call(
                &b,
                Body::ReceiveAllocate(ReceiveAllocate {
                    tp_name: name("ECHO"),
                    ..Default::default()
                }),
            );
            assert_eq!(v.primary_rc, PrimaryRc::OK);
            let Body::ReceiveAllocate(ra) = v.body else {
                unreachable!()
            };
            assert_eq!(ra.sync_level, values::SYNC_CONFIRM);
            let conv = Conv {
                tp_id: ra.tp_id,
                conv_id: ra.conv_id,
            };
            assert_eq!(
                received(&receive(&b, conv)),
                (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"ping".to_vec())
            );
            assert_eq!(received(&receive(&b, conv)).1, WhatRcvd::SEND);
            let send = SendData {
                conv,
                send_type: values::SEND_DATA_CONFIRM,
                data: b"pong".to_vec(),
                rts_rcvd: false,
            };
            let sent = call(&b, Body::SendData(send));
            assert_eq!(sent.primary_rc, PrimaryRc::OK);
            let Body::SendData(sent) = sent.body else {
                unreachable!()
            };
            assert_eq!(sent.data, b"pong", "the buffer comes back with the verb");
            assert_eq!(received(&receive(&b, conv)).0, PrimaryRc::DEALLOC_NORMAL);
        });
        let tp_id = tp(&a);
        let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_CONFIRM).body else {
            unreachable!()
        };
        let conv = Conv {
            tp_id,
            conv_id: al.conv_id,
        };
        let send = SendData {
            conv,
            send_type: values::SEND_DATA_NONE,
            data: b"ping".to_vec(),
            rts_rcvd: false,
        };
        assert_eq!(call(&a, Body::SendData(send)).primary_rc, PrimaryRc::OK);
        assert_eq!(
            received(&receive(&a, conv)),
            (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"pong".to_vec())
        );
        assert_eq!(
            received(&receive(&a, conv)).1,
            WhatRcvd::CONFIRM_WHAT_RECEIVED
        );
        assert_eq!(call(&a, Body::Confirmed(conv)).primary_rc, PrimaryRc::OK);
        // B turns the direction round with its next receive.
        assert_eq!(received(&receive(&a, conv)).1, WhatRcvd::SEND);
        let dealloc = Deallocate {
            conv,
            dealloc_type: values::FLUSH,
            log_data: vec![],
        };
        assert_eq!(
            call(&a, Body::Deallocate(dealloc)).primary_rc,
            PrimaryRc::OK
        );
    });
}

#[test]
fn a_verb_for_another_tps_conversation_is_refused_by_its_owner() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (other, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let flush = |app: &Appc, tp_id| {
        let v = call(
            app,
            Body::Flush(Conv {
                tp_id,
                conv_id: al.conv_id,
            }),
        );
        (v.primary_rc, v.secondary_rc)
    };
    // Another TP of the same application: the conversation is not its.
    let second = tp(&a);
    assert_eq!(
        flush(&a, second),
        (PrimaryRc::PARAMETER_CHECK, SecondaryRc::BAD_CONV_ID)
    );
    // Another application: the TP is not its.
    assert_eq!(
        flush(&other, tp_id),
        (PrimaryRc::PARAMETER_CHECK, SecondaryRc::BAD_TP_ID)
    );
    assert_eq!(flush(&a, tp_id), (PrimaryRc::OK, SecondaryRc(0)));
}

#[test]
fn attach_rejected_by_the_remote_node_surfaces_later() {
    let (node_a, _node_b) = two_nodes();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "NOBODY", values::SYNC_CONFIRM).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    // CONFIRM flushes the attach and waits: the remote rejection ends it.
    let v = call(
        &a,
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
}

#[test]
fn cancel_closes_the_remote_session_and_fails_the_partner() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_CONFIRM).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    // An asynchronous receive on A flushes the attach and hands B the direction.
    let (tx, mut rx) = a.queue();
    let pending = Receive {
        conv,
        max_len: 100,
        ..Default::default()
    };
    let handle = a
        .submit(
            Verb::mapped(Body::ReceiveAndWait(pending)),
            &Target::Queue(tx),
        )
        .unwrap();
    let v = call(
        &b,
        Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        }),
    );
    let Body::ReceiveAllocate(ra) = v.body else {
        unreachable!()
    };
    let b_conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(received(&receive(&b, b_conv)).1, WhatRcvd::SEND);
    // B holds the send direction, so B's outstanding verb is a post: a
    // TEST_RTS_AND_POST registration waiting for A's REQUEST_TO_SEND.
    let event = Event::default();
    let registered = call(
        &b,
        Body::TestRtsAndPost(TestRtsAndPost {
            conv: b_conv,
            handle: event.clone(),
            post: None,
        }),
    );
    let Body::TestRtsAndPost(TestRtsAndPost {
        post: Some(post), ..
    }) = registered.body
    else {
        panic!("the registration has a post: {registered:?}")
    };
    assert_eq!(a.cancel(handle).code(), 0);
    let done = rx.try_recv().expect("posted before cancel returned");
    assert_eq!(
        (done.handle, done.verb.primary_rc),
        (handle, PrimaryRc::CANCELLED)
    );
    // The session's deactivation reaches B: its outstanding post fails, and
    // so does its next verb.
    assert!(
        event.wait_timeout(Duration::from_secs(10)),
        "B's post completes"
    );
    assert_eq!(
        b.collect(post).unwrap().primary_rc,
        PrimaryRc::CONV_FAILURE_RETRY
    );
    let send = SendData {
        conv: b_conv,
        send_type: values::SEND_DATA_FLUSH,
        data: b"x".to_vec(),
        rts_rcvd: false,
    };
    assert_eq!(
        call(&b, Body::SendData(send)).primary_rc,
        PrimaryRc::CONV_FAILURE_RETRY
    );
}

/// A node whose partner LU "LUB" is a scripted session the test drives by
/// hand, and a conversation allocated to it at `sync_level` (its attach
/// flows with the first flush). Returns the sender that reaches the
/// layer's thread, for the flows the test makes arrive.
fn scripted(sync_level: u8) -> (Node, Appc, Arc<Mutex<Script>>, Sender<Msg>, Conv) {
    let node = Node::new();
    let script = Arc::new(Mutex::new(Script::default()));
    let (tx, rx) = channel();
    node.add_partner(
        "LUB",
        layer(&node, (tx.clone(), rx), Far::Script(script.clone())),
    );
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let v = allocate(&a, tp(&a), "ECHO", sync_level);
    let Body::Allocate(al) = v.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: al.tp_id,
        conv_id: al.conv_id,
    };
    (node, a, script, tx, conv)
}

#[test]
fn a_backlogged_session_holds_the_send_and_consumption_is_reported() {
    let (_node, a, script, layer, conv) = scripted(values::SYNC_NONE);
    let (tx, mut rx) = a.queue();
    let send = |send_type| {
        Verb::mapped(Body::SendData(SendData {
            conv,
            send_type,
            data: b"data".to_vec(),
            rts_rcvd: false,
        }))
    };
    // Not backlogged: SEND_DATA completes at once.
    assert_eq!(
        a.call(send(values::SEND_DATA_FLUSH)).unwrap().primary_rc,
        PrimaryRc::OK
    );
    // Backlogged: it waits, and a verb meanwhile is CONV_BUSY, until the
    // session reports it writable.
    script.lock().unwrap().backlogged = true;
    let handle = a
        .submit(send(values::SEND_DATA_FLUSH), &Target::Queue(tx.clone()))
        .unwrap();
    assert_eq!(
        a.call(send(values::SEND_DATA_NONE)).unwrap().primary_rc,
        PrimaryRc::CONV_BUSY
    );
    assert!(rx.try_recv().is_none(), "the send still waits");
    script.lock().unwrap().backlogged = false;
    layer.send(Msg::Writable(conv.conv_id)).unwrap();
    let done = rx.recv_timeout(Duration::from_secs(5)).expect("completes");
    assert_eq!((done.handle, done.verb.primary_rc), (handle, PrimaryRc::OK));
    // The partner's data: what the TP takes is reported consumed, and only
    // then.
    assert_eq!(
        call(
            &a,
            Body::PrepareToReceive(PrepareToReceive {
                conv,
                ptr_type: values::FLUSH,
                locks: values::LOCKS_SHORT,
            })
        )
        .primary_rc,
        PrimaryRc::OK
    );
    let arrive = |flow| layer.send(Msg::Flow(conv.conv_id, flow)).unwrap();
    arrive(Owned::Data(b"hello".to_vec()));
    arrive(Owned::Data(b"world!".to_vec()));
    arrive(Owned::ChangeDirection);
    assert_eq!(script.lock().unwrap().consumed, 0);
    assert_eq!(received(&receive(&a, conv)).2, b"hello");
    assert_eq!(script.lock().unwrap().consumed, 5);
    assert_eq!(received(&receive(&a, conv)).2, b"world!");
    assert_eq!(script.lock().unwrap().consumed, 11);
    assert_eq!(received(&receive(&a, conv)).1, WhatRcvd::SEND);
    // A waiting send cancelled: AP_CANCELLED, the session aborted.
    script.lock().unwrap().backlogged = true;
    let handle = a
        .submit(send(values::SEND_DATA_FLUSH), &Target::Queue(tx.clone()))
        .unwrap();
    // A verb behind it is CONV_BUSY: the send is waiting on the layer.
    assert_eq!(
        a.call(send(values::SEND_DATA_NONE)).unwrap().primary_rc,
        PrimaryRc::CONV_BUSY
    );
    assert_eq!(a.cancel(handle).code(), 0);
    let done = rx.try_recv().expect("posted before cancel returned");
    assert_eq!(
        (done.handle, done.verb.primary_rc),
        (handle, PrimaryRc::CANCELLED)
    );
    // The teardown runs on the layer's thread, after the cancel: a verb
    // issued now runs after it there.
    assert_eq!(
        call(&a, Body::Flush(conv)).secondary_rc,
        SecondaryRc::BAD_CONV_ID
    );
    let script = script.lock().unwrap();
    assert_eq!(script.closed, Some(true));
    assert_eq!(
        script
            .flows
            .iter()
            .filter(|f| matches!(f, Owned::Data(_)))
            .count(),
        3
    );
}

/// Data a remote partner sent before this end's SEND_ERROR reached it is
/// purged on arrival (and reported consumed, for pacing): this end, in
/// SEND, gets the partner's abend that follows on its next verb.
#[test]
fn data_in_flight_after_a_send_error_is_purged_on_arrival() {
    let (_node, a, script, layer, conv) = scripted(values::SYNC_CONFIRM);
    let rc = |body| call(&a, body).primary_rc;
    let ptr = Body::PrepareToReceive(PrepareToReceive {
        conv,
        ptr_type: values::FLUSH,
        locks: values::LOCKS_SHORT,
    });
    assert_eq!(rc(ptr), PrimaryRc::OK);
    let arrive = |flow| layer.send(Msg::Flow(conv.conv_id, flow)).unwrap();
    arrive(Owned::Data(b"received".to_vec()));
    let error = Body::SendError(SendError {
        conv,
        err_type: values::ERR_PROG,
        err_dir: values::RCV_DIR_ERROR,
        ..Default::default()
    });
    assert_eq!(rc(error), PrimaryRc::OK);
    // What the partner sent before it learned of the error, then its abend.
    arrive(Owned::Data(b"in flight".to_vec()));
    arrive(Owned::ConfirmRequest(Confirmation::Plain));
    arrive(Owned::Deallocate(PrimaryRc::DEALLOC_ABEND));
    assert_eq!(rc(Body::Flush(conv)), PrimaryRc::DEALLOC_ABEND);
    assert_eq!(script.lock().unwrap().consumed, 8 + 9);
}

/// A cancelled TP_ENDED(AP_SOFT) flushes nothing across nodes either: TP X
/// on A holds c1 and c2 to B, waits in a receive on c2 (so its soft end
/// waits), buffers "secret" on c1, and cancels the soft end. B's receive
/// on c1 gets no data, only the abnormal end.
#[test]
fn a_cancelled_soft_end_sends_nothing_buffered_to_the_remote_partner() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let open = || {
        let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
            unreachable!()
        };
        let mine = Conv {
            tp_id,
            conv_id: al.conv_id,
        };
        assert_eq!(call(&a, Body::Flush(mine)).primary_rc, PrimaryRc::OK);
        let ra = ReceiveAllocate {
            tp_name: name("ECHO"),
            ..Default::default()
        };
        let Body::ReceiveAllocate(ra) = call(&b, Body::ReceiveAllocate(ra)).body else {
            unreachable!()
        };
        let theirs = Conv {
            tp_id: ra.tp_id,
            conv_id: ra.conv_id,
        };
        (mine, theirs)
    };
    let (c1, p1) = open();
    let (c2, _p2) = open();
    let receive = |conv| {
        Verb::mapped(Body::ReceiveAndWait(Receive {
            conv,
            max_len: 100,
            ..Default::default()
        }))
    };
    let (btx, mut brx) = b.queue();
    let theirs = b.submit(receive(p1), &Target::Queue(btx)).unwrap();
    let (tx, mut rx) = a.queue();
    let active = a.submit(receive(c2), &Target::Queue(tx.clone())).unwrap();
    let send = SendData {
        conv: c1,
        send_type: values::SEND_DATA_NONE,
        data: b"secret".to_vec(),
        rts_rcvd: false,
    };
    assert_eq!(call(&a, Body::SendData(send)).primary_rc, PrimaryRc::OK);
    let ended = TpEnded {
        tp_id,
        tp_type: values::SOFT,
    };
    let end = a
        .submit(Verb::mapped(Body::TpEnded(ended)), &Target::Queue(tx))
        .unwrap();
    assert!(
        rx.try_recv().is_none(),
        "the soft end waits for c2's receive"
    );
    assert_eq!(a.cancel(end).code(), 0);
    let mut done: Vec<_> = (0..2)
        .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
        .map(|c| c.handle)
        .collect();
    done.sort();
    let mut want = vec![active, end];
    want.sort();
    assert_eq!(done, want);

    let got = brx
        .recv_timeout(Duration::from_secs(10))
        .expect("B's receive ends");
    assert_eq!(got.handle, theirs);
    assert_eq!(
        (received(&got.verb).0, received(&got.verb).2),
        (PrimaryRc::DEALLOC_ABEND, vec![]),
        "no data, and the conversation ended abnormally"
    );
}

/// Waits (bounded) until `node` holds `n` queued attaches.
fn await_queued(node: &Node, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while node.queued_attaches() != n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} queued attaches, not {n}",
            node.queued_attaches()
        );
        thread::yield_now();
    }
}

/// An attach from A waits on B for a RECEIVE_ALLOCATE; A's verb is
/// cancelled, so the session fails before any TP on B took it: B drops the
/// attach, and its next RECEIVE_ALLOCATE gets the next live conversation.
#[test]
fn an_attach_whose_session_fails_before_it_is_taken_leaves_the_queue() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    let pending = Receive {
        conv,
        max_len: 100,
        ..Default::default()
    };
    let (tx, _rx) = a.queue();
    let handle = a
        .submit(
            Verb::mapped(Body::ReceiveAndWait(pending)),
            &Target::Queue(tx),
        )
        .unwrap();
    await_queued(&node_b, 1);
    assert_eq!(a.cancel(handle).code(), 0);
    await_queued(&node_b, 0);

    let (btx, mut brx) = b.queue();
    let ra = ReceiveAllocate {
        tp_name: name("ECHO"),
        ..Default::default()
    };
    let ra = b
        .submit(Verb::mapped(Body::ReceiveAllocate(ra)), &Target::Queue(btx))
        .unwrap();
    assert!(brx.try_recv().is_none(), "B took a dead conversation");
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let live = SendData {
        conv: Conv {
            tp_id,
            conv_id: al.conv_id,
        },
        send_type: values::SEND_DATA_FLUSH,
        data: b"live".to_vec(),
        rts_rcvd: false,
    };
    assert_eq!(call(&a, Body::SendData(live)).primary_rc, PrimaryRc::OK);
    let got = brx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((got.handle, got.verb.primary_rc), (ra, PrimaryRc::OK));
    let Body::ReceiveAllocate(ra) = got.verb.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(
        received(&receive(&b, conv)),
        (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"live".to_vec())
    );
}

/// RECEIVE_ALLOCATE on B for "ECHO", submitted: it waits while no live
/// attach is queued.
fn submit_receive_allocate(b: &Appc) -> (appc_engine::Handle, appc_engine::Receiver<Verb>) {
    let (btx, brx) = b.queue();
    let ra = ReceiveAllocate {
        tp_name: name("ECHO"),
        ..Default::default()
    };
    let ra = b
        .submit(Verb::mapped(Body::ReceiveAllocate(ra)), &Target::Queue(btx))
        .unwrap();
    (ra, brx)
}

/// An attach from A waits on B for a RECEIVE_ALLOCATE; A's TP abends the
/// conversation (DEALLOCATE(ABEND)), and the abnormal end crosses the
/// session before any TP on B took the attach: B drops the attach, and a
/// RECEIVE_ALLOCATE on B waits for a live one.
#[test]
fn an_attach_its_allocator_abends_before_it_is_taken_leaves_the_queue() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    assert_eq!(call(&a, Body::Flush(conv)).primary_rc, PrimaryRc::OK);
    await_queued(&node_b, 1);
    let abend = Deallocate {
        conv,
        dealloc_type: values::ABEND,
        log_data: Vec::new(),
    };
    assert_eq!(call(&a, Body::Deallocate(abend)).primary_rc, PrimaryRc::OK);
    await_queued(&node_b, 0);
    let (_ra, mut brx) = submit_receive_allocate(&b);
    assert!(brx.try_recv().is_none(), "B took a dead conversation");
}

/// B queues at most the attaches its limit allows for a name nobody
/// serves yet: here one. The next attach from A is refused with
/// `AP_TRANS_PGM_NOT_AVAIL_RETRY`, which A's TP sees as an allocation
/// error on its next verb; the queued one is still taken whole.
#[test]
fn an_attach_past_the_remote_queue_limit_is_refused() {
    let (node_a, node_b) = two_nodes();
    node_b.define_tp("ECHO");
    node_b.set_max_queued_attaches(1);
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node_a).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node_b).unwrap();
    let tp_id = tp(&a);
    let open = |data: &[u8]| {
        let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
            unreachable!()
        };
        let conv = Conv {
            tp_id,
            conv_id: al.conv_id,
        };
        let send = SendData {
            conv,
            send_type: values::SEND_DATA_FLUSH,
            data: data.to_vec(),
            rts_rcvd: false,
        };
        assert_eq!(call(&a, Body::SendData(send)).primary_rc, PrimaryRc::OK);
        conv
    };
    open(b"queued");
    await_queued(&node_b, 1);
    let refused = open(b"refused");
    let verb = receive(&a, refused);
    assert_eq!(
        (verb.primary_rc, verb.secondary_rc),
        (
            PrimaryRc::ALLOCATION_ERROR,
            SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY
        )
    );
    assert_eq!(node_b.queued_attaches(), 1);
    let (ra, mut brx) = submit_receive_allocate(&b);
    let got = brx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((got.handle, got.verb.primary_rc), (ra, PrimaryRc::OK));
    let Body::ReceiveAllocate(ra) = got.verb.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: ra.tp_id,
        conv_id: ra.conv_id,
    };
    assert_eq!(
        received(&receive(&b, conv)),
        (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"queued".to_vec())
    );
}

/// A session layer with no thread: it keeps what its node posts, and the
/// conversations it opens, until the test runs them or drops it.
struct Holder {
    work: Mutex<Vec<Work>>,
    convs: Mutex<HashMap<ConvId, RemoteEnd>>,
    dropped: Arc<std::sync::atomic::AtomicBool>,
}

impl Owner for Holder {
    fn post(&self, work: Work) {
        self.work.lock().unwrap().push(work);
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A peer that records whether it was closed, and how.
#[derive(Default)]
struct Closing(Option<bool>);

impl Peer for Closing {
    fn attach(&mut self, _: &Attach) -> Result<(), SecondaryRc> {
        Ok(())
    }

    fn send(&mut self, _: Flow<'_>) {}

    fn close(&mut self, abort: bool) {
        self.0 = Some(abort);
    }
}

impl Holder {
    fn new(dropped: &Arc<std::sync::atomic::AtomicBool>) -> Arc<Self> {
        Arc::new(Self {
            work: Mutex::default(),
            convs: Mutex::default(),
            dropped: dropped.clone(),
        })
    }

    /// Runs what was posted: opens conversations and runs their verbs.
    fn run(&self) {
        let work = std::mem::take(&mut *self.work.lock().unwrap());
        let mut convs = self.convs.lock().unwrap();
        for item in work {
            match item {
                Work::Open(end) => {
                    convs.insert(end.conv_id(), *end);
                }
                Work::Verb(verb) => {
                    let end = convs.get_mut(&verb.conv_id()).expect("open");
                    end.issue(verb, &mut Closing::default());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

/// A node whose session layer holds its remote conversations is freed
/// when the applications and the node are dropped: the ends it holds do
/// not keep their node alive (no cycle through the node's owners), so the
/// node goes, then the session layer it held, then the ends.
#[test]
fn a_node_is_freed_with_the_remote_conversations_its_owner_holds() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let node = Node::new();
    let holder = Holder::new(&dropped);
    node.add_partner("LUB", holder.clone());
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id,
        conv_id: al.conv_id,
    };
    let send = SendData {
        conv,
        send_type: values::SEND_DATA_NONE,
        data: b"held".to_vec(),
        rts_rcvd: false,
    };
    let (tx, mut rx) = a.queue();
    a.submit(Verb::mapped(Body::SendData(send)), &Target::Queue(tx))
        .unwrap();
    holder.run();
    assert_eq!(rx.try_recv().unwrap().verb.primary_rc, PrimaryRc::OK);
    assert_eq!(holder.convs.lock().unwrap().len(), 1);
    drop(holder);
    drop(a);
    assert!(!dropped.load(std::sync::atomic::Ordering::SeqCst));
    drop(node);
    assert!(
        dropped.load(std::sync::atomic::Ordering::SeqCst),
        "the node, and the session layer it holds, leaked"
    );
}

/// An end whose node was dropped while its session layer still holds it
/// can only end: whatever reaches it next closes its session at once.
#[test]
fn an_end_outliving_its_node_ends_at_its_next_step() {
    let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let node = Node::new();
    let holder = Holder::new(&dropped);
    node.add_partner("LUB", holder.clone());
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let tp_id = tp(&a);
    let Body::Allocate(al) = allocate(&a, tp_id, "ECHO", values::SYNC_NONE).body else {
        unreachable!()
    };
    holder.run();
    drop(a);
    drop(node);
    let mut convs = holder.convs.lock().unwrap();
    let end = convs.get_mut(&al.conv_id).expect("held");
    assert!(!end.is_over());
    let mut peer = Closing::default();
    end.arrive(Flow::Data(b"late"), false, &mut peer);
    assert!(end.is_over());
    assert_eq!(peer.0, Some(true));
}
