//! The engine facade: `WinAPPCStartup` / `WinAPPCCleanup`, the
//! `WinAsyncAPPC*` family as [`Engine::submit`], and
//! `WinAPPCCancelAsyncRequest` as [`Engine::cancel`].

use crate::completion::{
    intrusive::{EngineQueue, Queue},
    waker::WakerCell,
    PortInfo, Receiver, Sender, SlotTarget, Target, TaskFuture,
};
use crate::core::{CollectError, Core, Reason, Teardown};
use crate::state::{Finisher, Kind, Verdict};
use crate::sync::Arc;
use crate::table::Vacant;
use crate::Event;
use crate::{Handle, Port, Request, Verb};
use std::fmt;

/// `WAPPCALREADY`: the verb already completed (its completion may still be queued).
pub const WAPPCALREADY: i32 = 0xF000;
/// `WAPPCINVALID`: not a valid task handle (also: unsupported low version).
pub const WAPPCINVALID: i32 = 0xF001;
/// `WAPPCCANCEL`: a blocking call was cancelled.
pub const WAPPCCANCEL: i32 = 0xF002;
/// `WAPPCSYSNOTREADY`: the subsystem is not started.
pub const WAPPCSYSNOTREADY: i32 = 0xF003;
/// `WAPPCVERNOTSUPPORTED`: the requested version is not supported.
pub const WAPPCVERNOTSUPPORTED: i32 = 0xF004;

/// The only Windows APPC version: 1.0 (low byte major, high byte minor).
pub const WINAPPC_VERSION: u16 = 0x0001;

/// What `WinAPPCStartup` fills in (`WAPPCDATA`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartupData {
    /// The version the application will use: the one it asked for if
    /// supported, else the highest supported (always 1.0 here).
    pub version: u16,
    /// Implementation description (at most 127 bytes, like `szDescription`).
    pub description: &'static str,
}

/// Why `WinAPPCStartup` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartupError {
    /// The requested version is below 1.0 (`WAPPCINVALID`).
    Invalid,
    /// The requested major version is above 1 (`WAPPCVERNOTSUPPORTED`).
    VersionNotSupported,
    /// Every one of the 255 handle tags is held by a live engine of this
    /// process, or has used up its generations over the process's earlier
    /// engines (`WAPPCSYSNOTREADY`).
    TooManyEngines,
}

impl StartupError {
    /// The `WinAPPCStartup` return value.
    pub fn code(self) -> i32 {
        match self {
            StartupError::Invalid => WAPPCINVALID,
            StartupError::VersionNotSupported => WAPPCVERNOTSUPPORTED,
            StartupError::TooManyEngines => WAPPCSYSNOTREADY,
        }
    }
}

impl fmt::Display for StartupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartupError::Invalid => f.write_str("requested version is below 1.0 (WAPPCINVALID)"),
            StartupError::VersionNotSupported => {
                f.write_str("requested major version is not supported (WAPPCVERNOTSUPPORTED)")
            }
            StartupError::TooManyEngines => {
                f.write_str("no engine tag is free in this process (WAPPCSYSNOTREADY)")
            }
        }
    }
}

impl std::error::Error for StartupError {}

/// The three answers of `WinAPPCCancelAsyncRequest`.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Cancelled: the verb's `AP_CANCELLED` completion has been posted (0).
    Cancelled,
    /// The verb had already completed (`WAPPCALREADY`).
    AlreadyCompleted,
    /// Never a valid handle of this engine (`WAPPCINVALID`).
    Invalid,
}

impl CancelOutcome {
    /// The exact `WinAPPCCancelAsyncRequest` return value: 0, 0xF000 or 0xF001.
    pub fn code(self) -> i32 {
        match self {
            CancelOutcome::Cancelled => 0,
            CancelOutcome::AlreadyCompleted => WAPPCALREADY,
            CancelOutcome::Invalid => WAPPCINVALID,
        }
    }
}

/// What happened to a completion a transport reported.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// The task was pending; its completion is delivered.
    Delivered,
    /// The task was already finished (a cancel won, or the handle is stale):
    /// the result was dropped and nothing was touched.
    Late,
    /// The handle was never issued by this engine.
    Invalid,
}

/// A submission the engine did not accept (the API's handle 0). The verb
/// comes back untouched.
pub struct Rejected<V> {
    /// Why.
    pub reason: Reason,
    /// The verb, as submitted.
    pub verb: V,
}

