//! Race: two threads cancel the same pending queue task.
//!
//! Both CAS the state word from `PENDING`; exactly one wins. Asserted in every
//! execution:
//!
//! * exactly one cancel returns `Cancelled`, the other `AlreadyCompleted`
//!   (never `Invalid`, never two winners);
//! * the winner's completion is posted before its cancel returns (checked at
//!   once when the main thread wins);
//! * exactly one completion arrives, for the handle, with `AP_CANCELLED`;
//! * the slot is free afterwards and the handle stale.
//!
//! Each of the two threads must win in some execution.

#![cfg(loom)]

use appc_engine::{CancelOutcome, Opcode, Target, Verb, AP_CANCELLED};
use appc_loom_tests::{start, Outcomes};
use loom::thread;

static WINNER: Outcomes<2> = Outcomes::new(["spawned thread won", "main thread won"]);

#[test]
fn cancel_vs_cancel_on_a_queue_task() {
    loom::model(|| {
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let handle = engine
            .submit(Verb::new(Opcode::SendData, 3), &Target::Queue(tx))
            .unwrap();

        let other = thread::spawn({
            let engine = engine.clone();
            move || engine.cancel(handle)
        });
        let mine = engine.cancel(handle);
        let early = (mine == CancelOutcome::Cancelled).then(|| {
            rx.try_recv()
                .expect("a Cancelled cancel has posted its completion")
        });
        let theirs = other.join().unwrap();

        match (mine, theirs) {
            (CancelOutcome::Cancelled, CancelOutcome::AlreadyCompleted) => {
                WINNER.record("main thread won")
            }
            (CancelOutcome::AlreadyCompleted, CancelOutcome::Cancelled) => {
                WINNER.record("spawned thread won")
            }
            other => panic!("inconsistent outcomes {other:?}"),
        }

        let done = early.unwrap_or_else(|| rx.try_recv().expect("the winner has posted"));
        assert!(rx.try_recv().is_none(), "a second completion");
        assert_eq!(done.handle, handle);
        assert_eq!(
            (done.verb.opcode, done.verb.tag, done.verb.primary_rc),
            (Opcode::SendData, 3, AP_CANCELLED)
        );
        assert_eq!(engine.cancel(handle), CancelOutcome::AlreadyCompleted);
        assert_eq!(engine.stats().live_tasks, 0);
    });
    WINNER.assert_all_seen();
}
