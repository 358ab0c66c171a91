//! An event task's delivery against the slot being freed and re-aimed.
//!
//! A delivery publishes its task `READY` and only then signals the event, so
//! a consumer that polls `collect` (no wait on the event) can take the verb,
//! free the slot, submit a task for another event into that same slot (which
//! lets go of the slot's reference to the first event, see
//! `completion::event`) and drop its own clone, all before the signal. The
//! delivery must signal through a reference of its own, never the slot's.
//!
//! Asserted in every execution: the verb is collected with the transport's
//! result; the new task is pending in the reused slot; nothing else is live;
//! and (loom's own checks) no reference leaks.
//!
//! Outcomes that must occur: the consumer re-aimed the slot before the
//! signal (it found the first event not yet set), and after it.

#![cfg(loom)]

use appc_engine::{CollectError, CompleteOutcome, Event, Opcode, Target, Verb, AP_OK};
use appc_loom_tests::{same_slot, start, Outcomes};
use loom::thread;

static REAIM: Outcomes<2> =
    Outcomes::new(["re-aimed before the signal", "signal before the re-aim"]);

#[test]
fn collect_and_reaim_race_the_signal() {
    loom::model(|| {
        let engine = start();
        let first = Event::new(true);
        let handle = engine
            .submit(
                Verb::new(Opcode::ReceiveAndWait, 5),
                &Target::Event(first.clone()),
            )
            .unwrap();

        let consumer = {
            let engine = engine.clone();
            let first = first.clone();
            thread::spawn(move || {
                let verb = loop {
                    match engine.collect(handle) {
                        Ok(verb) => break verb,
                        Err(CollectError::NotReady) => thread::yield_now(),
                        Err(error) => panic!("collect failed: {error:?}"),
                    }
                };
                assert_eq!(verb.primary_rc, AP_OK);
                let next = engine
                    .submit(
                        Verb::new(Opcode::ReceiveAndWait, 6),
                        &Target::Event(Event::new(false)),
                    )
                    .unwrap();
                assert!(same_slot(handle, next), "the freed slot was not reused");
                let signalled = first.is_set();
                // With the slot re-aimed, this may be the last reference but
                // the delivery's own.
                drop(first);
                (signalled, next)
            })
        };
        // The completer keeps no clone: besides the delivery's own, the
        // consumer's and the slot's are the only references.
        drop(first);
        assert_eq!(
            engine.complete(handle, |verb| verb.primary_rc = AP_OK),
            CompleteOutcome::Delivered
        );
        let (signalled, next) = consumer.join().unwrap();
        REAIM.record(if signalled {
            "signal before the re-aim"
        } else {
            "re-aimed before the signal"
        });
        assert_eq!(engine.stats().live_tasks, 1);
        assert_eq!(engine.cancel(next), appc_engine::CancelOutcome::Cancelled);
    });
    REAIM.assert_all_seen();
}
