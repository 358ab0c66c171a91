//! Generation wraparound: under `--cfg loom` a handle's generation has two
//! bits, so one slot serves generations 0, 1, 2 and 3 and is then retired
//! (never reused) instead of wrapping back to 0, where its old handles would
//! alias new tasks.
//!
//! Setup, single-threaded: tasks of generations 0, 1 and 2 go through the same
//! slot (submit, complete, receive); after each, every older handle must be
//! stale (`AlreadyCompleted` / `Late`), never `Invalid` and never acting on the
//! current task.
//!
//! Race: the generation-3 task (the slot's last) is completed, received (which
//! retires the slot) and followed by a new submission on the main thread,
//! while a second thread cancels every stale handle of the slot and then the
//! last task's own handle. Asserted in every execution:
//!
//! * the stale cancels all return `AlreadyCompleted`, whatever point of
//!   completion, retirement or resubmission they hit;
//! * the last task's cancel returns `Cancelled` iff the completer was `Late`,
//!   and its single completion carries `AP_CANCELLED` exactly then;
//! * the submission after retirement is accepted, in another slot, at
//!   generation 0, and is undisturbed (still pending, completed normally);
//! * afterwards all four handles of the retired slot stay stale, a further
//!   submission reuses the new slot (generation 1), not the retired one, and
//!   no task is left live.
//!
//! Outcomes of the last task's cancel that must all occur: it won; it lost,
//! having started while the last task was finishing or queued; it started
//! after the slot was retired. The start point is read from a `std` progress
//! counter, and the canceller is the spawned thread so that loom moves its
//! reads across the whole retirement (see the crate docs' conventions).

#![cfg(loom)]

use appc_engine::{
    CancelOutcome, CompleteOutcome, Handle, Opcode, Target, Verb, AP_CANCELLED, AP_OK,
};
use appc_loom_tests::{generation, same_slot, start, Outcomes};
use loom::thread;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

static LAST_CANCEL: Outcomes<3> = Outcomes::new([
    "cancelled",
    "too late, last task finishing or queued",
    "too late, slot retired",
]);

/// How far the main thread got when the canceller started.
static PROGRESS: AtomicU8 = AtomicU8::new(START);
const START: u8 = 0;
const LAST_COMPLETED: u8 = 1;
const RETIRED: u8 = 2;

/// The generation a slot is retired at (a 2-bit generation under loom).
const LAST_GENERATION: u64 = 3;

#[test]
fn a_retired_slot_keeps_its_handles_stale() {
    loom::model(|| {
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let target = Target::Queue(tx);

        PROGRESS.store(START, Relaxed);
        let mut stale: Vec<Handle> = Vec::new();
        for g in 0..LAST_GENERATION {
            let handle = engine
                .submit(Verb::new(Opcode::SendData, g), &target)
                .unwrap();
            assert_eq!(generation(handle), g);
            assert!(
                stale.iter().all(|&old| same_slot(old, handle)),
                "the slot was not reused"
            );
            for &old in &stale {
                assert_eq!(engine.cancel(old), CancelOutcome::AlreadyCompleted);
                assert_eq!(
                    engine.complete(old, |_| unreachable!()),
                    CompleteOutcome::Late
                );
            }
            assert_eq!(engine.complete(handle, |_| {}), CompleteOutcome::Delivered);
            let done = rx.try_recv().unwrap();
            assert_eq!((done.handle, done.verb.tag), (handle, g));
            stale.push(handle);
        }
        let last = engine
            .submit(Verb::new(Opcode::SendData, LAST_GENERATION), &target)
            .unwrap();
        assert_eq!(generation(last), LAST_GENERATION);
        assert!(same_slot(last, stale[0]));

        let canceller = thread::spawn({
            let engine = engine.clone();
            let stale = stale.clone();
            move || {
                let started_at = PROGRESS.load(Relaxed);
                for &old in &stale {
                    assert_eq!(engine.cancel(old), CancelOutcome::AlreadyCompleted);
                }
                (engine.cancel(last), started_at)
            }
        });
        let completed = engine.complete(last, |verb| verb.primary_rc = AP_OK);
        PROGRESS.store(LAST_COMPLETED, Relaxed);
        let done = rx.recv();
        PROGRESS.store(RETIRED, Relaxed);
        let next = engine
            .submit(Verb::new(Opcode::Allocate, 4), &target)
            .unwrap();
        let (cancelled, started_at) = canceller.join().unwrap();

        assert_eq!(done.handle, last);
        match (cancelled, completed) {
            (CancelOutcome::Cancelled, CompleteOutcome::Late) => {
                assert_eq!(done.verb.primary_rc, AP_CANCELLED);
                LAST_CANCEL.record("cancelled");
            }
            (CancelOutcome::AlreadyCompleted, CompleteOutcome::Delivered) => {
                assert_eq!(done.verb.primary_rc, AP_OK);
                LAST_CANCEL.record(match started_at {
                    START | LAST_COMPLETED => "too late, last task finishing or queued",
                    _ => "too late, slot retired",
                });
            }
            other => panic!("inconsistent outcomes {other:?}"),
        }

        // After retirement: a fresh slot, generation 0, undisturbed.
        assert!(!same_slot(next, last), "a retired slot was reused");
        assert_eq!(generation(next), 0);
        assert!(rx.try_recv().is_none(), "a stray completion");
        stale.push(last);
        for &old in &stale {
            assert_eq!(engine.cancel(old), CancelOutcome::AlreadyCompleted);
            assert_eq!(
                engine.complete(old, |_| unreachable!()),
                CompleteOutcome::Late
            );
        }
        assert_eq!(engine.complete(next, |_| {}), CompleteOutcome::Delivered);
        let done = rx.try_recv().unwrap();
        assert_eq!((done.handle, done.verb.opcode), (next, Opcode::Allocate));

        // The new slot is reused, the retired one is not.
        let again = engine
            .submit(Verb::new(Opcode::Deallocate, 5), &target)
            .unwrap();
        assert!(same_slot(again, next));
        assert_eq!(generation(again), 1);
        assert_eq!(engine.cancel(again), CancelOutcome::Cancelled);
        assert_eq!(rx.try_recv().unwrap().handle, again);
        assert_eq!(engine.stats().live_tasks, 0);
    });
    LAST_CANCEL.assert_all_seen();
}
