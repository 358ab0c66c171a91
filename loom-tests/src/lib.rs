//! Loom models of the engine's concurrent protocols live in `tests/`, one
//! file per race. Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p appc-loom-tests --release
//! ```
//!
//! Under `--cfg loom` the engine's handles shrink (8 slots per shard, 2 shards,
//! 2-bit generations) and its table pages start at 2 slots, so the models reach
//! slot reuse, generation retirement and page growth in a few operations.
//!
//! This library holds what the models share:
//!
//! * [`Outcomes`], a record kept *outside* the model (plain `std` atomics,
//!   invisible to loom) of which outcomes of a race some execution produced.
//!   Each model asserts, after `loom::model` returns, that every outcome of
//!   its race occurred at least once: a model whose race always goes the same
//!   way explores nothing.
//! * [`same_slot`] and [`generation`], which read a handle's documented
//!   layout (slot bits in the low half, generation in the high half) so that
//!   models can check slot reuse and retirement.
//! * Under `--cfg loom`, `start`, the engine every model runs against, and
//!   `Took`, which tells whether an execution took one of the engine's rarer
//!   paths (`appc_engine::loom_paths`: a waiter slept, a CAS lost and tried
//!   again, a dropped future's task was cancelled). A model that records
//!   where its threads *started* shows only that loom reordered them;
//!   recording the path *taken* shows that the race reached each branch.
//!
//! # Conventions of the models
//!
//! **The writer runs first.** Loom 0.7's DPOR remembers, per atomic, only the
//! last access and the last store. A thread's store or CAS is compared with
//! the last access, which is often the same thread's own preceding load, so a
//! load-then-CAS sequence (every CAS loop in the engine) is never seen to race
//! with *another* thread's earlier plain load (loom issue #166), and the
//! interleavings where the CAS comes first are not explored. A later load, on
//! the other hand, is always compared with the last store and backtracked to
//! before it. So in each model the thread whose writes the race is about
//! (completer, reuser, producer) is the main thread, which loom runs first,
//! and the thread that observes them (canceller, waiter, consumer, dropper)
//! is spawned: loom then moves the observer's reads back across every write.
//! The outcome records check that this works.
//!
//! **Where a thread started** is sometimes part of an outcome. Loom runs one
//! thread at a time, so a plain `std` progress counter that one thread
//! advances and another reads shows the real order of the execution without
//! adding synchronization to the model.

use appc_engine::Handle;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// The handle bits naming a slot: index, shard and engine tag.
const SLOT_BITS: u64 = 0xFFFF_FFFF;
/// Where the generation starts in a handle.
const GENERATION_SHIFT: u32 = 32;

/// True if the two handles name the same slot (at any generations).
pub fn same_slot(a: Handle, b: Handle) -> bool {
    a.raw() & SLOT_BITS == b.raw() & SLOT_BITS
}

/// The slot generation a handle was issued at.
pub fn generation(handle: Handle) -> u64 {
    handle.raw() >> GENERATION_SHIFT
}

/// The outcomes of one race, and which of them some execution produced.
#[derive(Debug)]
pub struct Outcomes<const N: usize> {
    names: [&'static str; N],
    seen: [AtomicBool; N],
}

impl<const N: usize> Outcomes<N> {
    /// A record of the outcomes `names`, none seen yet.
    pub const fn new(names: [&'static str; N]) -> Self {
        Self {
            names,
            seen: [const { AtomicBool::new(false) }; N],
        }
    }

    /// Records that an execution produced outcome `name`.
    ///
    /// # Panics
    /// If `name` is not one of the outcomes this record was made with.
    pub fn record(&self, name: &str) {
        let index = self
            .names
            .iter()
            .position(|n| *n == name)
            .unwrap_or_else(|| {
                panic!("unknown outcome {name:?}; expected one of {:?}", self.names)
            });
        self.seen[index].store(true, Relaxed);
    }

    /// Panics unless every outcome was recorded at least once.
    pub fn assert_all_seen(&self) {
        let missing: Vec<&str> = self
            .names
            .iter()
            .zip(&self.seen)
            .filter(|(_, seen)| !seen.load(Relaxed))
            .map(|(name, _)| *name)
            .collect();
        assert!(
            missing.is_empty(),
            "no execution produced the outcome(s) {missing:?}"
        );
    }
}

/// A fresh engine (`WinAPPCStartup` 1.0) shared through loom's `Arc`.
#[cfg(loom)]
pub fn start() -> loom::sync::Arc<appc_engine::Engine> {
    let (engine, _) = appc_engine::Engine::startup(appc_engine::WINAPPC_VERSION)
        .expect("version 1.0 is supported");
    loom::sync::Arc::new(engine)
}

/// Whether the current execution took `path` since [`Took::start`].
#[cfg(loom)]
#[derive(Debug)]
pub struct Took {
    path: appc_engine::loom_paths::Path,
    before: u64,
}

#[cfg(loom)]
impl Took {
    /// Starts watching `path` (call it at the start of the execution).
    pub fn start(path: appc_engine::loom_paths::Path) -> Self {
        Self {
            path,
            before: appc_engine::loom_paths::hits(path),
        }
    }

    /// True if `path` was taken since [`Took::start`].
    pub fn taken(&self) -> bool {
        appc_engine::loom_paths::hits(self.path) > self.before
    }
}

#[cfg(test)]
mod tests {
    use super::{generation, same_slot, Outcomes};
    use appc_engine::Handle;

    #[test]
    fn handle_layout() {
        let a = Handle::from_raw(0x0000_0002_0100_0005).unwrap();
        let b = Handle::from_raw(0x0000_0003_0100_0005).unwrap();
        let c = Handle::from_raw(0x0000_0002_0100_0006).unwrap();
        assert!(same_slot(a, b));
        assert!(!same_slot(a, c));
        assert_eq!((generation(a), generation(b)), (2, 3));
    }

    #[test]
    fn all_seen_passes_only_when_every_outcome_was_recorded() {
        let outcomes = Outcomes::new(["a", "b"]);
        outcomes.record("a");
        let missing = std::panic::catch_unwind(|| outcomes.assert_all_seen());
        assert!(missing.is_err());
        outcomes.record("b");
        outcomes.assert_all_seen();
    }

    #[test]
    #[should_panic(expected = "unknown outcome")]
    fn unknown_outcomes_are_refused() {
        Outcomes::new(["a"]).record("c");
    }
}
