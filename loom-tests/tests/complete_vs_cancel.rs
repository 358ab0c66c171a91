//! Race: a transport completes a queue task while the application cancels it.
//!
//! Both sides CAS the slot's state word from `PENDING`; exactly one wins.
//! Asserted in every execution:
//!
//! * the outcomes are complementary: `(Delivered, AlreadyCompleted)` or
//!   `(Late, Cancelled)`, nothing else;
//! * a `Cancelled` cancel has already posted its completion: the receiver
//!   gets it at once, before the completer is joined;
//! * exactly one completion arrives, for the task's handle, carrying
//!   `AP_CANCELLED` iff the cancel won and the completer's result iff the
//!   completion won (the loser's update never runs);
//! * afterwards the handle is stale (`AlreadyCompleted` / `Late`) and the
//!   slot is free.
//!
//! Both winners must occur in some execution.

#![cfg(loom)]

use appc_engine::{CancelOutcome, CompleteOutcome, Opcode, Target, Verb, AP_CANCELLED, AP_OK};
use appc_loom_tests::{start, Outcomes};
use loom::thread;

static WINNER: Outcomes<2> = Outcomes::new(["completion won", "cancel won"]);

/// The completer's mark on the verb, so a completion shows who finished it.
const TRANSPORT_RC: u32 = 0x42;

#[test]
fn complete_vs_cancel_on_a_queue_task() {
    loom::model(|| {
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let handle = engine
            .submit(Verb::new(Opcode::ReceiveAndWait, 7), &Target::Queue(tx))
            .unwrap();

        let completer = thread::spawn({
            let engine = engine.clone();
            move || {
                engine.complete(handle, |verb| {
                    verb.primary_rc = AP_OK;
                    verb.secondary_rc = TRANSPORT_RC;
                })
            }
        });

        let cancelled = engine.cancel(handle);
        let early = match cancelled {
            CancelOutcome::Cancelled => Some(
                rx.try_recv()
                    .expect("a Cancelled cancel has posted its completion"),
            ),
            CancelOutcome::AlreadyCompleted => None,
            CancelOutcome::Invalid => panic!("cancel of a live handle returned Invalid"),
        };
        let completed = completer.join().unwrap();

        let cancel_won = match (completed, cancelled) {
            (CompleteOutcome::Delivered, CancelOutcome::AlreadyCompleted) => false,
            (CompleteOutcome::Late, CancelOutcome::Cancelled) => true,
            other => panic!("inconsistent outcomes {other:?}"),
        };
        WINNER.record(if cancel_won {
            "cancel won"
        } else {
            "completion won"
        });

        let done = early.unwrap_or_else(|| rx.try_recv().expect("the completer has delivered"));
        assert!(rx.try_recv().is_none(), "a second completion");
        assert_eq!(done.handle, handle);
        assert_eq!(done.verb.opcode, Opcode::ReceiveAndWait);
        assert_eq!(done.verb.tag, 7);
        if cancel_won {
            assert_eq!(
                (done.verb.primary_rc, done.verb.secondary_rc),
                (AP_CANCELLED, 0)
            );
        } else {
            assert_eq!(
                (done.verb.primary_rc, done.verb.secondary_rc),
                (AP_OK, TRANSPORT_RC)
            );
        }

        assert_eq!(engine.cancel(handle), CancelOutcome::AlreadyCompleted);
        assert_eq!(
            engine.complete(handle, |_| unreachable!()),
            CompleteOutcome::Late
        );
        assert_eq!(engine.stats().live_tasks, 0);
    });
    WINNER.assert_all_seen();
}
