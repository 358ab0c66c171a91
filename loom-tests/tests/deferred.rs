//! The node's deferred soft TP ends (the `appc_engine::deferred` protocol): a
//! pusher (the thread whose verb was a TP's last active one) pushes and
//! then pops, as the node runs `run_deferred` after every verb; another
//! thread pops at the same time, reading the `pending` flag without the
//! lock.
//!
//! Asserted in every execution: the pushed TP is popped exactly once, and
//! the list is empty with `pending` clear at the end (a later pop finds
//! nothing).
//!
//! Outcomes that must both occur: the racing pop took it; the pusher's own
//! pop took it.
//!
//! Model 2: two threads each push a TP and then pop until the list is empty.
//! Asserted in every execution: each TP is popped exactly once and nothing
//! is left. Outcomes that must all occur: each thread popped its own TP;
//! one thread popped both (either of them). (Each popping the other's is
//! legal too, the list being a stack, but needs more preemptions than the
//! bound CI runs with.)

#![cfg(loom)]

use appc_engine::deferred::Deferred;
use appc_loom_tests::Outcomes;
use loom::sync::Arc;
use loom::thread;

static WHO_POPPED: Outcomes<2> = Outcomes::new(["the racing pop", "the pusher"]);

static TWO_PUSHERS: Outcomes<3> = Outcomes::new([
    "each popped its own",
    "the main thread popped both",
    "the spawned thread popped both",
]);

#[test]
fn push_then_pop_races_a_pop() {
    loom::model(|| {
        let deferred = Arc::new(Deferred::default());
        let racer = {
            let deferred = deferred.clone();
            thread::spawn(move || deferred.pop())
        };
        deferred.push([7; 8]);
        let by_pusher = deferred.pop();
        let by_racer = racer.join().unwrap();
        let popped: Vec<_> = by_pusher.iter().chain(by_racer.iter()).collect();
        assert_eq!(popped, [&[7; 8]], "popped exactly once");
        assert_eq!(deferred.pop(), None, "nothing left");
        WHO_POPPED.record(if by_racer.is_some() {
            "the racing pop"
        } else {
            "the pusher"
        });
    });
    WHO_POPPED.assert_all_seen();
}

#[test]
fn two_pushers_each_popping_get_every_tp_out_once() {
    loom::model(|| {
        let deferred = Arc::new(Deferred::default());
        let other = {
            let deferred = deferred.clone();
            thread::spawn(move || {
                deferred.push([1; 8]);
                let mut popped = Vec::new();
                while let Some(tp) = deferred.pop() {
                    popped.push(tp);
                }
                popped
            })
        };
        deferred.push([2; 8]);
        let mut popped = Vec::new();
        while let Some(tp) = deferred.pop() {
            popped.push(tp);
        }
        let by_other = other.join().unwrap();
        match (popped.len(), by_other.len()) {
            (2, 0) => TWO_PUSHERS.record("the main thread popped both"),
            (0, 2) => TWO_PUSHERS.record("the spawned thread popped both"),
            _ if popped == [[2; 8]] => TWO_PUSHERS.record("each popped its own"),
            // Each popped the other's: legal (the list is a stack), and
            // not reached within the preemption bound.
            _ => {}
        }
        popped.extend(by_other);
        popped.sort();
        assert_eq!(popped, [[1; 8], [2; 8]], "each popped exactly once");
        assert_eq!(deferred.pop(), None, "nothing left");
    });
    TWO_PUSHERS.assert_all_seen();
}
