//! The task table: a generation-tagged sharded slab.
//!
//! Each shard owns up to `2^INDEX.len` slots in pages of doubling size
//! (`INITIAL_PAGE << n`), allocated on first use and never freed before the
//! table is dropped, so a slot's address is stable and a lookup is two loads
//! (page pointer, state word) with no lock and no reference count.
//!
//! Each shard has two free lists, as in mimalloc and `sharded-slab`:
//!
//! * a **private** list owned by one thread (the first to allocate from it as
//!   its home shard), which pushes and pops it with plain loads and stores;
//! * a **shared** Treiber stack whose head packs an ABA counter with the top
//!   index, for frees by other threads and allocations by threads that own no
//!   shard. The owner takes the whole shared list in one CAS when its private
//!   list runs dry.
//!
//! Never-used slots are handed out by a bump counter. A thread allocates from
//! its home shard and spills to the others when it is full; a freed slot goes
//! back to the shard it came from. So a thread that submits and consumes its
//! own tasks (the common gateway pattern, even when another thread completes
//! them) allocates and frees without a single atomic read-modify-write on the
//! free lists. A thread gives its shard up when it exits
//! ([`Table::disown`]), its private list joining the shared one. Under loom
//! every thread has a token of its own and shard 0 as its home, and a
//! thread owns it only when its model claims it (`Engine::claim_home_shard`,
//! `Engine::disown_home_shard`): the ownership models run the owner's path,
//! the adoption of remote frees and the hand-over, and the other models the
//! shared lists. Loom checks that the private list is never touched by two
//! threads without the ownership hand-over ordering them.
//!
//! Generations only move forward: [`StateCell::release`] bumps them, and a
//! slot at [`LAST_GENERATION`](crate::handle::LAST_GENERATION) is retired
//! rather than pushed back. With 32-bit generations that costs one slot per
//! four billion reuses of it, and buys handles that can never alias. A
//! table's slots start at its tag's floor ([`crate::tags`]), above every
//! generation an earlier engine with the same tag issued, so that holds
//! across engines too.

use crate::completion::SlotTarget;
use crate::handle::{Generation, Handle, INDEX, SHARD};
use crate::state::{Kind, State, StateCell};
use crate::sync::{AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering::*, Thread, UnsafeCell};
use crossbeam_utils::CachePadded;
use std::mem::MaybeUninit;
use std::ptr;

/// Number of shards.
pub(crate) const SHARDS: usize = 1 << SHARD.len;
/// Slots per shard.
pub(crate) const SHARD_CAPACITY: usize = 1 << INDEX.len;
/// The most tasks one table holds.
pub(crate) const CAPACITY: usize = SHARDS * SHARD_CAPACITY;

#[cfg(not(loom))]
const INITIAL_PAGE_SHIFT: u32 = 5;
#[cfg(loom)]
const INITIAL_PAGE_SHIFT: u32 = 1;
const INITIAL_PAGE: usize = 1 << INITIAL_PAGE_SHIFT;
const PAGES: usize = page_of(SHARD_CAPACITY - 1) + 1;

/// The page holding slot `index`: page `n` starts at `INITIAL_PAGE * (2^n - 1)`.
const fn page_of(index: usize) -> usize {
    let x = (index + INITIAL_PAGE) >> INITIAL_PAGE_SHIFT;
    (usize::BITS - 1 - x.leading_zeros()) as usize
}

const fn page_start(page: usize) -> usize {
    INITIAL_PAGE * ((1 << page) - 1)
}

/// Slots in page `page`: doubling, except that the last page stops at
/// [`SHARD_CAPACITY`] (no index beyond it can be addressed).
const fn page_len(page: usize) -> usize {
    let doubled = INITIAL_PAGE << page;
    let room = SHARD_CAPACITY - page_start(page);
    if doubled < room {
        doubled
    } else {
        room
    }
}

