//! The blocking entry point: `APPC(vcb)` as [`Engine::call`], with
//! `WinAPPCIsBlocking` ([`Engine::is_blocking`]) and
//! `WinAPPCCancelBlockingCall` ([`Engine::cancel_blocking_call`]).
//!
//! A blocking call is an ordinary task with a future target, waited for on
//! the calling thread; the engine's exactly-once machinery is the same. What
//! is particular to the blocking model is per-thread:
//!
//! * at most **one blocking call per thread** (and engine): a second one, for
//!   instance from inside the blocking hook, returns at once with
//!   `AP_THREAD_BLOCKING` (X'F006') and creates no task;
//! * while a call waits, its **blocking hook** runs from time to time on the
//!   same thread (Windows' `WinAPPCSetBlockingHook`; the default, [`Engine::call`],
//!   simply sleeps). From the hook, [`Engine::cancel_blocking_call`] cancels
//!   the thread's call, which then returns with `WAPPCCANCEL` (0xF002) in
//!   `primary_rc`. Project's choice: the documentation says the call
//!   completes with `WAPPCCANCEL`, not which field carries it, and
//!   `primary_rc` is the one a caller checks.
//!
//! The per-thread record exists only while a call is in progress: a guard
//! removes it when the call returns, even by unwinding. So nothing survives
//! a Cleanup, and Startup → Cleanup → Startup on one thread cannot find a
//! stale "is blocking" flag (the original's KB Q236797 bug).

use crate::api::{Engine, Rejected, WAPPCCANCEL, WAPPCINVALID};
use crate::state::Verdict;
use crate::sync::park;
use crate::{Handle, Request, TaskFuture, AP_THREAD_BLOCKING};
use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// How long a blocking call sleeps between two runs of its hook.
pub const HOOK_PERIOD: Duration = Duration::from_millis(1);

thread_local! {
    /// The blocking calls in progress on this thread: (engine, task).
    static CALLS: RefCell<Vec<(usize, Handle)>> = const { RefCell::new(Vec::new()) };
}

/// An engine's identity for the per-thread record: its core's address, unique
/// among live engines (a call borrows its engine, so the core outlives it).
fn key<V>(engine: &Engine<V>) -> usize
where
    V: Request,
{
    crate::sync::Arc::as_ptr(engine.core()) as usize
}

fn current(key: usize) -> Option<Handle> {
    CALLS.with(|calls| {
        calls
            .borrow()
            .iter()
            .find(|(engine, _)| *engine == key)
            .map(|(_, handle)| *handle)
    })
}

/// Marks this thread as blocking on `key` until dropped.
struct InCall(usize);

impl InCall {
    fn enter(key: usize, handle: Handle) -> Self {
        CALLS.with(|calls| calls.borrow_mut().push((key, handle)));
        Self(key)
    }
}

impl Drop for InCall {
    fn drop(&mut self) {
        CALLS.with(|calls| calls.borrow_mut().retain(|(engine, _)| *engine != self.0));
    }
}

impl<V: Request> Engine<V> {
    /// `APPC(vcb)`: runs `verb` and returns it finished, blocking the calling
    /// thread meanwhile. If the thread is already inside a blocking call of
    /// this engine, returns `verb` at once with `AP_THREAD_BLOCKING`. `Err` is
    /// a submission the engine refused (cleaned up, or full).
    pub fn call(&self, verb: V) -> Result<V, Rejected<V>> {
        self.call_with_hook(verb, |_| false)
    }

    /// [`Engine::call`] with a blocking hook: while the call waits, `hook`
    /// runs on this thread about every [`HOOK_PERIOD`] with the call's
    /// handle, until it returns false (as Windows' default hook does on
    /// `WM_QUIT`). The hook may call [`Engine::cancel_blocking_call`].
    pub fn call_with_hook(
        &self,
        verb: V,
        hook: impl FnMut(Handle) -> bool,
    ) -> Result<V, Rejected<V>> {
        self.block_on(verb, hook, |verb| self.submit_future(verb))
    }

    /// The blocking machinery of [`Engine::call_with_hook`], with `start`
    /// turning the verb into a task (the APPC layer starts it on its
    /// conversation there).
    pub fn block_on(
        &self,
        mut verb: V,
        mut hook: impl FnMut(Handle) -> bool,
        start: impl FnOnce(V) -> Result<TaskFuture<V>, Rejected<V>>,
    ) -> Result<V, Rejected<V>> {
        let key = key(self);
        if current(key).is_some() {
            verb.set_return_codes(AP_THREAD_BLOCKING, 0);
            return Ok(verb);
        }
        let future = start(verb)?;
        let handle = future.handle();
        let _in_call = InCall::enter(key, handle);
        let mut future = pin!(future);
        let waker = park::waker();
        let mut cx = Context::from_waker(&waker);
        let mut hooking = true;
        loop {
            if let Poll::Ready(verb) = future.as_mut().poll(&mut cx) {
                return Ok(verb);
            }
            if hooking {
                park::park_timeout(HOOK_PERIOD);
                hooking = hook(handle);
            } else {
                park::park();
            }
        }
    }

    /// `WinAPPCIsBlocking`: true while the calling thread is inside a
    /// blocking call of this engine (that is, in its hook).
    pub fn is_blocking(&self) -> bool {
        current(key(self)).is_some()
    }

    /// `WinAPPCCancelBlockingCall`: cancels the calling thread's blocking
    /// call (reachable from its hook). Returns 0 if a call was cancelled (it
    /// then returns with `WAPPCCANCEL`), `WAPPCINVALID` if there was none to
    /// cancel.
    pub fn cancel_blocking_call(&self) -> i32 {
        let Some(handle) = current(key(self)) else {
            return WAPPCINVALID;
        };
        let cancelled = self.core().cancel(handle, |verb| {
            verb.set_return_codes(WAPPCCANCEL as u16, 0);
        });
        match cancelled {
            Verdict::Pending => 0,
            Verdict::Already | Verdict::Invalid => WAPPCINVALID,
        }
    }
}
