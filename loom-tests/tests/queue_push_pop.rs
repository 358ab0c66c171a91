//! The intrusive completion queue behind `Target::Queue`.
//!
//! Model 1, push vs pop: two producers (the main thread and a spawned one)
//! complete one task each (each delivery pushes the task's slot onto the
//! queue's Treiber stack) while a consumer thread takes completions with
//! `try_recv` and then blocks in `recv` for the rest (swap of the whole stack,
//! then the sleep / notify protocol).
//! Asserted in every execution: both completes are `Delivered`; each task's
//! completion arrives exactly once, with its own verb; no wake-up is lost
//! (loom reports a deadlock if `recv` never returns); nothing is left queued
//! or live. Outcomes that must all occur: the first `try_recv` found a
//! completion / found the queue empty, and either task's completion came out
//! first; and, as the paths taken, the consumer went to sleep in `recv` (it
//! set `SLEEPY`, found nothing and waited) and a push found `SLEEPY` and
//! woke it.
//!
//! The main thread is a producer, not the consumer, on purpose (see "The
//! writer runs first" in the crate docs): with the consumer first, loom
//! explores no execution where a push precedes its `try_recv`.
//!
//! Model 2, close vs push: the receiver is dropped (closing the queue) while a
//! task is being completed. Either the closer drains the pushed slot or the
//! producer sees the queue closed and frees the slot itself; in every
//! execution the slot is freed (`live_tasks == 0` after the join) and loom
//! finds no leaked `Arc`. Outcomes that must both occur: the slot was already
//! free right after the receiver's drop / it was still live then (the
//! producer had not pushed yet and frees it itself).

#![cfg(loom)]

use appc_engine::loom_paths::Path;
use appc_engine::{CancelOutcome, CompleteOutcome, Event, Handle, Opcode, Target, Verb, AP_OK};
use appc_loom_tests::{same_slot, start, Outcomes, Took};
use loom::thread;

static PUSH_POP: Outcomes<6> = Outcomes::new([
    "try_recv found a completion",
    "try_recv found the queue empty",
    "task 1 came out first",
    "task 2 came out first",
    "the consumer slept",
    "a push woke the consumer",
]);

static CLOSE_PUSH: Outcomes<2> =
    Outcomes::new(["already free after the drop", "still live after the drop"]);

static FREED_UNDER_PUSH: Outcomes<2> = Outcomes::new([
    "queue gone before complete returned",
    "queue gone after complete returned",
]);

#[test]
fn two_producers_one_consumer() {
    loom::model(|| {
        let slept = Took::start(Path::ConsumerSlept);
        let woke = Took::start(Path::PushWokeSleepers);
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let target = Target::Queue(tx);
        let tasks: Vec<Handle> = (1..=2)
            .map(|tag| {
                engine
                    .submit(Verb::new(Opcode::ReceiveAndWait, tag), &target)
                    .unwrap()
            })
            .collect();

        let consumer = thread::spawn(move || {
            let mut received = Vec::new();
            match rx.try_recv() {
                Some(done) => {
                    PUSH_POP.record("try_recv found a completion");
                    received.push(done);
                }
                None => PUSH_POP.record("try_recv found the queue empty"),
            }
            while received.len() < 2 {
                received.push(rx.recv());
            }
            (received, rx)
        });
        let producer = thread::spawn({
            let engine = engine.clone();
            let second = tasks[1];
            move || engine.complete(second, |verb| verb.secondary_rc = 1)
        });
        let first = engine.complete(tasks[0], |verb| verb.secondary_rc = 1);

        assert_eq!(first, CompleteOutcome::Delivered);
        assert_eq!(producer.join().unwrap(), CompleteOutcome::Delivered);
        let (received, mut rx) = consumer.join().unwrap();
        assert!(rx.try_recv().is_none(), "a completion was received twice");
        PUSH_POP.record(if received[0].handle == tasks[0] {
            "task 1 came out first"
        } else {
            "task 2 came out first"
        });
        if slept.taken() {
            PUSH_POP.record("the consumer slept");
        }
        if woke.taken() {
            PUSH_POP.record("a push woke the consumer");
        }
        for (tag, &handle) in (1..).zip(&tasks) {
            let mut matching = received.iter().filter(|done| done.handle == handle);
            let done = matching.next().expect("a completion was lost");
            assert!(matching.next().is_none(), "a completion was received twice");
            assert_eq!(
                (done.verb.tag, done.verb.primary_rc, done.verb.secondary_rc),
                (tag, AP_OK, 1)
            );
        }
        assert_eq!(engine.stats().live_tasks, 0);
    });
    PUSH_POP.assert_all_seen();
}

#[test]
fn receiver_dropped_during_a_completion() {
    loom::model(|| {
        let engine = start();
        let (tx, rx) = engine.queue();
        let handle = engine
            .submit(Verb::new(Opcode::ReceiveAndWait, 1), &Target::Queue(tx))
            .unwrap();

        let producer = thread::spawn({
            let engine = engine.clone();
            move || engine.complete(handle, |_| {})
        });
        drop(rx);
        CLOSE_PUSH.record(match engine.stats().live_tasks {
            0 => "already free after the drop",
            _ => "still live after the drop",
        });
        assert_eq!(producer.join().unwrap(), CompleteOutcome::Delivered);
        assert_eq!(
            engine.stats().live_tasks,
            0,
            "the closed queue leaked a slot"
        );
    });
    CLOSE_PUSH.assert_all_seen();
}

/// Model 3, the queue freed under a push: the consumer receives the only
/// task, drops the receiver and submits a task for an event, which reuses
/// the slot and so drops the slot's reference to the queue, its last one,
/// while the completer may still be inside its push, waking the consumer.
/// The push must not touch the queue after its CAS; the wake-up uses the
/// pusher's own reference to the sleepers' lock. Asserted: the completion
/// arrives once with its verb, the slot was reused, and only the new task
/// is live afterwards. Outcomes that must both occur: the queue was gone
/// before `complete` returned / after.
#[test]
fn queue_freed_while_its_pusher_wakes_the_consumer() {
    loom::model(|| {
        let engine = start();
        let (tx, mut rx) = engine.queue();
        let handle = engine
            .submit(Verb::new(Opcode::ReceiveAndWait, 3), &Target::Queue(tx))
            .unwrap();
        let gone = std::sync::Arc::new(loom::sync::atomic::AtomicBool::new(false));

        let consumer = thread::spawn({
            let gone = gone.clone();
            let engine = engine.clone();
            move || {
                let done = rx.recv();
                drop(rx);
                let next = engine
                    .submit(
                        Verb::new(Opcode::ReceiveAndWait, 4),
                        &Target::Event(Event::new(false)),
                    )
                    .unwrap();
                assert!(same_slot(done.handle, next), "the slot was not reused");
                gone.store(true, std::sync::atomic::Ordering::SeqCst);
                (done, next)
            }
        });
        assert_eq!(
            engine.complete(handle, |verb| verb.secondary_rc = 1),
            CompleteOutcome::Delivered
        );
        FREED_UNDER_PUSH.record(if gone.load(std::sync::atomic::Ordering::SeqCst) {
            "queue gone before complete returned"
        } else {
            "queue gone after complete returned"
        });
        let (done, next) = consumer.join().unwrap();
        assert_eq!(done.handle, handle);
        assert_eq!((done.verb.tag, done.verb.secondary_rc), (3, 1));
        assert_eq!(engine.stats().live_tasks, 1);
        assert_eq!(engine.cancel(next), CancelOutcome::Cancelled);
    });
    FREED_UNDER_PUSH.assert_all_seen();
}
