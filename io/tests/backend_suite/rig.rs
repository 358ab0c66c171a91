//! The suite's harness: a backend whose handlers record every callback
//! and check the contract's per-link order as they go, and that run
//! closures ("jobs") the test hands them, in their turn, on their reactor
//! thread (the only place a link can be acted on).

use std::collections::{HashMap, HashSet};
use std::io::{self, ErrorKind, Read};
use std::mem;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use appc_io::backend::{self, Backend, Config, Events, Handler, Io, Kind, LinkId, Waker};

/// How long any wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// The backends of this platform.
pub fn kinds() -> &'static [Kind] {
    if cfg!(windows) {
        &[Kind::Iocp]
    } else {
        &[Kind::Uring, Kind::Poll]
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The byte at offset `i` of a test stream: not periodic in any power of 2,
/// so a lost, duplicated or reordered chunk shows.
pub fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Whether `bytes` is a test stream from its start.
pub fn is_pattern(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| b == pattern(i))
}

/// A plain std peer accepting one connection, with a read deadline.
pub fn std_peer(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Reads until end of stream (or a reset); returns the byte count.
pub fn drain(mut stream: TcpStream) -> usize {
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
            Err(e) if e.kind() == ErrorKind::ConnectionAborted => return total,
            Err(e) => panic!("peer read: {e}"),
        }
    }
}

/// Polls `done` until it holds, failing at the deadline.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[derive(Debug, Default)]
pub struct LinkLog {
    /// The reactor whose handler has the link.
    pub reactor: Option<usize>,
    pub connected: Option<SocketAddr>,
    pub data: Vec<u8>,
    pub closed: Vec<Option<ErrorKind>>,
}

#[derive(Debug, Default)]
pub struct State {
    pub links: HashMap<LinkId, LinkLog>,
    /// Links in the order `connected` named them.
    pub order: Vec<LinkId>,
    /// Contract violations seen by the callbacks.
    pub violations: Vec<String>,
    /// Link callbacks so far.
    pub count: usize,
    /// Reactors whose handler was dropped, and whether on its own thread.
    pub dropped: Vec<(usize, bool)>,
}

/// Work for a handler's next turn.
type Job = Box<dyn FnOnce(&mut dyn Io) + Send>;

/// A reactor's queue of jobs, and the waker that makes it look.
type Remote = (Arc<Mutex<Vec<Job>>>, Waker);

/// What the test and the handlers share.
#[derive(Default)]
pub struct Shared {
    pub state: Mutex<State>,
    changed: Condvar,
    echo: bool,
    /// Links the test opened itself (not echoed).
    clients: Mutex<HashSet<LinkId>>,
    /// Each reactor's job queue and waker, by index.
    reactors: Mutex<Vec<Option<Remote>>>,
}

impl Shared {
    /// Records a callback for `link` (`connected` says so: the link joins
    /// `order`), checking what every callback must, and tells the waiters.
    fn record(
        &self,
        link: LinkId,
        reactor: usize,
        connected: bool,
        f: impl FnOnce(&mut LinkLog, &mut Vec<String>),
    ) {
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        state.count += 1;
        if connected {
            state.order.push(link);
        }
        let log = state.links.entry(link).or_default();
        if !log.closed.is_empty() {
            let problem = format!("{link:?}: an event after closed");
            state.violations.push(problem);
        }
        match log.reactor {
            Some(r) if r != reactor => state
                .violations
                .push(format!("{link:?}: on reactor {reactor}, not {r}")),
            _ => log.reactor = Some(reactor),
        }
        f(log, &mut state.violations);
        self.changed.notify_all();
    }

    /// Waits until `ready` returns something, failing after the deadline.
    pub fn wait<T>(&self, what: &str, mut ready: impl FnMut(&State) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(value) = ready(&state) {
                return value;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("timed out waiting for {what}"));
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }
}

/// One reactor's handler: records, echoes (if asked), runs jobs.
struct Recorder {
    shared: Arc<Shared>,
    index: usize,
    thread: ThreadId,
    jobs: Arc<Mutex<Vec<Job>>>,
}

impl Recorder {
    fn on_thread(&self, what: &str) {
        if thread::current().id() != self.thread {
            let problem = format!("reactor {}: {what} off its thread", self.index);
            self.shared.state.lock().unwrap().violations.push(problem);
        }
    }
}

impl Handler for Recorder {
    fn connected(&mut self, _: &mut dyn Io, link: LinkId, peer: SocketAddr) {
        self.on_thread("connected");
        self.shared
            .record(link, self.index, true, |log, violations| {
                if log.connected.is_some() || !log.data.is_empty() {
                    violations.push(format!("{link:?}: connected twice or late"));
                }
                log.connected = Some(peer);
            });
    }

