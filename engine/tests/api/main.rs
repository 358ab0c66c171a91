//! The engine's documented behaviour, one contract per test: startup
//! versions, every completion target, the three cancel outcomes (including
//! after the completion was consumed and the slot reused), bad input, and
//! cleanup.
//!
//! One test binary, by topic: `targets` (queues, ports, events, futures
//! and what each does with its completions) and `tasks` (startup, cancel
//! outcomes, handles good and bad, the table's capacity, reservations,
//! cleanup, per-thread slots, stats). The helpers they share are here.

mod targets;
mod tasks;

use appc_engine::{Engine, Opcode, Verb, WINAPPC_VERSION};

fn engine() -> Engine {
    Engine::startup(WINAPPC_VERSION)
        .expect("1.0 is supported")
        .0
}

fn verb(tag: u64) -> Verb {
    Verb::new(Opcode::ReceiveAndWait, tag)
}