impl<V> fmt::Debug for Rejected<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl<V> fmt::Display for Rejected<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.reason {
            Reason::CleanedUp => "submission refused: the engine was cleaned up",
            Reason::Full => "submission refused: the task table is full",
            Reason::ForeignTarget => "submission refused: the target belongs to another engine",
        })
    }
}

impl<V> std::error::Error for Rejected<V> {}

/// Memory and occupancy figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Tasks accepted and not yet consumed.
    pub live_tasks: usize,
    /// Bytes of task-table pages allocated so far, verb payloads included.
    pub table_bytes: usize,
    /// The same pages counted without the verb payloads: the engine's own
    /// state (`slots allocated × slot_overhead_bytes`).
    pub state_bytes: usize,
    /// Bytes of one slot, verb payload included.
    pub slot_bytes: usize,
    /// Bytes of engine state per slot, verb payload excluded.
    pub slot_overhead_bytes: usize,
}

/// One application's APPC engine (`WinAPPCStartup` .. `WinAPPCCleanup`).
///
/// `Engine` is `Sync`: share it by reference or in an `Arc`. Dropping it
/// cleans up.
pub struct Engine<V: Request = Verb> {
    core: Arc<Core<V>>,
}

impl<V: Request> Engine<V> {
    /// `WinAPPCStartup`: `version` is a WORD with the major version in the
    /// low byte and the minor in the high byte. 1.0 (`0x0001`) is the only
    /// version; any 1.x is granted as 1.0, anything below 1.0 is
    /// `WAPPCINVALID`, a major version above 1 is `WAPPCVERNOTSUPPORTED`.
    /// Each call makes an independent engine, so Startup → Cleanup → Startup
    /// in one process works.
    pub fn startup(version: u16) -> Result<(Self, StartupData), StartupError> {
        Self::startup_with_capacity(version, Self::MAX_CAPACITY)
    }

    /// The most tasks an engine can hold outstanding at once.
    pub const MAX_CAPACITY: usize = crate::table::CAPACITY;

    /// [`Engine::startup`] with a bound on outstanding tasks: at least
    /// `capacity` (rounded up to a multiple of the shard count), at most
    /// [`Engine::MAX_CAPACITY`]. Submissions past it are rejected with
    /// [`Reason::Full`] (which can come slightly early when slots freed by an
    /// idle thread wait on its private free list: see [`Reason::Full`]).
    /// Table pages are allocated as they are first needed.
    pub fn startup_with_capacity(
        version: u16,
        capacity: usize,
    ) -> Result<(Self, StartupData), StartupError> {
        Self::startup_with_teardown(version, capacity, None)
    }

    /// [`Engine::startup_with_capacity`] with a teardown that every winning
    /// cancel runs on the cancelled verb, on the cancelling thread, before
    /// the verb is marked cancelled and delivered (the APPC layer's session
    /// close).
    pub fn startup_with_teardown(
        version: u16,
        capacity: usize,
        teardown: Option<Teardown<V>>,
    ) -> Result<(Self, StartupData), StartupError> {
        let [major, _minor] = version.to_le_bytes();
        match major {
            0 => return Err(StartupError::Invalid),
            1 => {}
            _ => return Err(StartupError::VersionNotSupported),
        }
        let engine = Self {
            core: Arc::new(Core::new(capacity, teardown).ok_or(StartupError::TooManyEngines)?),
        };
        let data = StartupData {
            version: WINAPPC_VERSION,
            description: "appc-engine: lock-free asynchronous APPC",
        };
        Ok((engine, data))
    }

    /// `WinAPPCCleanup`: refuses new submissions and cancels every pending
    /// task, each of which still receives its `AP_CANCELLED` completion.
    /// Returns false if the engine was already cleaned up.
    ///
    /// It takes `&mut self`: no submission can run beside it, so no task can
    /// slip past it (an engine shared in an `Arc` is cleaned up when the last
    /// reference drops, or through `Arc::get_mut`).
    pub fn cleanup(&mut self) -> bool {
        self.core.cleanup()
    }

    /// `WinAsyncAPPC` / `WinAsyncAPPCIOCP` / `WinAsyncAPPCEx`: accepts `verb`
    /// for asynchronous processing. An accepted task gets exactly one
    /// completion, delivered to `target`. `Err` is the API's handle 0, with
    /// the reason and the verb given back.
    #[inline]
    pub fn submit(&self, verb: V, target: &Target<V>) -> Result<Handle, Rejected<V>> {
        match self.reserve(target) {
            Ok(reservation) => Ok(reservation.fill(verb)),
            Err(reason) => Err(Rejected { reason, verb }),
        }
    }

