//! Race (ABA): a stale cancel against the reuse of its slot.
//!
//! The main thread completes task A, consumes A's completion (which frees A's
//! slot) and submits task B, which reuses that very slot at the next
//! generation. Meanwhile a second thread cancels A's handle. The state word
//! carries the generation, so the cancel can only ever act on A.
//!
//! Asserted in every execution:
//!
//! * B reuses A's slot (same index, shard and engine bits, another
//!   generation), so the model really exercises reuse;
//! * the stale cancel returns `Cancelled` only if it beat A's completion
//!   (the completer then got `Late` and A's completion carries
//!   `AP_CANCELLED`), and `AlreadyCompleted` otherwise; never `Invalid`;
//! * B is never disturbed: it is still pending after the race (its
//!   completion is `Delivered`), exactly one completion arrives for it, with
//!   the transport's result, and no stray completion arrives;
//! * every slot is free at the end.
//!
//! Outcomes that must all occur: the cancel won against A's completion; it
//! lost, having started while A was finishing or queued; while A's slot was
//! freed and being reused for B; after B was pending in A's slot. Where the
//! cancel started is read from a `std` progress counter the main thread
//! advances, and the reuser is the main thread so that loom moves the cancel's
//! reads across the whole reuse (see the crate docs' conventions).

#![cfg(loom)]

use appc_engine::{CancelOutcome, CompleteOutcome, Opcode, Target, Verb, AP_CANCELLED, AP_OK};
use appc_loom_tests::{generation, same_slot, start, Outcomes};
use loom::thread;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

static STALE_CANCEL: Outcomes<4> = Outcomes::new([
    "cancelled A",
    "too late, A finishing or queued",
    "too late, A's slot freed or being reused",
    "too late, B pending in A's slot",
]);

/// How far the main thread got when the cancel started.
static PROGRESS: AtomicU8 = AtomicU8::new(START);
const START: u8 = 0;
const A_COMPLETED: u8 = 1;
const A_CONSUMED: u8 = 2;
const B_SUBMITTED: u8 = 3;

#[test]
fn stale_cancel_never_touches_the_slot_s_next_task() {
    loom::model(|| {
        PROGRESS.store(START, Relaxed);
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let target = Target::Queue(tx);
        let a = engine
            .submit(Verb::new(Opcode::ReceiveAndWait, 1), &target)
            .unwrap();

        let canceller = thread::spawn({
            let engine = engine.clone();
            move || {
                let started_at = PROGRESS.load(Relaxed);
                (engine.cancel(a), started_at)
            }
        });
        let completed = engine.complete(a, |verb| verb.primary_rc = AP_OK);
        PROGRESS.store(A_COMPLETED, Relaxed);
        let first = rx.recv();
        PROGRESS.store(A_CONSUMED, Relaxed);
        let b = engine
            .submit(Verb::new(Opcode::SendData, 2), &target)
            .unwrap();
        PROGRESS.store(B_SUBMITTED, Relaxed);
        let (stale, started_at) = canceller.join().unwrap();

        assert!(same_slot(a, b), "B did not reuse A's slot");
        assert_eq!((generation(a), generation(b)), (0, 1));
        assert_eq!(first.handle, a);
        assert_eq!(first.verb.tag, 1);
        match (stale, completed) {
            (CancelOutcome::Cancelled, CompleteOutcome::Late) => {
                assert_eq!(first.verb.primary_rc, AP_CANCELLED);
                STALE_CANCEL.record("cancelled A");
            }
            (CancelOutcome::AlreadyCompleted, CompleteOutcome::Delivered) => {
                assert_eq!(first.verb.primary_rc, AP_OK);
                STALE_CANCEL.record(match started_at {
                    START | A_COMPLETED => "too late, A finishing or queued",
                    A_CONSUMED => "too late, A's slot freed or being reused",
                    _ => "too late, B pending in A's slot",
                });
            }
            other => panic!("inconsistent outcomes {other:?}"),
        }

        // B was left pending: the transport still completes it.
        assert!(rx.try_recv().is_none(), "a stray completion");
        assert_eq!(engine.cancel(a), CancelOutcome::AlreadyCompleted);
        assert_eq!(
            engine.complete(b, |verb| verb.secondary_rc = 9),
            CompleteOutcome::Delivered
        );
        let second = rx.try_recv().expect("B's completion");
        assert_eq!(second.handle, b);
        assert_eq!(
            (
                second.verb.opcode,
                second.verb.tag,
                second.verb.primary_rc,
                second.verb.secondary_rc
            ),
            (Opcode::SendData, 2, AP_OK, 9)
        );
        assert!(rx.try_recv().is_none(), "a second completion for B");
        assert_eq!(engine.stats().live_tasks, 0);
    });
    STALE_CANCEL.assert_all_seen();
}
