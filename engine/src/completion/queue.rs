//! The message-queue target: the `WinAsyncAPPC` window-message model.
//!
//! Any number of tasks (from any threads) post to one [`Sender`]; the single
//! [`Receiver`] pumps [`Completion`]s, oldest first per batch. Receiving frees
//! the task's slot, so the completion's handle is from then on answered with
//! `WAPPCALREADY` by cancel. Dropping the receiver discards whatever is still
//! queued and everything posted later.

use super::intrusive::{Batch, Queue};
use crate::sync::Arc;
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
pub struct Sender<V>(pub(crate) Arc<Queue<V>>);

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
    queue: Arc<Queue<V>>,
    batch: Batch,
}

impl<V: Request> Receiver<V> {
    pub(crate) fn new(queue: Arc<Queue<V>>) -> Self {
        Self {
            queue,
            batch: Batch::default(),
        }
    }

    /// The next completion, if one is queued.
    pub fn try_recv(&mut self) -> Option<Completion<V>> {
        next(&self.queue, &mut self.batch)
    }

    /// The next completion, waiting as long as it takes.
    pub fn recv(&mut self) -> Completion<V> {
        let (queue, batch) = (&self.queue, &mut self.batch);
        queue
            .wait(None, || next(queue, batch))
            .expect("an untimed wait returns only with an item")
    }

    /// The next completion, waiting at most `timeout`.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<Completion<V>> {
        let (queue, batch) = (&self.queue, &mut self.batch);
        queue.wait(Some(timeout), || next(queue, batch))
    }
}

fn next<V: Request>(queue: &Queue<V>, batch: &mut Batch) -> Option<Completion<V>> {
    let (id, slot) = queue.pop(batch)?;
    let (handle, verb, _) = queue.core.consume(id, slot);
    Some(Completion { handle, verb })
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
