//! The engine core shared by the [`Engine`](crate::Engine), its completion
//! targets and its futures: the task table plus the finish / deliver /
//! consume steps that move a task through the state word.
//!
//! Every step here starts from a state-word transition (see
//! [`crate::state`]) and touches the slot's cells only while that transition
//! makes the caller their owner.

use crate::completion::intrusive::Queue;
use crate::completion::{event, PortInfo, SlotTarget};
use crate::handle::Handle;
use crate::state::{Finisher, Kind, Published, State, Verdict};
use crate::sync::{current_thread, Arc, AtomicBool, Ordering::*, Thread};
use crate::table::{self, Slot, Table, Vacant};
use crate::Request;
use std::mem;

pub(crate) struct Core<V> {
    pub(crate) table: Table<V>,
    closed: AtomicBool,
    /// Run on the verb of every cancel that wins, before it is marked and
    /// delivered (see [`Core::cancel`]).
    teardown: Option<Teardown<V>>,
}

/// What a layer above the core does when one of its tasks is cancelled: the
/// APPC layer purges the conversation and closes its session, or ends the
/// TP. It runs on the cancelling thread while the canceller owns the task
/// (state `FINISHING`), before the task is marked `AP_CANCELLED` and
/// delivered, so it must not wait for that task; completing *other* tasks
/// is fine.
pub type Teardown<V> = Box<dyn Fn(Handle, &mut V) + Send + Sync>;

/// Why a submission was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The engine was cleaned up (`WinAPPCCleanup`).
    CleanedUp,
    /// No slot could be had: every slot of the task table is in use, or the
    /// free ones sit on the private free list of a thread that owns a shard
    /// and has not submitted since (it reuses them on its next submit, and
    /// hands them back when it exits; see the `table` module).
    Full,
    /// The completion target belongs to another engine instance.
    ForeignTarget,
}

/// Why [`Engine::collect`](crate::Engine::collect) returned no verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CollectError {
    /// The task has not finished yet.
    NotReady,
    /// The handle was never issued by this engine.
    Invalid,
    /// The task's verb was already collected.
    Collected,
    /// The task reports to a queue, a port or a future, not to an event.
    NotAnEventTask,
}

impl<V: Request> Core<V> {
    /// A core for at least `capacity` tasks; `None` if every engine tag is
    /// held by a live engine or out of generations.
    pub(crate) fn new(capacity: usize, teardown: Option<Teardown<V>>) -> Option<Self> {
        let (tag, first) = crate::sync::take_engine_tag()?;
        Some(Self {
            table: Table::new(tag, first, capacity),
            closed: AtomicBool::new(false),
            teardown,
        })
    }

    /// Cancels a pending task: on a win, the teardown runs, then `mark`
    /// records the cancellation in the verb, then the task is delivered.
    pub(crate) fn cancel(&self, handle: Handle, mark: impl FnOnce(&mut V)) -> Verdict {
        self.finish(handle, Finisher::Canceller, |verb| {
            if let Some(teardown) = &self.teardown {
                teardown(handle, verb);
            }
            mark(verb);
        })
    }

    pub(crate) fn id(&self, handle: Handle) -> u32 {
        table::id(handle.shard(), handle.index())
    }

    fn handle(&self, id: u32, generation: u32) -> Handle {
        let (shard, index) = table::split_id(id);
        Handle::pack(self.table.tag(), shard, index, generation)
    }

    /// The slot of a task the caller owns a handle to (a future's).
    pub(crate) fn slot(&self, handle: Handle) -> &Slot<V> {
        self.table
            .slot(handle)
            .expect("a future's handle names a slot of its engine")
    }

