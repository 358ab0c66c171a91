//! The completion-port target: the `WinAsyncAPPCIOCP` model.
//!
//! Like a Windows completion port, any number of threads may wait on one
//! [`Port`], and the library never interprets the caller's key, token and byte
//! count: they come back in the [`Packet`] exactly as given to
//! [`Target::Port`](super::Target::Port). This is the portable port; the
//! Windows build will post to a real IOCP.
//!
//! Consumers share the batch behind a mutex (the producers' side stays
//! lock-free); the port closes when its last clone is dropped.

use super::intrusive::{Batch, EngineQueue};
use crate::sync::{lock, Arc, Mutex};
use crate::{Handle, Request};
use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

/// One dequeued completion packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<V> {
    /// `APPC_NumberOfBytesTransferred`, as given.
    pub bytes: u32,
    /// `APPC_CompletionKey`, as given.
    pub key: u32,
    /// `APPC_pOverlapped`'s place: the caller's token, as given.
    pub token: usize,
    /// The task's handle.
    pub handle: Handle,
    /// The finished verb.
    pub verb: V,
}

struct Inner<V: Request> {
    queue: EngineQueue<V>,
    batch: Mutex<Batch<V>>,
}

impl<V: Request> Drop for Inner<V> {
    fn drop(&mut self) {
        self.queue.close(&mut lock(&self.batch));
    }
}

/// A completion port. Cheap to clone; every clone dequeues from the same port.
pub struct Port<V: Request>(Arc<Inner<V>>);

impl<V: Request> Clone for Port<V> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<V: Request> Port<V> {
    pub(crate) fn new(queue: EngineQueue<V>) -> Self {
        Self(Arc::new(Inner {
            queue,
            batch: Mutex::new(Batch::default()),
        }))
    }

    pub(crate) fn queue(&self) -> &EngineQueue<V> {
        &self.0.queue
    }

    /// A packet if one is queued (`GetQueuedCompletionStatus` with timeout 0).
    #[inline]
    pub fn try_get(&self) -> Option<Packet<V>> {
        self.next()
    }

    /// Waits for a packet; `None` after `timeout` (`None`: wait forever).
    pub fn get(&self, timeout: Option<Duration>) -> Option<Packet<V>> {
        self.0.queue.queue.wait(timeout, || self.next())
    }

    /// A packet, or `Pending` until one is posted (and the task woken):
    /// the port awaited from async code, the calling task's waker taking
    /// the place of a waiting thread.
    #[inline]
    pub fn poll_get(&self, cx: &mut Context<'_>) -> Poll<Packet<V>> {
        self.0.queue.queue.poll_wait(cx, || self.next())
    }

    /// The oldest packet: the slot comes off the batch under the lock, and
    /// the verb moves from the slot straight into the packet after it.
    #[inline]
    fn next(&self) -> Option<Packet<V>> {
        let queue = &self.0.queue;
        let popped = queue.pop(&mut lock(&self.0.batch))?;
        // `Some` inside: the packet is made where it is returned.
        queue.consume(popped, |handle, info, verb| {
            Some(Packet {
                bytes: info.bytes,
                key: info.key,
                token: info.token,
                handle,
                verb,
            })
        })
    }
}

impl<V: Request> fmt::Debug for Port<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Port").finish_non_exhaustive()
    }
}