/// One task's storage. `state` says who owns `target` and `verb` (see
/// [`crate::state`]); `next` links the slot into a free list or a completion
/// queue, never both at once.
pub(crate) struct Slot<V> {
    pub(crate) state: StateCell,
    pub(crate) next: AtomicU32,
    target: UnsafeCell<SlotTarget>,
    verb: UnsafeCell<MaybeUninit<V>>,
}

impl<V> Slot<V> {
    fn new(generation: Generation) -> Self {
        Self {
            state: StateCell::new(generation),
            next: AtomicU32::new(0),
            target: UnsafeCell::new(SlotTarget::Empty),
            verb: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Stores a new task's verb; `target` points the slot's target (empty,
    /// or the event a previous task left, see [`SlotTarget`]) at the task's.
    ///
    /// # Safety
    /// The caller owns the slot in `FREE` (it popped it off a free list).
    #[inline(always)]
    unsafe fn fill(&self, verb: V, target: impl FnOnce(&mut SlotTarget)) {
        // SAFETY: the caller owns the slot.
        self.verb.with_mut(|v| unsafe { (*v).write(verb) });
        // SAFETY: as above.
        self.target.with_mut(|t| target(unsafe { &mut *t }));
    }

    /// Runs `f` on the verb.
    ///
    /// # Safety
    /// The caller owns the slot in `FINISHING` and the verb is initialised.
    #[inline(always)]
    pub(crate) unsafe fn with_verb<R>(&self, f: impl FnOnce(&mut V) -> R) -> R {
        // SAFETY: the caller owns the verb, which is initialised.
        self.verb.with_mut(|v| f(unsafe { (*v).assume_init_mut() }))
    }

    /// Reads the target.
    ///
    /// # Safety
    /// The slot holds a task (not `FREE`) whose target nobody is replacing:
    /// targets are only written by the owner in `FREE` and at release.
    #[inline(always)]
    pub(crate) unsafe fn with_target<R>(&self, f: impl FnOnce(&SlotTarget) -> R) -> R {
        // SAFETY: the caller guarantees no concurrent writer.
        self.target.with(|t| f(unsafe { &*t }))
    }

    /// Runs `f` on the target with exclusive access.
    ///
    /// # Safety
    /// The caller owns the slot in `FINISHING` and nobody shares the target
    /// (true for every kind but a future's, whose waker cell is shared).
    #[inline(always)]
    pub(crate) unsafe fn with_target_mut<R>(&self, f: impl FnOnce(&mut SlotTarget) -> R) -> R {
        // SAFETY: the caller guarantees exclusive access.
        self.target.with_mut(|t| f(unsafe { &mut *t }))
    }

    /// Moves the verb out.
    ///
    /// # Safety
    /// The caller owns the slot in `FINISHING` and the verb is initialised;
    /// it is not read again before the next `fill`.
    #[inline(always)]
    pub(crate) unsafe fn take_verb(&self) -> V {
        // SAFETY: as the caller guarantees.
        self.verb.with_mut(|v| unsafe { (*v).assume_init_read() })
    }

    /// Moves the verb out and empties the target, ready for release.
    ///
    /// # Safety
    /// The caller owns the slot in `FINISHING`, the verb is initialised and
    /// nobody else reads the target any more (a future's waker cell is closed
    /// or its future gone).
    pub(crate) unsafe fn take(&self) -> (V, SlotTarget) {
        // SAFETY: the caller owns the slot; the verb is initialised and is
        // not read again before the next `fill`.
        let verb = self.verb.with_mut(|v| unsafe { (*v).assume_init_read() });
        // SAFETY: as above.
        let target = self
            .target
            .with_mut(|t| unsafe { std::mem::replace(&mut *t, SlotTarget::Empty) });
        (verb, target)
    }
}

/// A slot just taken off a free list (or never used), `FREE` and reachable
/// by nobody else: where a task goes. Finding the slot and storing the verb
/// are two steps, so that a submission that finds no slot gives its verb
/// back untouched, and one that finds a slot moves its verb once, from the
/// caller straight into the slot. Dropped unfilled, it gives its slot back.
pub(crate) struct Vacant<'a, V> {
    tag: u8,
    shard: usize,
    index: usize,
    slot: &'a Slot<V>,
    from: &'a Shard<V>,
}

impl<V> Vacant<'_, V> {
    /// Stores the task and makes it `PENDING`; `target` makes the task's
    /// target in place.
    #[inline(always)]
    pub(crate) fn fill(self, verb: V, kind: Kind, target: impl FnOnce(&mut SlotTarget)) -> Handle {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: a `Vacant` owns its slot in `FREE`, and it is consumed
        // here without its drop: the slot is filled once.
        unsafe { this.slot.fill(verb, target) };
        let generation = this.slot.state.claim(kind);
        Handle::pack(this.tag, this.shard, this.index, generation)
    }
}

impl<V> Drop for Vacant<'_, V> {
    /// An unfilled slot goes back on a free list, still `FREE` at its
    /// generation (no handle named it).
    fn drop(&mut self) {
        self.from
            .push_free(self.index, self.slot, crate::sync::current_thread());
    }
}

