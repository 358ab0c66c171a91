//! Race: a task is finished by a thread that learned its handle through a
//! channel carrying no synchronization (a relaxed atomic), while the
//! submitter cancels it.
//!
//! Nothing but the slot's state word orders the submitter's writes of the verb
//! and the target against the finisher's reads and writes of them: the claim
//! (`FREE -> PENDING`) must release them and the finishing CAS acquire them.
//! Loom checks every access to those cells, so a claim that published nothing
//! would show up as a data race. Asserted in every execution:
//!
//! * no data race on the slot's cells (loom);
//! * the cancel and the completion are complementary (`Cancelled` iff the
//!   completer was `Late` or did not see the task);
//! * exactly one completion arrives, carrying the verb as submitted plus the
//!   winner's result;
//! * no task is live at the end.
//!
//! A relaxed hand-off is no happens-before edge, so the completer may read the
//! handle and still see the slot as it was before the submission (not yet
//! allocated, or `FREE`): `complete` then answers `Invalid`, which the model
//! accepts as "task not seen yet", like not seeing the handle at all. It
//! never sees a half-published task: if it reads the claimed state word, the
//! claim's release makes the verb and target visible.
//!
//! Outcomes that must all occur: the completer did not see the task yet; the
//! completion won; the cancel won.

#![cfg(loom)]

use appc_engine::{
    CancelOutcome, CompleteOutcome, Handle, Opcode, Target, Verb, AP_CANCELLED, AP_OK,
};
use appc_loom_tests::{start, Outcomes};
use loom::sync::atomic::{AtomicU64, Ordering::Relaxed};
use loom::sync::Arc;
use loom::thread;

static RACE: Outcomes<3> = Outcomes::new(["task not seen yet", "completion won", "cancel won"]);

const TRANSPORT_RC: u32 = 0x33;

#[test]
fn a_handle_passed_without_synchronization() {
    loom::model(|| {
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let mailbox = Arc::new(AtomicU64::new(0));

        let completer = thread::spawn({
            let engine = engine.clone();
            let mailbox = mailbox.clone();
            move || {
                Handle::from_raw(mailbox.load(Relaxed))
                    .map(|handle| engine.complete(handle, |verb| verb.secondary_rc = TRANSPORT_RC))
            }
        });
        let handle = engine
            .submit(Verb::new(Opcode::Allocate, 6), &Target::Queue(tx))
            .unwrap();
        mailbox.store(handle.raw(), Relaxed);
        let cancelled = engine.cancel(handle);
        let completed = completer.join().unwrap();

        let cancel_won = match (completed, cancelled) {
            (None | Some(CompleteOutcome::Invalid), CancelOutcome::Cancelled) => {
                RACE.record("task not seen yet");
                true
            }
            (Some(CompleteOutcome::Late), CancelOutcome::Cancelled) => {
                RACE.record("cancel won");
                true
            }
            (Some(CompleteOutcome::Delivered), CancelOutcome::AlreadyCompleted) => {
                RACE.record("completion won");
                false
            }
            other => panic!("inconsistent outcomes {other:?}"),
        };
        let done = rx.try_recv().expect("the winner has posted");
        assert!(rx.try_recv().is_none(), "a second completion");
        assert_eq!(done.handle, handle);
        assert_eq!((done.verb.opcode, done.verb.tag), (Opcode::Allocate, 6));
        let expected_rc = if cancel_won {
            (AP_CANCELLED, 0)
        } else {
            (AP_OK, TRANSPORT_RC)
        };
        assert_eq!((done.verb.primary_rc, done.verb.secondary_rc), expected_rc);
        assert_eq!(engine.stats().live_tasks, 0);
    });
    RACE.assert_all_seen();
}
