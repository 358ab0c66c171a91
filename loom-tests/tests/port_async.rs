//! A port awaited from async code ([`Port::poll_get`]): a consumer task
//! polls the port while the main thread completes two tasks posted to it.
//! The consumer is run by loom's `block_on`, which parks the thread until
//! the task's waker is woken: a wake-up lost between the consumer's second
//! look and a push is a deadlock loom reports.
//!
//! Asserted in every execution: both packets are taken, each once, in
//! order; nothing is left in the port and no task is live.
//!
//! Outcomes that must all occur: the first poll found a packet; the first
//! poll registered the waker and a push woke it; a poll after a wake found
//! the second packet already there.

#![cfg(loom)]

use appc_engine::{CompleteOutcome, Handle, Opcode, Port, Target, Verb};
use appc_loom_tests::{start, Outcomes};
use loom::thread;
use std::future::poll_fn;
use std::task::Poll;

static ASYNC: Outcomes<3> = Outcomes::new([
    "the first poll found a packet",
    "the first poll waited and was woken",
    "a later poll found the second packet there",
]);

/// Takes two packets, recording how the first poll of each went.
fn consumer(port: Port<Verb>) -> thread::JoinHandle<[Handle; 2]> {
    thread::spawn(move || {
        loom::future::block_on(async move {
            let mut got = Vec::new();
            for n in 0..2 {
                let mut first = true;
                let packet = poll_fn(|cx| {
                    let polled = port.poll_get(cx);
                    match (&polled, first, n) {
                        (Poll::Ready(_), true, 0) => ASYNC.record("the first poll found a packet"),
                        (Poll::Ready(_), false, 0) => {
                            ASYNC.record("the first poll waited and was woken")
                        }
                        (Poll::Ready(_), true, 1) => {
                            ASYNC.record("a later poll found the second packet there")
                        }
                        _ => {}
                    }
                    first = false;
                    polled
                })
                .await;
                got.push(packet.handle);
            }
            [got[0], got[1]]
        })
    })
}

#[test]
fn an_async_consumer_and_a_completer() {
    loom::model(|| {
        let engine = start();
        let port = engine.port();
        let target = Target::Port {
            port: port.clone(),
            key: 0,
            token: 0,
            bytes: 0,
        };
        let tasks: Vec<Handle> = (1..=2)
            .map(|tag| {
                engine
                    .submit(Verb::new(Opcode::ReceiveAndWait, tag), &target)
                    .unwrap()
            })
            .collect();
        let consumer = consumer(port.clone());
        for &handle in &tasks {
            let outcome = engine.complete(handle, |verb| verb.secondary_rc = 5);
            assert_eq!(outcome, CompleteOutcome::Delivered);
        }
        let got = consumer.join().unwrap();
        assert_eq!(got, [tasks[0], tasks[1]], "each packet once, in order");
        assert!(port.try_get().is_none(), "a packet was left in the port");
        assert_eq!(engine.stats().live_tasks, 0);
    });
    ASYNC.assert_all_seen();
}
