//! Conversations between two nodes through the session boundary
//! (`appc::session`): a test wire carries flows between the nodes on its own
//! thread, as the TCP session layer does, so every verb runs with its
//! partner end on another node.

#![cfg(not(loom))]

use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::verbs::*;
use appc::{Appc, Attach, Confirmation, ConvPort, Flow, Node, Partner, Session};
use appc_engine::{Event, Target, WINAPPC_VERSION};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

/// What the wire thread does, in order. Flows and aborts name the end
/// they come from; the thread finds its peer (known once the attach is
/// through).
enum Wire {
    Attach(Attach, Arc<End>),
    Flow(Arc<End>, Flow),
    Abort(Arc<End>),
}

/// One end of one conversation's session: where flows for it are delivered.
#[derive(Default)]
struct End {
    port: OnceLock<ConvPort>,
    peer: OnceLock<Arc<End>>,
}

/// A session end as the engine sees it: sends go to the wire thread.
struct WireSession {
    wire: Mutex<Sender<Wire>>,
    end: Arc<End>,
}

impl Session for WireSession {
    fn send(&self, flow: Flow) {
        let _ = self
            .wire
            .lock()
            .unwrap()
            .send(Wire::Flow(self.end.clone(), flow));
    }

    fn close(&self, abort: bool) {
        if abort {
            let _ = self
                .wire
                .lock()
                .unwrap()
                .send(Wire::Abort(self.end.clone()));
        }
    }
}

/// Node A's view of node B.
struct ToB {
    wire: Mutex<Sender<Wire>>,
}

impl Partner for ToB {
    fn attach(&self, attach: &Attach, port: ConvPort) -> Arc<dyn Session> {
        let wire = self.wire.lock().unwrap().clone();
        let end = Arc::new(End::default());
        let _ = end.port.set(port);
        let _ = wire.send(Wire::Attach(attach.clone(), end.clone()));
        Arc::new(WireSession {
            wire: Mutex::new(wire),
            end,
        })
    }
}

