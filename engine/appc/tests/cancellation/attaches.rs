//! Attaches whose conversation ends (cancelled allocator, cleaned-up
//! application, normal end) before a RECEIVE_ALLOCATE takes them: they
//! leave the queue and do not pile up.

use crate::support::*;
use crate::{submit_receive, WAIT};
use appc::rc::PrimaryRc as P;
use appc::verbs::values;
use appc::{Appc, Node};
use appc_engine::{CancelOutcome, Target, WINAPPC_VERSION};

// ---------------------------------------------------------------------------
// Attaches whose conversation ends before a RECEIVE_ALLOCATE takes them
// ---------------------------------------------------------------------------

/// With only dead attaches queued (none, once they left), a RECEIVE_ALLOCATE
/// waits, and the next live attach is the one it gets: its data arrives.
fn next_receive_allocate_gets_a_live_conversation(node: &Node, a: &Appc, b: &Appc) {
    assert_eq!(node.queued_attaches(), 0, "a dead attach is still queued");
    let (tx, mut rx) = b.queue();
    let ra = b
        .submit(receive_allocate_verb(RESP), &Target::Queue(tx))
        .unwrap();
    assert!(
        rx.try_recv().is_none(),
        "a RECEIVE_ALLOCATE got a dead conversation"
    );
    let mut req = Tp::started(a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.send_data(b"live", values::SEND_DATA_FLUSH).ok();
    let done = rx.recv_timeout(WAIT).expect("the live attach");
    assert_eq!(done.handle, ra);
    let resp = Tp::accepted(b, &done.verb);
    resp.receive_and_wait(10).ok().data(b"live");
}

/// The allocator's receive (which flushed the attach) is cancelled: the
/// session closes before any TP took the attach, so the attach goes.
#[test]
fn an_attach_whose_allocating_verb_is_cancelled_leaves_the_queue() {
    let (node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.flush().ok();
    assert_eq!(node.queued_attaches(), 1);
    let (tx, _rx) = a.queue();
    let receive = submit_receive(&req, &Target::Queue(tx));
    assert_eq!(a.cancel(receive), CancelOutcome::Cancelled);
    next_receive_allocate_gets_a_live_conversation(&node, &a, &b);
}

/// The allocator's application is cleaned up while its receive waits: its
/// TP ends, abending the conversation before any TP took the attach.
#[test]
fn an_attach_whose_allocator_is_cleaned_up_leaves_the_queue() {
    let (node, a, b) = setup();
    let (mut gone, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (tx, _rx) = gone.queue();
    {
        let mut req = Tp::started(&gone, MAPPED);
        req.allocate(RESP, SYNC_NONE).ok();
        req.flush().ok();
        submit_receive(&req, &Target::Queue(tx));
    }
    assert_eq!(node.queued_attaches(), 1);
    assert!(gone.cleanup());
    next_receive_allocate_gets_a_live_conversation(&node, &a, &b);
}

/// Three attaches queue; the middle one's allocating receive is cancelled,
/// so it leaves from the middle of the queue: the other two are still
/// taken in the order they arrived, each with its own data.
#[test]
fn an_attach_leaving_the_middle_of_the_queue_keeps_the_order() {
    let (node, a, b) = setup();
    let words: [&[u8]; 3] = [b"first", b"middle", b"last"];
    let mut reqs = Vec::new();
    for word in words {
        let mut req = Tp::started(&a, MAPPED);
        req.allocate(RESP, SYNC_NONE).ok();
        req.send_data(word, values::SEND_DATA_FLUSH).ok();
        reqs.push(req);
    }
    assert_eq!(node.queued_attaches(), 3);
    let (tx, _rx) = a.queue();
    let receive = submit_receive(&reqs[1], &Target::Queue(tx));
    assert_eq!(a.cancel(receive), CancelOutcome::Cancelled);
    assert_eq!(node.queued_attaches(), 2);
    for word in [words[0], words[2]] {
        let resp = Tp::receive_allocate(&b, RESP);
        resp.receive_and_wait(20).ok().data(word);
    }
    assert_eq!(node.queued_attaches(), 0);
}

/// A conversation its allocator ended normally (here TP_ENDED in SEND,
/// which deallocates with a flush) is whole: it stays queued, and the TP
/// that takes it gets the data and the end.
#[test]
fn a_normally_ended_conversation_still_waits_for_its_tp() {
    let (node, a, b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    req.allocate(RESP, SYNC_NONE).ok();
    req.send_data(b"last words", values::SEND_DATA_NONE).ok();
    req.end().ok();
    assert_eq!(node.queued_attaches(), 1);
    let resp = Tp::receive_allocate(&b, RESP);
    resp.receive_and_wait(20).ok().data(b"last words");
    resp.receive_and_wait(20).rc(P::DEALLOC_NORMAL);
}

/// A thousand allocations to a name nobody serves, each cancelled after
/// its attach was queued: none stays.
#[test]
fn dead_attaches_do_not_pile_up_on_an_unserved_name() {
    let (node, a, _b) = setup();
    let mut req = Tp::started(&a, MAPPED);
    let (tx, mut rx) = a.queue();
    for _ in 0..1000 {
        req.allocate(RESP, SYNC_NONE).ok();
        req.flush().ok();
        let receive = submit_receive(&req, &Target::Queue(tx.clone()));
        assert_eq!(a.cancel(receive), CancelOutcome::Cancelled);
        assert_eq!(rx.try_recv().unwrap().handle, receive);
    }
    assert_eq!(node.queued_attaches(), 0);
}