    /// [`Engine::submit`] in two steps: a slot for a task to `target` now,
    /// the verb with [`Reservation::fill`]. `Err` is why the submission
    /// would be refused (the API's handle 0). Dropping the reservation
    /// unfilled gives its slot back.
    ///
    /// For a caller that works on its verb in place before it submits it
    /// (as the APPC layer takes a verb's inputs out): the verb it passes to
    /// `fill` moves once, straight into the slot, where one passed to
    /// `submit` after being borrowed was copied once more on the way in
    /// (callgrind, `appc-load`).
    #[inline]
    pub fn reserve<'a>(&'a self, target: &'a Target<V>) -> Result<Reservation<'a, V>, Reason> {
        let (kind, aim) = match target {
            Target::Queue(sender) if self.owns(&sender.0) => (
                Kind::Queue,
                Aim::Queue(&sender.0.queue, PortInfo::default()),
            ),
            Target::Port {
                port,
                key,
                token,
                bytes,
            } if self.owns(port.queue()) => {
                let info = PortInfo {
                    key: *key,
                    bytes: *bytes,
                    token: *token,
                };
                (Kind::Port, Aim::Queue(&port.queue().queue, info))
            }
            Target::Event(event) => (Kind::Event, Aim::Event(event)),
            _ => return Err(Reason::ForeignTarget),
        };
        Ok(Reservation {
            vacant: Core::reserve(&self.core)?,
            kind,
            aim,
        })
    }

    /// True if `queue` (a message queue's or a port's) belongs to this engine.
    #[inline]
    fn owns(&self, queue: &EngineQueue<V>) -> bool {
        Arc::ptr_eq(&queue.core, &self.core)
    }

    /// Submits `verb` and returns a future of the finished verb. Dropping the
    /// future before it resolves cancels the task.
    pub fn submit_future(&self, verb: V) -> Result<TaskFuture<V>, Rejected<V>> {
        match Core::reserve(&self.core) {
            Ok(vacant) => {
                let handle = vacant.fill(verb, Kind::Future, |slot| {
                    *slot = SlotTarget::Future(WakerCell::new())
                });
                Ok(TaskFuture::new(self.core.clone(), handle))
            }
            Err(reason) => Err(Rejected { reason, verb }),
        }
    }

    /// `WinAPPCCancelAsyncRequest`: any `u64` is accepted. When this returns
    /// [`CancelOutcome::Cancelled`], the task's `AP_CANCELLED` completion has
    /// already been posted to its target.
    pub fn cancel(&self, handle: impl Into<u64>) -> CancelOutcome {
        let Some(handle) = Handle::from_raw(handle.into()) else {
            return CancelOutcome::Invalid;
        };
        match self.core.cancel(handle, V::set_cancelled) {
            Verdict::Pending => CancelOutcome::Cancelled,
            Verdict::Already => CancelOutcome::AlreadyCompleted,
            Verdict::Invalid => CancelOutcome::Invalid,
        }
    }

    /// The transport side: the verb of task `handle` finished; `update` fills
    /// in its results and runs only if the task was still pending.
    pub fn complete(&self, handle: Handle, update: impl FnOnce(&mut V)) -> CompleteOutcome {
        complete(&self.core, handle, update)
    }

    /// The finished verb of an event task (the VCB the application reads after
    /// its event is signalled). Frees the task's slot.
    pub fn collect(&self, handle: Handle) -> Result<V, CollectError> {
        self.core.collect(handle)
    }

    /// A new message queue: the sender goes into [`Target::Queue`].
    pub fn queue(&self) -> (Sender<V>, Receiver<V>) {
        let queue = EngineQueue::new(self.core.clone());
        (Sender(queue.clone()), Receiver::new(queue))
    }

    /// A new completion port.
    pub fn port(&self) -> Port<V> {
        Port::new(EngineQueue::new(self.core.clone()))
    }

    /// A handle to this engine's tasks for the layers that finish them.
    pub fn tasks(&self) -> Tasks<V> {
        Tasks {
            core: self.core.clone(),
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn core(&self) -> &Arc<Core<V>> {
        &self.core
    }

    /// Under loom: makes the calling thread the owner of its home shard if
    /// nobody owns it (true if it did), as its first submission does
    /// outside loom. Models claim explicitly, so that each runs the
    /// free-list protocol it is about (see [`crate::table`]).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn claim_home_shard(&self) -> bool {
        self.core.table.try_claim(crate::sync::current_thread())
    }

    /// Under loom: gives the calling thread's shard up, as its exit does
    /// outside loom.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn disown_home_shard(&self) {
        self.core.table.disown(crate::sync::current_thread());
    }

