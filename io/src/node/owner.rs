//! A shard as other threads see it ([`ShardOwner`]): its inbox, and the
//! engine's [`Owner`] of the conversations it carries.
//!
//! Other threads reach a shard only here: an application's verbs, cancels'
//! teardowns, TP ends and new conversations (as [`Work`]), partners and
//! disconnects from the [`TcpNode`](super::TcpNode), the node's shutdown
//! and failure. A message goes into the shard's lock-free inbox; the push
//! that finds the reactor asleep wakes it (one wake-up per sleep, decided
//! by the inbox). What the reactor's own thread posts to itself (an
//! application running on it) is kept aside instead, so that a full inbox
//! never waits for the very thread that drains it.
//!
//! A shard that is gone (its reactor stopped: the node shut down, or the
//! reactor panicked) answers on the poster's thread: its conversations'
//! ends were failed as it went and are kept in [`Orphans`], where each
//! verb still gets its answer (`AP_COMM_SUBSYSTEM_NOT_LOADED` or
//! `_ABENDED`) until the TP is done with the conversation.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use super::conv::{Conv, Dead, Step};
use super::exec::MakeTask;
use super::Shared;
use crate::appc::verbs::ConvId;
use crate::appc::{Owner, RemoteEnd, Work};
use crate::backend::Waker;
use crate::engine::id_hash::IdHashMap;
use crate::engine::inbox::{inbox, Consumer, Inbox, Pushed};

/// Items an inbox holds at most; a full inbox holds its posters back.
pub(crate) const INBOX: usize = 16 << 10;

/// What other threads give a shard.
#[derive(Debug)]
pub(crate) enum Msg {
    /// Work for one of its conversations.
    Work(Work),
    /// A conversation this node allocated ([`Work::Open`]), in its block.
    Open(Box<Conv>),
    /// A partner LU whose conversations it carries: its alias, its LU name
    /// (as BINDs name it) and its node's address. (Boxed: a cancel-all's
    /// teardowns queue a million messages, each the size of the largest.)
    Partner(Box<(String, String, SocketAddr)>),
    /// Close the link to this partner LU alias (as a link loss would).
    Disconnect(String),
    /// The node is shutting down: report, from now on, whether everything
    /// sent is out and answered ([`ShardOwner::is_quiet`]).
    Linger,
    /// Close every link (their conversations fail as on a lost link) and
    /// refuse new conversations; then say so.
    Stop(Sender<()>),
    /// The node failed: close every link, fail every conversation with
    /// `AP_COMM_SUBSYSTEM_ABENDED`; then say so.
    Fail(Sender<()>),
    /// Start a task on the shard (`exec.rs`).
    Spawn(MakeTask),
    /// A task of the shard was woken on another thread.
    Wake(usize),
}

thread_local! {
    /// The shard this thread runs, if it is a reactor: what it posts to
    /// itself is kept aside, never pushed into its own inbox (a full inbox
    /// would wait for this very thread).
    static ON_SHARD: Cell<usize> = const { Cell::new(0) };
    /// What this reactor thread posted to its own shard, in order.
    static LOCAL: RefCell<VecDeque<Msg>> = const { RefCell::new(VecDeque::new()) };
}

/// Whether the current thread runs a shard.
pub(crate) fn on_shard() -> bool {
    ON_SHARD.with(Cell::get) != 0
}

/// Whether the current thread posted to its own shard.
pub(crate) fn has_local() -> bool {
    LOCAL.with(|local| !local.borrow().is_empty())
}

/// The oldest message the current thread posted to its own shard.
pub(crate) fn pop_local() -> Option<Msg> {
    LOCAL.with(|local| local.borrow_mut().pop_front())
}

/// Conversations of a shard that is gone, failed, and answered on the
/// posters' threads (a rare path: a lock is fine).
#[derive(Debug, Default)]
pub(crate) struct Orphans(Mutex<IdHashMap<ConvId, RemoteEnd>>);

impl Orphans {
    /// Keeps `end` if the TP may still issue verbs on it.
    pub(crate) fn adopt(&self, id: ConvId, end: RemoteEnd) {
        if !end.is_over() {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id, end);
        }
    }

    /// Runs `work` on its orphaned end, which never reaches a session
    /// again: a new end fails with `down`'s code at once.
    fn run(&self, node: &Shared, work: Work) {
        let down = node.down_failure();
        let (id, new, step) = Step::of(work);
        let mut ends = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(end) = new {
            ends.insert(id, *end);
        }
        match ends.get_mut(&id) {
            Some(end) => {
                step.run(end, &mut Dead, Some(down));
                if end.is_over() {
                    ends.remove(&id);
                }
            }
            None => step.unheld(&node.engine),
        }
    }
}

