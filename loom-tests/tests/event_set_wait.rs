//! The event target (`WinAsyncAPPCEx`): a completion publishes its task as
//! `READY` and then signals the event, while a waiter blocks on the event and
//! then collects the verb by handle.
//!
//! The race is between `Event::set` (one swap, then a wake-up under the lock
//! only if someone sleeps) and `Event::wait` (a try, then sleepers + fence +
//! retry before sleeping). Asserted in every execution:
//!
//! * the waiter returns (loom reports a deadlock on a lost wake-up);
//! * once the event is signalled the verb is collectable at the first try,
//!   with the transport's result, and exactly once (`Collected` afterwards);
//! * auto-reset: the wait consumed the only signal; manual-reset: the signal
//!   stays set and wakes every waiter (two waiters there, racing to collect:
//!   exactly one gets the verb, the other `Collected`);
//! * the handle is stale afterwards and no task is live.
//!
//! Outcomes that must occur for each kind of event: the waiter found the
//! event already set; the waiter looked before it was set; and, as the path
//! taken, a waiter went to sleep (it counted itself a sleeper, found no
//! signal and waited, so the wake-up under the lock is what ended the
//! wait).
//!
//! The completer is the main thread and the waiters are spawned, so that loom
//! moves the waiters' reads before the signal (see the crate docs'
//! conventions).

#![cfg(loom)]

use appc_engine::loom_paths::Path;
use appc_engine::{CollectError, CompleteOutcome, Event, Handle, Opcode, Target, Verb, AP_OK};
use appc_loom_tests::{start, Outcomes, Took};
use loom::sync::Arc;
use loom::thread;

static AUTO_RESET: Outcomes<3> =
    Outcomes::new(["set before wait", "wait before set", "a waiter slept"]);
static MANUAL_RESET: Outcomes<3> =
    Outcomes::new(["set before wait", "wait before set", "a waiter slept"]);

const TRANSPORT_RC: u32 = 0x17;

/// Waits for `event`, then collects `handle`: whether the event was already
/// set when the waiter first looked, and what the collect returned.
fn waiter(
    engine: Arc<appc_engine::Engine>,
    event: Event,
    handle: Handle,
) -> thread::JoinHandle<(bool, Result<Verb, CollectError>)> {
    thread::spawn(move || {
        let was_set = event.is_set();
        event.wait();
        (was_set, engine.collect(handle))
    })
}

fn check_collected(verb: &Verb) {
    assert_eq!(
        (verb.opcode, verb.tag, verb.primary_rc, verb.secondary_rc),
        (Opcode::ReceiveAndWait, 5, AP_OK, TRANSPORT_RC)
    );
}

fn complete(engine: &appc_engine::Engine, handle: Handle) {
    let outcome = engine.complete(handle, |verb| {
        verb.primary_rc = AP_OK;
        verb.secondary_rc = TRANSPORT_RC;
    });
    assert_eq!(outcome, CompleteOutcome::Delivered);
}

#[test]
fn auto_reset_event() {
    loom::model(|| {
        let slept = Took::start(Path::EventWaiterSlept);
        let engine = start();
        let event = Event::new(false);
        let handle = engine
            .submit(
                Verb::new(Opcode::ReceiveAndWait, 5),
                &Target::Event(event.clone()),
            )
            .unwrap();
        assert_eq!(engine.collect(handle).unwrap_err(), CollectError::NotReady);

        let waiting = waiter(engine.clone(), event.clone(), handle);
        complete(&engine, handle);
        let (was_set, collected) = waiting.join().unwrap();

        AUTO_RESET.record(if was_set {
            "set before wait"
        } else {
            "wait before set"
        });
        if slept.taken() {
            AUTO_RESET.record("a waiter slept");
        }
        check_collected(&collected.expect("signalled before the verb was ready"));
        assert!(
            !event.try_wait(),
            "the wait did not consume the auto-reset signal"
        );
        assert_eq!(engine.collect(handle).unwrap_err(), CollectError::Collected);
        assert_eq!(engine.stats().live_tasks, 0);
    });
    AUTO_RESET.assert_all_seen();
}

#[test]
fn manual_reset_event_wakes_every_waiter() {
    loom::model(|| {
        let slept = Took::start(Path::EventWaiterSlept);
        let engine = start();
        let event = Event::new(true);
        let handle = engine
            .submit(
                Verb::new(Opcode::ReceiveAndWait, 5),
                &Target::Event(event.clone()),
            )
            .unwrap();

        let waiters = [
            waiter(engine.clone(), event.clone(), handle),
            waiter(engine.clone(), event.clone(), handle),
        ];
        complete(&engine, handle);

        let mut verbs = Vec::new();
        for waiting in waiters {
            let (was_set, collected) = waiting.join().unwrap();
            MANUAL_RESET.record(if was_set {
                "set before wait"
            } else {
                "wait before set"
            });
            match collected {
                Ok(verb) => verbs.push(verb),
                // The task finished (its event is set): the loser must hear
                // that the verb was collected, not that it is not ready.
                Err(error) => assert_eq!(error, CollectError::Collected),
            }
        }
        if slept.taken() {
            MANUAL_RESET.record("a waiter slept");
        }
        assert_eq!(verbs.len(), 1, "the verb was not collected exactly once");
        check_collected(&verbs[0]);
        assert!(
            event.is_set() && event.try_wait(),
            "a manual-reset signal was consumed"
        );
        assert_eq!(engine.collect(handle).unwrap_err(), CollectError::Collected);
        assert_eq!(engine.stats().live_tasks, 0);
    });
    MANUAL_RESET.assert_all_seen();
}