    /// A slot for a new task, its verb not stored yet (see
    /// [`Vacant`]).
    ///
    /// The common case, a thread that owns its home shard and finds a slot
    /// on its private free list, is one flag load and a few plain loads and
    /// stores; everything else (claiming the home shard, other shards, the
    /// shared lists, never-used slots) is [`Core::reserve_slow`].
    #[inline]
    pub(crate) fn reserve(this: &Arc<Self>) -> Result<Vacant<'_, V>, Reason> {
        // Cleanup never runs beside a submit (it takes `&mut Engine`), so a
        // plain flag suffices.
        if this.closed.load(Relaxed) {
            return Err(Reason::CleanedUp);
        }
        let me = current_thread();
        match this.table.pop_home(me) {
            Some(vacant) => Ok(vacant),
            None => Self::reserve_slow(this, me),
        }
    }

    /// [`Core::reserve`] off the owner's private list: the submitting
    /// thread is first made the owner of its home shard if nobody owns it
    /// yet (see [`crate::table`]; the ownership is given back when the
    /// thread exits).
    #[cold]
    #[inline(never)]
    fn reserve_slow(this: &Arc<Self>, me: Thread) -> Result<Vacant<'_, V>, Reason> {
        #[cfg(not(loom))]
        if this.table.home_unowned(me) {
            claim_home(this, me);
            if let Some(vacant) = this.table.pop_home(me) {
                return Ok(vacant);
            }
        }
        this.table.alloc_slow(me).ok_or(Reason::Full)
    }

    /// Completes (`who == Completer`) or cancels a pending task: the race of
    /// the state word. The winner updates the verb with `update` and delivers.
    pub(crate) fn finish(
        &self,
        handle: Handle,
        who: Finisher,
        update: impl FnOnce(&mut V),
    ) -> Verdict {
        let Some(slot) = self.table.slot(handle) else {
            return Verdict::Invalid;
        };
        match slot.state.finish(handle.generation(), who) {
            Ok(owned) => {
                // The task was accepted, so it gets its one completion even if
                // `update` (caller code) panics: the guard delivers on unwind.
                let id = self.id(handle);
                let delivery = DeliverOnDrop {
                    core: self,
                    id,
                    slot,
                    owned,
                };
                // SAFETY: the CAS made us the owner of the verb.
                unsafe { slot.with_verb(update) };
                // Delivered here rather than by the guard's drop, which the
                // compiler keeps out of line.
                mem::forget(delivery);
                self.deliver(id, slot, owned);
                Verdict::Pending
            }
            Err(seen) => match seen.verdict(handle.generation()) {
                Verdict::Pending => unreachable!("a failed CAS from PENDING sees a later state"),
                verdict => verdict,
            },
        }
    }

    /// Hands a finished task (owned in `FINISHING`) to its target: queue
    /// and port tasks inline (one push), the others out of line.
    #[inline(always)]
    fn deliver(&self, id: u32, slot: &Slot<V>, owned: State) {
        match owned.kind() {
            Kind::Queue | Kind::Port => {
                // SAFETY: a queue task's target is only read until it is
                // consumed, and we own the task.
                let queue = unsafe {
                    slot.with_target(|target| match target {
                        SlotTarget::Queue(queue, _) => Arc::as_ptr(queue),
                        _ => unreachable!("queue task without a queue"),
                    })
                };
                // SAFETY: the slot's reference keeps the queue alive until
                // `push` hands the slot over, and `push` does not touch the
                // queue after that.
                if !unsafe { Queue::push(queue, id, slot) } {
                    // Closed: the task is ours to free (nobody will consume it).
                    self.discard(id, slot);
                }
            }
            Kind::Event => self.publish_event(slot, owned),
            Kind::Future => self.publish_future(id, slot, owned),
        }
    }

    /// [`Core::deliver`] to an event: `READY`, then the signal.
    #[inline(never)]
    fn publish_event(&self, slot: &Slot<V>, owned: State) {
        // The slot keeps its event; the delivery signals through a
        // reference of its thread's, since the slot may be re-aimed once it
        // is READY.
        event::publish_and_set(
            // SAFETY: we own an event task's target in FINISHING (`aim`
            // runs before `publish`).
            |spare| unsafe { slot.with_target(|target| target.event().or_clone(spare)) },
            || slot.state.publish_unshared(owned),
        );
    }

    /// [`Core::deliver`] to a future: `READY` and a wake-up, or the slot
    /// freed if the future was dropped meanwhile.
    #[inline(never)]
    fn publish_future(&self, id: u32, slot: &Slot<V>, owned: State) {
        // SAFETY: a future task's target stays in place until the task is
        // taken; the waker cell has its own protocol.
        let waker = unsafe {
            slot.with_target(|target| match target {
                SlotTarget::Future(cell) => cell.close(),
                _ => unreachable!("future task without a waker cell"),
            })
        };
        match slot.state.publish(owned) {
            Published::Ready => {
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
            Published::Abandoned => {
                drop(waker);
                self.discard(id, slot);
            }
        }
    }

    /// Takes the verb of a `READY` task whose handle the caller holds.
    pub(crate) fn take_ready(&self, handle: Handle) -> Option<V> {
        let slot = self.table.slot(handle)?;
        let owned = slot.state.take(handle.generation()).ok()?;
        Some(self.consume_owned(self.id(handle), slot, owned))
    }

    /// `Engine::collect`: the verb of a finished event task.
    ///
    /// Never inlined: whether LLVM inlined it into the caller's loop varied
    /// between builds of the same source, and inlined it measured slower
    /// (`lifecycle_1thread/engine/event_collect`; the figures are in
    /// `docs/design.md#small-things-measured`).
    #[inline(never)]
    pub(crate) fn collect(&self, handle: Handle) -> Result<V, CollectError> {
        let slot = self.table.slot(handle).ok_or(CollectError::Invalid)?;
        let seen = slot.state.load();
        if seen.kind() != Kind::Event {
            return Err(collect_error(seen, handle));
        }
        // The error is read from the word the take saw, not from a second
        // load: a delivery publishing `READY` between the two made a task
        // that was not ready yet look collected (found by the
        // `event_reaim` loom model).
        match slot.state.take_from(seen, handle.generation()) {
            Ok(owned) => {
                // Not `consume_owned`: the slot keeps an event task's event
                // (see `completion::event`), so only the verb comes out.
                // (The general path cost 50 of the 397 instructions of a
                // single-thread lifecycle, by callgrind.)
                // SAFETY: the take made us the owner of the slot in
                // FINISHING, and a READY task's verb is initialised.
                let verb = unsafe { slot.take_verb() };
                self.table.release(self.id(handle), slot, owned);
                Ok(verb)
            }
            Err(seen) => Err(collect_error(seen, handle)),
        }
    }

    /// Takes the task out of a slot a queue consumer popped (it owns it in
    /// `FINISHING`) and frees it: `make` turns its handle, port values and
    /// verb into what the consumer returns. Inlined into the consumer, so
    /// that the verb moves once, from the slot into the consumer's
    /// [`Packet`](crate::Packet) or [`Completion`](crate::Completion). The
    /// slot keeps its queue reference (see `intrusive`'s lifetime notes).
    #[inline(always)]
    pub(crate) fn consume<T>(
        &self,
        id: u32,
        slot: &Slot<V>,
        make: impl FnOnce(Handle, PortInfo, V) -> T,
    ) -> T {
        let me = current_thread();
        let owned = slot.state.load();
        debug_assert!(matches!(owned.kind(), Kind::Queue | Kind::Port));
        let handle = self.handle(id, owned.generation());
        self.table.release_with(me, id, slot, owned, || {
            // SAFETY: the slot is ours until `release_with` lists it (see
            // there), and nobody else reads a queued task's target.
            unsafe {
                make(
                    handle,
                    slot.with_target(SlotTarget::port_info),
                    slot.take_verb(),
                )
            }
        })
    }

    /// Drops the task in an owned slot and frees it.
    pub(crate) fn discard(&self, id: u32, slot: &Slot<V>) {
        let owned = slot.state.load();
        match owned.kind() {
            Kind::Queue | Kind::Port => self.consume(id, slot, |_, _, verb| drop(verb)),
            Kind::Event | Kind::Future => drop(self.consume_owned(id, slot, owned)),
        }
    }

    /// A dropped future's pending task, which the drop cancelled and now
    /// owns (`FINISHING`): the drop is its cancel, so the teardown runs on
    /// its verb as in [`Core::cancel`]; then the task is freed undelivered.
    pub(crate) fn discard_abandoned(&self, handle: Handle, slot: &Slot<V>) {
        if let Some(teardown) = &self.teardown {
            // SAFETY: the abandon CAS (PENDING -> FINISHING) made the
            // caller the owner of the verb.
            unsafe { slot.with_verb(|verb| teardown(handle, verb)) };
        }
        self.discard(self.id(handle), slot);
    }

    /// Moves the verb out of an owned, finished future task, empties its
    /// target (the waker cell) and frees it. Queued tasks go through
    /// [`Core::consume`], event tasks through `collect`, which keeps their
    /// event.
    fn consume_owned(&self, id: u32, slot: &Slot<V>, owned: State) -> V {
        debug_assert!(matches!(owned.kind(), Kind::Event | Kind::Future));
        // SAFETY: the caller owns the slot in FINISHING; the waker cell is
        // closed or its future is the caller or gone.
        let verb = unsafe {
            drop(slot.with_target_mut(|target| mem::replace(target, SlotTarget::Empty)));
            slot.take_verb()
        };
        self.table.release(id, slot, owned);
        verb
    }

    /// `WinAPPCCleanup`: refuse new tasks and cancel every pending one (each
    /// still gets its `AP_CANCELLED` completion). False if already done.
    ///
    /// The caller guarantees no submit runs concurrently (`Engine::cleanup`
    /// takes `&mut self`, `Drop` owns the engine), so the scan sees every
    /// task. Completers and cancellers may still run: the scan's cancels race
    /// them on each task's state word like any other cancel.
    pub(crate) fn cleanup(&self) -> bool {
        if self.closed.swap(true, Relaxed) {
            return false;
        }
        self.table.for_each_slot(|id, slot| {
            let seen = slot.state.load();
            if seen.is_pending() {
                let handle = self.handle(id, seen.generation());
                let _ = self.cancel(handle, V::set_cancelled);
            }
        });
        true
    }

    /// Tasks submitted and not yet consumed.
    pub(crate) fn live_tasks(&self) -> usize {
        let mut live = 0;
        self.table
            .for_each_slot(|_, slot| live += usize::from(slot.state.load().is_live()));
        live
    }
}

