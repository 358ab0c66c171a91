//! The intrusive completion queue behind the message-queue and port targets.
//!
//! The nodes are the task slots themselves (linked through `Slot::next` by
//! global id), so delivering a completion allocates nothing. Producers push
//! onto a Treiber stack with one CAS; a consumer takes the whole stack with
//! one read-modify-write into a [`Batch`] it owns, which hands the slots out
//! oldest first (each slot's address is looked up once, as the stack is
//! taken). Because nobody ever pops a single node off the shared stack, there is no
//! ABA problem and no tag is needed.
//!
//! A slot in the queue is `FINISHING` with a queue kind: the queue owns it and
//! whoever takes it out of a batch frees it.
//!
//! # The head word
//!
//! | bits   | field    | meaning                                                  |
//! |--------|----------|----------------------------------------------------------|
//! | 0..32  | `TOP`    | global id + 1 of the newest pushed slot (0: empty)       |
//! | 32     | `CLOSED` | the consumers are gone: pushes are refused               |
//! | 33     | `SLEEPY` | a consumer may be asleep: the next push must wake it     |
//!
//! Every transition is a read-modify-write of this one word, so its
//! modification order decides every race, with no fence:
//!
//! * **push vs close**: a push CAS expects a word without `CLOSED`; the close
//!   swaps in `CLOSED` and frees what it took. A push that finds `CLOSED`
//!   pushes nothing and its caller frees the slot itself. Either way the slot
//!   is freed exactly once.
//! * **push vs sleep**: a consumer that found nothing holds the wake lock,
//!   sets `SLEEPY` (`fetch_or`), looks again and only then waits (which
//!   releases the lock). A push that comes after the `fetch_or` reads `SLEEPY`,
//!   clears it in the same CAS and wakes the sleepers: it takes the lock
//!   (so the consumer is already waiting) and notifies. A push before the
//!   `fetch_or` is seen by the consumer's second look. So no wake-up is lost,
//!   and only the first push after a consumer went to sleep pays for a
//!   wake-up; the pushes that follow, while the consumer is still waking,
//!   see no `SLEEPY` and pay nothing.
//! * **push vs an async consumer** ([`Queue::poll_wait`]): the same, with
//!   the consumer's `Waker` left under the wake lock instead of a thread
//!   waiting on the condition variable: the push that clears `SLEEPY`
//!   takes the lock, so it finds the waker registered, and wakes it (after
//!   letting go of the lock). A waker is woken once and forgotten; a
//!   consumer polled again registers again.
//!
//! # Lifetime
//!
//! A task's slot holds a reference to its queue, which stays in the slot
//! after the task is consumed (see [`SlotTarget`](super::SlotTarget)): a
//! submitter aiming the slot at the same queue again clones nothing, and no
//! consumer drops anything, so a steady stream of tasks to one queue takes no
//! reference-count read-modify-write. A queue owns nothing of the engine
//! (its senders and consumers hold the core), so a slot's reference to it
//! makes no cycle: the core's table drops the references its slots hold.
//! The flip side: once its CAS has made the slot the consumer's, a pusher
//! may find the queue freed (the slot consumed, freed and re-aimed at
//! another queue). So a push never touches the queue after its CAS:
//! everything it needs after it (whether to wake, and the wake lock) comes
//! from the CAS's result and from its own reference to the [`Wake`], taken
//! before the CAS while the slot still kept the queue alive.

use super::notify;
use super::PortInfo;
use crate::core::Core;
use crate::handle::Handle;
use crate::sync::{lock, Arc, AtomicU64, Condvar, Mutex, Ordering::*};
use crate::table::Slot;
use crossbeam_utils::CachePadded;
use std::fmt;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const TOP: u64 = u32::MAX as u64;
const CLOSED: u64 = 1 << 32;
const SLEEPY: u64 = 1 << 33;
const NIL: u32 = 0;

/// Shared state of one completion queue.
pub(crate) struct Queue {
    head: CachePadded<AtomicU64>,
    wake: Arc<Wake>,
}

/// A queue together with the engine its tasks live in: what a sender, a
/// receiver and a port hold. The core reference is theirs, not the
/// queue's (see the module doc's lifetime notes).
pub(crate) struct EngineQueue<V> {
    pub(crate) queue: Arc<Queue>,
    pub(crate) core: Arc<Core<V>>,
}

impl<V> Clone for EngineQueue<V> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            core: self.core.clone(),
        }
    }
}

impl<V: crate::Request> EngineQueue<V> {
    /// A new, empty queue of `core`'s engine.
    pub(crate) fn new(core: Arc<Core<V>>) -> Self {
        Self {
            queue: Arc::new(Queue::new()),
            core,
        }
    }

