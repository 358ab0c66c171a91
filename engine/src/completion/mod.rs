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
pub(crate) enum SlotTarget<V> {
    Empty,
    /// Queue or port, not yet delivered.
    Queue(Arc<Queue<V>>, PortInfo),
    /// Queue or port, delivered: the slot sits in the queue.
    Queued(PortInfo),
    Event(Event),
    Future(WakerCell),
}

impl<V> SlotTarget<V> {
    pub(crate) fn port_info(&self) -> PortInfo {
        match self {
            SlotTarget::Queue(_, info) | SlotTarget::Queued(info) => *info,
            _ => PortInfo::default(),
        }
    }
}
