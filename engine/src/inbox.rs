//! A bounded multi-producer, single-consumer queue whose consumer can go to
//! sleep: how work from any thread reaches the one thread that owns it (a
//! session layer's reactor owns its conversations; an application's
//! threads post their verbs to it).
//!
//! # Protocol
//!
//! A ring of cells, each with a sequence word (D. Vyukov's bounded queue,
//! with a single consumer): cell `i` is free for position `p` (`p ≡ i` mod
//! the capacity) when its sequence is `p`, and holds the item of position
//! `p` when its sequence is `p + 1`.
//!
//! * **Push** (any thread): load `tail`; if the cell of that position is
//!   free, claim the position with one CAS (`tail → tail + 1`), write the
//!   item, and publish it by storing the cell's sequence `p + 1`
//!   (`Release`). A cell still holding the item of the previous lap means
//!   the ring is full: the push fails and the caller decides (back off, or
//!   keep the item elsewhere).
//! * **Pop** (the consumer only, at its private `head`): the cell's
//!   sequence is `head + 1` (`Acquire`, pairing with the push's store): take
//!   the item and free the cell for the next lap (sequence `head +
//!   capacity`, `Release`, pairing with the next lap's push). A claimed cell
//!   whose item is not written yet pops nothing yet.
//! * **Sleep.** `tail` also carries the `SLEEPING` bit. A consumer with
//!   nothing to do sets it with one CAS from `head` exactly: it succeeds only
//!   if no position was claimed since the consumer's last pop, claimed but
//!   unwritten ones included. Every push's CAS clears the bit, and the push
//!   whose CAS saw it set is told to wake the consumer ([`Pushed::Wake`]):
//!   so one wake-up per sleep, and none while the consumer is awake. The
//!   CASes on `tail` have one modification order, so either the push claimed
//!   first (the consumer's CAS fails: it does not sleep) or the sleep came
//!   first (the push sees the bit: it wakes the consumer). No wake-up is
//!   lost and none is spent on a consumer that is awake.
//!
//! `loom-tests/tests/inbox.rs` models push against pop and push against the
//! sleep, and asserts both orders of each were explored.

use crate::sync::{AtomicU64, Ordering::*, UnsafeCell};
use std::fmt;
use std::mem::MaybeUninit;

/// The consumer is asleep (or going to sleep): the next push wakes it.
const SLEEPING: u64 = 1 << 63;

/// What a successful push asks of its caller.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The consumer is awake, or already being woken.
    Queued,
    /// The consumer went to sleep before this push: wake it.
    Wake,
}

struct Cell<T> {
    sequence: AtomicU64,
    item: UnsafeCell<MaybeUninit<T>>,
}

/// The shared half: push from any thread.
pub struct Inbox<T> {
    /// The next position to claim, and [`SLEEPING`].
    tail: crossbeam_utils::CachePadded<AtomicU64>,
    cells: Box<[Cell<T>]>,
    mask: u64,
}

// SAFETY: items move from the pushing thread to the consumer's thread
// (`T: Send`); a cell's item is written only by the push that claimed its
// position and read only by the consumer after the push published it, as
// the module docs describe.
unsafe impl<T: Send> Send for Inbox<T> {}
// SAFETY: as above; `&Inbox` only pushes.
unsafe impl<T: Send> Sync for Inbox<T> {}

/// The consumer's half: pop, and sleep. One per inbox.
pub struct Consumer<T> {
    inbox: crate::sync::Arc<Inbox<T>>,
    head: u64,
}

