//! The `Future` target: `.await` a task; dropping the future cancels it.
//!
//! The future owns its handle. Polling tries to take the task (`READY ->
//! FINISHING`); if it is not finished yet, it registers its waker in the
//! slot's [`WakerCell`](super::waker::WakerCell) and tries once more. The
//! finisher closes that cell before publishing `READY` and wakes only after,
//! so once the future sees `READY` nobody else touches the slot.
//!
//! Dropping an unfinished future abandons the task ([`StateCell::abandon`]):
//! a pending task is cancelled and freed by the drop; one being finished is
//! handed to its finisher, which frees it instead of publishing it.
//!
//! [`StateCell::abandon`]: crate::state::StateCell::abandon

use super::waker::Registration;
use super::SlotTarget;
use crate::core::Core;
use crate::state::Abandon;
use crate::sync::Arc;
use crate::{Handle, Request};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// How many times a poll that finds the waker cell closed re-checks before
/// yielding to its executor.
#[cfg(not(loom))]
const CLOSED_SPINS: usize = 64;

/// A submitted task as a future of its finished verb.
#[must_use = "dropping the future cancels the task"]
pub struct TaskFuture<V: Request> {
    core: Arc<Core<V>>,
    handle: Handle,
    done: bool,
}

impl<V: Request> TaskFuture<V> {
    pub(crate) fn new(core: Arc<Core<V>>, handle: Handle) -> Self {
        Self {
            core,
            handle,
            done: false,
        }
    }

    /// The task's handle, for [`Engine::cancel`](crate::Engine::cancel) from
    /// elsewhere. A cancelled task still resolves, with `AP_CANCELLED`.
    pub fn handle(&self) -> Handle {
        self.handle
    }
}

impl<V: Request> Future for TaskFuture<V> {
    type Output = V;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<V> {
        let this = self.get_mut();
        assert!(!this.done, "TaskFuture polled after completion");
        if let Some(verb) = this.core.take_ready(this.handle) {
            this.done = true;
            return Poll::Ready(verb);
        }
        let slot = this.core.slot(this.handle);
        // SAFETY: the slot holds our task (the future owns it until `done`),
        // and a future task's target is only replaced by its owner at take.
        let registration = unsafe {
            slot.with_target(|target| match target {
                SlotTarget::Future(cell) => cell.register(cx.waker()),
                _ => unreachable!("a future task has a future target"),
            })
        };
        match registration {
            Registration::Registered => {
                if let Some(verb) = this.core.take_ready(this.handle) {
                    this.done = true;
                    return Poll::Ready(verb);
                }
            }
            // The finisher is between closing the cell and publishing, a few
            // instructions away: spin briefly, then ask to be polled again.
            Registration::Closed => {
                crate::sync::took!(RegistrationFoundClosed);
                #[cfg(not(loom))]
                for _ in 0..CLOSED_SPINS {
                    std::hint::spin_loop();
                    if let Some(verb) = this.core.take_ready(this.handle) {
                        this.done = true;
                        return Poll::Ready(verb);
                    }
                }
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    }
}

impl<V: Request> Drop for TaskFuture<V> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let slot = self.core.slot(self.handle);
        match slot.state.abandon(self.handle.generation()) {
            Abandon::Cancelled => {
                crate::sync::took!(AbandonCancelled);
                self.core.discard_abandoned(self.handle, slot);
            }
            Abandon::Taken => {
                crate::sync::took!(AbandonTookReady);
                self.core.discard(self.core.id(self.handle), slot);
            }
            Abandon::HandedOver => crate::sync::took!(AbandonLeftToFinisher),
        }
    }
}

impl<V: Request> fmt::Debug for TaskFuture<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskFuture")
            .field("handle", &self.handle)
            .field("done", &self.done)
            .finish()
    }
}
