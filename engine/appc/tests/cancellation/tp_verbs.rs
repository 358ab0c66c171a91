//! `WinAPPCCancelAsyncRequest` on TP verbs (RECEIVE_ALLOCATE withdrawn),
//! to a completion port, and on completed, unknown and racing handles.

use crate::support::*;
use crate::{connect, gone, only_completion, receive_data, submit_receive, WAIT};
use appc::rc::PrimaryRc as P;
use appc::verbs::{self, values, Body, Conv, Verb};
use appc::{Appc, Node};
use appc_engine::{
    CancelOutcome, Target, WAPPCALREADY, WAPPCCANCEL, WAPPCINVALID, WINAPPC_VERSION,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

// ---------------------------------------------------------------------------
// WinAPPCCancelAsyncRequest on TP verbs, completed verbs, bad handles
// ---------------------------------------------------------------------------

/// A cancelled RECEIVE_ALLOCATE is withdrawn: the next attach for its name
/// goes to a later RECEIVE_ALLOCATE (or waits for one), never to it.
#[test]
fn cancel_of_receive_allocate_withdraws_it() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (tx, mut rx) = b.queue();
    let target = Target::Queue(tx);
    let first = b.submit(receive_allocate_verb("SVC"), &target).unwrap();
    let second = b.submit(receive_allocate_verb("SVC"), &target).unwrap();
    assert_eq!(b.cancel(first).code(), 0);
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (first, P::CANCELLED));

    // The attach goes to the second, still waiting, RECEIVE_ALLOCATE.
    let mut req = Tp::started(&a, MAPPED);
    req.allocate("SVC", SYNC_NONE).ok();
    req.send_data(b"one", values::SEND_DATA_FLUSH).ok();
    let done = rx
        .recv_timeout(WAIT)
        .expect("the second RECEIVE_ALLOCATE completes");
    assert_eq!(done.handle, second);
    let resp = Tp::accepted(&b, &done.verb);
    resp.receive_immediate(10).ok().data(b"one");
    assert_eq!(b.cancel(first).code(), WAPPCALREADY);

    // None waiting after another cancel: the attach queues and the next
    // RECEIVE_ALLOCATE takes it at once.
    let third = b.submit(receive_allocate_verb("SVC"), &target).unwrap();
    assert_eq!(b.cancel(third).code(), 0);
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (third, P::CANCELLED));
    let mut req2 = Tp::started(&a, MAPPED);
    req2.allocate("SVC", SYNC_NONE).ok();
    req2.send_data(b"two", values::SEND_DATA_FLUSH).ok();
    assert!(
        rx.try_recv().is_none(),
        "the withdrawn verb took the attach"
    );
    let resp2 = Tp::receive_allocate(&b, "SVC");
    resp2.receive_immediate(10).ok().data(b"two");
    assert!(rx.try_recv().is_none());
}

