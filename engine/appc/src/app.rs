//! An APPC application: [`Appc`], the Windows APPC API over the engine and
//! a [`Node`]. `WinAPPCStartup` / `WinAPPCCleanup`, the asynchronous entry
//! points (`WinAsyncAPPC`, `WinAsyncAPPCEx`, `WinAsyncAPPCIOCP` as
//! [`Appc::submit`] with a queue, event or port target), the blocking
//! `APPC` ([`Appc::call`]), and both cancels.
//!
//! Every verb, accepted or refused, becomes one engine task with exactly
//! one completion: a verb refused by a parameter or state check, or one
//! that finishes at once, is completed as soon as it is submitted, so the
//! application sees every result the same way. The engine's teardown hook
//! gives cancellation its APPC meaning ([`NodeInner::teardown`]): when
//! [`Appc::cancel`] returns 0 the session is closed, or the waiting
//! RECEIVE_ALLOCATE withdrawn, and `AP_CANCELLED` has been posted.
//!
//! The posting verbs (RECEIVE_AND_POST, POST_ON_RECEIPT,
//! TEST_RTS_AND_POST) complete twice on separate channels (KB Q194082):
//! their task completes at once (the initial return code) to the entry
//! point's target, carrying in `post` the handle of a second task that
//! completes to the verb's own event (`sema` / `handle`); collect that
//! one's verb with [`Appc::collect`]. A non-OK initial completion never
//! has a post. Results are only ever written into a task's own verb,
//! before its one completion, so nothing touches a verb after its final
//! completion, TP_ENDED included (KB Q180789).

use super::node::{AppId, Node, NodeInner};
use super::outcome::{done, Out};
use super::param;
use super::states::Entry;
use super::verbs::Verb;
use appc_engine::{
    CancelOutcome, CollectError, Engine, Handle, Port, Receiver, Rejected, Sender, StartupData,
    StartupError, Stats, Target, TaskFuture, Tasks, Teardown,
};
use std::sync::Arc;

/// One application (`WinAPPCStartup` .. `WinAPPCCleanup`) on a node.
/// Dropping it cleans up.
pub struct Appc {
    engine: Engine<Verb>,
    tasks: Tasks<Verb>,
    node: Arc<NodeInner>,
    app: AppId,
}

impl Appc {
    /// `WinAPPCStartup` on `node` (version semantics as
    /// [`Engine::startup`]). Startup → Cleanup → Startup works: nothing of a
    /// cleaned-up application survives it.
    pub fn startup(version: u16, node: &Node) -> Result<(Self, StartupData), StartupError> {
        let weak = Arc::downgrade(&node.inner);
        let teardown: Teardown<Verb> = Box::new(move |handle, verb| {
            if let Some(node) = weak.upgrade() {
                node.teardown(handle, verb);
            }
        });
        let (engine, data) =
            Engine::startup_with_teardown(version, Engine::<Verb>::MAX_CAPACITY, Some(teardown))?;
        let tasks = engine.tasks();
        let app = Self {
            app: node.inner.new_app(tasks.clone()),
            tasks,
            engine,
            node: node.inner.clone(),
        };
        Ok((app, data))
    }

    /// `WinAsyncAPPC` (queue target), `WinAsyncAPPCEx` (event) or
    /// `WinAsyncAPPCIOCP` (port): starts `verb`; its one completion goes to
    /// `target`. `Err` is the API's handle 0 (not accepted: no completion).
    pub fn submit(&self, mut verb: Verb, target: &Target<Verb>) -> Result<Handle, Rejected<Verb>> {
        // The common case in place (see `NodeInner::remote`): the verb
        // moves once, from the caller into its task's slot.
        if let Some(remote) = self.node.remote(self.app, &mut verb, Entry::Async) {
            return match self.engine.reserve(target) {
                Ok(reservation) => {
                    let handle = reservation.fill(verb);
                    remote.post(handle);
                    Ok(handle)
                }
                Err(reason) => Err(remote.refused(Rejected { reason, verb })),
            };
        }
        self.dispatch(verb, Entry::Async, |verb| {
            self.engine.submit(verb, target).map(|handle| (handle, ()))
        })
        .map(|(handle, ())| handle)
    }

