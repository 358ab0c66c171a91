//! The message-queue target: the `WinAsyncAPPC` window-message model.
//!
//! Any number of tasks (from any threads) post to one [`Sender`]; the single
//! [`Receiver`] pumps [`Completion`]s, oldest first per batch. Receiving frees
//! the task's slot, so the completion's handle is from then on answered with
//! `WAPPCALREADY` by cancel. Dropping the receiver discards whatever is still
//! queued and everything posted later. The queue's memory goes once the
//! engine's slots that served it have served other targets, or with the
//! engine (see `intrusive`'s lifetime notes).

use super::intrusive::{Batch, EngineQueue};
use crate::{Handle, Request};
use std::fmt;
use std::time::Duration;

/// A finished task: the window message's `wParam` (handle) and `lParam` (VCB).
#[derive(Debug, PartialEq, Eq)]
pub struct Completion<V> {
    /// The task's handle.
    pub handle: Handle,
    /// The finished verb, with its return codes set.
    pub verb: V,
}

/// The posting side of a message queue; pass it in a
/// [`Target::Queue`](super::Target::Queue). Cheap to clone.
pub struct Sender<V>(pub(crate) EngineQueue<V>);

impl<V> Clone for Sender<V> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<V> fmt::Debug for Sender<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The pumping side of a message queue.
pub struct Receiver<V: Request> {
    queue: EngineQueue<V>,
    batch: Batch<V>,
}

impl<V: Request> Receiver<V> {
    pub(crate) fn new(queue: EngineQueue<V>) -> Self {
        Self {
            queue,
            batch: Batch::default(),
        }
    }

    /// The next completion, if one is queued.
    #[inline]
    pub fn try_recv(&mut self) -> Option<Completion<V>> {
        next(&self.queue, &mut self.batch)
    }

    /// The next completion, waiting as long as it takes.
    pub fn recv(&mut self) -> Completion<V> {
        let (queue, batch) = (&self.queue, &mut self.batch);
        queue
            .queue
            .wait(None, || next(queue, batch))
            .expect("an untimed wait returns only with an item")
    }

    /// The next completion, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Completion<V>> {
        let (queue, batch) = (&self.queue, &mut self.batch);
        queue.queue.wait(Some(timeout), || next(queue, batch))
    }
}

#[inline]
fn next<V: Request>(queue: &EngineQueue<V>, batch: &mut Batch<V>) -> Option<Completion<V>> {
    let popped = queue.pop(batch)?;
    queue.consume(popped, |handle, _, verb| Some(Completion { handle, verb }))
}

impl<V: Request> Drop for Receiver<V> {
    fn drop(&mut self) {
        self.queue.close(&mut self.batch);
    }
}

impl<V: Request> fmt::Debug for Receiver<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use crate::sync::Arc;
    use crate::{CompleteOutcome, Engine, Event, Opcode, Target, Verb, WINAPPC_VERSION};

    #[test]
    fn tasks_reuse_the_slots_reference_to_their_queue() {
        let (engine, _) = Engine::startup(WINAPPC_VERSION).unwrap();
        let submit = |target: &Target<Verb>| {
            let handle = engine
                .submit(Verb::new(Opcode::ReceiveAndWait, 1), target)
                .unwrap();
            assert_eq!(engine.complete(handle, |_| {}), CompleteOutcome::Delivered);
            handle
        };
        let (tx, mut rx) = engine.queue();
        let queue = tx.0.queue.clone();
        let target = Target::Queue(tx);
        let first = submit(&target);
        assert_eq!(rx.try_recv().unwrap().handle, first);
        // `queue`, the sender, the receiver and the slot's.
        assert_eq!(Arc::strong_count(&queue), 4);
        for _ in 0..100 {
            submit(&target);
            rx.try_recv().unwrap();
        }
        assert_eq!(Arc::strong_count(&queue), 4, "a task took a reference");

        // With sender and receiver gone, the slot keeps the queue until this
        // thread's next submit reuses it for another target.
        drop((target, rx));
        assert_eq!(Arc::strong_count(&queue), 2);
        let next = submit(&Target::Event(Event::new(false)));
        assert_eq!((next.shard(), next.index()), (first.shard(), first.index()));
        assert_eq!(Arc::strong_count(&queue), 1);

        // A slot's queue goes with the engine.
        let (tx, mut rx) = engine.queue();
        let queue = tx.0.queue.clone();
        submit(&Target::Queue(tx));
        rx.try_recv().unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&queue), 2);
        drop(engine);
        assert_eq!(Arc::strong_count(&queue), 1);
    }
}