    /// Takes the oldest completion off the queue: its slot, now owned by
    /// the caller, who frees it with [`Core::consume`].
    #[inline]
    pub(crate) fn pop(&self, batch: &mut Batch<V>) -> Option<(u32, &Slot<V>)> {
        self.queue.pop(&self.core, batch)
    }

    /// Takes the task out of a slot [`EngineQueue::pop`] gave and frees it
    /// (see [`Core::consume`]).
    #[inline(always)]
    pub(crate) fn consume<T>(
        &self,
        (id, slot): (u32, &Slot<V>),
        make: impl FnOnce(Handle, PortInfo, V) -> T,
    ) -> T {
        self.core.consume(id, slot, make)
    }

    /// Refuses further completions and frees every queued one (the last
    /// consumer is gone).
    pub(crate) fn close(&self, batch: &mut Batch<V>) {
        self.queue.close(&self.core, batch);
    }
}

/// Where consumers sleep. Shared by reference count with the pushers that
/// wake them, so a wake-up stays valid when the queue itself is gone.
struct Wake {
    sleepers: Mutex<Sleepers>,
    cond: Condvar,
}

impl Wake {
    /// Wakes everyone waiting for a push. The sleepers hold the lock from
    /// their `fetch_or` of `SLEEPY` until they wait, so once we have taken
    /// it every one of them is waiting.
    #[cold]
    #[inline(never)]
    fn wake_all(&self) {
        let (first, more) = lock(&self.sleepers).take();
        self.cond.notify_all();
        first.into_iter().chain(more).for_each(Waker::wake);
    }
}

/// Who waits for the next push.
#[derive(Default)]
struct Sleepers {
    /// Threads waiting on `cond`.
    threads: usize,
    /// Async consumers' wakers, each to be woken once: the first (the
    /// common case, one task awaiting its port) kept inline, so that
    /// registering and waking allocate nothing.
    waker: Option<Waker>,
    more: Vec<Waker>,
}

impl Sleepers {
    fn none(&self) -> bool {
        self.threads == 0 && self.waker.is_none()
    }

    fn register(&mut self, waker: &Waker) {
        match &self.waker {
            None => self.waker = Some(waker.clone()),
            Some(first) if first.will_wake(waker) => {}
            Some(_) => {
                if !self.more.iter().any(|w| w.will_wake(waker)) {
                    self.more.push(waker.clone());
                }
            }
        }
    }

    /// The wakers to wake, taken.
    fn take(&mut self) -> (Option<Waker>, Vec<Waker>) {
        let more = if self.more.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut self.more)
        };
        (self.waker.take(), more)
    }
}

/// Slots a consumer has taken off the shared stack and not yet popped,
/// newest first (popped from the end, so oldest first), each with its
/// global id and its address, looked up once, as the stack was taken.
/// Its buffer is kept: only a larger batch than any before allocates.
pub(crate) struct Batch<V> {
    taken: Vec<(u32, NonNull<Slot<V>>)>,
}

impl<V> Default for Batch<V> {
    fn default() -> Self {
        Self { taken: Vec::new() }
    }
}

impl<V> fmt::Debug for Batch<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("taken", &self.taken.len())
            .finish()
    }
}

// SAFETY: the addresses name slots of the batch's engine, whose consumer
// (the batch's owner) holds the engine, and whose pages are freed only with
// it; the slots are owned by whoever holds the batch (queued, FINISHING),
// and their verbs are `Send`. Moving the batch to another thread moves that
// ownership, nothing else.
unsafe impl<V: Send> Send for Batch<V> {}

impl Queue {
    pub(crate) fn new() -> Self {
        Self {
            head: CachePadded::new(AtomicU64::new(u64::from(NIL))),
            wake: Arc::new(Wake {
                sleepers: Mutex::new(Sleepers::default()),
                cond: Condvar::new(),
            }),
        }
    }

    /// Pushes `slot` (global id `id`), owned by the caller in `FINISHING`.
    /// True if ownership passed to the queue; false if the queue is closed,
    /// and the caller still owns (and must free) the slot.
    ///
    /// # Safety
    /// `this` points to a live queue, and the slot's own reference keeps it
    /// alive until the CAS that hands the slot (and that reference) over to
    /// the consumer. This function does not touch the queue after that CAS
    /// (see the module docs), which is why it takes a pointer and not
    /// `&self`: the queue may be freed while it still runs.
    #[inline(always)]
    pub(crate) unsafe fn push<V>(this: *const Self, id: u32, slot: &Slot<V>) -> bool {
        // The queue is only reachable inside this block; what comes after
        // the CAS can use nothing of it but `wake`, the pusher's own.
        let wake = {
            // SAFETY: the caller keeps the queue alive until the CAS succeeds.
            let queue = unsafe { &*this };
            let mut wake = None;
            let mut head = queue.head.load(Relaxed);
            loop {
                if head & CLOSED != 0 {
                    return false;
                }
                if head & SLEEPY != 0 && wake.is_none() {
                    wake = Some(queue.wake.clone());
                }
                slot.next.store(head as u32, Relaxed);
                let pushed = (head & !(TOP | SLEEPY)) | u64::from(id + 1);
                match queue
                    .head
                    .compare_exchange_weak(head, pushed, Release, Relaxed)
                {
                    Ok(_) => break wake.filter(|_| head & SLEEPY != 0),
                    Err(actual) => head = actual,
                }
            }
        };
        // The slot is the consumer's now and the queue may be gone. If the
        // CAS cleared SLEEPY, waking is ours.
        if let Some(wake) = wake {
            crate::sync::took!(PushWokeSleepers);
            wake.wake_all();
        }
        true
    }