impl<V> Drop for Core<V> {
    fn drop(&mut self) {
        crate::sync::release_engine_tag(self.table.tag(), self.table.next_floor());
    }
}

/// Why `collect` found no verb for `handle` in a slot whose word is `seen`.
#[cold]
fn collect_error(seen: State, handle: Handle) -> CollectError {
    match seen.verdict(handle.generation()) {
        Verdict::Invalid => CollectError::Invalid,
        _ if seen.generation() != handle.generation() || !seen.is_live() => CollectError::Collected,
        _ if seen.kind() != Kind::Event => CollectError::NotAnEventTask,
        _ if seen.is_taken() => CollectError::Collected,
        // PENDING or FINISHING. (A READY word of this generation is taken,
        // so it never gets here: a failed take hands over the word it lost
        // to, which has moved on.)
        _ => CollectError::NotReady,
    }
}

/// Delivers an owned, finished task when dropped (see [`Core::finish`]).
struct DeliverOnDrop<'a, V: Request> {
    core: &'a Core<V>,
    id: u32,
    slot: &'a Slot<V>,
    owned: State,
}

impl<V: Request> Drop for DeliverOnDrop<'_, V> {
    #[inline]
    fn drop(&mut self) {
        self.core.deliver(self.id, self.slot, self.owned);
    }
}

/// Makes `me` the owner of its home shard (if it still has none) and arranges
/// for the shard to be given back when the thread exits.
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn claim_home<V: Request>(core: &Arc<Core<V>>, me: Thread) {
    if core.table.try_claim(me) {
        crate::sync::at_thread_exit(Box::new(Disown {
            core: Arc::downgrade(core),
            me,
        }));
    }
}

/// Gives a shard back when its owning thread exits.
#[cfg(not(loom))]
struct Disown<V> {
    core: crate::sync::Weak<Core<V>>,
    me: Thread,
}

#[cfg(not(loom))]
impl<V: Request> crate::sync::AtExit for Disown<V> {
    fn is_stale(&self) -> bool {
        self.core.strong_count() == 0
    }

    fn run(self: Box<Self>) {
        if let Some(core) = self.core.upgrade() {
            core.table.disown(self.me);
        }
    }
}
