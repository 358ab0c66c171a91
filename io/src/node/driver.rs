//! The node's driver: the state machine that owns every link, session and
//! pool of a node, run inline, under one mutex, on whichever thread has the
//! event (see "Threads" in the module docs of `node`).
//!
//! * Engine session calls ([`ConvSession`], the partner's attach) come with
//!   a conversation's lock held. Each queues its step in the inbox (a
//!   [`Combiner`], the flat combiner of `appc_engine::combiner`, whose
//!   contract and loom model are there), in call order; the caller that
//!   finds the inbox idle becomes its runner. A backend that can
//!   ([`Backend::kick`]: io_uring) then runs the inbox on its reactor
//!   thread, so the driver's state stays with the thread that also
//!   receives; otherwise (epoll, IOCP) the caller runs it itself. Either
//!   way the runner runs every step queued meanwhile under the driver lock
//!   (conversation lock → driver lock, never the other way): under load
//!   one thread runs many steps, the others return at once. An aborting
//!   close (a cancel) is queued the same way but, when
//!   it finds the inbox idle, wakes the node's helper thread to run it
//!   ([`Shared::post`]). Steps never call into the engine.
//!   [`Session::backlogged`] and, unless an IPR is withheld,
//!   [`Session::consumed`] queue no step: they read or count in the
//!   conversation's [`Backlog`], a leaf lock the steps also take.
//! * Backend events run their step on the reactor thread, which holds no
//!   engine lock.
//! * What steps write is collected per link and handed to the backend, one
//!   `send` per link, before the driver lock is let go (so the bytes of one
//!   holder go out before the next holder's).
//! * A step never calls into the engine while it holds the driver's lock.
//!   What it has for the engine ([`ConvPort::deliver`] / [`ConvPort::fail`],
//!   and [`ConvPort::writable`] once a waiting send's backlog is down to its
//!   low mark) it queues as an [`Action`], handed to a second [`Combiner`] before the
//!   lock is let go (so two holders' actions keep their order) and run
//!   after it, in order, by one thread at a time: by the reactor or helper
//!   thread whose step queued it, or, when a TP's thread ran the step (it
//!   holds a conversation lock and must not re-enter the engine), by the
//!   node's helper thread. Whoever finds the queue already being run leaves its
//!   actions to that thread, so the engine sees them in the order the steps
//!   made them, per conversation and overall.
//! * [`Node::incoming_attach`] (an attach arrived) is the one engine call a
//!   step needs an answer from: the reactor thread lets go of the lock for
//!   it, with the conversation already entered (so its engine calls find
//!   it), and takes the lock again to finish, before it goes on with the
//!   link's next event.

use rustc_hash::FxHashMap;
use std::cmp;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Instant;

use super::config::NodeConfig;
use super::limits::{Budget, Timers};
use super::link::{Link, Piu, Sess};
use super::names::{self, LuName};
use super::outbox::Outbox;
use super::protocol::{Event, HalfSession, Violation, SESSION_LIMIT_EXCEEDED};
use super::NodeStats;
use crate::appc::rc::{PrimaryRc, SecondaryRc};
use crate::appc::verbs::{name, values};
use crate::appc::{Attach, ConvPort, Flow, Node, Session};
use crate::backend::{Backend, LinkId};
use crate::diag::{limited, panic_message, Limits};
use crate::engine::combiner::Combiner;
use crate::engine::id_hash::IdHashMap;
use crate::wire::frame::MIN_PIU;
use crate::wire::{
    self, ebcdic, Bind, ControlRu, ConversationType, Frame, FrameRef, Lfsid, Pacing, Response,
    ResponseType, Rh, Rti, RuCategory, RuSize, SecurityKind, SecuritySubfield, Sense, SyncLevel,
    Th, Unbind, UnbindType,
};

/// What a step has for the engine, run after the driver's lock is let go.
enum Action {
    Deliver(ConvPort, Flow),
    Fail(ConvPort, PrimaryRc, SecondaryRc),
    /// The conversation's send backlog is down to its low mark: its
    /// waiting send completes.
    Writable(ConvPort),
    /// Counts a closed link, after its conversations' failures.
    LinkClosed(Arc<NodeStats>),
}

impl Action {
    fn run(self) {
        match self {
            Action::Deliver(port, flow) => port.deliver(flow),
            Action::Fail(port, primary, secondary) => port.fail(primary, secondary),
            Action::Writable(port) => port.writable(),
            Action::LinkClosed(stats) => {
                stats.links_closed.fetch_add(1, Ordering::Release);
            }
        }
    }
}

/// Work for the helper thread.
pub(crate) enum Wake {
    /// An engine call queued actions: run them.
    Drain,
    /// An aborting close found the inbox idle: run it (see
    /// [`Shared::post`]).
    Run,
    Stop,
}

/// Who runs a step, which decides whether its actions may run on this
/// thread.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Caller {
    /// An engine session call: a conversation is locked.
    Engine,
    /// A reactor thread, or the user's: no engine lock held.
    Free,
}

/// An engine call's step, for whichever thread runs the inbox (a value,
/// not a boxed closure: the inbox takes one per SEND_DATA, receive and
/// cancel, and an allocation each measured as a tenth of a mass cancel).
enum Step {
    Send(u64, Flow),
    Close(u64, bool),
    /// The TP took data while an IPR was withheld (see [`Backlog`]).
    Consumed(u64),
    Attach(Box<NewConv>),
}

/// A conversation this node allocates ([`Partner::attach`](crate::appc::Partner::attach)).
struct NewConv {
    id: u64,
    attach: Attach,
    port: ConvPort,
    backlog: Arc<Mutex<Backlog>>,
    alias: String,
    /// The partner LU's name, for the BINDs.
    lu: String,
    addr: SocketAddr,
}

impl Step {
    fn run(self, driver: &mut Driver) {
        match self {
            Step::Send(id, flow) => driver.send(id, flow),
            Step::Close(id, abort) => driver.close(id, abort),
            Step::Consumed(id) => driver.consumed(id),
            Step::Attach(conv) => driver.attach(*conv),
        }
    }
}

