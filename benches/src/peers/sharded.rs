//! `sharded_slab::Slab`: the lock-free slab from the `tracing` ecosystem.
//!
//! This is the closest peer to the engine's design: per-thread shards,
//! generation-tagged keys, and a finish that is one `get` plus one CAS on an
//! atomic state word, with no lock. The slab hands out shared references
//! only, so the result code lives in the state word itself and is written
//! into the verb when it is taken out. The slab's own generation rejects a
//! stale key, but it cannot tell one from a key it never issued: both are
//! [`Finish::Invalid`].

use super::{Finish, Table};
use appc_engine::Verb;
use sharded_slab::Slab;
use std::fmt;
use std::sync::atomic::{
    AtomicU32,
    Ordering::{AcqRel, Acquire},
};

/// The state word of a pending request; a finished one holds its `primary_rc`.
const PENDING: u32 = u32::MAX;

struct Entry {
    state: AtomicU32,
    verb: Verb,
}

/// Requests in a lock-free sharded slab.
#[derive(Default)]
pub struct ShardedSlab {
    entries: Slab<Entry>,
}

impl fmt::Debug for ShardedSlab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShardedSlab").finish_non_exhaustive()
    }
}

impl Table for ShardedSlab {
    type Handle = usize;

    fn submit(&self, verb: Verb) -> usize {
        let entry = Entry {
            state: AtomicU32::new(PENDING),
            verb,
        };
        self.entries.insert(entry).expect("the slab is full")
    }

    fn finish(&self, key: usize, primary_rc: u16) -> Finish {
        let Some(entry) = self.entries.get(key) else {
            return Finish::Invalid;
        };
        match entry
            .state
            .compare_exchange(PENDING, u32::from(primary_rc), AcqRel, Acquire)
        {
            Ok(_) => Finish::Won,
            Err(_) => Finish::Already,
        }
    }

    fn consume(&self, key: usize) -> Option<Verb> {
        let state = self.entries.get(key)?.state.load(Acquire);
        let primary_rc = u16::try_from(state).ok()?; // None while PENDING
        let mut verb = self.entries.take(key)?.verb;
        verb.primary_rc = primary_rc;
        Some(verb)
    }
}