/// Two nodes joined by a wire thread; node A reaches B as partner LU "LUB".
fn two_nodes() -> (Node, Node) {
    let (a, b) = (Node::new(), Node::new());
    let (tx, rx) = channel::<Wire>();
    a.add_partner(
        "LUB",
        Arc::new(ToB {
            wire: Mutex::new(tx.clone()),
        }),
    );
    let node_b = b.clone();
    thread::spawn(move || {
        for event in rx {
            match event {
                Wire::Attach(attach, a_end) => {
                    let b_end = Arc::new(End::default());
                    let _ = b_end.peer.set(a_end.clone());
                    let _ = a_end.peer.set(b_end.clone());
                    let session = Arc::new(WireSession {
                        wire: Mutex::new(tx.clone()),
                        end: b_end.clone(),
                    });
                    match node_b.incoming_attach(attach, session) {
                        Ok(port) => {
                            let _ = b_end.port.set(port);
                        }
                        Err(sense) => {
                            if let Some(port) = a_end.port.get() {
                                port.fail(PrimaryRc::ALLOCATION_ERROR, sense);
                            }
                        }
                    }
                }
                Wire::Flow(from, flow) => {
                    if let Some(port) = from.peer.get().and_then(|to| to.port.get()) {
                        port.deliver(flow);
                    }
                }
                Wire::Abort(from) => {
                    if let Some(port) = from.peer.get().and_then(|to| to.port.get()) {
                        port.fail(PrimaryRc::CONV_FAILURE_RETRY, SecondaryRc(0));
                    }
                }
            }
        }
    });
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
            assert_eq!(call(&b, Body::SendData(send)).primary_rc, PrimaryRc::OK);
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

/// A session the test drives by hand: it records what the conversation
/// tells it, and says it is backlogged while `backlogged` is set.
#[derive(Default)]
struct Scripted {
    port: OnceLock<ConvPort>,
    flows: Mutex<Vec<Flow>>,
    consumed: Mutex<usize>,
    closed: Mutex<Option<bool>>,
    backlogged: Mutex<bool>,
}

struct ScriptedSession(Arc<Scripted>);

impl Session for ScriptedSession {
    fn send(&self, flow: Flow) {
        self.0.flows.lock().unwrap().push(flow);
    }

    fn close(&self, abort: bool) {
        *self.0.closed.lock().unwrap() = Some(abort);
    }

    fn consumed(&self, bytes: usize) {
        *self.0.consumed.lock().unwrap() += bytes;
    }

    fn backlogged(&self) -> bool {
        *self.0.backlogged.lock().unwrap()
    }
}

struct ScriptedPartner(Arc<Scripted>);

impl Partner for ScriptedPartner {
    fn attach(&self, _attach: &Attach, port: ConvPort) -> Arc<dyn Session> {
        let _ = self.0.port.set(port);
        Arc::new(ScriptedSession(self.0.clone()))
    }
}

/// A node whose partner LU "LUB" is a [`Scripted`] session, and a
/// conversation allocated to it at `sync_level` (its attach flows with the
/// first flush).
fn scripted(sync_level: u8) -> (Node, Appc, Arc<Scripted>, Conv) {
    let node = Node::new();
    let script = Arc::new(Scripted::default());
    node.add_partner("LUB", Arc::new(ScriptedPartner(script.clone())));
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let v = allocate(&a, tp(&a), "ECHO", sync_level);
    let Body::Allocate(al) = v.body else {
        unreachable!()
    };
    let conv = Conv {
        tp_id: al.tp_id,
        conv_id: al.conv_id,
    };
    (node, a, script, conv)
}

#[test]
fn a_backlogged_session_holds_the_send_and_consumption_is_reported() {
    let (_node, a, script, conv) = scripted(values::SYNC_NONE);
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
    *script.backlogged.lock().unwrap() = true;
    let handle = a
        .submit(send(values::SEND_DATA_FLUSH), &Target::Queue(tx.clone()))
        .unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_none());
    assert_eq!(
        a.call(send(values::SEND_DATA_NONE)).unwrap().primary_rc,
        PrimaryRc::CONV_BUSY
    );
    *script.backlogged.lock().unwrap() = false;
    script.port.get().unwrap().writable();
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
    let port = script.port.get().unwrap();
    port.deliver(Flow::Data(b"hello".to_vec()));
    port.deliver(Flow::Data(b"world!".to_vec()));
    port.deliver(Flow::ChangeDirection);
    assert_eq!(*script.consumed.lock().unwrap(), 0);
    assert_eq!(received(&receive(&a, conv)).2, b"hello");
    assert_eq!(*script.consumed.lock().unwrap(), 5);
    assert_eq!(received(&receive(&a, conv)).2, b"world!");
    assert_eq!(*script.consumed.lock().unwrap(), 11);
    assert_eq!(received(&receive(&a, conv)).1, WhatRcvd::SEND);
    // A waiting send cancelled: AP_CANCELLED, the session aborted.
    *script.backlogged.lock().unwrap() = true;
    let handle = a
        .submit(send(values::SEND_DATA_FLUSH), &Target::Queue(tx.clone()))
        .unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(50)).is_none());
    assert_eq!(a.cancel(handle).code(), 0);
    let done = rx.recv_timeout(Duration::from_secs(5)).expect("completes");
    assert_eq!(
        (done.handle, done.verb.primary_rc),
        (handle, PrimaryRc::CANCELLED)
    );
    assert_eq!(*script.closed.lock().unwrap(), Some(true));
    let flows = script.flows.lock().unwrap();
    assert_eq!(
        flows.iter().filter(|f| matches!(f, Flow::Data(_))).count(),
        3
    );
}

/// Data a remote partner sent before this end's SEND_ERROR reached it is
/// purged on arrival (and reported consumed, for pacing): this end, in
/// SEND, gets the partner's abend that follows on its next verb.
#[test]
fn data_in_flight_after_a_send_error_is_purged_on_arrival() {
    let (_node, a, script, conv) = scripted(values::SYNC_CONFIRM);
    let rc = |body| call(&a, body).primary_rc;
    let ptr = Body::PrepareToReceive(PrepareToReceive {
        conv,
        ptr_type: values::FLUSH,
        locks: values::LOCKS_SHORT,
    });
    assert_eq!(rc(ptr), PrimaryRc::OK);
    let port = script.port.get().expect("the attach flowed");
    port.deliver(Flow::Data(b"received".to_vec()));
    let error = Body::SendError(SendError {
        conv,
        err_type: values::ERR_PROG,
        err_dir: values::RCV_DIR_ERROR,
        ..Default::default()
    });
    assert_eq!(rc(error), PrimaryRc::OK);
    // What the partner sent before it learned of the error, then its abend.
    port.deliver(Flow::Data(b"in flight".to_vec()));
    port.deliver(Flow::ConfirmRequest(Confirmation::Plain));
    port.deliver(Flow::Deallocate(PrimaryRc::DEALLOC_ABEND));
    assert_eq!(rc(Body::Flush(conv)), PrimaryRc::DEALLOC_ABEND);
    assert_eq!(*script.consumed.lock().unwrap(), 8 + 9);
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