/// One shard: an owner, two free lists, a bump counter and lazily
/// allocated pages.
struct Shard<V> {
    /// Token of the thread that owns `local` (0: nobody).
    owner: AtomicUsize,
    /// The owner's free list (top index + 1; 0: empty), touched only by the
    /// owner: no atomics.
    local: UnsafeCell<u32>,
    /// The shared free list, for frees by other threads and allocations by
    /// non-owners: ABA counter in the high half, top index + 1 in the low
    /// half (0: empty).
    free: AtomicU64,
    /// Slots below this index have been handed out at least once.
    unused: AtomicU32,
    pages: [AtomicPtr<Slot<V>>; PAGES],
}

const EMPTY: u64 = 0;
const NIL: u32 = 0;

// SAFETY: the only non-`Sync` field is `local`, which is read and written
// only by the thread whose token is in `owner` (`is_owner`); ownership passes
// between threads only through `owner` (`Release` store in `disown`,
// `Acquire` CAS in `try_claim`), which orders the previous owner's accesses
// before the next owner's. The slots the pages hold move verbs between
// threads, hence `V: Send`.
unsafe impl<V: Send> Sync for Shard<V> {}

impl<V> Shard<V> {
    fn new() -> Self {
        Self {
            owner: AtomicUsize::new(0),
            local: UnsafeCell::new(NIL),
            free: AtomicU64::new(EMPTY),
            unused: AtomicU32::new(0),
            pages: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
        }
    }

    #[inline]
    fn is_owner(&self, me: Thread) -> bool {
        me.token != 0 && self.owner.load(Relaxed) == me.token
    }

