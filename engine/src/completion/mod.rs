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
/// A free slot's target is `Empty` or the queue, port or event of the last
/// task that used the slot: a queue or event reference stays in its slot
/// from submit until the slot is aimed at another target, so a thread that
/// submits task after task to one target finds it already in place and
/// clones nothing, and consumers drop nothing (see
/// [`SlotTarget::aim_at_queue`], [`SlotTarget::aim_at_event`], and the
/// lifetime notes of [`intrusive`] and [`event`]).
pub(crate) enum SlotTarget {
    Empty,
    /// Queue or port, with the port's values.
    Queue(Arc<Queue>, PortInfo),
    Event(Event),
    Future(WakerCell),
}

impl SlotTarget {
    /// Aims a slot being filled at `queue`, cloning it only if the slot is
    /// not aimed at it already.
    #[inline]
    pub(crate) fn aim_at_queue(&mut self, queue: &Arc<Queue>, info: PortInfo) {
        match self {
            SlotTarget::Queue(current, values) if Arc::ptr_eq(current, queue) => *values = info,
            _ => *self = SlotTarget::Queue(queue.clone(), info),
        }
    }

    /// A queue or port task's port values.
    #[inline]
    pub(crate) fn port_info(&self) -> PortInfo {
        let SlotTarget::Queue(_, info) = self else {
            unreachable!("queue task without a queue")
        };
        *info
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
