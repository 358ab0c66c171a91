//! Two transaction programs (TPs) holding an APPC mapped conversation over
//! one in-memory node, printed as a trace of verbs and return codes.
//!
//! Run with `cargo run --release -p appc-perf --example conversation`.
//!
//! Part 1: a requester TP (the main thread) allocates a conversation to the
//! TP named `RESP`; a responder thread accepts it with RECEIVE_ALLOCATE.
//! They exchange one message each way (change of direction), confirm, and
//! deallocate. Every verb goes through the blocking entry point (`APPC`),
//! so the protocol itself orders the two threads; only where both threads
//! run at once can their trace lines swap.
//!
//! Part 2: the requester submits a RECEIVE_AND_WAIT asynchronously (the
//! `WinAsyncAPPC` model: its completion is posted to a message queue) and
//! cancels it (`WinAPPCCancelAsyncRequest`). Cancelling closes the session,
//! so the partner's next verb on that conversation fails.

use std::process::exit;
use std::thread;

use appc::rc::{return_code_text, PrimaryRc, WhatRcvd};
use appc::verbs::{
    name, values, Allocate, Body, Confirm, Conv, Deallocate, Receive, ReceiveAllocate, SendData,
    TpEnded, TpId, TpStarted, Verb,
};
use appc::{Appc, Node};
use appc_engine::{CancelOutcome, Target, WINAPPC_VERSION};

/// The partner TP's name: what ALLOCATE asks for and RECEIVE_ALLOCATE serves.
const RESPONDER: &str = "RESP";

/// Prints what went wrong and ends the process with a failure status.
fn fail(message: &str) -> ! {
    eprintln!("conversation example FAILED: {message}");
    exit(1)
}

/// One line of the trace: who did what, and what came of it.
fn line(who: &str, what: &str, result: &str) {
    println!("{who:<9} {what:<25} {result}");
}

/// A trace line for a finished verb: its return codes in words.
fn trace(who: &str, what: &str, verb: &Verb) {
    line(
        who,
        what,
        &return_code_text(verb.primary_rc, verb.secondary_rc),
    );
}

/// One TP's view of its application: the `Appc` it issues verbs on and the
/// name it prints in the trace.
struct Tp<'a> {
    app: &'a Appc,
    who: &'static str,
}