/// The driver and what runs it; see the module docs.
pub(crate) struct Shared {
    driver: Mutex<Driver>,
    /// Engine calls' steps, run one thread at a time (the caller that
    /// finds it idle) under the driver lock.
    inbox: Combiner<Step>,
    /// What the steps have for the engine, in step order: pushed while the
    /// driver lock is held, run after it is let go.
    actions: Combiner<Action>,
    engine: Node,
    helper: Mutex<Sender<Wake>>,
    /// For [`Backend::kick`].
    backend: Arc<dyn Backend>,
    /// Set once, when a panic failed the node ([`Shared::fail`]): why.
    failure: OnceLock<String>,
    /// Steps queued in the inbox, and run (or refused): equal when the
    /// inbox is empty ([`Shared::linger`]).
    steps_posted: AtomicU64,
    steps_run: AtomicU64,
    /// [`Shared::stop`] ran: steps are no longer kicked to a reactor.
    halted: AtomicBool,
    /// Test hook: the next bytes received make the reactor's step panic.
    #[cfg(test)]
    pub(crate) panic_on_receive: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        driver: impl FnOnce(Weak<Shared>) -> Driver,
        helper: Sender<Wake>,
    ) -> Arc<Self> {
        Arc::new_cyclic(|me| {
            let driver = driver(me.clone());
            Shared {
                backend: Arc::clone(&driver.backend),
                engine: driver.engine.clone(),
                driver: Mutex::new(driver),
                inbox: Combiner::new(),
                actions: Combiner::new(),
                helper: Mutex::new(helper),
                failure: OnceLock::new(),
                steps_posted: AtomicU64::new(0),
                steps_run: AtomicU64::new(0),
                halted: AtomicBool::new(false),
                #[cfg(test)]
                panic_on_receive: AtomicBool::new(false),
            }
        })
    }

    fn lock(&self) -> MutexGuard<'_, Driver> {
        // A panic inside a step leaves at worst one conversation or link
        // inconsistent; the others carry on.
        self.driver.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An engine call's step: queued in the inbox, in call order. The call
    /// that finds the inbox idle has it run, with every step queued
    /// meanwhile, under one hold of the driver lock (their writes then go
    /// out as one `send` per link): on a reactor thread if the backend can
    /// be kicked, else here. Under load one run takes many steps, and the
    /// other calls return at once.
    ///
    /// Why the reactor: the driver's maps and sessions are touched by
    /// every step, and a step run by each TP's thread in turn moved them
    /// between CPUs on every request. With io_uring, `appc-load` (256
    /// sessions, 64 B) measured 99-123k requests/s with steps run by the
    /// callers and 118-125k kicked to the reactor, p99 3.6-4.7 ms against
    /// 3.2-3.6 ms (alternating runs of one binary); the kick costs no
    /// extra wake-up, as the bytes a step writes wake the reactor anyway.
    fn call(&self, step: Step) {
        self.steps_posted.fetch_add(1, Ordering::SeqCst);
        // A stopped node's backend runs no kicked turn any more.
        if self.inbox.push([step]) && (self.halted.load(Ordering::SeqCst) || !self.backend.kick()) {
            self.guard(Caller::Engine, || self.run_inbox(Caller::Engine));
        }
    }

    /// Runs `work` (driver steps, or the engine calls of their actions) on
    /// a thread the node must not unwind: a reactor's, the helper's, or a
    /// TP's inside its call. A panic there fails the node ([`fail`](Self::fail))
    /// instead of leaving it half alive: a reactor that died with the
    /// driver lock poisoned, a listener gone, conversations waiting for
    /// ever.
    pub(crate) fn guard(&self, caller: Caller, work: impl FnOnce()) {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(work)) {
            self.fail(caller, &panic_message(&*payload));
        }
    }

    /// The node failed (`reason`: a panic's message), for good: it is
    /// logged, every link is closed, every conversation fails with
    /// `AP_COMM_SUBSYSTEM_ABENDED` (the code the API reference gives for a
    /// failed node or link station; it ends the conversation, state RESET),
    /// so does every later ALLOCATE to its partners, and the owner sees it
    /// in [`TcpNode::health`](super::TcpNode::health). Once; later calls do
    /// nothing.
    pub(crate) fn fail(&self, caller: Caller, reason: &str) {
        if self.failure.set(reason.to_owned()).is_err() {
            return;
        }
        let mut driver = self.lock();
        tracing::error!(
            parent: driver.log.span(),
            reason,
            "node failed (a panic on one of its threads): its links are closed \
             and its conversations fail with AP_COMM_SUBSYSTEM_ABENDED"
        );
        driver.stopped = true;
        driver.outbox = Outbox::default();
        for &link in driver.links.keys() {
            driver.backend.close(link);
        }
        driver.links.clear();
        driver.out_links.clear();
        let ports: Vec<ConvPort> = driver.convs.drain().filter_map(|(_, c)| c.port).collect();
        for port in ports {
            driver.tell(port, PrimaryRc::COMM_SUBSYSTEM_ABENDED, SecondaryRc(0));
        }
        driver.gauges();
        let run = self.queue_actions(&mut driver);
        drop(driver);
        if run {
            match caller {
                // The engine may be what panicked: a second panic changes
                // nothing more.
                Caller::Free => {
                    let _ = panic::catch_unwind(AssertUnwindSafe(|| self.drain()));
                }
                Caller::Engine => {
                    self.wake(Wake::Drain);
                }
            }
        }
    }

    /// Why the node failed, if it did ([`Shared::fail`]).
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// The reactor's turn [`call`](Self::call) asked for: runs the inbox
    /// there, and the actions of its steps too (a reactor holds no engine
    /// lock).
    pub(crate) fn kicked(&self) {
        self.run_inbox(Caller::Free);
    }

    /// An engine call's step that its caller should not wait for: queued
    /// in the inbox like [`call`](Self::call)'s, in call order, but run by
    /// the helper thread when the inbox was idle. For an aborting close: a
    /// cancel returns as soon as its `AP_CANCELLED` is posted, and the
    /// session's UNBIND (its step, the encoding and the write to the
    /// backend, a few microseconds) follows on the helper thread; a mass
    /// cancel from many threads then costs each canceller a push, and the
    /// helper runs their UNBINDs in large batches, one backend `send` per
    /// link each.
    fn post(&self, step: Step) {
        // Once the node has stopped (no helper left), run it here: the
        // step finds the driver stopped and does nothing.
        self.steps_posted.fetch_add(1, Ordering::SeqCst);
        if self.inbox.push([step]) && !self.wake(Wake::Run) {
            self.guard(Caller::Engine, || self.run_inbox(Caller::Engine));
        }
    }

    /// For the inbox's runner: runs its steps, every one queued meanwhile
    /// too, in batches under the driver lock.
    fn run_inbox(&self, caller: Caller) {
        self.inbox.run(|steps| {
            let ran = steps.len() as u64;
            let mut driver = self.lock();
            if driver.stopped {
                // A stopped node refuses new conversations at once (it
                // failed the others as it stopped): a failed one with
                // AP_COMM_SUBSYSTEM_ABENDED, one shut down with
                // AP_COMM_SUBSYSTEM_NOT_LOADED (no active node has the LU).
                let code = match self.failure() {
                    Some(_) => PrimaryRc::COMM_SUBSYSTEM_ABENDED,
                    None => PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED,
                };
                for step in steps {
                    if let Step::Attach(conv) = step {
                        driver.tell(conv.port, code, SecondaryRc(0));
                    }
                }
            } else {
                for step in steps {
                    step.run(&mut driver);
                }
            }
            self.settle(driver, caller);
            self.steps_run.fetch_add(ran, Ordering::SeqCst);
        });
    }

    /// Wakes the helper thread; false if it has stopped.
    fn wake(&self, wake: Wake) -> bool {
        let helper = self.helper.lock().unwrap_or_else(PoisonError::into_inner);
        helper.send(wake).is_ok()
    }

    /// Runs one step, then its actions (see the module docs).
    fn step(&self, caller: Caller, step: impl FnOnce(&mut Driver)) {
        let mut driver = self.lock();
        if driver.stopped {
            return;
        }
        step(&mut driver);
        self.settle(driver, caller);
    }

    /// Hands the actions the steps queued to the `actions` combiner, in
    /// order (under the driver lock, so two holders' actions cannot swap);
    /// true if this thread is now the one to run them.
    fn queue_actions(&self, driver: &mut Driver) -> bool {
        self.actions.push(std::mem::take(&mut driver.actions))
    }

    /// After a step: sets the gauges, lets go of the lock and sees to the
    /// queued actions: runs them here (`Free`), hands them to the helper
    /// (`Engine`), or leaves them to the thread already running them.
    fn settle(&self, mut driver: MutexGuard<'_, Driver>, caller: Caller) {
        driver.flush();
        driver.gauges();
        let run = self.queue_actions(&mut driver);
        drop(driver);
        if !run {
            return;
        }
        match caller {
            Caller::Free => self.drain(),
            Caller::Engine => {
                self.wake(Wake::Drain);
            }
        }
    }

    /// Runs the queued actions, in order, until none is left (for the
    /// thread the `actions` combiner made their runner).
    fn drain(&self) {
        self.actions
            .run(|actions| actions.into_iter().for_each(Action::run));
    }

    /// The helper thread: runs the actions of engine calls and the
    /// [`post`](Self::post)ed steps (whose actions it runs itself: it holds
    /// no engine lock), and checks the links' timers every `tick`
    /// ([`limits`](super::limits)), until stopped.
    pub(crate) fn helper(&self, wakes: Receiver<Wake>, tick: std::time::Duration) {
        let mut next = Instant::now() + tick;
        loop {
            let wake = wakes.recv_timeout(next.saturating_duration_since(Instant::now()));
            if Instant::now() >= next {
                self.guard(Caller::Free, || {
                    self.step(Caller::Free, |d| d.tick(Instant::now()));
                });
                next = Instant::now() + tick;
            }
            match wake {
                Ok(Wake::Drain) => self.guard(Caller::Free, || self.drain()),
                Ok(Wake::Run) => self.guard(Caller::Free, || self.run_inbox(Caller::Free)),
                Err(RecvTimeoutError::Timeout) => {}
                Ok(Wake::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    pub(crate) fn attach(
        &self,
        id: u64,
        attach: &Attach,
        (port, backlog): (ConvPort, Arc<Mutex<Backlog>>),
        (alias, lu): (String, String),
        addr: SocketAddr,
    ) {
        self.call(Step::Attach(Box::new(NewConv {
            id,
            attach: attach.clone(),
            port,
            backlog,
            alias,
            lu,
            addr,
        })));
    }

    /// A link is up (a stopped node closes it at once).
    pub(crate) fn connected(&self, link: LinkId, peer: SocketAddr) {
        {
            let driver = self.lock();
            if driver.stopped {
                driver.backend.close(link);
                return;
            }
        }
        self.step(Caller::Free, |d| d.connected(link, peer));
    }

    pub(crate) fn closed(&self, link: LinkId, error: Option<io::Error>) {
        self.step(Caller::Free, |d| d.closed(link, error));
    }

    /// Closes the link to `alias`, if there is one.
    pub(crate) fn disconnect(&self, alias: &str) {
        self.step(Caller::Free, |d| {
            if let Some(&link) = d.out_links.get(alias) {
                d.backend.close(link);
            }
        });
    }

    /// Waits, for at most `linger`, until what the node's conversations
    /// already sent is out and answered where the session needs it
    /// ([`Driver::quiet`]), so that a stop right after a TP's last verb
    /// does not cut it off (a DEALLOCATE still in the inbox, or in a send
    /// queue, or a PLU's CEB whose `+RSP` has not come). Polls every
    /// millisecond: only a stopping node waits here.
    pub(crate) fn linger(&self, linger: std::time::Duration) {
        let deadline = Instant::now() + linger;
        loop {
            let steps_done =
                self.steps_run.load(Ordering::SeqCst) == self.steps_posted.load(Ordering::SeqCst);
            if (steps_done && self.lock().quiet()) || Instant::now() >= deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Stops the driver, once: the links are closed, their conversations
    /// fail as on a lost link (`CONV_FAILURE_RETRY`; still allocating:
    /// `ALLOCATION_ERROR`), later events are ignored and later
    /// conversations refused (the helper thread, which runs the refusals
    /// for TPs' threads, goes on until [`Wake::Stop`]).
    pub(crate) fn stop(&self) {
        self.halted.store(true, Ordering::SeqCst);
        let mut driver = self.lock();
        if driver.stopped {
            return;
        }
        let links: Vec<LinkId> = driver.links.keys().copied().collect();
        for link in links {
            driver.backend.close(link);
            driver.closed(link, None);
        }
        driver.stopped = true;
        driver.out_links.clear();
        let convs = std::mem::take(&mut driver.convs);
        driver.gauges();
        let run = self.queue_actions(&mut driver);
        drop(driver);
        drop(convs);
        if run {
            self.guard(Caller::Free, || self.drain());
        }
    }

    /// Ends the helper thread (the node is dropped).
    pub(crate) fn end_helper(&self) {
        self.wake(Wake::Stop);
    }

    /// Whether the node has stopped (shut down or failed).
    pub(crate) fn stopped(&self) -> bool {
        self.lock().stopped
    }

    /// Bytes arrived on `link`: its PIUs, one after the other. An attach
    /// lets go of the lock for [`Node::incoming_attach`] (see the module
    /// docs).
    pub(crate) fn received(&self, link_id: LinkId, data: &[u8]) {
        #[cfg(test)]
        if self.panic_on_receive.swap(false, Ordering::SeqCst) {
            panic!("injected: a step failed on the reactor");
        }
        let mut driver = self.lock();
        if driver.stopped {
            return;
        }
        for piu in driver.split(link_id, data) {
            if driver.links.get(&link_id).is_none_or(|l| l.closing) {
                break;
            }
            let Some((sid, events)) = driver.piu(link_id, piu.bytes()) else {
                continue;
            };
            for event in events {
                let Event::Attach(wa) = event else {
                    driver.event(link_id, sid, event);
                    continue;
                };
                let Some((id, attach, backlog)) = driver.begin_attach(link_id, sid, wa) else {
                    continue;
                };
                // What earlier PIUs had for the engine goes first.
                let drain = self.queue_actions(&mut driver);
                driver.flush();
                driver.gauges();
                let handle = Arc::new(ConvSession {
                    id,
                    shared: driver.me.clone(),
                    backlog,
                });
                drop(driver);
                if drain {
                    self.drain();
                }
                let result = self.engine.incoming_attach(attach, handle);
                driver = self.lock();
                if driver.stopped {
                    // A node that failed meanwhile fails this one too.
                    if let (Ok(port), Some(_)) = (result, self.failure()) {
                        drop(driver);
                        port.fail(PrimaryRc::COMM_SUBSYSTEM_ABENDED, SecondaryRc(0));
                    }
                    return;
                }
                driver.end_attach(link_id, sid, id, result);
            }
        }
        driver.account(link_id);
        self.settle(driver, Caller::Free);
    }
}

/// A conversation's data not yet sent: posted to the driver (in the inbox)
/// and not yet given to its half-session, or held there for a pacing
/// window. Shared by the engine's [`ConvSession`] (adds, asks, with the
/// conversation locked) and the driver (takes off, under the driver lock);
/// its own lock is a leaf: nothing is taken while it is held.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    posted: usize,
    held: usize,
    /// Above it a send waits ([`NodeConfig::max_send_backlog`]).
    high: usize,
    /// A send waits: queue [`Action::Writable`] at `high / 2`.
    armed: bool,
    /// Bytes the TP took ([`Session::consumed`]) not yet told to the
    /// half-session: each step that gives the session a PIU, or runs for
    /// a [`Step::Consumed`], tells it first, and sets `ipr_withheld` after.
    consumed: usize,
    /// The half-session withholds an IPR until the TP takes more, so
    /// [`Session::consumed`] queues a step. Otherwise (nearly always) it
    /// only adds to `consumed`: a step per received record, a tenth of the
    /// reactor's time, for an IPR that was not waiting. Both sides change
    /// these under this lock, so a take either finds the flag set (and
    /// queues its step) or happened before the step that set it (which
    /// counted it first): no IPR waits for a take that already happened.
    ipr_withheld: bool,
}

impl Backlog {
    pub(crate) fn new(high: usize) -> Arc<Mutex<Backlog>> {
        Arc::new(Mutex::new(Backlog {
            high,
            ..Backlog::default()
        }))
    }
}

/// The engine's handle on one conversation's session (both sides). Its
/// calls come with the conversation locked: they queue a step (or, for
/// [`Session::backlogged`], read the [`Backlog`]) and return.
pub(crate) struct ConvSession {
    pub id: u64,
    pub shared: Weak<Shared>,
    pub backlog: Arc<Mutex<Backlog>>,
}

impl Session for ConvSession {
    fn send(&self, flow: Flow) {
        if let Flow::Data(data) = &flow {
            if let Ok(mut b) = self.backlog.lock() {
                b.posted += data.len();
            }
        }
        if let Some(shared) = self.shared.upgrade() {
            shared.call(Step::Send(self.id, flow));
        }
    }

    fn close(&self, abort: bool) {
        if let Some(shared) = self.shared.upgrade() {
            let step = Step::Close(self.id, abort);
            if abort {
                shared.post(step);
            } else {
                shared.call(step);
            }
        }
    }

    fn consumed(&self, bytes: usize) {
        let waiting = match self.backlog.lock() {
            Ok(mut b) => {
                b.consumed += bytes;
                b.ipr_withheld
            }
            Err(_) => return,
        };
        if let Some(shared) = self.shared.upgrade().filter(|_| waiting) {
            shared.call(Step::Consumed(self.id));
        }
    }

    fn backlogged(&self) -> bool {
        let Ok(mut b) = self.backlog.lock() else {
            return false;
        };
        b.armed = b.posted + b.held > b.high;
        b.armed
    }
}

/// Flows of a conversation that has no active session yet.
struct Pending {
    attach: wire::Attach,
    mode: [u8; 8],
    flows: Vec<Flow>,
    bytes: usize,
}

struct Conv {
    /// `None` while [`Node::incoming_attach`] runs for it.
    port: Option<ConvPort>,
    /// Its flows not yet sent (shared with its [`ConvSession`]).
    backlog: Arc<Mutex<Backlog>>,
    /// The session carrying its bracket.
    at: Option<(LinkId, u16)>,
    /// Initiator side, before the bracket began.
    pending: Option<Pending>,
    /// The link it waits on.
    link: Option<LinkId>,
    /// The engine closed it normally before its flows went out: it lives
    /// on until its bracket ends.
    closing: bool,
}

/// Sense logged when the framing breaks (RU length error).
const FRAMING_SENSE: Sense = Sense(0x1002_0000);

/// A sense code as logged: eight hex digits, as SNA manuals print them.
struct SenseHex(Sense);

impl std::fmt::Display for SenseHex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08X}", self.0 .0)
    }
}

pub(crate) struct Driver {
    pub lu: String,
    pub engine: Node,
    pub backend: Arc<dyn Backend>,
    pub config: NodeConfig,
    pub stats: Arc<NodeStats>,
    pub next_id: Arc<AtomicU64>,
    pub links: FxHashMap<LinkId, Link>,
    pub out_links: HashMap<String, LinkId>,
    /// By the node's own conversation ids (a counter): an `IdHashMap`, as
    /// the engine's registry.
    convs: IdHashMap<u64, Conv>,
    /// This driver's [`Shared`], for the sessions of incoming attaches.
    me: Weak<Shared>,
    /// What the current step has for the engine, in order, until
    /// [`Shared::settle`] queues it (see the module docs).
    actions: Vec<Action>,
    /// Bytes written since the last [`Driver::flush`], per link.
    outbox: Outbox,
    /// The node is gone: ignore everything.
    stopped: bool,
    /// The node's span, and the rate limits of its events that concern no
    /// one link.
    log: Limits,
    /// What the links hold, against [`NodeConfig::max_node_memory`].
    budget: Budget,
    /// The LU as BINDs name it.
    name: LuName,
}

/// Tells `hs` what its conversation's TP took since last told (which may
/// send the IPR it owes) and notes in the backlog whether one is still
/// withheld (see [`Backlog::ipr_withheld`]).
fn tell_consumed(hs: &mut HalfSession, backlog: &Mutex<Backlog>, out: &mut Vec<Frame>) {
    let Ok(mut b) = backlog.lock() else {
        return;
    };
    hs.consumed(std::mem::take(&mut b.consumed), out);
    b.ipr_withheld = hs.ipr_withheld();
}

/// The largest RU a node with `config` receives, as a BIND states it: the
/// largest size a BIND byte can state that fits `max_frame` (at least 256).
/// A session sends at most the smaller of it and what the partner's BIND or
/// image allows.
fn ru_size(config: &NodeConfig) -> RuSize {
    RuSize::at_most(config.max_frame.saturating_sub(MIN_PIU).max(256))
        .expect("256 bytes is above the smallest RU size")
}

/// Whether a BIND's secondary LU name (EBCDIC) names `me`, in either form
/// ([`names`]); a BIND that names none is taken as meant for it.
fn names_me(me: &LuName, slu: &[u8]) -> bool {
    slu.is_empty() || ebcdic::decode(slu).is_some_and(|slu| me.is(&slu))
}

/// Session `sid` of link `link_id`, if both exist (a free function, so
/// that it borrows only the links and not the whole driver).
fn session(links: &mut FxHashMap<LinkId, Link>, link_id: LinkId, sid: u16) -> Option<&mut Sess> {
    links.get_mut(&link_id)?.sessions.get_mut(&sid)
}

fn trim(field: &[u8]) -> &[u8] {
    let end = field
        .iter()
        .rposition(|&b| b != b' ' && b != 0)
        .map_or(0, |i| i + 1);
    &field[..end]
}

fn to_ebcdic(field: &[u8]) -> Option<Vec<u8>> {
    ebcdic::encode(std::str::from_utf8(trim(field)).ok()?).ok()
}

fn from_ebcdic<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    ebcdic::decode(bytes).map(|text| name(&text))
}

