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
///
/// A free slot's target is `Empty`, or the event of the last task that
/// used the slot: an event stays in its slot from submit until the slot is
/// aimed at another target, so a thread that submits task after task for
/// one event finds it already in place and clones nothing (see
/// [`SlotTarget::aim_at_event`] and [`event`]'s module doc).
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

impl<V> SlotTarget<V> {
    /// A queue or port task's queue and port values, leaving `Empty`
    /// (consume). It reads only the fields it moves and overwrites the
    /// target with `ptr::write`: a `mem::replace` of the whole enum copies it
    /// through memory, and measured 10% of a single-thread lifecycle in a
    /// profile.
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

    /// Aims a slot being filled at `event`, cloning it only if the slot is
    /// not aimed at it already.
    #[inline]
    pub(crate) fn aim_at_event(&mut self, event: &Event) {
        match self {
            SlotTarget::Event(current) if current.same(event) => {}
            _ => *self = SlotTarget::Event(event.clone()),
        }
    }

    /// An event task's event.
    #[inline]
    pub(crate) fn event(&self) -> &Event {
        let SlotTarget::Event(event) = self else {
            unreachable!("event task without an event")
        };
        event
    }
}