    /// The slot at `index`, if its page exists.
    #[inline]
    fn get(&self, index: usize) -> Option<&Slot<V>> {
        let page = page_of(index);
        let base = self.pages.get(page)?.load(Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: `base` points to a live page of `page_len(page)` slots (pages
        // are freed only when the table drops), and the offset is in range.
        Some(unsafe { &*base.add(index - page_start(page)) })
    }

    /// Pops a free slot, or hands out a never-used one below `limit` (at
    /// generation `first`).
    fn alloc(&self, limit: usize, first: Generation, me: Thread) -> Option<(usize, &Slot<V>)> {
        if self.is_owner(me) {
            // SAFETY: only the owner touches `local`.
            let found = unsafe { self.pop_local() }.or_else(|| {
                self.adopt_shared();
                // SAFETY: as above.
                unsafe { self.pop_local() }
            });
            if found.is_some() {
                return found;
            }
        } else if let Some(found) = self.pop_shared() {
            return Some(found);
        }
        self.bump(limit, first)
    }

    /// Pops the owner's free list.
    ///
    /// # Safety
    /// The caller is the shard's owner.
    #[inline]
    unsafe fn pop_local(&self) -> Option<(usize, &Slot<V>)> {
        // SAFETY: the caller owns `local`.
        self.local.with_mut(|local| unsafe {
            let top = *local;
            if top == NIL {
                return None;
            }
            let index = (top - 1) as usize;
            let slot = self
                .get(index)
                .expect("free-listed slots live in allocated pages");
            *local = slot.next.load(Relaxed);
            Some((index, slot))
        })
    }

    /// Moves the whole shared free list onto the owner's (one CAS), so the
    /// owner pays one atomic per batch of remote frees, not per slot.
    fn adopt_shared(&self) {
        let mut head = self.free.load(Acquire);
        while head as u32 != NIL {
            let emptied = (head >> 32).wrapping_add(1) << 32;
            match self
                .free
                .compare_exchange_weak(head, emptied, AcqRel, Acquire)
            {
                Ok(_) => {
                    crate::sync::took!(SharedListAdopted);
                    // SAFETY: only the owner calls this; `local` is empty
                    // (we just failed to pop it), so the chain replaces it
                    // whole.
                    return self.local.with_mut(|local| unsafe { *local = head as u32 });
                }
                Err(actual) => {
                    crate::sync::took!(AdoptRetried);
                    head = actual;
                }
            }
        }
    }

    /// Pops the shared free list (Treiber, tagged against ABA).
    fn pop_shared(&self) -> Option<(usize, &Slot<V>)> {
        let mut head = self.free.load(Acquire);
        while head as u32 != 0 {
            let index = (head as u32 - 1) as usize;
            let slot = self
                .get(index)
                .expect("free-listed slots live in allocated pages");
            let next = u64::from(slot.next.load(Relaxed));
            let popped = ((head >> 32).wrapping_add(1) << 32) | next;
            match self
                .free
                .compare_exchange_weak(head, popped, AcqRel, Acquire)
            {
                Ok(_) => return Some((index, slot)),
                Err(actual) => {
                    crate::sync::took!(SharedPopRetried);
                    head = actual;
                }
            }
        }
        None
    }

    /// Hands out a never-used slot below `limit`, at generation `first`.
    fn bump(&self, limit: usize, first: Generation) -> Option<(usize, &Slot<V>)> {
        // `Release`, for the scans (`for_each_slot`) that read `unused`.
        let index = self
            .unused
            .fetch_update(Release, Relaxed, |n| {
                ((n as usize) < limit).then_some(n + 1)
            })
            .ok()? as usize;
        Some((index, self.page_for(index, first)))
    }

    /// The slot at a freshly bumped `index`, allocating its page (of slots
    /// at generation `first`) if needed.
    fn page_for(&self, index: usize, first: Generation) -> &Slot<V> {
        let page = page_of(index);
        let cell = &self.pages[page];
        if cell.load(Acquire).is_null() {
            let fresh: Box<[Slot<V>]> = (0..page_len(page)).map(|_| Slot::new(first)).collect();
            let fresh = Box::into_raw(fresh) as *mut Slot<V>;
            if let Err(_installed) = cell.compare_exchange(ptr::null_mut(), fresh, AcqRel, Acquire)
            {
                // SAFETY: we just leaked `fresh` from a box of this length and
                // nobody else has seen it.
                drop(unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, page_len(page)))
                });
            }
        }
        self.get(index).expect("page installed above")
    }

    /// Pushes slot `index` back on a free list: the owner's if we own the
    /// shard, else the shared one.
    fn push_free(&self, index: usize, slot: &Slot<V>, me: Thread) {
        if self.is_owner(me) {
            // SAFETY: only the owner touches `local`.
            return unsafe { self.push_local(index, slot) };
        }
        self.push_shared(index as u32 + 1, slot);
    }

    /// Pushes slot `index` on the owner's free list.
    ///
    /// # Safety
    /// The caller is the shard's owner.
    #[inline(always)]
    unsafe fn push_local(&self, index: usize, slot: &Slot<V>) {
        // SAFETY: the caller owns `local`.
        self.local.with_mut(|local| unsafe {
            slot.next.store(*local, Relaxed);
            *local = index as u32 + 1;
        });
    }

    /// Pushes the chain ending at `tail` (whose top is `top`) onto the shared
    /// free list.
    fn push_shared(&self, top: u32, tail: &Slot<V>) {
        let mut head = self.free.load(Relaxed);
        loop {
            tail.next.store(head as u32, Relaxed);
            let pushed = (head & !u64::from(u32::MAX)) | u64::from(top);
            match self
                .free
                .compare_exchange_weak(head, pushed, Release, Relaxed)
            {
                Ok(_) => return,
                Err(actual) => {
                    crate::sync::took!(SharedPushRetried);
                    head = actual;
                }
            }
        }
    }

    fn allocated_pages(&self) -> impl Iterator<Item = (*mut Slot<V>, usize)> + '_ {
        self.pages.iter().enumerate().filter_map(|(page, cell)| {
            let base = cell.load(Acquire);
            (!base.is_null()).then_some((base, page_len(page)))
        })
    }
}

