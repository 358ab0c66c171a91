//! `parking_lot::Mutex<slab::Slab>`: the first thing most people write.
//!
//! `slab` reuses freed indices, so an index alone cannot tell a request from
//! the one that later took its place. Each slot therefore has a generation,
//! bumped when its record is freed, and a handle is (index, generation) — the
//! same scheme as the engine's handles, behind one lock instead of atomics.
//! Like the engine, a stale handle is told apart from one never issued.

use super::{Finish, Record, Table};
use appc_engine::Verb;
use parking_lot::Mutex;
use slab::Slab;

/// A handle into a [`MutexSlab`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabHandle {
    index: usize,
    generation: u64,
}

/// Requests in a slab behind a mutex.
#[derive(Debug, Default)]
pub struct MutexSlab {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: Slab<Record>,
    /// The current generation of every slot the slab has ever used.
    generations: Vec<u64>,
}

impl Inner {
    /// The record `handle` names, if it is still live.
    fn record(&mut self, handle: SlabHandle) -> Option<&mut Record> {
        if self.generations.get(handle.index) != Some(&handle.generation) {
            return None;
        }
        self.records.get_mut(handle.index)
    }

    /// True if `handle` was issued by this table (and so is stale if it does
    /// not name a live record).
    fn issued(&self, handle: SlabHandle) -> bool {
        self.generations
            .get(handle.index)
            .is_some_and(|&current| handle.generation < current)
    }
}

impl Table for MutexSlab {
    type Handle = SlabHandle;

    fn submit(&self, verb: Verb) -> SlabHandle {
        let mut inner = self.inner.lock();
        let index = inner.records.insert(Record::pending(verb));
        if index == inner.generations.len() {
            inner.generations.push(0);
        }
        SlabHandle {
            index,
            generation: inner.generations[index],
        }
    }

    fn finish(&self, handle: SlabHandle, primary_rc: u16) -> Finish {
        let mut inner = self.inner.lock();
        if let Some(record) = inner.record(handle) {
            return record.finish(primary_rc);
        }
        if inner.issued(handle) {
            Finish::Already
        } else {
            Finish::Invalid
        }
    }

    fn consume(&self, handle: SlabHandle) -> Option<Verb> {
        let mut inner = self.inner.lock();
        if !inner.record(handle)?.finished {
            return None;
        }
        inner.generations[handle.index] += 1;
        Some(inner.records.remove(handle.index).verb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appc_engine::Opcode;

    #[test]
    fn generation_rejects_a_stale_handle_to_a_reused_slot() {
        let table = MutexSlab::default();
        let old = table.submit(Verb::new(Opcode::SendData, 1));
        assert_eq!(table.complete(old), Finish::Won);
        assert!(table.consume(old).is_some());
        let new = table.submit(Verb::new(Opcode::SendData, 2));
        assert_eq!(new.index, old.index, "slab reuses the slot");
        assert_eq!(table.cancel(old), Finish::Already, "stale, not foreign");
        assert_eq!(
            table.complete(new),
            Finish::Won,
            "the new request is untouched"
        );
        let never = SlabHandle {
            index: 0,
            generation: 7,
        };
        assert_eq!(table.cancel(never), Finish::Invalid);
    }
}
