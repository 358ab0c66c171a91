//! The intrusive completion queue behind the message-queue and port targets.
//!
//! The nodes are the task slots themselves (linked through `Slot::next` by
//! global id), so delivering a completion allocates nothing. Producers push
//! onto a Treiber stack with one CAS; a consumer takes the whole stack with
//! one `swap` and reverses it into a FIFO [`Batch`] it owns. Because nobody
//! ever pops a single node off the shared stack, there is no ABA problem and
//! no tag is needed.
//!
//! A slot in the queue is `FINISHING` with a queue kind: the queue owns it and
//! whoever takes it out of a batch frees it.
//!
//! Closing (the receiver went away): producers push with a `SeqCst` CAS, then
//! load `closed` (`SeqCst`); the closer sets `closed`, fences (`SeqCst`),
//! then drains. One of the two always sees the other, so no pushed slot is
//! stranded. The same `SeqCst` push is what [`Notify`] pairs with.

use super::notify::Notify;
use crate::core::Core;
use crate::sync::{after_seq_cst_rmw, fence, Arc, AtomicBool, AtomicU32, Ordering::*};
use crate::table::Slot;
use crossbeam_utils::CachePadded;

/// Shared state of one completion queue.
pub(crate) struct Queue<V> {
    pub(crate) core: Arc<Core<V>>,
    head: CachePadded<AtomicU32>,
    closed: AtomicBool,
    pub(crate) notify: Notify,
}

/// Slots a consumer has taken off the shared stack, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    head: u32,
}

const NIL: u32 = 0;

impl<V: crate::Request> Queue<V> {
    pub(crate) fn new(core: Arc<Core<V>>) -> Self {
        Self {
            core,
            head: CachePadded::new(AtomicU32::new(NIL)),
            closed: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }

    /// Pushes `slot` (global id `id`), owned by the caller in `FINISHING`.
    /// Ownership passes to the queue.
    pub(crate) fn push(&self, id: u32, slot: &Slot<V>) {
        let mut head = self.head.load(Relaxed);
        loop {
            slot.next.store(head, Relaxed);
            match self
                .head
                .compare_exchange_weak(head, id + 1, SeqCst, Relaxed)
            {
                Ok(_) => break,
                Err(actual) => head = actual,
            }
        }
        after_seq_cst_rmw();
        if self.closed.load(SeqCst) {
            self.drain();
        }
        self.notify.notify();
    }

    /// Moves everything pushed so far into `batch`, behind what it holds.
    fn refill(&self, batch: &mut Batch) -> bool {
        if self.head.load(Relaxed) == NIL {
            return false;
        }
        let mut top = self.head.swap(NIL, Acquire);
        // Reverse the LIFO chain so the oldest completion comes out first.
        let mut reversed = NIL;
        while top != NIL {
            let slot = self.core.table.by_id(top - 1);
            let next = slot.next.load(Relaxed);
            slot.next.store(reversed, Relaxed);
            reversed = top;
            top = next;
        }
        debug_assert_eq!(batch.head, NIL, "refill only an empty batch");
        batch.head = reversed;
        reversed != NIL
    }

    /// Takes the oldest completion: its slot and global id, now owned by the
    /// caller in `FINISHING`.
    pub(crate) fn pop(&self, batch: &mut Batch) -> Option<(u32, &Slot<V>)> {
        if batch.head == NIL && !self.refill(batch) {
            return None;
        }
        let id = batch.head - 1;
        let slot = self.core.table.by_id(id);
        batch.head = slot.next.load(Relaxed);
        Some((id, slot))
    }

    /// Marks the queue closed and frees everything in it; later pushes free
    /// their slot themselves.
    pub(crate) fn close(&self, batch: &mut Batch) {
        self.closed.store(true, Relaxed);
        fence(SeqCst);
        while let Some((id, slot)) = self.pop(batch) {
            self.core.discard(id, slot);
        }
    }

    fn drain(&self) {
        let mut batch = Batch::default();
        while let Some((id, slot)) = self.pop(&mut batch) {
            self.core.discard(id, slot);
        }
    }
}
