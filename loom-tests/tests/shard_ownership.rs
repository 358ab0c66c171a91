//! The shard-ownership protocol of the task table: a shard's owner allocates
//! and frees on its private free list with plain loads and stores, other
//! threads free onto the shard's shared list, the owner takes that list
//! whole (one CAS) when its own runs dry, and an owner that gives the shard
//! up pushes its private list onto the shared one. Under loom each thread
//! has a token of its own, every home is shard 0, and a thread owns the
//! shard only once its model claims it.
//!
//! A remote free here is a task submitted to a queue whose receiver the
//! remote thread holds: the remote thread cancels it and receives the
//! `AP_CANCELLED` completion, which frees the slot on the remote thread.
//!
//! Model 1, adopt vs remote frees: the owner (spawned, so that loom moves
//! its reads of the shared list before the frees, see the crate docs'
//! conventions) claims the shard and submits while the main thread frees
//! two tasks. Asserted in every execution: no slot holds
//! two live tasks, every task completes once with its own verb, nothing is
//! live at the end. Outcomes that must all occur: the owner's new task
//! reused a remotely freed slot (it adopted the shared list) or took a
//! never-used one (the list was still empty); and, as paths taken, the
//! adoption itself and the adoption's CAS losing to a remote push and
//! trying again.
//!
//! Model 2, disown vs a remote free and a claim: the owner gives the shard
//! up (its private list holds one freed slot) while the remote thread frees
//! another slot and then tries to claim the shard. Asserted in every
//! execution: a claim succeeds only once the owner is gone, and a claimer
//! that won allocates from the private list it inherited (loom checks that
//! the hand-over orders the two owners' plain accesses); both freed slots
//! are handed out again before any never-used one; nothing is live at the
//! end. Outcomes that must all occur: the claim was refused, the claim
//! succeeded; the remote free was pushed before the disowned list, and
//! after it; a push lost its CAS to the other and tried again.

#![cfg(loom)]

use appc_engine::loom_paths::Path;
use appc_engine::{CancelOutcome, Engine, Handle, Opcode, Receiver, Target, Verb};
use appc_loom_tests::{same_slot, start, Outcomes, Took};
use loom::thread;

static ADOPT: Outcomes<4> = Outcomes::new([
    "reused a remotely freed slot",
    "took a never-used slot",
    "adopted the shared list",
    "adoption CAS retried",
]);

static DISOWN: Outcomes<5> = Outcomes::new([
    "claim refused",
    "claim succeeded",
    "remote free pushed first",
    "disowned list pushed first",
    "a push retried",
]);

fn submit(engine: &Engine, tag: u64, target: &Target<Verb>) -> Handle {
    engine
        .submit(Verb::new(Opcode::SendData, tag), target)
        .unwrap()
}

/// Cancels `handle` and receives its completion from `rx`, freeing the slot
/// on the calling thread.
fn cancel_and_free(engine: &Engine, rx: &mut Receiver<Verb>, handle: Handle, tag: u64) {
    assert_eq!(engine.cancel(handle), CancelOutcome::Cancelled);
    let done = rx.try_recv().expect("posted before cancel returned");
    assert_eq!((done.handle, done.verb.tag), (handle, tag));
}

