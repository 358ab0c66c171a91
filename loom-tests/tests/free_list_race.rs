//! Race: two threads allocate slots from one shard's free list while one of
//! them also frees a slot (the classic ABA of a Treiber stack).
//!
//! Setup: tasks in slots 0 and 1 are finished and received, so the shard's free
//! list holds both slots (and, under loom, every thread allocates from shard
//! 0). Then a spawned thread submits X while the main thread submits Y and Z
//! and finishes and receives Y, pushing Y's slot back. If X's pop read the
//! head and its successor before all that and its CAS still succeeded, the
//! list head would name Z's slot, which is in use. The free list's ABA counter
//! makes that CAS fail.
//!
//! Asserted in every execution: X, Z and a task W submitted after the join
//! are in three distinct slots (a slot handed out twice would alias two live
//! tasks); each of them is then cancelled and delivers exactly one completion
//! carrying its own verb; no task is live at the end.
//!
//! Outcomes that must all occur: X got slot 1 (the free list's head), slot 0,
//! or a never-used slot (the main thread had emptied the free list); and, as
//! the path taken, X's pop lost its CAS to the main thread's pops and pushes
//! and tried again (the ABA counter at work, or a plain lost race).

#![cfg(loom)]

use appc_engine::loom_paths::Path;
use appc_engine::{CancelOutcome, CompleteOutcome, Handle, Opcode, Target, Verb};
use appc_loom_tests::{same_slot, start, Outcomes, Took};
use loom::thread;

static X_SLOT: Outcomes<4> = Outcomes::new([
    "slot 1",
    "slot 0",
    "a never-used slot",
    "a pop retried its CAS",
]);

#[test]
fn concurrent_pops_and_a_push() {
    loom::model(|| {
        let retried = Took::start(Path::SharedPopRetried);
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let target = Target::Queue(tx.clone());
        let submit = |tag| {
            engine
                .submit(Verb::new(Opcode::SendData, tag), &target)
                .unwrap()
        };

        // Slots 0 and 1 used once and freed: the free list is [1, 0].
        let used: Vec<Handle> = (0..2).map(submit).collect();
        for &handle in &used {
            assert_eq!(engine.cancel(handle), CancelOutcome::Cancelled);
            assert_eq!(rx.try_recv().unwrap().handle, handle);
        }

        let other = thread::spawn({
            let engine = engine.clone();
            let target = Target::Queue(tx);
            move || {
                engine
                    .submit(Verb::new(Opcode::SendData, 10), &target)
                    .unwrap()
            }
        });
        let y = submit(11);
        let z = submit(12);
        assert_eq!(engine.complete(y, |_| {}), CompleteOutcome::Delivered);
        assert_eq!(rx.try_recv().unwrap().handle, y);
        let x = other.join().unwrap();

        X_SLOT.record(if same_slot(x, used[1]) {
            "slot 1"
        } else if same_slot(x, used[0]) {
            "slot 0"
        } else {
            "a never-used slot"
        });
        if retried.taken() {
            X_SLOT.record("a pop retried its CAS");
        }
        let w = submit(13);
        let live = [(x, 10), (z, 12), (w, 13)];
        for (i, &(a, _)) in live.iter().enumerate() {
            for &(b, _) in &live[i + 1..] {
                assert!(
                    !same_slot(a, b),
                    "one slot holds two live tasks: {a:?} {b:?}"
                );
            }
        }
        for &(handle, tag) in &live {
            assert_eq!(engine.cancel(handle), CancelOutcome::Cancelled);
            let done = rx.try_recv().unwrap();
            assert_eq!((done.handle, done.verb.tag), (handle, tag));
        }
        assert!(rx.try_recv().is_none());
        assert_eq!(engine.stats().live_tasks, 0);
    });
    X_SLOT.assert_all_seen();
}
