//! `dashmap::DashMap<u64, _>`: the "concurrent HashMap" answer.
//!
//! Keys come from an `AtomicU64` sequence and are never reused, so a key is a
//! handle that cannot go stale-and-alias: no generation is needed, and a key
//! below the sequence that is absent from the map was issued and consumed.
//! Each operation takes one shard lock of the map.

use super::{Finish, Record, Table};
use appc_engine::Verb;
use dashmap::DashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Requests in a sharded concurrent hash map.
#[derive(Debug, Default)]
pub struct DashMapTable {
    records: DashMap<u64, Record>,
    next: AtomicU64,
}

impl Table for DashMapTable {
    type Handle = u64;

    fn submit(&self, verb: Verb) -> u64 {
        let key = self.next.fetch_add(1, Relaxed);
        self.records.insert(key, Record::pending(verb));
        key
    }

    fn finish(&self, key: u64, primary_rc: u16) -> Finish {
        match self.records.get_mut(&key) {
            Some(mut record) => record.finish(primary_rc),
            None if key < self.next.load(Relaxed) => Finish::Already,
            None => Finish::Invalid,
        }
    }

    fn consume(&self, key: u64) -> Option<Verb> {
        self.records
            .remove_if(&key, |_, record| record.finished)
            .map(|(_, record)| record.verb)
    }
}