impl Tp<'_> {
    /// Issues `verb` with the blocking entry point (`APPC`), traces it as
    /// `what`, and checks its primary return code is `want`. Returns the
    /// verb's body, which holds its output fields.
    fn call(&self, what: &str, verb: Verb, want: PrimaryRc) -> Body {
        let verb = self.app.call(verb).unwrap_or_else(|rejected| {
            fail(&format!("{} {what} was not accepted: {rejected}", self.who))
        });
        trace(self.who, what, &verb);
        if verb.primary_rc != want {
            fail(&format!("{} {what}: expected {want:?}", self.who));
        }
        verb.body
    }

    /// TP_STARTED: starts the invoking TP and returns its `tp_id`.
    fn tp_started(&self) -> TpId {
        let verb = Verb::basic(Body::TpStarted(TpStarted {
            lu_alias: name("LU1"),
            tp_name: name("REQ"),
            ..Default::default()
        }));
        let Body::TpStarted(started) = self.call("TP_STARTED", verb, PrimaryRc::OK) else {
            unreachable!("a verb comes back with the body it was issued with");
        };
        started.tp_id
    }

    /// MC_ALLOCATE: a mapped conversation to `RESPONDER` at `sync_level`.
    /// The attach waits in the send buffer until the first flush.
    fn allocate(&self, tp_id: TpId, sync_level: u8) -> Conv {
        let verb = Verb::mapped(Body::Allocate(Allocate {
            tp_id,
            sync_level,
            plu_alias: name("LU2"), // every partner LU loops back to this node
            mode_name: name("#INTER"),
            tp_name: name(RESPONDER),
            ..Default::default()
        }));
        let Body::Allocate(allocated) = self.call("MC_ALLOCATE", verb, PrimaryRc::OK) else {
            unreachable!("a verb comes back with the body it was issued with");
        };
        Conv {
            tp_id,
            conv_id: allocated.conv_id,
        }
    }

    /// RECEIVE_ALLOCATE: waits for an attach to `RESPONDER`; the new TP's
    /// conversation, whose sync level must be `sync_level`.
    fn receive_allocate(&self, sync_level: u8) -> Conv {
        let verb = Verb::mapped(Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name(RESPONDER),
            lu_alias: name("LU2"),
            ..Default::default()
        }));
        let Body::ReceiveAllocate(accepted) = self.call("RECEIVE_ALLOCATE", verb, PrimaryRc::OK)
        else {
            unreachable!("a verb comes back with the body it was issued with");
        };
        if accepted.sync_level != sync_level {
            fail(&format!(
                "the attach carried sync level {}",
                accepted.sync_level
            ));
        }
        Conv {
            tp_id: accepted.tp_id,
            conv_id: accepted.conv_id,
        }
    }

    /// MC_SEND_DATA of `data`, followed by what `send_type` asks for.
    fn send(&self, conv: Conv, data: &str, send_type: u8, want: PrimaryRc) {
        let verb = Verb::mapped(Body::SendData(SendData {
            conv,
            send_type,
            data: data.as_bytes().to_vec(),
            ..Default::default()
        }));
        self.call("MC_SEND_DATA", verb, want);
    }

    /// MC_RECEIVE_AND_WAIT that must give `AP_OK` with `what` and `data`.
    fn receive(&self, conv: Conv, what: WhatRcvd, data: &str) {
        let Body::ReceiveAndWait(received) =
            self.call("MC_RECEIVE_AND_WAIT", receive_verb(conv), PrimaryRc::OK)
        else {
            unreachable!("a verb comes back with the body it was issued with");
        };
        let text = String::from_utf8_lossy(&received.data);
        let details = format!("what_rcvd {:?}, data {text:?}", received.what_rcvd);
        line("", "", &details);
        if received.what_rcvd != what || received.data != data.as_bytes() {
            fail(&format!("{} expected {what:?} with {data:?}", self.who));
        }
    }

    /// TP_ENDED: ends the TP (its `tp_id` is no longer valid).
    fn tp_ended(&self, tp_id: TpId) {
        let verb = Verb::basic(Body::TpEnded(TpEnded {
            tp_id,
            tp_type: values::SOFT,
        }));
        self.call("TP_ENDED", verb, PrimaryRc::OK);
    }
}

/// An MC_RECEIVE_AND_WAIT verb for up to 256 bytes.
fn receive_verb(conv: Conv) -> Verb {
    Verb::mapped(Body::ReceiveAndWait(Receive {
        conv,
        max_len: 256,
        ..Default::default()
    }))
}

/// Part 1, the invoking side.
fn requester(req: &Tp<'_>) {
    let tp_id = req.tp_started();
    let conv = req.allocate(tp_id, values::SYNC_CONFIRM);
    // Buffered: nothing has reached the partner yet, not even the attach.
    req.send(conv, "hello", values::SEND_DATA_NONE, PrimaryRc::OK);
    // A receive in SEND state flushes the attach and the data and hands
    // the send direction to the partner; this call waits for its reply.
    req.receive(conv, WhatRcvd::DATA_COMPLETE, "hello yourself");
    req.receive(conv, WhatRcvd::SEND, "");
    // Sync level CONFIRM: wait until the partner says it got everything.
    let confirm = Verb::mapped(Body::Confirm(Confirm {
        conv,
        ..Default::default()
    }));
    req.call("MC_CONFIRM", confirm, PrimaryRc::OK);
    let deallocate = Verb::mapped(Body::Deallocate(Deallocate {
        conv,
        dealloc_type: values::FLUSH,
        ..Default::default()
    }));
    req.call("MC_DEALLOCATE", deallocate, PrimaryRc::OK);
    req.tp_ended(tp_id);
}