/// A shard as other threads see it: its inbox, and its conversations'
/// [`Owner`].
pub(crate) struct ShardOwner {
    /// Unique in the process (never 0).
    id: usize,
    inbox: Arc<Inbox<Msg>>,
    /// Wakes the reactor (taken once it is gone: the waker holds the
    /// reactor's descriptor, and the engine may hold this owner for longer).
    /// Locked only to wake a reactor that sleeps, which costs a system
    /// call anyway.
    waker: Mutex<Option<Waker>>,
    /// What did not fit in the inbox, in order, and whether there is any
    /// (see [`ShardOwner::send`]).
    overflow: Mutex<VecDeque<Msg>>,
    overflowed: AtomicBool,
    /// The shard is gone: work is answered on the poster's thread.
    gone: AtomicBool,
    /// Lingering, the shard found nothing on its way ([`Msg::Linger`]).
    quiet: AtomicBool,
    pub(crate) orphans: Orphans,
    pub(crate) node: Arc<Shared>,
}

impl std::fmt::Debug for ShardOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardOwner")
            .field("id", &self.id)
            .field("inbox", &self.inbox)
            .finish_non_exhaustive()
    }
}

impl ShardOwner {
    /// A shard's owner and the consumer of its inbox, for its reactor.
    pub(crate) fn new(node: Arc<Shared>) -> (Arc<Self>, Consumer<Msg>) {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let (inbox, consumer) = inbox(INBOX);
        let owner = Arc::new(Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            inbox,
            waker: Mutex::new(None),
            overflow: Mutex::new(VecDeque::new()),
            overflowed: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            orphans: Orphans::default(),
            node,
        });
        (owner, consumer)
    }

    /// The current thread runs this shard from now on, woken by `waker`.
    pub(crate) fn attach_reactor(&self, waker: Waker) {
        *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker);
        ON_SHARD.with(|on| on.set(self.id));
    }

    /// The shard is gone: what comes is answered by its posters, what is
    /// queued by the caller (its reactor, as it drops the shard).
    pub(crate) fn detach_reactor(&self, inbox: &mut Consumer<Msg>) {
        self.gone.store(true, Ordering::Release);
        self.waker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        while let Some(msg) = inbox.pop() {
            self.answer(msg);
        }
        while let Some(msg) = pop_local() {
            self.answer(msg);
        }
        for msg in self.take_overflow() {
            self.answer(msg);
        }
        ON_SHARD.with(|on| on.set(0));
    }

    /// Whether the current thread is this shard's reactor.
    pub(crate) fn is_current(&self) -> bool {
        ON_SHARD.with(Cell::get) == self.id
    }

    /// Hands `msg` to the shard. Never waits for the reactor: what does
    /// not fit in the inbox (a storm of cancels' teardowns, say) goes to
    /// the overflow queue, and once there is an overflow everything goes
    /// there until the reactor takes it, so each poster's messages keep
    /// their order (the reactor takes the overflow after the inbox, and
    /// runs it before it pops the inbox again). Every message stands for a
    /// task the engine accepted (a verb, its cancel, its TP's end), so the
    /// engine's table bounds what waits here.
    pub(crate) fn send(&self, msg: Msg) {
        if self.gone.load(Ordering::Acquire) {
            return self.answer(msg);
        }
        if self.is_current() {
            LOCAL.with(|local| local.borrow_mut().push_back(msg));
            return;
        }
        let msg = if self.overflowed.load(Ordering::Acquire) {
            msg
        } else {
            match self.inbox.push(msg) {
                Ok(Pushed::Queued) => return,
                Ok(Pushed::Wake) => return self.wake(),
                Err(full) => full,
            }
        };
        let first = {
            let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
            overflow.push_back(msg);
            !self.overflowed.swap(true, Ordering::AcqRel)
        };
        // The reactor may have just emptied its inbox and gone to sleep:
        // the first message of an overflow wakes it (the others find it
        // awake, or woken).
        if first {
            self.wake();
        }
    }

    fn wake(&self) {
        let waker = self.waker.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waker) = &*waker {
            waker.wake();
        }
    }

    /// Whether messages wait in the overflow queue.
    pub(crate) fn has_overflow(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// The overflow queue's messages, in order (the reactor's).
    pub(crate) fn take_overflow(&self) -> VecDeque<Msg> {
        let mut overflow = self.overflow.lock().unwrap_or_else(PoisonError::into_inner);
        self.overflowed.store(false, Ordering::Release);
        std::mem::take(&mut *overflow)
    }

    /// Lingering: whether everything sent is out and answered (as of the
    /// shard's last turn).
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet.load(Ordering::Acquire)
    }

    pub(crate) fn set_quiet(&self, quiet: bool) {
        self.quiet.store(quiet, Ordering::Release);
    }

    /// A message for a shard that is gone, on the poster's thread.
    fn answer(&self, msg: Msg) {
        match msg {
            Msg::Work(work) => self.orphans.run(&self.node, work),
            Msg::Open(conv) => self.orphans.run(&self.node, Work::Open(Box::new(conv.end))),
            Msg::Stop(done) | Msg::Fail(done) => {
                let _ = done.send(());
            }
            Msg::Partner(_) | Msg::Disconnect(_) | Msg::Linger | Msg::Spawn(_) | Msg::Wake(_) => {}
        }
    }
}

impl Owner for ShardOwner {
    /// A new conversation's block is made here, on the poster's thread
    /// (see [`Convs`](super::conv::Convs)).
    fn post(&self, work: Work) {
        self.send(match work {
            Work::Open(end) => Msg::Open(Conv::opened(end)),
            work => Msg::Work(work),
        });
    }
}