impl<V> Drop for Shard<V> {
    fn drop(&mut self) {
        for (base, len) in self.allocated_pages() {
            // SAFETY: every page was leaked from a `Box<[Slot<V>]>` of exactly
            // this length and is dropped once, here. Slots still holding a
            // task were emptied by `Table::drop`.
            drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, len)) });
        }
    }
}

/// A sharded, generation-tagged slab of task slots.
pub(crate) struct Table<V> {
    tag: u8,
    /// The generation every slot starts at: the tag's floor (see
    /// [`crate::tags`]).
    first: Generation,
    /// Slots each shard may hand out (at most [`SHARD_CAPACITY`]).
    shard_limit: usize,
    /// An array, not a slice: every shard number (4 bits of a handle or
    /// an id) indexes it without a bounds check.
    shards: Box<[CachePadded<Shard<V>>; SHARDS]>,
}

impl<V> Table<V> {
    /// A table for at least `capacity` tasks (rounded up to a multiple of
    /// [`SHARDS`], at most [`CAPACITY`]), handles tagged `tag`, slots starting
    /// at generation `first`.
    pub(crate) fn new(tag: u8, first: Generation, capacity: usize) -> Self {
        Self {
            tag,
            first,
            shard_limit: capacity.div_ceil(SHARDS).clamp(1, SHARD_CAPACITY),
            shards: Box::new(std::array::from_fn(|_| CachePadded::new(Shard::new()))),
        }
    }

    pub(crate) fn tag(&self) -> u8 {
        self.tag
    }