    fn received(&mut self, io: &mut dyn Io, link: LinkId, data: &[u8]) {
        self.on_thread("received");
        self.shared
            .record(link, self.index, false, |log, violations| {
                if log.connected.is_none() {
                    violations.push(format!("{link:?}: received before connected"));
                }
                if data.is_empty() {
                    violations.push(format!("{link:?}: empty received"));
                }
                log.data.extend_from_slice(data);
            });
        if self.shared.echo && !self.shared.clients.lock().unwrap().contains(&link) {
            match io.output(link) {
                Some(out) => out.extend_from_slice(data),
                None => self.shared.record(link, self.index, false, |_, v| {
                    v.push(format!("{link:?}: no output to echo to"));
                }),
            }
        }
    }

    fn closed(&mut self, io: &mut dyn Io, link: LinkId, error: Option<io::Error>) {
        self.on_thread("closed");
        let reused = io.output(link).is_some() || io.queued(link) != 0;
        self.shared
            .record(link, self.index, false, |log, violations| {
                if reused {
                    violations.push(format!("{link:?}: still has output when closed"));
                }
                log.closed.push(error.map(|e| e.kind()));
            });
    }

    fn turn(&mut self, io: &mut dyn Io) {
        self.on_thread("turn");
        let jobs = mem::take(&mut *self.jobs.lock().unwrap());
        for job in jobs {
            job(io);
        }
    }

    fn busy(&self) -> bool {
        !self.jobs.lock().unwrap().is_empty()
    }

    fn sleep(&mut self) -> bool {
        // The test wakes the reactor after every job it queues.
        self.jobs.lock().unwrap().is_empty()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let own = thread::current().id() == self.thread;
        let mut state = self.shared.state.lock().unwrap();
        state.dropped.push((self.index, own));
        drop(state);
        self.shared.changed.notify_all();
    }
}

struct Maker(Arc<Shared>);

impl Events for Maker {
    fn reactor(&self, index: usize, waker: Waker) -> Box<dyn Handler> {
        let jobs = Arc::new(Mutex::new(Vec::new()));
        let mut reactors = self.0.reactors.lock().unwrap();
        if reactors.len() <= index {
            reactors.resize_with(index + 1, || None);
        }
        reactors[index] = Some((Arc::clone(&jobs), waker));
        Box::new(Recorder {
            shared: Arc::clone(&self.0),
            index,
            thread: thread::current().id(),
            jobs,
        })
    }
}

/// What an append asked of a handler came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The output holds the limit already (the bytes were not appended,
    /// and the output was not asked for: that would close the link).
    Full,
    /// `output` was `None`: the link is gone or closing.
    Gone,
}

/// A running backend, its recorders, and the test's ways to act on links.
pub struct Rig {
    pub backend: Arc<dyn Backend>,
    pub shared: Arc<Shared>,
    max_queued: usize,
}

impl Rig {
    pub fn start_with(kind: Kind, config: Config, echo: bool) -> Rig {
        let shared = Arc::new(Shared {
            echo,
            ..Shared::default()
        });
        let max_queued = config.max_queued_bytes;
        let backend = backend::start(kind, Arc::new(Maker(Arc::clone(&shared))), config)
            .unwrap_or_else(|e| panic!("{kind:?} does not start: {e}"));
        let reactors = shared.reactors.lock().unwrap().len();
        assert_eq!(reactors, backend.reactors(), "{kind:?}: handlers made");
        Rig {
            backend,
            shared,
            max_queued,
        }
    }

    pub fn start(kind: Kind) -> Rig {
        Rig::start_with(kind, Config::default(), false)
    }

