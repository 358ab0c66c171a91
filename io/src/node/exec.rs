//! Tasks that run on a shard's reactor thread: the thread-per-core shape
//! (Seastar's, glommio's, monoio's) for applications on this node.
//!
//! [`TcpNode::spawn`](super::TcpNode::spawn) hands a shard a future (made
//! on the reactor from a `Send` closure, so the future itself need not be
//! `Send`). The shard polls it in its turns. A verb the task issues on a
//! conversation of that shard is posted to the shard's own queue
//! (`owner.rs`): no atomic operation, no other thread, and it runs in the
//! same turn; its completion wakes the task, on the same thread, by putting
//! it on the shard's ready list; the task is polled again before the turn
//! ends. So a request that a task issues and a reply that arrives for it
//! cross no thread and wake none.
//!
//! # Timers
//!
//! [`sleep`] is a future ready after a while, for tasks: it registers with
//! the reactor it is polled on, which wakes it at the deadline (its sleep
//! never outlasts the earliest timer).
//!
//! # Waking
//!
//! Each task has one [`Waker`] for its life. Waking it from the reactor's
//! own thread pushes the task's index on the ready list (a thread-local
//! `Vec`); from any other thread, it posts [`Msg::Wake`] to the shard's
//! inbox. A flag in the waker makes a task queued at most once until it is
//! polled. A waker that outlives its task (kept by a future that lost
//! interest) may wake the task that reuses its index: a spurious poll,
//! which futures allow.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use super::owner::{Msg, ShardOwner};

/// A task's future, boxed.
pub(crate) type LocalFuture = Pin<Box<dyn Future<Output = ()>>>;

/// What [`Msg::Spawn`] carries: makes the task's future, on the reactor.
pub(crate) struct MakeTask(pub(crate) Box<dyn FnOnce() -> LocalFuture + Send>);

impl std::fmt::Debug for MakeTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MakeTask")
    }
}

thread_local! {
    /// The tasks of this reactor thread's shard that are ready to be polled.
    static READY: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
    /// The timers of this reactor thread's tasks, earliest first.
    static TIMERS: RefCell<BinaryHeap<Reverse<Timer>>> = const { RefCell::new(BinaryHeap::new()) };
}

/// A task's wake-up at a deadline.
struct Timer {
    at: Instant,
    waker: Waker,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Timer {}

impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.at.cmp(&other.at)
    }
}

/// The earliest timer of this thread's tasks.
pub(crate) fn next_timer() -> Option<Instant> {
    TIMERS.with(|timers| timers.borrow().peek().map(|Reverse(t)| t.at))
}

/// Wakes the tasks whose timers are due at `now`.
pub(crate) fn fire_timers(now: Instant) {
    loop {
        let due = TIMERS.with(|timers| {
            let mut timers = timers.borrow_mut();
            match timers.peek() {
                Some(Reverse(t)) if t.at <= now => timers.pop().map(|Reverse(t)| t.waker),
                _ => None,
            }
        });
        match due {
            Some(waker) => waker.wake(),
            None => return,
        }
    }
}

/// A future that is ready once `duration` has passed, for a task on a
/// node's reactor ([`TcpNode::spawn`](super::TcpNode::spawn)): the reactor
/// it is polled on wakes it. (Polled on any other thread, it is ready at
/// once: nothing there would wake it.)
pub fn sleep(duration: Duration) -> Sleep {
    Sleep {
        at: Instant::now() + duration,
        registered: false,
    }
}

/// See [`sleep`].
#[derive(Debug)]
#[must_use = "a sleep does nothing unless awaited"]
pub struct Sleep {
    at: Instant,
    registered: bool,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.at || !super::owner::on_shard() {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            let timer = Timer {
                at: self.at,
                waker: cx.waker().clone(),
            };
            TIMERS.with(|timers| timers.borrow_mut().push(Reverse(timer)));
        }
        Poll::Pending
    }
}

/// Whether a task of this thread's shard is ready.
pub(crate) fn any_ready() -> bool {
    READY.with(|ready| !ready.borrow().is_empty())
}

/// How one task is woken.
struct TaskWaker {
    shard: Weak<ShardOwner>,
    index: usize,
    /// On the ready list or in the inbox, not yet polled.
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        let Some(shard) = self.shard.upgrade() else {
            return;
        };
        if shard.is_current() {
            READY.with(|ready| ready.borrow_mut().push(self.index));
        } else {
            shard.send(Msg::Wake(self.index));
        }
    }
}

struct Task {
    future: LocalFuture,
    waker: Arc<TaskWaker>,
}

/// A shard's tasks.
#[derive(Default)]
pub(crate) struct Tasks {
    tasks: Vec<Option<Task>>,
    free: Vec<usize>,
    /// The ready list, taken to be polled (its memory reused).
    polling: Vec<usize>,
}

impl Tasks {
    /// Whether any task lives on this shard.
    pub(crate) fn any(&self) -> bool {
        self.free.len() < self.tasks.len()
    }

    /// Starts the task `make` makes, polling it first in this turn.
    pub(crate) fn spawn(&mut self, shard: &Arc<ShardOwner>, make: MakeTask) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.tasks.push(None);
            self.tasks.len() - 1
        });
        let waker = Arc::new(TaskWaker {
            shard: Arc::downgrade(shard),
            index,
            queued: AtomicBool::new(false),
        });
        self.tasks[index] = Some(Task {
            future: (make.0)(),
            waker: Arc::clone(&waker),
        });
        Waker::from(waker).wake();
    }

    /// A waker from another thread: task `index` is ready.
    pub(crate) fn woken(&mut self, index: usize) {
        if self.tasks.get(index).is_some_and(Option::is_some) {
            READY.with(|ready| ready.borrow_mut().push(index));
        }
    }

    /// Polls every ready task once; true if any was.
    pub(crate) fn poll_ready(&mut self) -> bool {
        READY.with(|ready| std::mem::swap(&mut *ready.borrow_mut(), &mut self.polling));
        let polled = !self.polling.is_empty();
        let mut polling = std::mem::take(&mut self.polling);
        for index in polling.drain(..) {
            let Some(task) = self.tasks.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            task.waker.queued.store(false, Ordering::Release);
            let waker = Waker::from(Arc::clone(&task.waker));
            let done = task
                .future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready();
            if done {
                self.tasks[index] = None;
                self.free.push(index);
            }
        }
        self.polling = polling;
        polled
    }

    /// Drops every task (the shard is going): their futures' drops run on
    /// this thread, while it is still the shard's.
    pub(crate) fn clear(&mut self) {
        self.tasks.clear();
        self.free.clear();
        READY.with(|ready| ready.borrow_mut().clear());
        TIMERS.with(|timers| timers.borrow_mut().clear());
    }
}

/// What [`TcpNode::spawn`](super::TcpNode::spawn) returns: the task's
/// output, once it is done.
pub struct Spawned<T> {
    done: std::sync::mpsc::Receiver<T>,
}

impl<T> std::fmt::Debug for Spawned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawned").finish_non_exhaustive()
    }
}

impl<T> Spawned<T> {
    pub(crate) fn new(done: std::sync::mpsc::Receiver<T>) -> Self {
        Self { done }
    }

    /// Waits for the task's output; `None` if the task was dropped
    /// unfinished (its node shut down or failed).
    pub fn join(self) -> Option<T> {
        self.done.recv().ok()
    }
}
