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

#![cfg(loom)]

use appc_engine::deferred::Deferred;
use appc_loom_tests::Outcomes;
use loom::sync::Arc;
use loom::thread;

static WHO_POPPED: Outcomes<2> = Outcomes::new(["the racing pop", "the pusher"]);

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
        popped.extend(other.join().unwrap());
        popped.sort();
        assert_eq!(popped, [[1; 8], [2; 8]], "each popped exactly once");
        assert_eq!(deferred.pop(), None, "nothing left");
    });
}