    /// Takes the oldest completion: its slot and global id, now owned by the
    /// caller in `FINISHING`. `core` is the queue's engine (its consumer's).
    #[inline]
    pub(crate) fn pop<'a, V: crate::Request>(
        &self,
        core: &'a Core<V>,
        batch: &mut Batch<V>,
    ) -> Option<(u32, &'a Slot<V>)> {
        if batch.taken.is_empty() {
            self.refill(core, batch);
        }
        let (id, slot) = batch.taken.pop()?;
        // SAFETY: the address was taken from a slot of `core`'s table (the
        // queue's engine, see `refill`), whose pages live as long as it.
        Some((id, unsafe { slot.as_ref() }))
    }

    /// Takes everything pushed so far into the (empty) `batch`: the stack
    /// runs from the newest completion to the oldest, and so does the
    /// batch, which is popped from its end.
    fn refill<V: crate::Request>(&self, core: &Core<V>, batch: &mut Batch<V>) {
        if self.head.load(Relaxed) & TOP == u64::from(NIL) {
            return;
        }
        let mut top = (self.head.fetch_and(!TOP, Acquire) & TOP) as u32;
        while top != NIL {
            let slot = core.table.by_id(top - 1);
            batch.taken.push((top - 1, NonNull::from(slot)));
            top = slot.next.load(Relaxed);
        }
    }

    /// Returns the first `Some` of `poll` (which pops this queue), sleeping
    /// between tries; `None` once `timeout` (if any) has passed.
    pub(crate) fn wait<T>(
        &self,
        timeout: Option<Duration>,
        mut poll: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        if let Some(item) = notify::spin(&mut poll, timeout) {
            return Some(item);
        }
        // A timeout too large to represent is no timeout.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut sleepers = lock(&self.wake.sleepers);
        loop {
            self.head.fetch_or(SLEEPY, Acquire);
            // Leaving: if nobody else relies on SLEEPY (they would be
            // waiting, under this lock), spare the next push a wake-up.
            if let Some(item) = poll() {
                if sleepers.none() {
                    self.head.fetch_and(!SLEEPY, Relaxed);
                }
                return Some(item);
            }
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.saturating_duration_since(Instant::now()) {
                    left if left.is_zero() => {
                        if sleepers.none() {
                            self.head.fetch_and(!SLEEPY, Relaxed);
                        }
                        return None;
                    }
                    left => Some(left),
                },
            };
            sleepers.threads += 1;
            crate::sync::took!(ConsumerSlept);
            sleepers = notify::sleep(&self.wake.cond, sleepers, left);
            sleepers.threads -= 1;
        }
    }

    /// [`wait`](Self::wait) for async code: the first `Some` of `poll`, or
    /// `Pending` with `cx`'s waker registered for the next push (see the
    /// module docs).
    pub(crate) fn poll_wait<T>(
        &self,
        cx: &mut Context<'_>,
        mut poll: impl FnMut() -> Option<T>,
    ) -> Poll<T> {
        if let Some(item) = poll() {
            return Poll::Ready(item);
        }
        let mut sleepers = lock(&self.wake.sleepers);
        self.head.fetch_or(SLEEPY, Acquire);
        if let Some(item) = poll() {
            if sleepers.none() {
                self.head.fetch_and(!SLEEPY, Relaxed);
            }
            return Poll::Ready(item);
        }
        sleepers.register(cx.waker());
        Poll::Pending
    }

    /// Closes the queue and frees everything in it; later pushes are refused
    /// (their completers free the slot).
    pub(crate) fn close<V: crate::Request>(&self, core: &Core<V>, batch: &mut Batch<V>) {
        let mut top = (self.head.swap(CLOSED, Acquire) & TOP) as u32;
        while let Some((id, slot)) = self.pop(core, batch) {
            core.discard(id, slot);
        }
        while top != NIL {
            let slot = core.table.by_id(top - 1);
            let next = slot.next.load(Relaxed);
            core.discard(top - 1, slot);
            top = next;
        }
    }
}