    /// Occupancy and memory figures (scans the table: not for hot paths).
    pub fn stats(&self) -> Stats {
        let slots = self.core.table.allocated_slots();
        let slot_overhead_bytes = crate::table::slot_overhead();
        Stats {
            live_tasks: self.core.live_tasks(),
            table_bytes: slots * self.core.table.slot_bytes(),
            state_bytes: slots * slot_overhead_bytes,
            slot_bytes: self.core.table.slot_bytes(),
            slot_overhead_bytes,
        }
    }
}

/// A cloneable handle to one engine's tasks, for the layers that finish
/// them on threads of their own (a transport's reactor, the APPC layer's
/// conversations): complete a task, or submit a follow-on one (a posting
/// verb's post). It does not keep the engine open: once the engine is
/// cleaned up, submissions are refused and every pending task has been
/// cancelled, so completions find them finished.
pub struct Tasks<V: Request = Verb> {
    core: Arc<Core<V>>,
}

impl<V: Request> Clone for Tasks<V> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

impl<V: Request> Tasks<V> {
    /// [`Engine::complete`].
    #[inline]
    pub fn complete(&self, handle: Handle, update: impl FnOnce(&mut V)) -> CompleteOutcome {
        complete(&self.core, handle, update)
    }

    /// [`Engine::submit`] to an event.
    pub fn submit_to_event(&self, verb: V, event: &Event) -> Result<Handle, Rejected<V>> {
        match Core::reserve(&self.core) {
            Ok(vacant) => Ok(vacant.fill(verb, Kind::Event, |slot| slot.aim_at_event(event))),
            Err(reason) => Err(Rejected { reason, verb }),
        }
    }

    /// Whether task `handle` is still pending: not finished, not
    /// cancelled. A layer that runs a verb later than it was submitted asks
    /// this first, so that a verb cancelled meanwhile never takes effect.
    /// (Only a snapshot: a cancel may still win right after.)
    #[inline]
    pub fn is_pending(&self, handle: Handle) -> bool {
        self.core
            .table
            .slot(handle)
            .is_some_and(|slot| slot.state.load().verdict(handle.generation()) == Verdict::Pending)
    }

    /// True if both handles name the same engine.
    pub fn same_engine(&self, other: &Tasks<V>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

impl<V: Request> fmt::Debug for Tasks<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks")
            .field("tag", &self.core.table.tag())
            .finish_non_exhaustive()
    }
}

/// A slot taken for a task whose verb is not stored yet
/// ([`Engine::reserve`]): nobody else can reach it. Dropped unfilled, it
/// goes back to its free list.
pub struct Reservation<'a, V: Request> {
    vacant: Vacant<'a, V>,
    kind: Kind,
    aim: Aim<'a>,
}

impl<V: Request> Reservation<'_, V> {
    /// Stores `verb` as the task: from now on it is pending, its handle
    /// names it, and it gets exactly one completion.
    #[inline(always)]
    pub fn fill(self, verb: V) -> Handle {
        let Self { vacant, kind, aim } = self;
        vacant.fill(verb, kind, |slot| aim.apply(slot))
    }
}

impl<V: Request> fmt::Debug for Reservation<'_, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation").finish_non_exhaustive()
    }
}

/// Where [`Engine::submit`] aims a new task's slot: a queue or port (with
/// the port's values), or an event. Worked out before a slot is taken, so
/// that a refused target costs no slot.
enum Aim<'a> {
    Queue(&'a Arc<Queue>, PortInfo),
    Event(&'a Event),
}

impl Aim<'_> {
    #[inline(always)]
    fn apply(self, slot: &mut SlotTarget) {
        match self {
            Aim::Queue(queue, info) => slot.aim_at_queue(queue, info),
            Aim::Event(event) => slot.aim_at_event(event),
        }
    }
}

#[inline]
fn complete<V: Request>(
    core: &Core<V>,
    handle: Handle,
    update: impl FnOnce(&mut V),
) -> CompleteOutcome {
    match core.finish(handle, Finisher::Completer, update) {
        Verdict::Pending => CompleteOutcome::Delivered,
        Verdict::Already => CompleteOutcome::Late,
        Verdict::Invalid => CompleteOutcome::Invalid,
    }
}

impl<V: Request> Drop for Engine<V> {
    fn drop(&mut self) {
        self.core.cleanup();
    }
}

impl<V: Request> fmt::Debug for Engine<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("tag", &self.core.table.tag())
            .finish_non_exhaustive()
    }
}