#[test]
fn adopt_vs_remote_frees() {
    loom::model(|| {
        let adopted = Took::start(Path::SharedListAdopted);
        let retried = Took::start(Path::AdoptRetried);
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let target = Target::Queue(tx.clone());
        // Two never-used slots, freed by this (remote) thread onto the shared
        // list while the owner, spawned, claims the shard and submits.
        let freed: Vec<Handle> = (1..=2).map(|tag| submit(&engine, tag, &target)).collect();
        let owner = {
            let engine = engine.clone();
            thread::spawn(move || {
                assert!(engine.claim_home_shard(), "nobody owned the shard");
                submit(&engine, 10, &Target::Queue(tx))
            })
        };
        for (tag, &handle) in (1..).zip(&freed) {
            cancel_and_free(&engine, &mut rx, handle, tag);
        }
        let mine = owner.join().unwrap();

        ADOPT.record(if freed.iter().any(|&f| same_slot(f, mine)) {
            "reused a remotely freed slot"
        } else {
            "took a never-used slot"
        });
        if adopted.taken() {
            ADOPT.record("adopted the shared list");
        }
        if retried.taken() {
            ADOPT.record("adoption CAS retried");
        }
        // Whatever the owner did not take is still there: two more tasks
        // find slots, all distinct from the live one.
        let more = [submit(&engine, 11, &target), submit(&engine, 12, &target)];
        for (i, a) in more.iter().enumerate() {
            assert!(!same_slot(*a, mine), "one slot holds two live tasks");
            assert!(!more[i + 1..].iter().any(|b| same_slot(*a, *b)));
        }
        for (handle, tag) in [(mine, 10), (more[0], 11), (more[1], 12)] {
            cancel_and_free(&engine, &mut rx, handle, tag);
        }
        assert!(rx.try_recv().is_none());
        assert_eq!(engine.stats().live_tasks, 0);
    });
    ADOPT.assert_all_seen();
}

#[test]
fn disown_vs_a_remote_free_and_a_claim() {
    loom::model(|| {
        let pushes_retried = Took::start(Path::SharedPushRetried);
        let engine = start();
        assert!(engine.claim_home_shard(), "nobody owned the shard");
        let (remote_tx, remote_rx) = engine.queue();
        let (tx, mut rx) = engine.queue();
        let target = Target::Queue(tx);
        // Slot of `remote_freed`: freed by the remote thread. Slot of
        // `owner_freed`: freed by the owner onto its private list.
        let remote_freed = submit(&engine, 1, &Target::Queue(remote_tx));
        let owner_freed = submit(&engine, 7, &target);
        cancel_and_free(&engine, &mut rx, owner_freed, 7);

        let claimer = {
            let engine = engine.clone();
            let mut remote_rx = remote_rx;
            thread::spawn(move || {
                cancel_and_free(&engine, &mut remote_rx, remote_freed, 1);
                if !engine.claim_home_shard() {
                    return None;
                }
                // The new owner's first allocation runs the owner's path on
                // the list it inherited (plain accesses, ordered after the
                // old owner's by the hand-over), then gives the slot back.
                let (tx, mut rx) = engine.queue();
                let handle = submit(&engine, 20, &Target::Queue(tx));
                cancel_and_free(&engine, &mut rx, handle, 20);
                engine.disown_home_shard();
                Some(handle)
            })
        };
        engine.disown_home_shard();
        let claimed = claimer.join().unwrap();
        DISOWN.record(if claimed.is_some() {
            "claim succeeded"
        } else {
            "claim refused"
        });
        if pushes_retried.taken() {
            DISOWN.record("a push retried");
        }
        if let Some(handle) = claimed {
            assert!(
                same_slot(handle, remote_freed) || same_slot(handle, owner_freed),
                "the new owner took a never-used slot over a freed one"
            );
        }

        // Nobody owns the shard now: the next two tasks pop the shared list,
        // whose top is the push that came last.
        let next = [submit(&engine, 8, &target), submit(&engine, 9, &target)];
        if claimed.is_none() {
            DISOWN.record(if same_slot(next[0], owner_freed) {
                "remote free pushed first"
            } else {
                "disowned list pushed first"
            });
        }
        for freed in [remote_freed, owner_freed] {
            assert!(
                next.iter().any(|&h| same_slot(h, freed)),
                "a freed slot was lost"
            );
        }
        cancel_and_free(&engine, &mut rx, next[0], 8);
        cancel_and_free(&engine, &mut rx, next[1], 9);
        assert_eq!(engine.stats().live_tasks, 0);
    });
    DISOWN.assert_all_seen();
}
