//! The generation-tagged link ids every backend hands out.
//!
//! A [`LinkId`] is `generation << 32 | slot`. A slot's generation is bumped
//! when its link is released, so a stale id never names a newer link; a
//! slot whose generation would wrap is retired instead of reused. Ids are
//! taken and given back when links open and close (rare), so the table
//! sits behind one short mutex, shared by a backend's reactors; everything
//! else about a link is its reactor's alone.

use std::sync::{Mutex, MutexGuard, PoisonError};

use super::LinkId;

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    /// In use (by a link not yet released).
    open: bool,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// The table; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Links {
    table: Mutex<Table>,
}

/// Splits an id into (slot, generation).
pub(crate) fn split(id: LinkId) -> (u32, u32) {
    (id.0 as u32, (id.0 >> 32) as u32)
}

fn join(slot: u32, generation: u32) -> LinkId {
    LinkId(u64::from(generation) << 32 | u64::from(slot))
}

impl Links {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table is consistent after every statement; a panic elsewhere
        // while holding the lock cannot leave it half-updated.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh id for a link (its reactor, `_owner`, keeps everything
    /// else about it).
    pub(crate) fn open(&self, _owner: usize) -> LinkId {
        let mut table = self.lock();
        let index = match table.free.pop() {
            Some(index) => index,
            None => {
                table.slots.push(Slot::default());
                u32::try_from(table.slots.len() - 1).expect("more than 2^32 links")
            }
        };
        let slot = &mut table.slots[index as usize];
        slot.open = true;
        join(index, slot.generation)
    }

    /// Frees `id`'s slot: from now on the id is unknown, for good.
    pub(crate) fn release(&self, id: LinkId) {
        let mut table = self.lock();
        let (index, generation) = split(id);
        let Some(slot) = table
            .slots
            .get_mut(index as usize)
            .filter(|slot| slot.open && slot.generation == generation)
        else {
            return;
        };
        slot.open = false;
        if let Some(next) = slot.generation.checked_add(1) {
            slot.generation = next;
            table.free.push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_reused() {
        let links = Links::new();
        let a = links.open(0);
        links.release(a);
        let b = links.open(0);
        assert_ne!(a, b);
        assert_eq!(split(a).0, split(b).0, "the slot is reused");
        links.release(a);
        let c = links.open(0);
        assert_ne!(split(c).0, split(b).0, "a stale release frees nothing");
    }

    #[test]
    fn a_wrapping_slot_is_retired() {
        let links = Links::new();
        let a = links.open(0);
        links.lock().slots[0].generation = u32::MAX;
        let a = LinkId(a.0 | u64::from(u32::MAX) << 32);
        links.release(a);
        let b = links.open(0);
        assert_eq!(split(b).0, 1);
    }
}
