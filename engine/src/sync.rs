//! The synchronization facade: the only module that names `std::sync`,
//! `std::cell::UnsafeCell` or `std::thread`.
//!
//! Under `--cfg loom` every item here is loom's, so the loom models in
//! `loom-tests/` check every atomic access and every raw access to shared
//! memory the engine makes. Raw accesses go through [`UnsafeCell::with`] and
//! [`UnsafeCell::with_mut`] (loom's API), never through `get()`.

#[cfg(loom)]
pub(crate) use loom::{
    cell::UnsafeCell,
    sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize},
    sync::{Arc, Condvar, Mutex},
};

#[cfg(not(loom))]
pub(crate) use std::{
    sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize},
    sync::{Arc, Condvar, Mutex},
};

pub(crate) use std::sync::atomic::Ordering;

use crate::handle::Generation;
use crate::tags::Tags;

/// Only the thread-exit hooks use `Weak`, and they do not exist under loom.
#[cfg(not(loom))]
pub(crate) use std::sync::Weak;

/// `std::cell::UnsafeCell` with loom's closure-based access API.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a shared raw pointer to the value.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with an exclusive raw pointer to the value.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::sync::MutexGuard;
#[cfg(not(loom))]
pub(crate) use std::sync::MutexGuard;

/// Locks `m`, ignoring poisoning: every critical section in this crate leaves
/// its data consistent before anything that could panic runs.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Call right after a `SeqCst` read-modify-write that a later `SeqCst` load in
/// the same thread must not pass. In the C++ memory model (and on hardware)
/// the `SeqCst` RMW already guarantees that; loom models `SeqCst` RMWs as
/// `AcqRel` (tokio-rs/loom#180), so under loom this is a `SeqCst` fence, which
/// makes the model at least as strong as the real program.
#[inline(always)]
pub(crate) fn after_seq_cst_rmw() {
    #[cfg(loom)]
    fence(Ordering::SeqCst);
}

/// The engine tags of the process (see [`crate::tags`]). Not modelled by
/// loom on purpose: tags only label handles.
static TAGS: std::sync::Mutex<Tags> = std::sync::Mutex::new(Tags::new());

/// A tag for a new engine and the generation its slots start at; `None` if
/// every tag is held by a live engine or out of generations.
pub(crate) fn take_engine_tag() -> Option<(u8, Generation)> {
    TAGS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// Gives back a tag from [`take_engine_tag`] (the engine is gone);
/// `next_floor` is above every generation the engine issued.
pub(crate) fn release_engine_tag(tag: u8, next_floor: u64) {
    TAGS.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .release(tag, next_floor);
}

/// Who the current thread is, for shard ownership (see [`crate::table`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Thread {
    /// Nonzero and unique for the life of the process (under loom: of the
    /// execution); 0 means "never owns a shard".
    pub(crate) token: usize,
    /// Round-robin spread of threads over shards; under loom always 0, so a
    /// model's threads meet on one shard's free lists.
    pub(crate) home: usize,
}

/// The current thread's [`Thread`].
#[inline]
pub(crate) fn current_thread() -> Thread {
    #[cfg(loom)]
    {
        use std::cell::Cell;
        loom::lazy_static! {
            // Reset for every execution of a model, so tokens are the same
            // from one execution to the next.
            static ref NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        }
        loom::thread_local!(static TOKEN: Cell<usize> = Cell::new(0));
        let token = TOKEN.with(|token| {
            if token.get() == 0 {
                token.set(NEXT.fetch_add(1, Ordering::Relaxed));
            }
            token.get()
        });
        Thread { token, home: 0 }
    }
    #[cfg(not(loom))]
    {
        use std::cell::Cell;
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);
        thread_local!(static TOKEN: Cell<usize> = const { Cell::new(0) });
        let token = TOKEN.with(|token| {
            if token.get() == 0 {
                token.set(NEXT.fetch_add(1, Ordering::Relaxed));
            }
            token.get()
        });
        Thread {
            token,
            home: token - 1,
        }
    }
}

