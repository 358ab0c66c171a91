//! The generation-tagged link table every backend shares with its callers.
//!
//! [`Backend::send`](super::Backend::send) must answer `NotConnected` or
//! `WouldBlock` synchronously, on the caller's thread, while the socket
//! itself lives on a reactor thread. So the facts a caller needs (is this id
//! live, which reactor owns it, how many bytes are queued for it) live here,
//! behind one short mutex, and everything else stays reactor-local.
//!
//! A [`LinkId`] is `generation << 32 | slot`. A slot's generation is bumped
//! when its link is released, so a stale id never names a newer link; a slot
//! whose generation would wrap is retired instead of reused.

use std::io;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::LinkId;

/// Where a link is in its life, as callers see it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    /// Not in use (or retired).
    #[default]
    Free,
    /// Up or connecting: `send` and `close` are accepted.
    Open,
    /// `close` was called; the reactor has not reported `closed` yet.
    Closing,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    state: State,
    /// Index of the reactor thread that owns the socket.
    owner: usize,
    /// Bytes accepted by `send` and not yet written to the socket.
    queued: usize,
}

#[derive(Debug, Default)]
struct Table {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

/// The table; see the module docs.
#[derive(Debug)]
pub(crate) struct Links {
    table: Mutex<Table>,
    max_queued: usize,
}

/// Splits an id into (slot, generation).
pub(crate) fn split(id: LinkId) -> (u32, u32) {
    (id.0 as u32, (id.0 >> 32) as u32)
}

fn join(slot: u32, generation: u32) -> LinkId {
    LinkId(u64::from(generation) << 32 | u64::from(slot))
}

fn not_connected() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "link is closed or unknown")
}

impl Links {
    pub(crate) fn new(max_queued: usize) -> Self {
        Self {
            table: Mutex::new(Table::default()),
            max_queued,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table is consistent after every statement; a panic elsewhere
        // while holding the lock cannot leave it half-updated.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Allocates a fresh id for a link owned by reactor `owner`.
    pub(crate) fn open(&self, owner: usize) -> LinkId {
        let mut table = self.lock();
        let index = match table.free.pop() {
            Some(index) => index,
            None => {
                table.slots.push(Slot::default());
                u32::try_from(table.slots.len() - 1).expect("more than 2^32 links")
            }
        };
        let slot = &mut table.slots[index as usize];
        slot.state = State::Open;
        slot.owner = owner;
        slot.queued = 0;
        join(index, slot.generation)
    }

    fn slot(table: &mut Table, id: LinkId) -> Option<&mut Slot> {
        let (index, generation) = split(id);
        table
            .slots
            .get_mut(index as usize)
            .filter(|slot| slot.generation == generation && slot.state != State::Free)
    }

    /// Accounts `len` more queued bytes for `id`; returns its owner.
    pub(crate) fn admit(&self, id: LinkId, len: usize) -> io::Result<usize> {
        let mut table = self.lock();
        let slot = Self::slot(&mut table, id)
            .filter(|slot| slot.state == State::Open)
            .ok_or_else(not_connected)?;
        if slot.queued >= self.max_queued {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "link send queue is full",
            ));
        }
        slot.queued += len;
        Ok(slot.owner)
    }

    /// `n` queued bytes of `id` reached the socket (or were dropped).
    pub(crate) fn sent(&self, id: LinkId, n: usize) {
        if let Some(slot) = Self::slot(&mut self.lock(), id) {
            slot.queued = slot.queued.saturating_sub(n);
        }
    }

    /// Bytes queued for `id` (0 if it is not open or closing).
    pub(crate) fn queued(&self, id: LinkId) -> usize {
        Self::slot(&mut self.lock(), id).map_or(0, |slot| slot.queued)
    }

    /// Marks `id` closing; returns its owner if it was open (so the caller
    /// posts exactly one close request), `None` if closed or unknown.
    pub(crate) fn begin_close(&self, id: LinkId) -> Option<usize> {
        let mut table = self.lock();
        let slot = Self::slot(&mut table, id).filter(|slot| slot.state == State::Open)?;
        slot.state = State::Closing;
        Some(slot.owner)
    }

    /// Whether `id` is open (not closing, not gone).
    pub(crate) fn is_open(&self, id: LinkId) -> bool {
        Self::slot(&mut self.lock(), id).is_some_and(|slot| slot.state == State::Open)
    }

    /// Frees `id`'s slot: from now on the id is unknown, for good.
    pub(crate) fn release(&self, id: LinkId) {
        let mut table = self.lock();
        let (index, _) = split(id);
        let Some(slot) = Self::slot(&mut table, id) else {
            return;
        };
        slot.state = State::Free;
        slot.queued = 0;
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
        let links = Links::new(10);
        let a = links.open(0);
        links.release(a);
        let b = links.open(0);
        assert_ne!(a, b);
        assert_eq!(split(a).0, split(b).0, "the slot is reused");
        assert_eq!(
            links.admit(a, 1).unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
        assert!(links.admit(b, 1).is_ok());
    }

    #[test]
    fn queue_limit_and_close() {
        let links = Links::new(10);
        let a = links.open(3);
        assert_eq!(links.admit(a, 10).unwrap(), 3);
        assert_eq!(
            links.admit(a, 1).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        links.sent(a, 4);
        assert!(links.admit(a, 1).is_ok());
        assert_eq!(links.begin_close(a), Some(3));
        assert_eq!(links.begin_close(a), None, "closing twice is a no-op");
        assert!(!links.is_open(a));
        assert_eq!(
            links.admit(a, 1).unwrap_err().kind(),
            io::ErrorKind::NotConnected
        );
    }

    #[test]
    fn a_wrapping_slot_is_retired() {
        let links = Links::new(10);
        let a = links.open(0);
        links.lock().slots[0].generation = u32::MAX;
        let a = LinkId(a.0 | u64::from(u32::MAX) << 32);
        links.release(a);
        let b = links.open(0);
        assert_eq!(split(b).0, 1);
    }
}
