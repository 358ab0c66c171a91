//! The completion-port target (`WinAsyncAPPCIOCP`): two consumer threads
//! dequeue from one port while the main thread completes two tasks posted to
//! it with distinct keys, tokens and byte counts.
//!
//! Each consumer takes one packet: `try_get` first, then a blocking `get`.
//! Asserted in every execution:
//!
//! * both completions are `Delivered` and both consumers return (loom reports
//!   a deadlock on a lost wake-up);
//! * each task's packet is dequeued exactly once, carrying that task's key,
//!   token and byte count untouched, its handle and its finished verb;
//! * nothing is left in the port and no task is live.
//!
//! Outcomes that must all occur: either consumer got the first task's packet;
//! a `try_get` found a packet; a `try_get` found the port empty; and, as the
//! paths taken, a consumer went to sleep in `get` (it set `SLEEPY`, found
//! nothing and waited) and a push found `SLEEPY` and woke it.
//!
//! The completer is the main thread and the consumers are spawned, so that
//! loom moves the consumers' reads before each push (see the crate docs'
//! conventions).

#![cfg(loom)]

use appc_engine::loom_paths::Path;
use appc_engine::{CompleteOutcome, Handle, Opcode, Packet, Port, Target, Verb, AP_OK};
use appc_loom_tests::{start, Outcomes, Took};
use loom::thread;

static PORT: Outcomes<6> = Outcomes::new([
    "consumer 1 got task 1",
    "consumer 2 got task 1",
    "try_get found a packet",
    "try_get found the port empty",
    "a consumer slept",
    "a push woke the sleepers",
]);

/// What each task was posted with: (tag, key, token, bytes).
const POSTED: [(u64, u32, usize, u32); 2] = [(1, 0xA1, 0x1000, 11), (2, 0xB2, 0x2000, 22)];

fn consumer(port: Port<Verb>) -> thread::JoinHandle<Packet<Verb>> {
    thread::spawn(move || match port.try_get() {
        Some(packet) => {
            PORT.record("try_get found a packet");
            packet
        }
        None => {
            PORT.record("try_get found the port empty");
            port.get(None).expect("an untimed get returns a packet")
        }
    })
}

#[test]
fn two_consumers_one_completer() {
    loom::model(|| {
        let slept = Took::start(Path::ConsumerSlept);
        let woke = Took::start(Path::PushWokeSleepers);
        let engine = start();
        let port = engine.port();
        let tasks: Vec<Handle> = POSTED
            .iter()
            .map(|&(tag, key, token, bytes)| {
                let target = Target::Port {
                    port: port.clone(),
                    key,
                    token,
                    bytes,
                };
                engine
                    .submit(Verb::new(Opcode::ReceiveAndWait, tag), &target)
                    .unwrap()
            })
            .collect();

        let consumers = [consumer(port.clone()), consumer(port.clone())];
        for &handle in &tasks {
            let outcome = engine.complete(handle, |verb| verb.secondary_rc = 5);
            assert_eq!(outcome, CompleteOutcome::Delivered);
        }
        let packets = consumers.map(|consumer| consumer.join().unwrap());

        PORT.record(if packets[0].handle == tasks[0] {
            "consumer 1 got task 1"
        } else {
            "consumer 2 got task 1"
        });
        if slept.taken() {
            PORT.record("a consumer slept");
        }
        if woke.taken() {
            PORT.record("a push woke the sleepers");
        }
        for (&handle, &(tag, key, token, bytes)) in tasks.iter().zip(&POSTED) {
            let mut matching = packets.iter().filter(|packet| packet.handle == handle);
            let packet = matching.next().expect("a packet was lost");
            assert!(matching.next().is_none(), "a packet was dequeued twice");
            assert_eq!(
                (packet.key, packet.token, packet.bytes),
                (key, token, bytes)
            );
            assert_eq!(
                (
                    packet.verb.tag,
                    packet.verb.primary_rc,
                    packet.verb.secondary_rc
                ),
                (tag, AP_OK, 5)
            );
        }
        assert!(port.try_get().is_none(), "a packet was left in the port");
        assert_eq!(engine.stats().live_tasks, 0);
    });
    PORT.assert_all_seen();
}
