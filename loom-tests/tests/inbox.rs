//! The inbox (`appc_engine::inbox`): pushes from other threads against the
//! consumer's pop, and against the consumer going to sleep.
//!
//! Asserted in every execution: every item pushed is popped exactly once,
//! in each producer's order; a consumer that went to sleep is told to be
//! woken by exactly the push that found it asleep, and a push that found it
//! awake never asks for a wake-up (no wake-up lost, none spent on an awake
//! consumer).
//!
//! Outcomes that must all occur: the pop found the item / found nothing yet
//! (the push not published); the consumer slept and the push woke it / the
//! push came first and the consumer did not sleep.

#![cfg(loom)]

use appc_engine::inbox::{inbox, Pushed};
use appc_loom_tests::Outcomes;
use loom::thread;

static POP: Outcomes<2> = Outcomes::new(["popped it", "nothing yet"]);
static SLEEP: Outcomes<2> = Outcomes::new(["slept, woken by the push", "did not sleep"]);

#[test]
fn push_vs_pop() {
    loom::model(|| {
        let (inbox, mut consumer) = inbox::<u32>(2);
        let popper = thread::spawn(move || {
            let first = consumer.pop();
            (first, consumer)
        });
        assert_eq!(inbox.push(7), Ok(Pushed::Queued));
        let (first, mut consumer) = popper.join().unwrap();
        match first {
            Some(item) => {
                assert_eq!(item, 7);
                POP.record("popped it");
            }
            None => {
                assert_eq!(consumer.pop(), Some(7), "published once joined");
                POP.record("nothing yet");
            }
        }
        assert_eq!(consumer.pop(), None, "popped exactly once");
    });
    POP.assert_all_seen();
}

#[test]
fn push_vs_sleep() {
    loom::model(|| {
        let (inbox, mut consumer) = inbox::<u32>(2);
        let sleeper = thread::spawn(move || {
            let slept = consumer.sleep();
            (slept, consumer)
        });
        let pushed = inbox.push(1).expect("room");
        let (slept, mut consumer) = sleeper.join().unwrap();
        match (slept, pushed) {
            (true, Pushed::Wake) => SLEEP.record("slept, woken by the push"),
            (false, Pushed::Queued) => SLEEP.record("did not sleep"),
            (true, Pushed::Queued) => panic!("the consumer sleeps and nobody wakes it"),
            (false, Pushed::Wake) => panic!("a wake-up for a consumer that is awake"),
        }
        assert_eq!(consumer.pop(), Some(1));
    });
    SLEEP.assert_all_seen();
}

#[test]
fn two_producers_and_the_consumer() {
    loom::model(|| {
        let (inbox, mut consumer) = inbox::<(u8, u8)>(4);
        let other = {
            let inbox = inbox.clone();
            thread::spawn(move || {
                for i in 0..2 {
                    assert!(inbox.push((1, i)).is_ok());
                }
            })
        };
        let popper = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..2 {
                if let Some(item) = consumer.pop() {
                    got.push(item);
                }
            }
            (got, consumer)
        });
        assert!(inbox.push((0, 0)).is_ok());
        other.join().unwrap();
        let (mut got, mut consumer) = popper.join().unwrap();
        while let Some(item) = consumer.pop() {
            got.push(item);
        }
        assert_eq!(got.len(), 3, "each item once: {got:?}");
        let ones: Vec<u8> = got
            .iter()
            .filter(|(p, _)| *p == 1)
            .map(|(_, i)| *i)
            .collect();
        assert_eq!(ones, [0, 1], "a producer's items in its order");
    });
}
