//! The blocking entry point: `APPC(vcb)` as `Engine::call`, one blocking
//! call per thread (`AP_THREAD_BLOCKING`), `WinAPPCIsBlocking` and
//! `WinAPPCCancelBlockingCall` from the blocking hook, and the KB Q236797
//! regression (no per-thread state survives Cleanup).
//!
//! The blocking entry point parks OS threads, so it does not exist under
//! loom; its concurrency is the future target's, which loom models.
#![cfg(not(loom))]

use appc_engine::{
    CompleteOutcome, Engine, Handle, Opcode, Reason, Verb, AP_OK, AP_THREAD_BLOCKING, WAPPCCANCEL,
    WAPPCINVALID, WINAPPC_VERSION,
};
use std::sync::mpsc;
use std::time::Duration;

fn engine() -> Engine {
    Engine::startup(WINAPPC_VERSION).unwrap().0
}

fn verb(tag: u64) -> Verb {
    Verb::new(Opcode::ReceiveAndWait, tag)
}

/// Starts a completer thread that completes the first handle it is sent,
/// a little later, with `secondary_rc = 9`.
fn complete_later<'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    engine: &'scope Engine,
) -> mpsc::Sender<Handle> {
    let (tx, rx) = mpsc::channel::<Handle>();
    s.spawn(move || {
        let h = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(10));
        assert_eq!(
            engine.complete(h, |v| v.secondary_rc = 9),
            CompleteOutcome::Delivered
        );
    });
    tx
}

#[test]
fn call_blocks_until_another_thread_completes() {
    let engine = engine();
    std::thread::scope(|s| {
        let tx = complete_later(s, &engine);
        let mut sent = false;
        let done = engine
            .call_with_hook(verb(1), |h| {
                if !sent {
                    tx.send(h).unwrap();
                    sent = true;
                }
                true
            })
            .unwrap();
        assert_eq!(
            (done.tag, done.primary_rc, done.secondary_rc),
            (1, AP_OK, 9)
        );
    });
    assert!(!engine.is_blocking());
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn one_blocking_call_per_thread() {
    let engine = engine();
    let mut nested = None;
    let mut inside = false;
    let done = engine
        .call_with_hook(verb(1), |h| {
            inside = engine.is_blocking();
            let live_before = engine.stats().live_tasks;
            nested = Some(engine.call(verb(2)).unwrap());
            assert_eq!(
                engine.stats().live_tasks,
                live_before,
                "no task for a refused call"
            );
            assert_eq!(engine.complete(h, |_| {}), CompleteOutcome::Delivered);
            true
        })
        .unwrap();
    assert!(inside, "WinAPPCIsBlocking inside the hook");
    let nested = nested.expect("the hook ran");
    assert_eq!((nested.tag, nested.primary_rc), (2, AP_THREAD_BLOCKING));
    assert_eq!(done.primary_rc, AP_OK);
    assert!(!engine.is_blocking());
}

#[test]
fn cancel_blocking_call_from_the_hook() {
    let engine = engine();
    assert_eq!(
        engine.cancel_blocking_call(),
        WAPPCINVALID,
        "no call to cancel"
    );
    let mut answers = Vec::new();
    let done = engine
        .call_with_hook(verb(3), |_| {
            answers.push(engine.cancel_blocking_call());
            true
        })
        .unwrap();
    // In `primary_rc`: the project's choice of field (the documentation
    // names the code, not where it goes).
    assert_eq!(done.primary_rc, WAPPCCANCEL as u16);
    assert_eq!(answers, vec![0], "cancelled once, then the call returned");
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn startup_cleanup_startup_leaves_no_blocking_state() {
    // KB Q236797: after Cleanup and a new Startup, the next call on the same
    // thread failed with AP_THREAD_BLOCKING.
    for round in 0..3 {
        let mut engine = engine();
        let cancelled = engine
            .call_with_hook(verb(round), |_| {
                assert_eq!(engine.cancel_blocking_call(), 0);
                true
            })
            .unwrap();
        assert_eq!(cancelled.primary_rc, WAPPCCANCEL as u16);
        assert!(!engine.is_blocking());
        assert!(engine.cleanup());
        let refused = engine.call(verb(round)).unwrap_err();
        assert_eq!(refused.reason, Reason::CleanedUp);
    }
}

#[test]
fn a_hook_returning_false_is_not_called_again() {
    let engine = engine();
    std::thread::scope(|s| {
        let tx = complete_later(s, &engine);
        let mut calls = 0;
        let done = engine
            .call_with_hook(verb(4), |h| {
                calls += 1;
                tx.send(h).unwrap();
                false
            })
            .unwrap();
        assert_eq!((done.primary_rc, calls), (AP_OK, 1));
    });
}
