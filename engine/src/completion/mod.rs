//! Completion targets: where a finished task is delivered.
//!
//! | target | model | what the consumer gets |
//! |--------|-------|------------------------|
//! | [`Receiver`] (via [`Sender`]) | `WinAsyncAPPC` window message | [`Completion`]: handle + finished verb |
//! | [`Port`] | `WinAsyncAPPCIOCP` completion port | [`Packet`]: the caller's bytes, key and token untouched, plus handle and verb |
//! | [`Event`] | `WinAsyncAPPCEx` event | a signal; the verb is collected with [`Engine::collect`](crate::Engine::collect) |
//! | [`TaskFuture`] | Rust `async` | the finished verb; dropping it cancels |
//!
//! Delivery happens only after the state word says the task finished, and
//! exactly once. Queue and port deliveries are intrusive (the slot is the
//! queue node), so completing a task never allocates.

pub(crate) mod event;
mod future;
pub(crate) mod intrusive;
pub(crate) mod notify;
mod port;
mod queue;
pub(crate) mod waker;

pub use event::Event;
pub use future::TaskFuture;
pub use port::{Packet, Port};
pub use queue::{Completion, Receiver, Sender};

use crate::sync::Arc;
use intrusive::Queue;
use std::ptr;
use waker::WakerCell;

/// Where [`Engine::submit`](crate::Engine::submit) delivers a task's
/// completion.
#[derive(Debug)]
pub enum Target<V: crate::Request> {
    /// Post a [`Completion`] to a message queue.
    Queue(Sender<V>),
    /// Post a [`Packet`] to a completion port; `key`, `token` and `bytes` come
    /// back untouched (`APPC_CompletionKey`, `APPC_pOverlapped`,
    /// `APPC_NumberOfBytesTransferred`).
    Port {
        /// The port.
        port: Port<V>,
        /// The completion key.
        key: u32,
        /// The caller's token (the OVERLAPPED pointer's place).
        token: usize,
        /// The byte count to report.
        bytes: u32,
    },
    /// Signal an event; collect the verb by handle.
    Event(Event),
}

/// The caller's values a port packet carries back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PortInfo {
    pub(crate) key: u32,
    pub(crate) bytes: u32,
    pub(crate) token: usize,
}

/// A task's target as stored in its slot.
pub(crate) enum SlotTarget<V> {
    Empty,
    /// Queue or port. The reference stays in the slot until the task is
    /// consumed, so the thread that drops it is the consumer, the same
    /// thread (usually) that took it at submit: the reference count's cache
    /// line does not travel to the completer and back with every task.
    Queue(Arc<Queue<V>>, PortInfo),
    Event(Event),
    Future(WakerCell),
}

// The `take_*` moves below read only the fields they move and overwrite the
// target with `ptr::write`: a `mem::replace` of the whole enum copies it
// through memory, and measured 10% of a single-thread lifecycle in a profile.
impl<V> SlotTarget<V> {
    /// A queue or port task's queue and port values, leaving `Empty`
    /// (consume).
    #[inline]
    pub(crate) fn take_queue(&mut self) -> (Arc<Queue<V>>, PortInfo) {
        let SlotTarget::Queue(queue, info) = self else {
            unreachable!("queue task without a queue")
        };
        let info = *info;
        // SAFETY: the queue is read out once and the variant it lived in is
        // overwritten without a drop, so ownership moves to the caller.
        unsafe {
            let queue = ptr::read(queue);
            ptr::write(self, SlotTarget::Empty);
            (queue, info)
        }
    }

    /// An event task's event, leaving `Empty` (delivery).
    #[inline]
    pub(crate) fn take_event(&mut self) -> Event {
        let SlotTarget::Event(event) = self else {
            unreachable!("event task without an event")
        };
        // SAFETY: as in `take_queue`.
        unsafe {
            let event = ptr::read(event);
            ptr::write(self, SlotTarget::Empty);
            event
        }
    }
}