    /// Starts `verb` asynchronously and returns a future of the finished
    /// verb. Dropping the future before it resolves cancels the task, with
    /// the teardown of [`Appc::cancel`].
    pub fn submit_future(&self, mut verb: Verb) -> Result<TaskFuture<Verb>, Rejected<Verb>> {
        if let Some(remote) = self.node.remote(self.app, &mut verb, Entry::Async) {
            return match self.engine.submit_future(verb) {
                Ok(future) => {
                    remote.post(future.handle());
                    Ok(future)
                }
                Err(rejected) => Err(remote.refused(rejected)),
            };
        }
        self.dispatch(verb, Entry::Async, |verb| self.future(verb))
            .map(|(_, future)| future)
    }

    fn future(&self, verb: Verb) -> Result<(Handle, TaskFuture<Verb>), Rejected<Verb>> {
        let future = self.engine.submit_future(verb)?;
        Ok((future.handle(), future))
    }

    /// `APPC(vcb)`: runs `verb` to completion on this thread. A second
    /// blocking call on the same thread returns at once with
    /// `AP_THREAD_BLOCKING`.
    pub fn call(&self, verb: Verb) -> Result<Verb, Rejected<Verb>> {
        self.call_with_hook(verb, |_| false)
    }

    /// [`Appc::call`] with a blocking hook (see [`Engine::call_with_hook`]).
    pub fn call_with_hook(
        &self,
        verb: Verb,
        hook: impl FnMut(Handle) -> bool,
    ) -> Result<Verb, Rejected<Verb>> {
        self.engine.block_on(verb, hook, |verb| {
            self.dispatch(verb, Entry::Blocking, |verb| self.future(verb))
                .map(|(_, future)| future)
        })
    }

    /// `WinAPPCCancelAsyncRequest`: 0 with the teardown done and
    /// `AP_CANCELLED` posted, `WAPPCALREADY`, or `WAPPCINVALID`.
    pub fn cancel(&self, handle: impl Into<u64>) -> CancelOutcome {
        self.engine.cancel(handle)
    }

    /// `WinAPPCCancelBlockingCall` (from the blocking hook): 0, or
    /// `WAPPCINVALID` if this thread has no blocking call. The call returns
    /// with `WAPPCCANCEL` in `primary_rc`, after the same teardown as
    /// [`Appc::cancel`].
    pub fn cancel_blocking_call(&self) -> i32 {
        self.engine.cancel_blocking_call()
    }

    /// `WinAPPCIsBlocking`.
    pub fn is_blocking(&self) -> bool {
        self.engine.is_blocking()
    }

    /// The finished verb of an event task: a `WinAsyncAPPCEx` verb, or the
    /// post of a posting verb.
    pub fn collect(&self, handle: Handle) -> Result<Verb, CollectError> {
        self.engine.collect(handle)
    }

    /// A new message queue (the `WinAsyncAPPC` window).
    pub fn queue(&self) -> (Sender<Verb>, Receiver<Verb>) {
        self.engine.queue()
    }

    /// A new completion port.
    pub fn port(&self) -> Port<Verb> {
        self.engine.port()
    }

    /// The engine's occupancy figures.
    pub fn stats(&self) -> Stats {
        self.engine.stats()
    }

    /// `WinAPPCCleanup`: ends every TP of this application as
    /// `TP_ENDED(AP_HARD)` would, withdraws its waiting RECEIVE_ALLOCATEs,
    /// and cancels whatever is still pending (each gets `AP_CANCELLED`).
    /// False if already cleaned up.
    pub fn cleanup(&mut self) -> bool {
        self.node.end_app(self.app);
        self.engine.cleanup()
    }

    /// Runs `verb` from an entry point whose `submit` makes its task.
    #[inline(never)]
    fn dispatch<R>(
        &self,
        verb: Verb,
        entry: Entry,
        submit: impl FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        let core = &self.tasks;
        if let Err((primary, secondary)) = param::check(&verb) {
            return done(core, verb, Out::rc(primary, secondary), submit);
        }
        match verb.body.conv() {
            Some(ids) => self
                .node
                .conversation_verb(self.app, core, verb, ids, entry, submit),
            // TP_STARTED, RECEIVE_ALLOCATE, TP_ENDED, ALLOCATE,
            // SEND_CONVERSATION, and unknown opcodes (which the parameter
            // check refused).
            None => self.node.tp_verb(self.app, core, verb, submit),
        }
    }
}

impl Drop for Appc {
    fn drop(&mut self) {
        self.cleanup();
    }
}

impl std::fmt::Debug for Appc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Appc")
            .field("app", &self.app)
            .field("engine", &self.engine)
            .finish()
    }
}