/// The FMH-5 for an engine attach.
fn to_wire(a: &Attach) -> Option<wire::Attach> {
    let tp = to_ebcdic(&a.tp_name).filter(|tp| !tp.is_empty())?;
    let kind = if a.mapped {
        ConversationType::Mapped
    } else {
        ConversationType::Basic
    };
    let sync = match a.sync_level {
        values::SYNC_CONFIRM => SyncLevel::Confirm,
        values::SYNC_SYNCPT => SyncLevel::Syncpt,
        _ => SyncLevel::None,
    };
    let mut w = wire::Attach::new(kind, sync, &tp);
    let user = trim(&a.user_id);
    if !user.is_empty() {
        w.security.already_verified = true;
        w.security.subfields.push(SecuritySubfield {
            kind: SecurityKind::UserId,
            data: to_ebcdic(user)?,
        });
    }
    if !a.pip.is_empty() {
        w.pip = Some(vec![a.pip.clone()]);
    }
    Some(w)
}

impl Driver {
    pub(crate) fn new(
        lu: String,
        engine: Node,
        backend: Arc<dyn Backend>,
        config: NodeConfig,
        stats: Arc<NodeStats>,
        next_id: Arc<AtomicU64>,
        me: Weak<Shared>,
    ) -> Self {
        Self {
            name: LuName::new(&lu, &config.netid),
            engine,
            backend,
            config,
            stats,
            next_id,
            links: FxHashMap::default(),
            out_links: HashMap::new(),
            convs: IdHashMap::default(),
            me,
            actions: Vec::new(),
            log: Limits::new(tracing::warn_span!(parent: None, "node", node = %lu)),
            lu,
            outbox: Outbox::default(),
            stopped: false,
            budget: Budget::default(),
        }
    }

