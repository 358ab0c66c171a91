//! A global allocator that counts: the system allocator, with every
//! allocation, reallocation and requested byte tallied per thread.
//!
//! The load's target is no heap allocation per request in steady state,
//! and the only way to hold a library to that is to count. The counter
//! must not disturb what it measures: a shared atomic bumped by every
//! allocation on every thread would be one contended cache line between
//! the reactors, the TPs and the tokio workers. So each thread counts in
//! a block of its own, which only that thread writes (a plain load and
//! store, no locked instruction), and a reader sums the blocks. Every
//! count is exact: no increment is lost, because no two threads write the
//! same counter. A sum taken while other threads allocate is a snapshot
//! whose moment differs by a few instructions from thread to thread,
//! which is what a measured window (a sampler tick apart) can afford.
//!
//! A thread's block is made on its first allocation, with the system
//! allocator itself (so counting never recurses), pushed onto a global
//! list, and never freed: a thread that has exited keeps its counts in
//! the total. That costs one 64-byte block per thread the process ever
//! started. The thread-local that points at the block has no destructor,
//! so it is usable at any time in a thread's life, its teardown included.
//!
//! Only allocator calls are counted, not frees. `bytes` is what the calls
//! asked for: an allocation's size, a reallocation's new size. glibc's
//! own settings (`crate::malloc`) apply underneath as before, since this
//! wraps [`System`], which is glibc's `malloc` there.
//!
//! A binary counts by naming [`Counting`] its `#[global_allocator]`
//! (`appc-load` does); elsewhere [`total`] stays zero and [`installed`]
//! says so.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

/// The counting allocator: [`System`] with per-thread tallies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counting;

/// What allocator calls a thread (or the process) made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// `alloc` and `alloc_zeroed` calls.
    pub allocs: u64,
    /// `realloc` calls.
    pub reallocs: u64,
    /// Bytes asked for: allocation sizes and reallocations' new sizes.
    pub bytes: u64,
}

impl Counts {
    /// What was counted between `earlier` and `self`.
    pub fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocs: self.allocs.wrapping_sub(earlier.allocs),
            reallocs: self.reallocs.wrapping_sub(earlier.reallocs),
            bytes: self.bytes.wrapping_sub(earlier.bytes),
        }
    }
}

/// One thread's counters: written by that thread only, read by anyone.
/// A cache line of its own, so that one thread's counting never touches
/// a line another thread writes.
#[repr(align(64))]
struct Block {
    allocs: AtomicU64,
    reallocs: AtomicU64,
    bytes: AtomicU64,
    /// The block registered before this one.
    next: *const Block,
}

impl Block {
    /// Adds `n` to a counter only this thread writes: no read-modify-write
    /// is needed, and a reader sees the old or the new value.
    fn bump(counter: &AtomicU64, n: u64) {
        counter.store(
            counter.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    fn counts(&self) -> Counts {
        Counts {
            allocs: self.allocs.load(Ordering::Relaxed),
            reallocs: self.reallocs.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

/// The most recently registered block; each links to the one before.
static BLOCKS: AtomicPtr<Block> = AtomicPtr::new(ptr::null_mut());

/// Set when the first block is registered: the allocator is in use.
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// This thread's block (null until its first allocation). No
    /// destructor, so it can be read at any point of the thread's life.
    static MINE: Cell<*const Block> = const { Cell::new(ptr::null()) };
}

/// This thread's block, made and registered on first use; `None` if the
/// system allocator cannot spare the 64 bytes (the call goes uncounted).
fn block() -> Option<&'static Block> {
    let mine = MINE.with(Cell::get);
    if !mine.is_null() {
        // SAFETY: a registered block is never freed, and it was fully
        // initialised before it was stored here.
        return Some(unsafe { &*mine });
    }
    let layout = Layout::new::<Block>();
    // SAFETY: the layout has a non-zero size. The system allocator, not
    // the global one, so this does not recurse into counting.
    let fresh = unsafe { System.alloc(layout) }.cast::<Block>();
    if fresh.is_null() {
        return None;
    }
    let mut head = BLOCKS.load(Ordering::Acquire);
    // SAFETY: `fresh` is a new allocation of `Block`'s layout, unshared
    // until the exchange below publishes it.
    unsafe {
        fresh.write(Block {
            allocs: AtomicU64::new(0),
            reallocs: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            next: head,
        });
    }
    // Push: readers that see the new head see the block initialised
    // (Release), and its `next` is the head it replaced.
    while let Err(current) =
        BLOCKS.compare_exchange_weak(head, fresh, Ordering::Release, Ordering::Acquire)
    {
        head = current;
        // SAFETY: still unpublished, so this thread alone accesses it.
        unsafe { (*fresh).next = head };
    }
    INSTALLED.store(true, Ordering::Relaxed);
    MINE.with(|mine| mine.set(fresh));
    // SAFETY: initialised above and never freed.
    Some(unsafe { &*fresh })
}

fn count_alloc(size: usize) {
    if let Some(block) = block() {
        Block::bump(&block.allocs, 1);
        Block::bump(&block.bytes, size as u64);
    }
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds
// the `GlobalAlloc` contract; the counting around it touches only this
// thread's block and never allocates through the global allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_alloc(layout.size());
        // SAFETY: the caller's guarantees for `layout` are System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_alloc(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (every path above) with
        // `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if let Some(block) = block() {
            Block::bump(&block.reallocs, 1);
            Block::bump(&block.bytes, new_size as u64);
        }
        // SAFETY: as for `dealloc`, and the caller's guarantees for
        // `new_size` are System's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Everything counted so far, on every thread (exited ones included).
pub fn total() -> Counts {
    let mut sum = Counts::default();
    let mut at = BLOCKS.load(Ordering::Acquire).cast_const();
    while !at.is_null() {
        // SAFETY: every block on the list was initialised before it was
        // published (Acquire above pairs with the push's Release) and is
        // never freed; `next` is written only before publication.
        let block = unsafe { &*at };
        let counts = block.counts();
        sum.allocs = sum.allocs.wrapping_add(counts.allocs);
        sum.reallocs = sum.reallocs.wrapping_add(counts.reallocs);
        sum.bytes = sum.bytes.wrapping_add(counts.bytes);
        at = block.next;
    }
    sum
}

/// What this thread has counted so far.
pub fn this_thread() -> Counts {
    let mine = MINE.with(Cell::get);
    if mine.is_null() {
        return Counts::default();
    }
    // SAFETY: as in `block`.
    unsafe { &*mine }.counts()
}

/// Whether [`Counting`] is the global allocator (it has counted
/// something); if not, every count reads zero.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}