/// Part 1, the invoked side (runs on its own thread).
fn responder(resp: &Tp<'_>) {
    let conv = resp.receive_allocate(values::SYNC_CONFIRM);
    resp.receive(conv, WhatRcvd::DATA_COMPLETE, "hello");
    // The partner's receive turned the direction: now this side may send.
    resp.receive(conv, WhatRcvd::SEND, "");
    resp.send(
        conv,
        "hello yourself",
        values::SEND_DATA_NONE,
        PrimaryRc::OK,
    );
    // Flushes the reply, gives the direction back, and waits.
    resp.receive(conv, WhatRcvd::CONFIRM_WHAT_RECEIVED, "");
    resp.call(
        "MC_CONFIRMED",
        Verb::mapped(Body::Confirmed(conv)),
        PrimaryRc::OK,
    );
    resp.call(
        "MC_RECEIVE_AND_WAIT",
        receive_verb(conv),
        PrimaryRc::DEALLOC_NORMAL,
    );
    resp.tp_ended(conv.tp_id);
}

/// Part 2 (one thread plays both TPs: every blocking call below returns at
/// once, because what it waits for has already arrived).
fn cancel_a_receive(req: &Tp<'_>, resp: &Tp<'_>) {
    let tp_id = req.tp_started();
    let conv = req.allocate(tp_id, values::SYNC_NONE);

    // WinAsyncAPPC: the verb's one completion will be posted to `queue`.
    let (sender, mut queue) = req.app.queue();
    let handle = req
        .app
        .submit(receive_verb(conv), &Target::Queue(sender))
        .unwrap_or_else(|rejected| fail(&format!("the asynchronous receive: {rejected}")));
    let submitted = format!("submitted asynchronously, handle {handle}");
    line(req.who, "MC_RECEIVE_AND_WAIT", &submitted);

    // The submit flushed the attach and the change of direction.
    let partner = resp.receive_allocate(values::SYNC_NONE);
    resp.receive(partner, WhatRcvd::SEND, "");
    // The responder now holds the send direction but sends nothing, so the
    // requester's receive is still waiting.
    if queue.try_recv().is_some() {
        fail("the asynchronous receive completed before it was cancelled");
    }

    let outcome = req.app.cancel(handle);
    let returned = format!("returned {}", outcome.code());
    line(req.who, "WinAPPCCancelAsyncRequest", &returned);
    if outcome != CancelOutcome::Cancelled {
        fail(&format!("cancel returned {outcome:?}"));
    }
    // A 0 return means the AP_CANCELLED completion is already queued.
    let completion = queue
        .try_recv()
        .unwrap_or_else(|| fail("no completion was queued by the cancel"));
    trace(req.who, "  its completion (queue)", &completion.verb);
    if completion.handle != handle || completion.verb.primary_rc != PrimaryRc::CANCELLED {
        fail("the queued completion is not the cancelled receive");
    }

    // The cancel closed the session: the partner's waiting verb, or as here
    // its next one, reports the loss. (Half-duplex: while this side waited
    // to receive, the partner held the send direction and waited for nothing.)
    resp.send(
        partner,
        "anyone there?",
        values::SEND_DATA_FLUSH,
        PrimaryRc::CONV_FAILURE_RETRY,
    );
    resp.tp_ended(partner.tp_id);
    req.tp_ended(tp_id);
}

fn main() {
    let node = Node::new();
    // Let attaches for RESPONDER queue even if they arrive before its first
    // RECEIVE_ALLOCATE (otherwise they would be rejected as unknown).
    node.define_tp(RESPONDER);
    let startup = |who| {
        Appc::startup(WINAPPC_VERSION, &node)
            .unwrap_or_else(|error| fail(&format!("WinAPPCStartup for the {who}: {error}")))
            .0
    };
    let (requester_app, responder_app) = (startup("requester"), startup("responder"));
    let req = Tp {
        app: &requester_app,
        who: "requester",
    };
    let resp = Tp {
        app: &responder_app,
        who: "responder",
    };

    println!("--- part 1: a conversation with change of direction and confirmation");
    thread::scope(|scope| {
        scope.spawn(|| responder(&resp));
        requester(&req);
    });

    println!("--- part 2: an asynchronous receive, cancelled");
    cancel_a_receive(&req, &resp);
    println!("--- done: every verb returned what was expected");
}