    /// A free slot of the home shard's private free list, for a thread
    /// that owns its home shard: a few plain loads and stores, no atomic
    /// read-modify-write. Everything else is [`Table::alloc_slow`].
    #[inline]
    pub(crate) fn pop_home(&self, me: Thread) -> Option<Vacant<'_, V>> {
        let home = me.home % SHARDS;
        let shard = &self.shards[home];
        if !shard.is_owner(me) {
            return None;
        }
        // SAFETY: only the owner touches `local`.
        let (index, slot) = unsafe { shard.pop_local() }?;
        Some(Vacant {
            tag: self.tag,
            shard: home,
            index,
            slot,
            from: shard,
        })
    }

    /// A free slot from any shard, home first: shared free lists and never-used
    /// slots.
    #[cold]
    #[inline(never)]
    pub(crate) fn alloc_slow(&self, me: Thread) -> Option<Vacant<'_, V>> {
        let home = me.home % SHARDS;
        (0..SHARDS).map(|i| (home + i) % SHARDS).find_map(|shard| {
            self.shards[shard]
                .alloc(self.shard_limit, self.first, me)
                .map(|(index, slot)| Vacant {
                    tag: self.tag,
                    shard,
                    index,
                    slot,
                    from: &self.shards[shard],
                })
        })
    }

    /// The slot a handle of this table names, if it exists. Says nothing about
    /// whether the handle is current: check the state word.
    #[inline]
    pub(crate) fn slot(&self, handle: Handle) -> Option<&Slot<V>> {
        if handle.engine() != self.tag || handle.has_stray_bits() {
            return None;
        }
        self.shards[handle.shard()].get(handle.index())
    }

    /// Frees a slot its caller owns in `FINISHING`, whose verb and target
    /// were already taken out.
    pub(crate) fn release(&self, id: u32, slot: &Slot<V>, owned: State) {
        if slot.state.release(owned) {
            let (shard, index) = split_id(id);
            self.shards[shard].push_free(index, slot, crate::sync::current_thread());
        }
    }

    /// Frees a slot its caller (thread `me`) owns in `FINISHING`, with
    /// `take` moving its verb out (and whatever else the caller reads of
    /// it) before anyone else can reach it, and returns what `take` made.
    ///
    /// The slot's word goes to `FREE(g+1)` first: from then on a cancel of
    /// the task's handle is `WAPPCALREADY`, and nobody touches the verb
    /// until the slot is allocated again, which takes a free list. Onto the
    /// shared list the slot goes only after `take`. Onto the owner's
    /// private list it goes before: only `me` pops that list, and not
    /// before `take` is done. So on the owner's path nothing that orders
    /// memory comes after the verb is read, and the compiler moves it
    /// once, from the slot straight to where the caller returns it (with a
    /// release store or read-modify-write after the read, it copies the
    /// verb once more, through the stack).
    #[inline(always)]
    pub(crate) fn release_with<T>(
        &self,
        me: Thread,
        id: u32,
        slot: &Slot<V>,
        owned: State,
        take: impl FnOnce() -> T,
    ) -> T {
        let reusable = slot.state.release(owned);
        let (shard, index) = split_id(id);
        let shard = &self.shards[shard];
        if reusable && shard.is_owner(me) {
            // SAFETY: `me` owns the shard, so only it touches `local`.
            unsafe { shard.push_local(index, slot) };
            return take();
        }
        release_shared(shard, reusable.then_some((index, slot)), take)
    }

    /// True if `me` could own its home shard and nobody does yet (the check
    /// before [`Table::try_claim`], on every submit).
    #[cfg(not(loom))]
    #[inline]
    pub(crate) fn home_unowned(&self, me: Thread) -> bool {
        me.token != 0 && self.shards[me.home % SHARDS].owner.load(Relaxed) == 0
    }

    /// Makes `me` the owner of its home shard if nobody owns it. True if it
    /// did: the caller must arrange for [`Table::disown`] at thread exit.
    pub(crate) fn try_claim(&self, me: Thread) -> bool {
        let shard = &self.shards[me.home % SHARDS];
        me.token != 0
            && shard.owner.load(Relaxed) == 0
            && shard
                .owner
                .compare_exchange(0, me.token, Acquire, Relaxed)
                .is_ok()
    }

    /// Gives up `me`'s ownership of its home shard (on its way out): its
    /// private free list joins the shared one, and the shard can be claimed
    /// again.
    pub(crate) fn disown(&self, me: Thread) {
        let shard = &self.shards[me.home % SHARDS];
        if !shard.is_owner(me) {
            return;
        }
        // SAFETY: we are the owner, on the owning thread.
        let top = shard
            .local
            .with_mut(|local| unsafe { std::mem::replace(&mut *local, NIL) });
        if top != NIL {
            let mut tail = shard.get((top - 1) as usize).expect("listed slots exist");
            while let Some(next) = tail.next.load(Relaxed).checked_sub(1) {
                tail = shard.get(next as usize).expect("listed slots exist");
            }
            shard.push_shared(top, tail);
        }
        shard.owner.store(0, Release);
    }

    /// The slot with this global id (see [`id`]).
    pub(crate) fn by_id(&self, id: u32) -> &Slot<V> {
        let (shard, index) = split_id(id);
        self.shards[shard]
            .get(index)
            .expect("ids name allocated slots")
    }

    /// Calls `f` on every slot handed out so far, with its global id. Slots
    /// handed out concurrently may or may not be visited; cleanup, which must
    /// see them all, runs with no submission beside it (`&mut Engine`).
    pub(crate) fn for_each_slot(&self, mut f: impl FnMut(u32, &Slot<V>)) {
        for (shard, s) in self.shards.iter().enumerate() {
            let used = s.unused.load(Acquire) as usize;
            for (page, cell) in s.pages.iter().enumerate() {
                let start = page_start(page);
                if start >= used {
                    break;
                }
                let base = cell.load(Acquire);
                if base.is_null() {
                    continue;
                }
                for offset in 0..page_len(page).min(used - start) {
                    // SAFETY: `base` is a live page of `page_len(page)` slots.
                    let slot = unsafe { &*base.add(offset) };
                    f(id(shard, start + offset), slot);
                }
            }
        }
    }

    /// One past the highest generation any slot reached: where the next
    /// engine with this tag must start (see [`crate::tags`]).
    pub(crate) fn next_floor(&self) -> u64 {
        let mut next = u64::from(self.first);
        self.for_each_slot(|_, slot| {
            next = next.max(u64::from(slot.state.load().generation()) + 1)
        });
        next
    }

    /// Slots in allocated pages.
    pub(crate) fn allocated_slots(&self) -> usize {
        self.shards
            .iter()
            .flat_map(|s| s.allocated_pages())
            .map(|(_, len)| len)
            .sum()
    }

    /// Bytes of one slot of this table, verb included.
    pub(crate) fn slot_bytes(&self) -> usize {
        std::mem::size_of::<Slot<V>>()
    }
}