    /// Sets the gauges (after each step).
    fn gauges(&self) {
        let (convs, links) = (self.convs.len() as u64, self.links.len() as u64);
        self.stats.conversations.store(convs, Ordering::Release);
        self.stats.links.store(links, Ordering::Release);
        let memory = self.budget.total() as u64;
        self.stats.memory.store(memory, Ordering::Release);
    }

    fn deliver(&mut self, port: ConvPort, flow: Flow) {
        self.actions.push(Action::Deliver(port, flow));
    }

    fn tell(&mut self, port: ConvPort, primary: PrimaryRc, secondary: SecondaryRc) {
        self.actions.push(Action::Fail(port, primary, secondary));
    }

    fn write(&mut self, link: LinkId, frames: Vec<Frame>) {
        if let Err(error) = self.outbox.write(link, frames, self.config.max_frame) {
            limited!(
                error,
                &mut self.log,
                "oversize_piu",
                link = link.0,
                %error,
                "dropped a PIU of ours over the frame limit"
            );
        }
    }

    /// Hands what the steps since the last flush wrote to the backend, one
    /// `send_vectored` per link (done before the driver lock is let go, so
    /// the bytes of one holder go out before those of the next).
    fn flush(&mut self) {
        for (link, parts) in self.outbox.take() {
            match self.backend.send_vectored(link, parts) {
                Ok(()) => self.account(link),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(l) = self.links.get_mut(&link) {
                        if !std::mem::replace(&mut l.closing, true) {
                            tracing::warn!(
                                parent: l.log.span(),
                                "the peer stopped reading (send queue full): link closed"
                            );
                        }
                    }
                    self.backend.close(link);
                }
                Err(_) => {}
            }
        }
    }

    /// Conversation `id` failed: its local end reports `primary` /
    /// `secondary`. One the engine already closed (`closing`: its flows
    /// were still waiting for a session) has no end left to tell, and the
    /// engine will not close it again: it is forgotten here, or it would
    /// stay in `convs` for the node's lifetime (a link lost before its
    /// BIND was answered leaked one per such conversation).
    fn fail(&mut self, id: u64, primary: PrimaryRc, secondary: SecondaryRc) {
        let Some(conv) = self.convs.get(&id) else {
            return;
        };
        if conv.closing {
            self.convs.remove(&id);
        } else if let Some(port) = conv.port.clone() {
            self.tell(port, primary, secondary);
        }
    }

    fn attach(&mut self, conv: NewConv) {
        let NewConv {
            id,
            attach,
            port,
            backlog,
            alias,
            lu,
            addr,
        } = conv;
        let Some(wire_attach) = to_wire(&attach) else {
            self.tell(
                port,
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::TP_NAME_NOT_RECOGNIZED,
            );
            return;
        };
        let link = match self.out_links.get(&alias) {
            Some(&link) if self.links.contains_key(&link) => link,
            _ => match self.backend.connect(addr) {
                Ok(link) => {
                    let span = tracing::warn_span!(
                        parent: None,
                        "link",
                        node = %self.lu,
                        link = link.0,
                        partner = %alias,
                        %addr
                    );
                    let (log, timers) = (Limits::new(span), Timers::new(Instant::now()));
                    let max_frame = self.config.max_frame;
                    let mut l = Link::new(true, Some(alias.clone()), max_frame, log, timers);
                    l.partner_lu = lu;
                    self.links.insert(link, l);
                    self.out_links.insert(alias, link);
                    link
                }
                Err(error) => {
                    limited!(
                        warn,
                        &mut self.log,
                        "connect_failed",
                        partner = %alias,
                        %addr,
                        %error,
                        "cannot connect to a partner"
                    );
                    self.tell(
                        port,
                        PrimaryRc::ALLOCATION_ERROR,
                        SecondaryRc::ALLOCATION_FAILURE_RETRY,
                    );
                    return;
                }
            },
        };
        self.convs.insert(
            id,
            Conv {
                port: Some(port),
                backlog,
                at: None,
                pending: Some(Pending {
                    attach: wire_attach,
                    mode: attach.mode_name,
                    flows: Vec::new(),
                    bytes: 0,
                }),
                link: Some(link),
                closing: false,
            },
        );
        if let Some(l) = self.links.get_mut(&link) {
            l.waiting.push_back(id);
        }
        self.assign(link);
    }

    /// Gives waiting conversations a pooled session, or BINDs a new one.
    fn assign(&mut self, link_id: LinkId) {
        let ru_size = ru_size(&self.config);
        loop {
            let Some(link) = self.links.get_mut(&link_id) else {
                return;
            };
            if !link.up {
                return;
            }
            let Some(&id) = link.waiting.front() else {
                return;
            };
            let Some(mode) = self
                .convs
                .get(&id)
                .and_then(|c| c.pending.as_ref())
                .map(|p| p.mode)
            else {
                link.waiting.pop_front();
                continue;
            };
            if let Some(sid) = link.idle.get_mut(&mode).and_then(Vec::pop) {
                link.waiting.pop_front();
                self.stats.sessions_reused.fetch_add(1, Ordering::Relaxed);
                self.begin(link_id, sid, id);
                continue;
            }
            if link.sessions.len() >= self.config.max_sessions_per_link {
                return;
            }
            link.waiting.pop_front();
            let sid = link.new_sid();
            let [sidh, sidl] = sid.to_be_bytes();
            let lfsid = Lfsid {
                odai: false,
                sidh,
                sidl,
            };
            let partner = link.partner.clone().unwrap_or_default();
            let partner_name = self.name.partner(&link.partner_lu);
            // Until the image says otherwise, we send what we receive.
            let mut hs =
                HalfSession::new(lfsid, true, ru_size.bytes(), self.config.max_session_buffer);
            let mut bind = Bind::lu62(
                &ebcdic::encode(&self.name.qualified()).unwrap_or_default(),
                &ebcdic::encode(&partner_name).unwrap_or_default(),
                &to_ebcdic(&mode).unwrap_or_default(),
                ru_size,
            );
            let window = Pacing {
                flag: false,
                window: self.config.pacing_window.min(63),
            };
            bind.secondary_send_pacing = window;
            bind.secondary_receive_pacing = window;
            bind.primary_send_pacing = window;
            bind.primary_receive_pacing = window;
            let frame = hs.control(&ControlRu::Bind(bind), ResponseType::Rqd1);
            link.sessions.insert(
                sid,
                Sess {
                    hs,
                    bound: false,
                    mode,
                    partner_lu: name(&partner),
                    conv: Some(id),
                },
            );
            if let Some(conv) = self.convs.get_mut(&id) {
                conv.at = Some((link_id, sid));
            }
            self.stats.binds_sent.fetch_add(1, Ordering::Relaxed);
            self.write(link_id, vec![frame]);
        }
    }

    /// Begins conversation `id`'s bracket on the bound session `sid`.
    fn begin(&mut self, link_id: LinkId, sid: u16, id: u64) {
        let Some(pending) = self.convs.get_mut(&id).and_then(|c| c.pending.take()) else {
            self.release(link_id, sid);
            return;
        };
        let Some(sess) = session(&mut self.links, link_id, sid) else {
            return;
        };
        let mut out = Vec::new();
        if let Err(v) = sess.hs.begin(&pending.attach, &mut out) {
            sess.conv = None;
            if let Some(link) = self.links.get_mut(&link_id) {
                limited!(
                    warn,
                    &mut link.log,
                    "attach_refused",
                    session = sid,
                    sense = %SenseHex(v.sense),
                    what = v.what,
                    "an attach of ours cannot be sent"
                );
            }
            self.fail(
                id,
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::ALLOCATION_FAILURE_NO_RETRY,
            );
            self.release(link_id, sid);
            return;
        }
        sess.conv = Some(id);
        if let Some(conv) = self.convs.get_mut(&id) {
            conv.at = Some((link_id, sid));
        }
        self.write(link_id, out);
        for flow in pending.flows {
            self.send(id, flow);
        }
    }

    /// An idle session with no conversation: back to the pool (initiator).
    fn release(&mut self, link_id: LinkId, sid: u16) {
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        let Some(sess) = link.sessions.get(&sid) else {
            return;
        };
        if !link.initiator || !sess.bound || sess.conv.is_some() || !sess.hs.is_idle() {
            return;
        }
        link.idle.entry(sess.mode).or_default().push(sid);
        self.assign(link_id);
    }

    /// Conversation `id` left its session.
    fn detach(&mut self, id: u64) {
        if let Some(conv) = self.convs.get_mut(&id) {
            conv.at = None;
            if conv.closing {
                self.convs.remove(&id);
            }
        }
    }

    fn send(&mut self, id: u64, flow: Flow) {
        let Some(conv) = self.convs.get_mut(&id) else {
            return;
        };
        let n = match &flow {
            Flow::Data(d) => d.len(),
            _ => 0,
        };
        let backlog = Arc::clone(&conv.backlog);
        if let Some(pending) = &mut conv.pending {
            // Queued for a session: it stays in the backlog.
            pending.bytes += n.max(1);
            pending.flows.push(flow);
            if pending.bytes > self.config.max_session_buffer {
                conv.pending = None;
                self.fail(
                    id,
                    PrimaryRc::ALLOCATION_ERROR,
                    SecondaryRc::ALLOCATION_FAILURE_RETRY,
                );
            }
            return;
        }
        let at = conv.at;
        let reached = 'session: {
            let Some((link_id, sid)) = at else {
                break 'session None;
            };
            let Some(sess) = session(&mut self.links, link_id, sid) else {
                break 'session None;
            };
            if sess.conv != Some(id) {
                break 'session None;
            }
            let mut out = Vec::new();
            let detached = sess.hs.send(flow, &mut out);
            let held = sess.hs.held_bytes();
            if detached {
                sess.conv = None;
            }
            self.write(link_id, out);
            Some((link_id, sid, detached, held))
        };
        // The flow leaves the backlog's posted part (sent, held or dropped)
        // as the session's holding is updated: a send verb never sees one
        // without the other.
        self.settle_backlog(id, &backlog, n, reached.map(|r| r.3));
        if let Some((link_id, sid, true, _)) = reached {
            self.detach(id);
            self.release(link_id, sid);
        }
    }

    /// Takes `sent` bytes off conversation `id`'s backlog and records what
    /// its session holds; once the backlog is down to the low mark, queues
    /// [`Action::Writable`] for its waiting send (run after the driver
    /// lock is let go, like every engine call).
    fn settle_backlog(
        &mut self,
        id: u64,
        backlog: &Mutex<Backlog>,
        sent: usize,
        held: Option<usize>,
    ) {
        let wake = {
            let Ok(mut b) = backlog.lock() else {
                return;
            };
            let before = b.posted + b.held;
            b.posted = b.posted.saturating_sub(sent);
            if let Some(held) = held {
                b.held = held;
            }
            let most = before.max(b.posted + b.held) as u64;
            self.stats
                .send_backlog_max
                .fetch_max(most, Ordering::Relaxed);
            let wake = b.armed && b.posted + b.held <= b.high / 2;
            if wake {
                b.armed = false;
            }
            wake
        };
        if !wake {
            return;
        }
        if let Some(port) = self.convs.get(&id).and_then(|c| c.port.clone()) {
            self.actions.push(Action::Writable(port));
        }
    }

    /// Conversation `id`'s TP took `bytes` of what its session delivered.
    fn consumed(&mut self, id: u64) {
        let Some(conv) = self.convs.get(&id) else {
            return;
        };
        let Some((link_id, sid)) = conv.at else {
            return;
        };
        let Some(sess) = session(&mut self.links, link_id, sid) else {
            return;
        };
        if sess.conv != Some(id) {
            return;
        }
        let mut out = Vec::new();
        tell_consumed(&mut sess.hs, &conv.backlog, &mut out);
        self.write(link_id, out);
    }

    fn close(&mut self, id: u64, abort: bool) {
        if let Some(conv) = self.convs.get_mut(&id) {
            if !abort && conv.pending.is_some() {
                // Its flows still go out once a session is active.
                conv.closing = true;
                return;
            }
        }
        let Some(conv) = self.convs.remove(&id) else {
            return;
        };
        if conv.pending.is_some() {
            if let Some(link) = conv.link.and_then(|l| self.links.get_mut(&l)) {
                link.waiting.retain(|&w| w != id);
            }
        }
        let Some((link_id, sid)) = conv.at else {
            return;
        };
        let Some(sess) = session(&mut self.links, link_id, sid) else {
            return;
        };
        if sess.conv != Some(id) {
            return;
        }
        sess.conv = None;
        if !sess.bound {
            // BIND in flight: the session joins the pool when bound.
            return;
        }
        if abort || sess.hs.in_bracket() {
            // Cancelled (or ended without ending its bracket): deactivate
            // the session at once; the partner's verbs fail RETRY.
            self.unbind(
                link_id,
                sid,
                UnbindType::NORMAL,
                Some(Sense::DEALLOCATE_ABEND_PROG),
            );
        } else {
            self.release(link_id, sid);
        }
    }

    /// Sends UNBIND for `sid` and forgets the session; returns its
    /// conversation.
    fn unbind(
        &mut self,
        link_id: LinkId,
        sid: u16,
        kind: UnbindType,
        sense: Option<Sense>,
    ) -> Option<u64> {
        let link = self.links.get_mut(&link_id)?;
        let mut sess = link.sessions.remove(&sid)?;
        for idle in link.idle.values_mut() {
            idle.retain(|&s| s != sid);
        }
        let frame = sess.hs.control(
            &ControlRu::Unbind(Unbind { kind, sense }),
            ResponseType::Rqd1,
        );
        self.write(link_id, vec![frame]);
        let id = sess.conv?;
        if let Some(conv) = self.convs.get_mut(&id) {
            conv.at = None;
        }
        let initiator = self.links.get(&link_id).is_some_and(|l| l.initiator);
        if initiator {
            self.assign(link_id);
        }
        Some(id)
    }

    /// A protocol violation on session `sid`: UNBIND it (both ends'
    /// conversations fail `NO_RETRY`) and count it against the link.
    fn violate(&mut self, link_id: LinkId, sid: u16, v: Violation) {
        if let Some(link) = self.links.get_mut(&link_id) {
            limited!(
                warn,
                &mut link.log,
                "violation",
                session = sid,
                sense = %SenseHex(v.sense),
                what = v.what,
                "protocol violation: session unbound"
            );
        }
        let kind = UnbindType::INVALID_SESSION_PARAMETERS;
        if let Some(id) = self.unbind(link_id, sid, kind, Some(v.sense)) {
            self.fail(id, PrimaryRc::CONV_FAILURE_NO_RETRY, SecondaryRc(0));
        }
        self.offence(link_id, v.sense);
    }

    /// Nothing sent is still on its way: every link's send queue is empty,
    /// no session waits for the response that ends its bracket (a PLU
    /// draining after its CEB), and no conversation the engine closed
    /// still waits for a session to carry its flows.
    fn quiet(&self) -> bool {
        let draining = self.links.values().any(|link| {
            link.sessions
                .values()
                .any(|s| s.bound && s.conv.is_none() && !s.hs.is_idle())
        });
        let waiting = self.convs.values().any(|c| c.closing);
        let queued = self.links.keys().any(|&id| self.backend.queued(id) > 0);
        !(draining || waiting || queued)
    }

    /// At a tick of the helper thread: closes the links whose time is up
    /// ([`Timers`]).
    fn tick(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for (&id, link) in &mut self.links {
            if link.closing || !link.up {
                continue;
            }
            let accepted = !link.initiator;
            let sessions = link.sessions.len();
            if let Some(why) = link.timers.expired(now, accepted, sessions, &self.config) {
                expired.push(id);
                link.closing = true;
                tracing::info!(parent: link.log.span(), "{}", why.what());
            }
        }
        for id in expired {
            self.stats.links_shed.fetch_add(1, Ordering::Relaxed);
            self.backend.close(id);
        }
        // Send queues drain without telling the driver: re-account them.
        self.over_budget();
    }

    /// Accounts what `link_id` holds now (its partial PIU, its send queue)
    /// in the node's budget; over [`NodeConfig::max_node_memory`], sheds
    /// links ([`Driver::over_budget`]).
    fn account(&mut self, link_id: LinkId) {
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        let held = if link.closing {
            0
        } else {
            link.split.held() + self.backend.queued(link_id)
        };
        let limit = self.config.max_node_memory;
        if self.budget.account(&mut link.memory, held, limit) {
            self.over_budget();
        }
    }

    /// Sees what every link holds now (queues drain without telling the
    /// driver); if the node is over its budget, closes the links that hold
    /// most until it is under it again.
    fn over_budget(&mut self) {
        let limit = self.config.max_node_memory;
        let ids: Vec<LinkId> = self.links.keys().copied().collect();
        for id in &ids {
            let Some(link) = self.links.get_mut(id) else {
                continue;
            };
            let held = if link.closing {
                0
            } else {
                link.split.held() + self.backend.queued(*id)
            };
            self.budget.account(&mut link.memory, held, limit);
        }
        while self.budget.total() > limit {
            let largest = self
                .links
                .iter_mut()
                .filter(|(_, l)| !l.closing && l.memory > 0)
                .max_by_key(|(_, l)| l.memory);
            let Some((&id, link)) = largest else {
                return;
            };
            tracing::warn!(
                parent: link.log.span(),
                held = link.memory,
                max_node_memory = limit,
                "the node's memory budget is exceeded: the link holding most closed"
            );
            link.closing = true;
            self.budget.account(&mut link.memory, 0, limit);
            self.stats.links_shed.fetch_add(1, Ordering::Relaxed);
            self.backend.close(id);
        }
    }

    /// Counts a protocol violation against `link_id`'s peer; at
    /// [`NodeConfig::max_link_violations`] the link is closed (its
    /// conversations fail `NO_RETRY`), and that is logged once, with the
    /// last sense.
    fn offence(&mut self, link_id: LinkId, sense: Sense) {
        self.stats.violations.fetch_add(1, Ordering::Relaxed);
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        link.violations = link.violations.saturating_add(1);
        if link.violations < self.config.max_link_violations || link.closing {
            return;
        }
        link.closing = true;
        link.failure = PrimaryRc::CONV_FAILURE_NO_RETRY;
        tracing::warn!(
            parent: link.log.span(),
            violations = link.violations,
            sense = %SenseHex(sense),
            "too many protocol violations: link closed"
        );
        self.backend.close(link_id);
    }

    fn connected(&mut self, link_id: LinkId, peer: SocketAddr) {
        let accepted = !self.links.contains_key(&link_id);
        if accepted && self.links.len() >= self.config.max_links {
            limited!(
                warn,
                &mut self.log,
                "max_links",
                %peer,
                max_links = self.config.max_links,
                "connection limit reached: connection closed"
            );
            self.stats.links_shed.fetch_add(1, Ordering::Relaxed);
            self.backend.close(link_id);
            return;
        }
        let (lu, max_frame) = (&self.lu, self.config.max_frame);
        self.links
            .entry(link_id)
            .or_insert_with(|| {
                let span = tracing::warn_span!(
                    parent: None,
                    "link",
                    node = %lu,
                    link = link_id.0,
                    %peer
                );
                Link::new(
                    false,
                    None,
                    max_frame,
                    Limits::new(span),
                    Timers::new(Instant::now()),
                )
            })
            .up = true;
        self.assign(link_id);
    }

    fn closed(&mut self, link_id: LinkId, error: Option<io::Error>) {
        let Some(mut link) = self.links.remove(&link_id) else {
            return;
        };
        self.budget
            .account(&mut link.memory, 0, self.config.max_node_memory);
        if let Some(error) = error {
            tracing::info!(parent: link.log.span(), %error, "link lost");
        }
        if let Some(alias) = &link.partner {
            if self.out_links.get(alias) == Some(&link_id) {
                self.out_links.remove(alias);
            }
        }
        let mut failed = Vec::new();
        for sess in link.sessions.values() {
            if let Some(id) = sess.conv {
                failed.push((id, sess.bound));
            }
        }
        failed.extend(link.waiting.iter().map(|&id| (id, false)));
        for (id, bound) in failed {
            let Some(conv) = self.convs.get_mut(&id) else {
                continue;
            };
            conv.at = None;
            let allocating = conv.pending.take().is_some() || !bound;
            if allocating {
                self.fail(
                    id,
                    PrimaryRc::ALLOCATION_ERROR,
                    SecondaryRc::ALLOCATION_FAILURE_RETRY,
                );
            } else {
                self.fail(id, link.failure, SecondaryRc(0));
            }
        }
        // Counted once its conversations have been told, i.e. after their
        // failures have run (Release: whoever reads the count with Acquire
        // then sees every failure delivered).
        self.actions
            .push(Action::LinkClosed(Arc::clone(&self.stats)));
    }

    /// The complete PIUs `data` ends on `link_id` (none once its framing
    /// broke: the link is closed then).
    fn split<'a>(&mut self, link_id: LinkId, data: &'a [u8]) -> Vec<Piu<'a>> {
        let Some(link) = self.links.get_mut(&link_id) else {
            return Vec::new();
        };
        if link.split.is_broken() {
            // Closing already: bytes that were in flight, not a new fault.
            return Vec::new();
        }
        match link.split.push(data) {
            Err(len) => {
                tracing::warn!(
                    parent: link.log.span(),
                    length = len,
                    sense = %SenseHex(FRAMING_SENSE),
                    "framing broken: link closed"
                );
                self.stats.violations.fetch_add(1, Ordering::Relaxed);
                link.failure = PrimaryRc::CONV_FAILURE_NO_RETRY;
                link.closing = true;
                self.backend.close(link_id);
                Vec::new()
            }
            Ok(pius) => pius,
        }
    }

    /// Handles one PIU; returns the events of the session it was for, if
    /// any, for [`Driver::event`] (the caller sees to attaches).
    fn piu(&mut self, link_id: LinkId, piu: &[u8]) -> Option<(u16, Vec<Event>)> {
        let frame = match FrameRef::decode_piu(piu) {
            Ok(frame) => frame,
            Err(e) => {
                // TH byte 2 = DAF' = SIDL, byte 3 = OAF' = SIDH.
                let sid = u16::from_be_bytes([piu[3], piu[2]]);
                let known = self
                    .links
                    .get(&link_id)
                    .is_some_and(|l| l.sessions.contains_key(&sid));
                let v = Violation {
                    sense: Sense::FUNCTION_NOT_SUPPORTED,
                    what: "undecodable PIU",
                };
                if known {
                    self.violate(link_id, sid, v);
                } else if let Some(link) = self.links.get_mut(&link_id) {
                    limited!(
                        warn,
                        &mut link.log,
                        "undecodable",
                        session = sid,
                        sense = %SenseHex(v.sense),
                        error = %e,
                        "undecodable PIU for no session: dropped"
                    );
                    self.offence(link_id, v.sense);
                }
                return None;
            }
        };
        let lfsid = frame.th.lfsid();
        let sid = u16::from_be_bytes([lfsid.sidh, lfsid.sidl]);
        if lfsid.odai {
            let sense = Sense::FUNCTION_NOT_SUPPORTED;
            if let Some(link) = self.links.get_mut(&link_id) {
                limited!(
                    warn,
                    &mut link.log,
                    "odai",
                    session = sid,
                    sense = %SenseHex(sense),
                    "PIU with ODAI 1 (we assign the session ids): dropped"
                );
            }
            self.offence(link_id, sense);
            return None;
        }
        match frame.rh {
            Rh::Request(req) if req.category == RuCategory::Sc => {
                self.session_control(link_id, sid, frame);
                None
            }
            Rh::Response(rsp) if rsp.category == RuCategory::Sc => {
                self.bind_response(link_id, sid, rsp.rti, frame);
                None
            }
            _ => {
                let sess = session(&mut self.links, link_id, sid)?;
                if !sess.bound {
                    let v = Violation {
                        sense: Sense::FUNCTION_NOT_SUPPORTED,
                        what: "traffic before BIND response",
                    };
                    self.violate(link_id, sid, v);
                    return None;
                }
                let (mut out, mut events) = (Vec::new(), Vec::new());
                let before = sess.hs.held_bytes();
                let pacing = sess.conv.and_then(|id| self.convs.get(&id));
                if let Some(c) = pacing {
                    tell_consumed(&mut sess.hs, &c.backlog, &mut out);
                }
                let result = sess.hs.receive(frame, &mut out, &mut events);
                if let Some(c) = pacing {
                    tell_consumed(&mut sess.hs, &c.backlog, &mut out);
                }
                let (conv, held) = (sess.conv, sess.hs.held_bytes());
                let received = sess.hs.received_held() as u64;
                self.stats
                    .received_held_max
                    .fetch_max(received, Ordering::Relaxed);
                self.write(link_id, out);
                // What the session holds to send changes only when an IPR
                // lets a window go (or an UNBIND drops it).
                let backlog = conv
                    .filter(|_| held != before)
                    .and_then(|id| Some((id, Arc::clone(&self.convs.get(&id)?.backlog))));
                if let Some((id, backlog)) = backlog {
                    self.settle_backlog(id, &backlog, 0, Some(held));
                }
                match result {
                    Err(v) => {
                        self.violate(link_id, sid, v);
                        None
                    }
                    Ok(()) => Some((sid, events)),
                }
            }
        }
    }

    fn session_control(&mut self, link_id: LinkId, sid: u16, frame: FrameRef<'_>) {
        let Rh::Request(req) = frame.rh else {
            return;
        };
        let lfsid = frame.th.lfsid();
        let respond = |negative: Option<Sense>, ru: Vec<u8>| {
            let (rti, ru) = match negative {
                Some(s) => (Rti::Negative, s.to_bytes().to_vec()),
                None => (Rti::Positive, ru),
            };
            Frame {
                th: Th::new(lfsid, wire::th::Flow::Expedited, frame.th.snf),
                rh: Rh::Response(Response::to(&req, rti)),
                ru,
            }
        };
        let ru = match ControlRu::decode(RuCategory::Sc, frame.ru) {
            Ok(ru) => ru,
            Err(_) => {
                let v = Violation {
                    sense: Sense::FUNCTION_NOT_SUPPORTED,
                    what: "SC RU",
                };
                return self.violate(link_id, sid, v);
            }
        };
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        match ru {
            ControlRu::Bind(bind) => {
                let refuse = if link.initiator {
                    Some(Sense::FUNCTION_NOT_SUPPORTED)
                } else if sid == 0 || link.sessions.contains_key(&sid) {
                    Some(Sense::invalid_parameter(0))
                } else if link.sessions.len() >= self.config.max_sessions_per_link {
                    Some(SESSION_LIMIT_EXCEEDED)
                } else if bind.fm_profile != 0x13 || bind.ts_profile != 0x07 {
                    Some(Sense::invalid_parameter(2))
                } else if !names_me(&self.name, &bind.secondary_lu_name) {
                    // Session not bound, and the partner told which field
                    // is wrong: 0835xxxx points at the secondary LU name.
                    let at = bind.secondary_lu_name_offset();
                    Some(Sense::invalid_parameter(
                        u16::try_from(at).unwrap_or(u16::MAX),
                    ))
                } else {
                    None
                };
                if let Some(sense) = refuse {
                    limited!(
                        warn,
                        &mut link.log,
                        "bind_refused",
                        session = sid,
                        sense = %SenseHex(sense),
                        "BIND refused"
                    );
                    let frame = respond(Some(sense), Vec::new());
                    self.write(link_id, vec![frame]);
                    return self.offence(link_id, sense);
                }
                let mode = bind
                    .mode_name()
                    .and_then(from_ebcdic::<8>)
                    .unwrap_or([b' '; 8]);
                // The partner as its TP sees it: the LU, without its
                // network.
                let partner_lu = ebcdic::decode(&bind.primary_lu_name)
                    .map(|plu| name(names::unqualified(&plu)))
                    .unwrap_or([b' '; 8]);
                // Pacing: we receive in the window the BIND proposes, or
                // less (none when it proposes 0, for interop); we send in
                // the PLU's receive window.
                let own = self.config.pacing_window.min(63);
                let proposed = bind.secondary_receive_pacing.window;
                let receive = if proposed == 0 || own == 0 {
                    0
                } else {
                    proposed.min(own)
                };
                let send = bind.primary_receive_pacing.window;
                // RU sizes: we send no more than the BIND lets the SLU
                // send, and the image asks the PLU to send no more than
                // our frame limit takes.
                let ours = ru_size(&self.config);
                let smaller = |theirs: RuSize| cmp::min_by_key(theirs, ours, |s| s.bytes());
                let mut bind = bind;
                bind.max_ru_secondary = smaller(bind.max_ru_secondary);
                bind.max_ru_primary = smaller(bind.max_ru_primary);
                bind.secondary_receive_pacing.window = receive;
                bind.primary_send_pacing.window = receive;
                bind.secondary_send_pacing.window = send;
                let mut hs = HalfSession::new(
                    lfsid,
                    false,
                    bind.max_ru_secondary.bytes(),
                    self.config.max_session_buffer,
                );
                hs.set_pacing(send, receive);
                link.timers.bound = true;
                link.sessions.insert(
                    sid,
                    Sess {
                        hs,
                        bound: true,
                        mode,
                        partner_lu,
                        conv: None,
                    },
                );
                self.stats.binds_accepted.fetch_add(1, Ordering::Relaxed);
                let mut image = Vec::new();
                let _ = bind.encode(&mut image);
                let frame = respond(None, image);
                self.write(link_id, vec![frame]);
            }
            ControlRu::Unbind(unbind) => {
                let Some(sess) = link.sessions.remove(&sid) else {
                    return;
                };
                for idle in link.idle.values_mut() {
                    idle.retain(|&s| s != sid);
                }
                let initiator = link.initiator;
                let frame = respond(None, Vec::new());
                self.write(link_id, vec![frame]);
                if let Some(id) = sess.conv {
                    let code = if unbind.kind == UnbindType::INVALID_SESSION_PARAMETERS {
                        PrimaryRc::CONV_FAILURE_NO_RETRY
                    } else {
                        PrimaryRc::CONV_FAILURE_RETRY
                    };
                    let allocating = self
                        .convs
                        .get_mut(&id)
                        .map(|c| {
                            c.at = None;
                            c.pending.take().is_some()
                        })
                        .unwrap_or(false);
                    if allocating {
                        self.fail(
                            id,
                            PrimaryRc::ALLOCATION_ERROR,
                            SecondaryRc::ALLOCATION_FAILURE_RETRY,
                        );
                    } else {
                        self.fail(id, code, SecondaryRc(0));
                    }
                }
                if initiator {
                    self.assign(link_id);
                }
            }
            _ => {}
        }
    }

    /// A response to our BIND (initiator); other SC responses are ignored.
    fn bind_response(&mut self, link_id: LinkId, sid: u16, rti: Rti, frame: FrameRef<'_>) {
        let Some(link) = self.links.get_mut(&link_id) else {
            return;
        };
        let Some(sess) = link.sessions.get_mut(&sid) else {
            return;
        };
        if sess.bound {
            return;
        }
        let conv = sess.conv;
        if rti == Rti::Negative {
            link.sessions.remove(&sid);
            let sense = frame
                .ru
                .get(..4)
                .map_or(0, |s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]));
            limited!(
                warn,
                &mut link.log,
                "bind_rejected",
                session = sid,
                sense = %SenseHex(Sense(sense)),
                "the partner refused our BIND"
            );
            if let Some(id) = conv {
                if let Some(c) = self.convs.get_mut(&id) {
                    c.at = None;
                    c.pending = None;
                }
                self.fail(
                    id,
                    PrimaryRc::ALLOCATION_ERROR,
                    SecondaryRc::ALLOCATION_FAILURE_NO_RETRY,
                );
            }
            return;
        }
        // Pacing as the image settled it: we send in the SLU's receive
        // window, receive in ours (no image: a peer that does not pace).
        // RUs: we send no more than the image lets the PLU send (no image:
        // what we proposed).
        let (send, receive) = match Bind::decode(frame.ru) {
            Ok(image) => {
                sess.hs.limit_ru(image.max_ru_primary.bytes());
                (
                    image.secondary_receive_pacing.window,
                    image
                        .primary_receive_pacing
                        .window
                        .min(self.config.pacing_window.min(63)),
                )
            }
            Err(_) => (0, 0),
        };
        sess.hs.set_pacing(send, receive);
        sess.bound = true;
        link.timers.bound = true;
        match conv {
            Some(id) => self.begin(link_id, sid, id),
            None => self.release(link_id, sid),
        }
    }

    /// An attach arrived on `sid`: enters its conversation (without a
    /// port yet) and returns its id, the engine's attach and its backlog,
    /// for [`Node::incoming_attach`] and then [`Driver::end_attach`].
    fn begin_attach(
        &mut self,
        link_id: LinkId,
        sid: u16,
        wa: wire::Attach,
    ) -> Option<(u64, Attach, Arc<Mutex<Backlog>>)> {
        let sess = session(&mut self.links, link_id, sid)?;
        let attach = Attach {
            tp_name: match ebcdic::decode(&wa.tp_name) {
                Some(tp) => name(&tp),
                None => [0; 64],
            },
            mapped: wa.conversation_type == ConversationType::Mapped,
            sync_level: match wa.sync_level {
                SyncLevel::None => values::SYNC_NONE,
                SyncLevel::Confirm => values::SYNC_CONFIRM,
                SyncLevel::Syncpt => values::SYNC_SYNCPT,
            },
            lu_alias: sess.partner_lu,
            plu_alias: name(&self.lu),
            mode_name: sess.mode,
            user_id: wa
                .security
                .get(SecurityKind::UserId)
                .and_then(from_ebcdic::<10>)
                .unwrap_or([b' '; 10]),
            pip: wa.pip.map(|p| p.concat()).unwrap_or_default(),
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // Entered now: once `incoming_attach` has routed it, the TP's verbs
        // may reach the session before `end_attach` runs.
        sess.conv = Some(id);
        let backlog = Backlog::new(self.config.max_send_backlog);
        self.convs.insert(
            id,
            Conv {
                port: None,
                backlog: Arc::clone(&backlog),
                at: Some((link_id, sid)),
                pending: None,
                link: None,
                closing: false,
            },
        );
        Some((id, attach, backlog))
    }

    /// [`Node::incoming_attach`] answered for conversation `id` on `sid`.
    fn end_attach(
        &mut self,
        link_id: LinkId,
        sid: u16,
        id: u64,
        result: Result<ConvPort, SecondaryRc>,
    ) {
        match result {
            Ok(port) => {
                // Gone if the engine closed it meanwhile (which saw to
                // its session).
                if let Some(conv) = self.convs.get_mut(&id) {
                    conv.port = Some(port);
                }
            }
            Err(sense) => {
                // The engine never had its session: nothing else touched it.
                self.convs.remove(&id);
                let Some(sess) =
                    session(&mut self.links, link_id, sid).filter(|s| s.conv == Some(id))
                else {
                    return;
                };
                sess.conv = None;
                let mut out = Vec::new();
                sess.hs.reject(Sense(sense.0), &mut out);
                self.write(link_id, out);
            }
        }
    }

    /// One event of session `sid` other than an attach.
    fn event(&mut self, link_id: LinkId, sid: u16, event: Event) {
        let Some(sess) = session(&mut self.links, link_id, sid) else {
            return;
        };
        let conv = sess.conv;
        let port = conv
            .and_then(|id| self.convs.get(&id))
            .and_then(|c| c.port.clone());
        match event {
            Event::Attach(_) => {}
            Event::Flow(flow) => match port {
                Some(port) => self.deliver(port, flow),
                None => {
                    // Nobody takes it: consumed (for pacing) at once.
                    if let Flow::Data(data) = flow {
                        let mut out = Vec::new();
                        sess.hs.consumed(data.len(), &mut out);
                        self.write(link_id, out);
                    }
                }
            },
            Event::Rejected(sense) => {
                if let Some(port) = port {
                    self.tell(port, PrimaryRc::ALLOCATION_ERROR, SecondaryRc(sense.0));
                }
            }
            Event::EndedMeanwhile => {
                if let Some(port) = port {
                    self.tell(port, PrimaryRc::DEALLOC_NORMAL, SecondaryRc(0));
                }
            }
            Event::BracketEnded => {
                sess.conv = None;
                if let Some(id) = conv {
                    self.detach(id);
                }
                self.release(link_id, sid);
            }
        }
    }
}