    /// Runs `job` in reactor `reactor`'s next turn; its result.
    pub fn call<T: Send + 'static>(
        &self,
        reactor: usize,
        job: impl FnOnce(&mut dyn Io) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = mpsc::channel();
        let (jobs, waker) = self.shared.reactors.lock().unwrap()[reactor]
            .clone()
            .expect("a reactor with no handler");
        jobs.lock().unwrap().push(Box::new(move |io| {
            let _ = tx.send(job(io));
        }));
        waker.wake();
        rx.recv_timeout(DEADLINE)
            .expect("the reactor never ran the job")
    }

    /// The reactor whose handler has `link` (0 for a link never seen).
    pub fn reactor_of(&self, link: LinkId) -> usize {
        let state = self.shared.state.lock().unwrap();
        state
            .links
            .get(&link)
            .and_then(|log| log.reactor)
            .unwrap_or(0)
    }

    /// Connects from reactor `reactor` to `addr`: the test's own link.
    pub fn connect(&self, reactor: usize, addr: SocketAddr) -> LinkId {
        let link = self.call(reactor, move |io| io.connect(addr)).unwrap();
        self.shared.clients.lock().unwrap().insert(link);
        let mut state = self.shared.state.lock().unwrap();
        state.links.entry(link).or_default().reactor = Some(reactor);
        link
    }

    /// Appends `parts` to `link`'s output in one callback, asking for the
    /// output once per part, unless it holds the limit already.
    pub fn append(&self, link: LinkId, parts: Vec<Vec<u8>>) -> Sent {
        let max = self.max_queued;
        let shared = Arc::clone(&self.shared);
        self.call(self.reactor_of(link), move |io| {
            if io.queued(link) >= max {
                return Sent::Full;
            }
            for part in parts {
                let before = io.queued(link);
                let Some(out) = io.output(link) else {
                    return Sent::Gone;
                };
                out.extend_from_slice(&part);
                if io.queued(link) != before + part.len() {
                    let problem = format!("{link:?}: queued does not count an append");
                    shared.state.lock().unwrap().violations.push(problem);
                }
            }
            Sent::Queued
        })
    }

    pub fn send(&self, link: LinkId, bytes: Vec<u8>) -> Sent {
        self.append(link, vec![bytes])
    }

    /// Sends `bytes`, waiting out a full output; panics if the link is gone.
    pub fn send_all(&self, link: LinkId, bytes: Vec<u8>) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            match self.send(link, bytes.clone()) {
                Sent::Queued => return,
                Sent::Full => {
                    assert!(Instant::now() < deadline, "the output never drained");
                    thread::sleep(Duration::from_millis(1));
                }
                Sent::Gone => panic!("{link:?} is gone"),
            }
        }
    }

    pub fn close(&self, link: LinkId) {
        self.call(self.reactor_of(link), move |io| io.close(link));
    }

    pub fn queued(&self, link: LinkId) -> usize {
        self.call(self.reactor_of(link), move |io| io.queued(link))
    }

    /// Appends `chunk`-sized copies until the output holds the limit and
    /// keeps it (the socket buffers are full too); returns the bytes
    /// appended. Fails if it never fills.
    pub fn fill(&self, link: LinkId, chunk: usize) -> usize {
        let deadline = Instant::now() + DEADLINE;
        let (mut total, mut refusals) = (0, 0);
        while refusals < 5 {
            match self.send(link, vec![7; chunk]) {
                Sent::Queued => {
                    total += chunk;
                    refusals = 0;
                }
                Sent::Full => {
                    refusals += 1;
                    thread::sleep(Duration::from_millis(10));
                }
                Sent::Gone => panic!("{link:?} is gone"),
            }
            assert!(Instant::now() < deadline, "the output never filled");
        }
        total
    }

    /// In one callback: appends `chunk`-sized copies until the output
    /// holds the limit, then runs `then` (so it surely finds it there);
    /// the bytes appended, and what `then` returned.
    pub fn top_up<T: Send + 'static>(
        &self,
        link: LinkId,
        chunk: usize,
        then: impl FnOnce(&mut dyn Io) -> T + Send + 'static,
    ) -> (usize, T) {
        let max = self.max_queued;
        self.call(self.reactor_of(link), move |io| {
            let mut appended = 0;
            while io.queued(link) < max {
                let out = io.output(link).expect("the link is gone");
                out.resize(out.len() + chunk, 7);
                appended += chunk;
            }
            (appended, then(io))
        })
    }

    pub fn wait_connected(&self, link: LinkId) -> SocketAddr {
        self.shared
            .wait("connected", |s| s.links.get(&link)?.connected)
    }

    pub fn wait_closed(&self, link: LinkId) -> Option<ErrorKind> {
        self.shared
            .wait("closed", |s| s.links.get(&link)?.closed.first().copied())
    }

    /// Waits for the `n`th link `connected` names (0-based).
    pub fn wait_nth(&self, n: usize) -> LinkId {
        self.shared
            .wait("an accepted link", |s| s.order.get(n).copied())
    }

    pub fn wait_data(&self, link: LinkId, len: usize) -> Vec<u8> {
        self.shared.wait("data", |s| {
            let log = s.links.get(&link)?;
            (log.data.len() >= len).then(|| log.data.clone())
        })
    }

    pub fn closed_count(&self, link: LinkId) -> usize {
        let state = self.shared.state.lock().unwrap();
        state.links.get(&link).map_or(0, |log| log.closed.len())
    }

    pub fn count(&self) -> usize {
        self.shared.state.lock().unwrap().count
    }

    /// Fails on any contract violation a callback saw.
    pub fn check(&self) {
        let state = self.shared.state.lock().unwrap();
        assert!(state.violations.is_empty(), "{:?}", state.violations);
    }
}