/// Notes that the current thread took `$path` (a `paths::Path`, which
/// exists under loom only); nothing outside loom.
macro_rules! took {
    ($path:ident) => {{
        #[cfg(loom)]
        $crate::sync::paths::hit($crate::sync::paths::Path::$path);
    }};
}
pub(crate) use took;

/// Under loom: which of the protocols' rarer paths the executions took, so
/// that a model can assert its race reached each of them, not only that it
/// started in different orders. Counts are per OS thread, and loom runs
/// every thread of a model on its test's OS thread, so tests that run in
/// parallel do not see each other's counts.
#[cfg(loom)]
pub mod paths {
    use std::cell::Cell;

    /// A path through a protocol that only some interleavings take.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Path {
        /// An event waiter found no signal after counting itself a sleeper,
        /// and slept.
        EventWaiterSlept,
        /// A queue or port consumer found nothing after setting `SLEEPY`, and
        /// slept.
        ConsumerSlept,
        /// A push onto a queue found `SLEEPY` set and woke the sleepers.
        PushWokeSleepers,
        /// A pop of a shard's shared free list lost its CAS and tried again.
        SharedPopRetried,
        /// A push onto a shard's shared free list lost its CAS and tried
        /// again.
        SharedPushRetried,
        /// A shard's owner took a non-empty shared free list as its own.
        SharedListAdopted,
        /// The owner's take of the shared free list lost its CAS and tried
        /// again.
        AdoptRetried,
        /// A future's waker registration found its cell closed by the
        /// finisher (the future wakes itself).
        RegistrationFoundClosed,
        /// A dropped future's task was cancelled (it was still pending).
        AbandonCancelled,
        /// A dropped future's task was finished and taken by the drop.
        AbandonTookReady,
        /// A dropped future's task was being delivered: the finisher frees it.
        AbandonLeftToFinisher,
    }

    const COUNT: usize = Path::AbandonLeftToFinisher as usize + 1;

    std::thread_local!(static HITS: [Cell<u64>; COUNT] = const { [const { Cell::new(0) }; COUNT] });

    /// Counts one taking of `path`.
    pub(crate) fn hit(path: Path) {
        HITS.with(|hits| hits[path as usize].set(hits[path as usize].get() + 1));
    }

    /// How often `path` was taken on this OS thread so far.
    pub fn hits(path: Path) -> u64 {
        HITS.with(|hits| hits[path as usize].get())
    }
}

/// Work to undo when the current thread exits.
#[cfg(not(loom))]
pub(crate) trait AtExit {
    /// True once the hook has nothing left to do (its engine is gone).
    fn is_stale(&self) -> bool;
    /// Runs the hook on the exiting thread.
    fn run(self: Box<Self>);
}

/// Registers `hook` to run when the current thread exits.
#[cfg(not(loom))]
pub(crate) fn at_thread_exit(hook: Box<dyn AtExit>) {
    use std::cell::RefCell;
    struct Hooks(RefCell<Vec<Box<dyn AtExit>>>);
    impl Drop for Hooks {
        fn drop(&mut self) {
            for hook in self.0.take() {
                hook.run();
            }
        }
    }
    thread_local!(static HOOKS: Hooks = const { Hooks(RefCell::new(Vec::new())) });
    // A thread being torn down cannot register any more; its shard stays
    // owned, which costs capacity, never correctness.
    let _ = HOOKS.try_with(|hooks| {
        let mut hooks = hooks.0.borrow_mut();
        hooks.retain(|hook| !hook.is_stale());
        hooks.push(hook);
    });
}

/// A waker that unparks the current thread, and the parking calls that go
/// with it: how the blocking entry point waits for its task's future.
#[cfg(not(loom))]
pub(crate) mod park {
    use std::sync::Arc;
    use std::task::{Wake, Waker};
    use std::time::Duration;

    struct Unpark(std::thread::Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }

        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    /// A waker for the current thread.
    pub(crate) fn waker() -> Waker {
        Waker::from(Arc::new(Unpark(std::thread::current())))
    }

    /// Parks until unparked (or spuriously).
    pub(crate) fn park() {
        std::thread::park();
    }

    /// Parks until unparked, `timeout` passes, or spuriously.
    pub(crate) fn park_timeout(timeout: Duration) {
        std::thread::park_timeout(timeout);
    }
}