/// A new inbox holding at least `capacity` items (rounded up to a power of
/// two, at least 2), and its consumer.
pub fn inbox<T: Send>(capacity: usize) -> (crate::sync::Arc<Inbox<T>>, Consumer<T>) {
    let capacity = capacity.max(2).next_power_of_two();
    let cells = (0..capacity as u64)
        .map(|i| Cell {
            sequence: AtomicU64::new(i),
            item: UnsafeCell::new(MaybeUninit::uninit()),
        })
        .collect();
    let inbox = crate::sync::Arc::new(Inbox {
        tail: crossbeam_utils::CachePadded::new(AtomicU64::new(0)),
        cells,
        mask: capacity as u64 - 1,
    });
    let consumer = Consumer {
        inbox: inbox.clone(),
        head: 0,
    };
    (inbox, consumer)
}

impl<T> Inbox<T> {
    fn cell(&self, position: u64) -> &Cell<T> {
        &self.cells[(position & self.mask) as usize]
    }

    /// Queues `item`, or gives it back if the inbox is full.
    #[inline]
    pub fn push(&self, item: T) -> Result<Pushed, T> {
        let mut tail = self.tail.load(Relaxed);
        loop {
            let position = tail & !SLEEPING;
            let cell = self.cell(position);
            let sequence = cell.sequence.load(Acquire);
            if sequence == position {
                // `Acquire` on success: a `Wake` must see the consumer's
                // sleep, which it set with `Release`.
                match self
                    .tail
                    .compare_exchange_weak(tail, position + 1, Acquire, Relaxed)
                {
                    Ok(_) => {
                        // SAFETY: the CAS made this push the only writer of
                        // the cell until it publishes, and the consumer
                        // freed it (sequence == position, read with
                        // Acquire), so nothing else reads it.
                        cell.item.with_mut(|slot| unsafe { (*slot).write(item) });
                        cell.sequence.store(position + 1, Release);
                        return Ok(if tail & SLEEPING != 0 {
                            Pushed::Wake
                        } else {
                            Pushed::Queued
                        });
                    }
                    Err(current) => tail = current,
                }
            } else if sequence < position {
                // The cell still holds the previous lap's item.
                return Err(item);
            } else {
                // Another push claimed this position meanwhile.
                tail = self.tail.load(Relaxed);
            }
        }
    }

    /// The number of cells.
    pub fn capacity(&self) -> usize {
        self.cells.len()
    }
}

impl<T> Consumer<T> {
    /// The next item, if one is there (a position claimed but not yet
    /// written counts as not there yet).
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let cell = self.inbox.cell(self.head);
        if cell.sequence.load(Acquire) != self.head + 1 {
            return None;
        }
        // SAFETY: the sequence (read with Acquire) says the push of this
        // position wrote and published the item, and only this consumer
        // reads it, once: `head` moves past it next.
        let item = cell.item.with(|slot| unsafe { (*slot).assume_init_read() });
        cell.sequence
            .store(self.head + self.inbox.mask + 1, Release);
        self.head += 1;
        Some(item)
    }

    /// Whether something was pushed that this consumer has not popped
    /// (claimed positions too): a hint, for deciding whether to poll on.
    pub fn is_empty(&self) -> bool {
        self.inbox.tail.load(Acquire) & !SLEEPING == self.head
    }

    /// Goes to sleep if nothing was pushed since the last pop: true if the
    /// caller may now sleep (the next push reports [`Pushed::Wake`]),
    /// false if work came (pop it first).
    pub fn sleep(&mut self) -> bool {
        // `Release`: a push that sees the bit (with Acquire) sees
        // everything this consumer did before it.
        match self
            .inbox
            .tail
            .compare_exchange(self.head, self.head | SLEEPING, Release, Relaxed)
        {
            Ok(_) => true,
            // Asleep already (no push since the last sleep): still so.
            Err(tail) => tail == self.head | SLEEPING,
        }
    }

    /// The consumer is running again: later pushes need not wake it.
    /// (Without this, the first push after a sleep wakes it once more,
    /// which costs a wake-up and nothing else.)
    pub fn awake(&mut self) {
        if self.inbox.tail.load(Relaxed) & SLEEPING != 0 {
            self.inbox.tail.fetch_and(!SLEEPING, Relaxed);
        }
    }

    /// The inbox this consumer drains.
    pub fn inbox(&self) -> &crate::sync::Arc<Inbox<T>> {
        &self.inbox
    }
}