/// A blocking RECEIVE_ALLOCATE cancelled from its hook is withdrawn too:
/// the call returns `WAPPCCANCEL` and the next attach waits for the next
/// RECEIVE_ALLOCATE.
#[test]
fn cancel_of_blocking_receive_allocate_withdraws_it() {
    let node = Node::new();
    let (a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let mut hooks = 0;
    let verb = b
        .call_with_hook(receive_allocate_verb("SVC"), |_| {
            hooks += 1;
            if hooks == 2 {
                assert_eq!(b.cancel_blocking_call(), 0);
            }
            true
        })
        .unwrap();
    assert_eq!(verb.primary_rc, P(WAPPCCANCEL as u16));
    let mut req = Tp::started(&a, MAPPED);
    req.allocate("SVC", SYNC_NONE).ok();
    req.send_data(b"x", values::SEND_DATA_FLUSH).ok();
    let resp = Tp::receive_allocate(&b, "SVC");
    resp.receive_immediate(10).ok().data(b"x");
    assert_eq!(b.stats().live_tasks, 0);
}

/// The completion-port target: the cancelled verb's packet (with the
/// caller's key, token and byte count) is in the port when cancel returns.
#[test]
fn cancel_posts_to_a_completion_port_before_returning() {
    let (_node, a, b) = setup();
    let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let port = b.port();
    let target = Target::Port {
        port: port.clone(),
        key: 7,
        token: 0xABCD,
        bytes: 42,
    };
    let receive = submit_receive(&resp, &target);
    assert!(port.try_get().is_none());
    assert_eq!(b.cancel(receive).code(), 0);
    let packet = port.try_get().expect("queued before cancel returned");
    assert_eq!(packet.handle, receive);
    assert_eq!((packet.key, packet.token, packet.bytes), (7, 0xABCD, 42));
    assert_eq!(packet.verb.primary_rc, P::CANCELLED);
    assert!(port.try_get().is_none());
    req.flush().rc(P::CONV_FAILURE_RETRY);
}

/// TP_STARTED, and every verb that finishes at once, completes before a
/// cancel can reach it: `WAPPCALREADY` while its completion is still queued
/// and after it is consumed. Handles this engine never issued are
/// `WAPPCINVALID`, including another application's.
#[test]
fn cancel_of_completed_and_unknown_handles() {
    let (_node, a, b) = setup();
    let (tx, mut rx) = a.queue();
    let started = a
        .submit(
            Verb::mapped(Body::TpStarted(verbs::TpStarted {
                lu_alias: verbs::name("LU1"),
                tp_name: verbs::name("REQ"),
                tp_id: [0; 8],
            })),
            &Target::Queue(tx.clone()),
        )
        .unwrap();
    assert_eq!(a.cancel(started).code(), WAPPCALREADY, "still queued");
    let (handle, verb) = only_completion(&mut rx);
    assert_eq!((handle, verb.primary_rc), (started, P::OK));
    assert_eq!(a.cancel(started).code(), WAPPCALREADY, "consumed");
    // A refused verb is a task too, already completed.
    let refused = a
        .submit(
            Verb::mapped(Body::Flush(Conv {
                tp_id: [9; 8],
                conv_id: 77,
            })),
            &Target::Queue(tx.clone()),
        )
        .unwrap();
    assert_eq!(a.cancel(refused).code(), WAPPCALREADY);
    let (_, verb) = only_completion(&mut rx);
    assert_eq!(verb.primary_rc, P::PARAMETER_CHECK);

    // Tag 0 (never an engine's), and this engine's slot with a generation
    // it has not reached.
    let future = u64::from(started) + (1_000_000 << 32);
    for garbage in [0, 1, 0xF000, future] {
        assert_eq!(a.cancel(garbage).code(), WAPPCINVALID, "{garbage:#x}");
    }
    // A live task of another application is not this one's to cancel.
    let (_req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
    let (btx, mut brx) = b.queue();
    let pending = submit_receive(&resp, &Target::Queue(btx));
    assert_eq!(a.cancel(pending).code(), WAPPCINVALID);
    assert!(brx.try_recv().is_none());
    assert_eq!(b.cancel(pending).code(), 0);
    assert_eq!(only_completion(&mut brx).1.primary_rc, P::CANCELLED);
    assert!(rx.try_recv().is_none());
}

/// KB Q153523: a cancel racing the verb's own completion (the partner's
/// data arriving) leaves exactly one completion, and it matches the
/// cancel's answer: 0 → `AP_CANCELLED` (and the partner sees the failure),
/// `WAPPCALREADY` → the data.
#[test]
fn cancel_racing_completion_gives_exactly_one_completion() {
    let (_node, a, b) = setup();
    let (tx, mut rx) = b.queue();
    let (mut cancelled, mut completed) = (0, 0);
    for round in 0..300 {
        let (req, resp) = connect(&a, &b, MAPPED, SYNC_NONE);
        let receive = submit_receive(&resp, &Target::Queue(tx.clone()));
        let go = AtomicBool::new(false);
        let (outcome, sent) = thread::scope(|s| {
            let canceller = s.spawn(|| {
                while !go.load(Ordering::Acquire) {
                    std::hint::spin_loop();
                }
                if round % 2 == 0 {
                    thread::yield_now();
                }
                b.cancel(receive)
            });
            go.store(true, Ordering::Release);
            let sent = req.send_data(b"race", values::SEND_DATA_FLUSH);
            (canceller.join().unwrap(), sent)
        });
        let (handle, verb) = only_completion(&mut rx);
        assert_eq!(handle, receive);
        match outcome {
            CancelOutcome::Cancelled => {
                cancelled += 1;
                assert_eq!(verb.primary_rc, P::CANCELLED);
                // The send either got in first or found the session closed.
                assert!(
                    matches!(sent.primary, P::OK | P::CONV_FAILURE_RETRY),
                    "{sent:?}"
                );
                if sent.primary == P::OK {
                    req.flush().rc(P::CONV_FAILURE_RETRY);
                }
                gone(resp.get_state());
            }
            CancelOutcome::AlreadyCompleted => {
                completed += 1;
                sent.ok();
                assert_eq!(
                    (verb.primary_rc, receive_data(&verb)),
                    (P::OK, &b"race"[..])
                );
                req.deallocate(FLUSH).ok();
                resp.receive_immediate(10).rc(P::DEALLOC_NORMAL);
            }
            CancelOutcome::Invalid => panic!("a live handle was invalid"),
        }
        req.end().ok();
        resp.end().ok();
    }
    assert_eq!(cancelled + completed, 300);
    assert_eq!(b.stats().live_tasks, 0);
}