/// [`Table::release_with`] off the owner's path: `take`, then the slot
/// (if it is reusable) onto the shared free list. Out of line, so that the
/// owner's path has nothing after its read of the verb (see there).
#[cold]
#[inline(never)]
fn release_shared<V, T>(
    shard: &Shard<V>,
    reusable: Option<(usize, &Slot<V>)>,
    take: impl FnOnce() -> T,
) -> T {
    let item = take();
    if let Some((index, slot)) = reusable {
        shard.push_shared(index as u32 + 1, slot);
    }
    item
}

/// A slot's global id: shard and index in 32 bits (used by the intrusive
/// completion queues).
pub(crate) fn id(shard: usize, index: usize) -> u32 {
    ((shard << INDEX.len) | index) as u32
}

pub(crate) fn split_id(id: u32) -> (usize, usize) {
    let id = id as usize;
    (id >> INDEX.len, id & (SHARD_CAPACITY - 1))
}

const _: () = assert!(SHARD.len + INDEX.len < 32, "ids + 1 must fit a u32");

impl<V> Drop for Table<V> {
    fn drop(&mut self) {
        // Drop the verbs and targets of tasks still in the table (only tasks
        // nobody can reach any more: every consumer holds an `Arc` to it).
        self.for_each_slot(|_, slot| {
            if slot.state.load().is_live() {
                // SAFETY: `&mut self`: no other party exists. A live slot's
                // verb is initialised (it is written before the slot leaves
                // `FREE` and taken only on the way back to `FREE`).
                drop(unsafe { slot.take() });
            }
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

/// Bytes of engine state in one slot, the verb excluded.
pub(crate) fn slot_overhead() -> usize {
    std::mem::size_of::<Slot<()>>()
}