impl<T> Drop for Inbox<T> {
    fn drop(&mut self) {
        // Items pushed and never popped: a cell holds one when its
        // sequence is one past a position of its own.
        for (index, cell) in self.cells.iter_mut().enumerate() {
            let sequence = cell.sequence.load(Relaxed);
            if sequence != 0 && (sequence - 1) & self.mask == index as u64 {
                // SAFETY: `&mut self`: nobody else is left, and the
                // sequence says the cell holds a published, unread item.
                cell.item
                    .with_mut(|slot| unsafe { (*slot).assume_init_drop() });
            }
        }
    }
}

impl<T> fmt::Debug for Inbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = self.tail.load(Relaxed);
        f.debug_struct("Inbox")
            .field("tail", &(tail & !SLEEPING))
            .field("sleeping", &(tail & SLEEPING != 0))
            .field("capacity", &self.cells.len())
            .finish()
    }
}

impl<T> fmt::Debug for Consumer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.head)
            .field("inbox", &self.inbox)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn fifo_until_full_then_refuses() {
        let (inbox, mut consumer) = inbox(3);
        assert_eq!(inbox.capacity(), 4);
        for i in 0..4 {
            assert_eq!(inbox.push(i), Ok(Pushed::Queued));
        }
        assert_eq!(inbox.push(4), Err(4));
        assert_eq!(consumer.pop(), Some(0));
        assert_eq!(inbox.push(4), Ok(Pushed::Queued));
        assert_eq!(
            (1..5).map(|_| consumer.pop().unwrap()).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(consumer.pop(), None);
        assert!(consumer.is_empty());
    }

    #[test]
    fn one_wake_per_sleep() {
        let (inbox, mut consumer) = inbox(8);
        assert!(consumer.sleep());
        assert_eq!(inbox.push(1), Ok(Pushed::Wake));
        assert_eq!(inbox.push(2), Ok(Pushed::Queued));
        assert!(!consumer.sleep(), "work came: no sleep");
        assert_eq!(consumer.pop(), Some(1));
        assert_eq!(consumer.pop(), Some(2));
        assert!(consumer.sleep());
        assert!(consumer.sleep(), "still asleep: nothing came");
        consumer.awake();
        assert_eq!(inbox.push(3), Ok(Pushed::Queued), "awake: no wake-up");
    }

    #[test]
    fn items_left_are_dropped_with_the_inbox() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let (inbox, mut consumer) = inbox(4);
        for _ in 0..6 {
            let _ = inbox.push(Counted(drops.clone()));
            drop(consumer.pop());
        }
        for _ in 0..3 {
            assert!(inbox.push(Counted(drops.clone())).is_ok());
        }
        drop(consumer);
        drop(inbox);
        assert_eq!(drops.load(Ordering::Relaxed), 9);
    }

    #[test]
    fn many_producers_each_item_once_in_producer_order() {
        const PRODUCERS: u64 = 4;
        const EACH: u64 = if cfg!(miri) { 200 } else { 50_000 };
        let (inbox, mut consumer) = inbox(64);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let inbox = inbox.clone();
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let mut item = (p, i);
                        while let Err(back) = inbox.push(item) {
                            item = back;
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = [0u64; PRODUCERS as usize];
        let mut got = 0;
        while got < PRODUCERS * EACH {
            match consumer.pop() {
                Some((p, i)) => {
                    assert_eq!(next[p as usize], i, "producer {p} out of order");
                    next[p as usize] += 1;
                    got += 1;
                }
                None => std::thread::yield_now(),
            }
        }
        for producer in producers {
            producer.join().unwrap();
        }
        assert_eq!(consumer.pop(), None);
    }
}
