//! The epoll backend (through `mio`): the fallback where io_uring cannot be
//! set up (seccomp in containers, old kernels), and the reference the
//! io_uring backend is tested against.
//!
//! One reactor thread watches every socket and reads them
//! ([`Config::threads`] is ignored: readiness I/O copies through one
//! reusable read buffer, [`READ_BUFFER`], and gains little from more
//! threads at the link counts a node has). Caller threads reach it through
//! a [`Mailbox`] and a `mio::Waker`. Readiness is edge-triggered, so a
//! readable link is read until `WouldBlock` and a writable one written
//! until its queue is empty or the socket is full.
//!
//! Sending goes through the reactor only when that costs no wake-up: a
//! link's socket and send queue are shared ([`Conn`], the queue behind its
//! own mutex), and `send` on a link whose queue is empty (and whose connect
//! is done) writes on the caller's thread while the reactor sleeps in
//! `epoll_wait`. Only what the socket does not take is queued, and the
//! reactor woken to go on with it (then on writability). While the reactor
//! is awake, `send` queues and asks it to write: it takes the bytes in its
//! current round, merged with whatever else is queued by then (under load,
//! fewer and larger writes). A reactor out of events polls for some tens of
//! microseconds before it sleeps ([`idle`]), and counts as awake while it
//! polls: measured with binaries alternated, the load generator over epoll
//! (256 sessions) went from 141-176k to 347-356k verbs/s, where polling
//! "asleep" (callers writing on their threads meanwhile) gave 105-118k.
//! While the queue holds bytes, `send` appends, so order is kept. Writes go
//! through `sendmsg(2)` with `MSG_NOSIGNAL` (a reset peer cannot raise
//! `SIGPIPE`, which `writev` would), gathering up to
//! [`MAX_IOV`] queued buffers as they lie ([`queue`](super::queue)); a
//! write error is left for the reactor to find and report.

use rustc_hash::FxHashMap;
use std::io::{self, IoSlice, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Poll, Registry, Token, Waker};
use socket2::SockRef;

use super::backoff::{self, Backoff};
use super::idle;
use super::links::split;
use super::mailbox::Mailbox;
use super::queue::{SendQueue, MAX_IOV};
use super::sink::{join_reactors, turn, Sink};
use super::{Backend, Config, Events, LinkId};
use crate::diag::{limited, Limits};

/// The waker's token; links use their slot index, listeners [`LISTENER`] | n.
const WAKER: Token = Token(usize::MAX);
const LISTENER: usize = 1 << (usize::BITS - 1);
/// The reactor's read buffer. 256 KiB, not 64: a 64 KiB record travels
/// in a PIU of 72 KiB, which a 64 KiB read always cut in two, and the node
/// then gathered it in a buffer of its own (a copy of every byte). One
/// session's bandwidth measured 1.17-1.47x (three alternated pairs); the
/// 256-session load 0.78-1.32x (13 pairs, median 0.92: this VM's noise,
/// or a small cost).
const READ_BUFFER: usize = 256 * 1024;

/// A request from a caller thread.
#[derive(Debug)]
enum Request {
    /// Register a bound, non-blocking listener.
    Listen(std::net::TcpListener),
    /// Watch a link whose connect started (its [`Conn`] is shared already).
    Connect(Arc<Conn>, SocketAddr),
    /// A connect that failed at once: report it.
    Failed(LinkId, io::Error),
    /// A caller left bytes in the link's queue.
    Flush(LinkId),
    Close(LinkId),
}

/// A link's socket and send queue, shared by the reactor and `send`.
#[derive(Debug)]
struct Conn {
    id: LinkId,
    stream: TcpStream,
    out: Mutex<Out>,
}

#[derive(Debug)]
struct Out {
    queue: SendQueue,
    /// The connect has not completed: bytes wait in the queue.
    connecting: bool,
    /// The reactor closed the link: nothing more is written.
    closed: bool,
}

impl Conn {
    fn new(id: LinkId, stream: TcpStream, connecting: bool) -> Self {
        Self {
            id,
            stream,
            out: Mutex::new(Out {
                queue: SendQueue::default(),
                connecting,
                closed: false,
            }),
        }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        // Consistent after every statement.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the queue until it is empty or the socket is full; the
    /// caller holds `out`. An error is returned for the reactor to report.
    fn flush(&self, out: &mut Out, links: &super::links::Links) -> io::Result<()> {
        if out.connecting || out.closed {
            return Ok(());
        }
        let socket = SockRef::from(&self.stream);
        while !out.queue.is_empty() {
            let mut iov = [IoSlice::new(&[]); MAX_IOV];
            let mut len = 0;
            for (slot, bytes) in iov.iter_mut().zip(out.queue.slices()) {
                *slot = IoSlice::new(bytes);
                len += 1;
            }
            match socket.send_vectored_with_flags(&iov[..len], libc::MSG_NOSIGNAL) {
                Ok(n) => {
                    links.sent(self.id, n);
                    out.queue.advance(n);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// The links' [`Conn`]s by slot index, for `send`.
type Conns = Mutex<FxHashMap<u32, Arc<Conn>>>;

fn conns(conns: &Conns) -> MutexGuard<'_, FxHashMap<u32, Arc<Conn>>> {
    conns.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The handle returned by [`start`].
#[derive(Debug)]
struct PollBackend {
    sink: Arc<Sink>,
    conns: Arc<Conns>,
    /// The reactor is not in `epoll_wait` (a hint, for `send`).
    awake: Arc<AtomicBool>,
    mailbox: Arc<Mailbox<Request>>,
    waker: Arc<Waker>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Starts the epoll reactor thread.
pub(crate) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let sink = Arc::new(Sink::new(events, config.max_queued_bytes));
    let mailbox = Arc::new(Mailbox::new());
    let conns = Arc::new(Mutex::new(FxHashMap::default()));
    let awake = Arc::new(AtomicBool::new(false));
    let reactor = Reactor {
        poll,
        sink: Arc::clone(&sink),
        conns: Arc::clone(&conns),
        awake: Arc::clone(&awake),
        mailbox: Arc::clone(&mailbox),
        listeners: Vec::new(),
        links: FxHashMap::default(),
        buffer: vec![0; READ_BUFFER].into_boxed_slice(),
    };
    let thread = thread::Builder::new()
        .name("appc-io-epoll".into())
        .spawn(move || reactor.run())?;
    Ok(Arc::new(PollBackend {
        sink,
        conns,
        awake,
        mailbox,
        waker,
        thread: Mutex::new(Some(thread)),
    }))
}

impl PollBackend {
    fn post(&self, request: Request) {
        if self.mailbox.post(request) {
            // Fails only if the eventfd is gone, i.e. the reactor too.
            let _ = self.waker.wake();
        }
    }
}

impl Backend for PollBackend {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        self.post(Request::Listen(listener));
        Ok(local)
    }

    fn connect(&self, addr: SocketAddr) -> io::Result<LinkId> {
        let link = self.sink.links.open(0);
        match TcpStream::connect(addr) {
            Ok(stream) => {
                // Shared before any `send` can name the link.
                let conn = Arc::new(Conn::new(link, stream, true));
                conns(&self.conns).insert(split(link).0, Arc::clone(&conn));
                self.post(Request::Connect(conn, addr));
            }
            Err(error) => self.post(Request::Failed(link, error)),
        }
        Ok(link)
    }

    fn send_vectored(&self, link: LinkId, parts: Vec<Vec<u8>>) -> io::Result<()> {
        let len = parts.iter().map(Vec::len).sum();
        self.sink.links.admit(link, len)?;
        if len == 0 {
            return Ok(());
        }
        let conn = conns(&self.conns)
            .get(&split(link).0)
            .filter(|conn| conn.id == link)
            .cloned();
        // No conn: the reactor closed the link meanwhile.
        let Some(conn) = conn else {
            return Ok(());
        };
        let mut out = conn.out();
        if out.closed {
            return Ok(());
        }
        let idle = out.queue.is_empty() && !out.connecting;
        parts.into_iter().for_each(|part| out.queue.push(part));
        if !idle {
            // Behind bytes the reactor writes on writability, or once
            // connected.
            return Ok(());
        }
        if self.awake.load(Ordering::Relaxed) {
            drop(out);
            self.post(Request::Flush(link));
            return Ok(());
        }
        let result = conn.flush(&mut out, &self.sink.links);
        let rest = !out.queue.is_empty();
        drop(out);
        if rest || result.is_err() {
            // The socket is full (or failed): the reactor goes on with it.
            self.post(Request::Flush(link));
        }
        Ok(())
    }

    fn close(&self, link: LinkId) {
        if self.sink.links.begin_close(link).is_some() {
            self.post(Request::Close(link));
        }
    }

    fn queued(&self, link: LinkId) -> usize {
        self.sink.links.queued(link)
    }

    fn accept_errors(&self) -> u64 {
        self.sink.accept_errors.load(Ordering::Relaxed)
    }

    fn shutdown(&self) {
        self.sink.stop();
        let _ = self.waker.wake();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        join_reactors(thread.into_iter().collect());
        // The sockets close with their last `Arc`: the reactor's went with
        // it, these are the callers'.
        conns(&self.conns).clear();
    }
}

impl Drop for PollBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A listening socket, and when it accepts again after a failure for want
/// of resources (see `backoff.rs`).
#[derive(Debug)]
struct Listener {
    socket: TcpListener,
    backoff: Backoff,
    /// Paused until then: its readiness edge came, and its backlog waits.
    retry: Option<Instant>,
    log: Limits,
}

/// One TCP link on the reactor.
#[derive(Debug)]
struct Link {
    id: LinkId,
    conn: Arc<Conn>,
    /// `Some(addr)` until an outgoing connect completes.
    connecting: Option<SocketAddr>,
}

fn watch(registry: &Registry, conn: &Conn, token: Token) -> io::Result<()> {
    let fd = conn.stream.as_raw_fd();
    registry.register(
        &mut SourceFd(&fd),
        token,
        Interest::READABLE | Interest::WRITABLE,
    )
}

#[derive(Debug)]
struct Reactor {
    poll: Poll,
    sink: Arc<Sink>,
    conns: Arc<Conns>,
    awake: Arc<AtomicBool>,
    mailbox: Arc<Mailbox<Request>>,
    listeners: Vec<Listener>,
    /// Keyed by slot index (the link's token).
    links: FxHashMap<u32, Link>,
    buffer: Box<[u8]>,
}

impl Reactor {
    fn run(mut self) {
        let mut events = mio::Events::with_capacity(256);
        let mut requests = Vec::new();
        while !self.sink.is_stopped() {
            match turn(|| self.turn(&mut events, &mut requests)) {
                Ok(true) => {}
                Ok(false) => break,
                Err(reason) => {
                    self.sink.failed("epoll", &reason);
                    break;
                }
            }
        }
        // Dropping `self` closes every listener and link; no events.
    }

    /// One turn of the loop: wait (or poll), then handle what is ready.
    /// False if epoll failed.
    fn turn(&mut self, events: &mut mio::Events, requests: &mut Vec<Request>) -> bool {
        if let Err(error) = self.wait(events) {
            if error.kind() == io::ErrorKind::Interrupted {
                return true;
            }
            tracing::error!(%error, "epoll reactor stops: every link is lost");
            return false;
        }
        self.retry_accepts();
        for event in events.iter() {
            if self.sink.is_stopped() {
                break;
            }
            match event.token() {
                WAKER => {
                    self.mailbox.drain(requests);
                    for request in requests.drain(..) {
                        self.request(request);
                    }
                }
                Token(token) if token & LISTENER != 0 => self.accept(token & !LISTENER),
                Token(token) => self.ready(token as u32, event),
            }
        }
        true
    }

    /// Polls without blocking for a short while ([`idle`]), then sleeps in
    /// `epoll_wait`. Only the sleep counts as asleep (`awake` false): while
    /// the reactor polls, a caller's `send` is the reactor's to write, as
    /// it is about to look (see the module docs).
    fn wait(&mut self, events: &mut mio::Events) -> io::Result<()> {
        // A paused listener's retry ends the sleep.
        let retry = self
            .listeners
            .iter()
            .filter_map(|l| l.retry)
            .min()
            .map(|at| at.saturating_duration_since(Instant::now()));
        let poll = &mut self.poll;
        let mut failed = None;
        let ready = idle::spin(|| match poll.poll(events, Some(Duration::ZERO)) {
            Ok(()) => !events.is_empty(),
            Err(error) => {
                failed = Some(error);
                true
            }
        });
        match failed {
            Some(error) => Err(error),
            None if ready => Ok(()),
            None => {
                self.awake.store(false, Ordering::Relaxed);
                let polled = poll.poll(events, retry);
                self.awake.store(true, Ordering::Relaxed);
                polled
            }
        }
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Listen(listener) => {
                let token = Token(LISTENER | self.listeners.len());
                let addr = listener.local_addr().ok();
                let mut socket = TcpListener::from_std(listener);
                match self
                    .poll
                    .registry()
                    .register(&mut socket, token, Interest::READABLE)
                {
                    Ok(()) => self.listeners.push(Listener {
                        socket,
                        backoff: Backoff::default(),
                        retry: None,
                        log: Limits::new(tracing::warn_span!(parent: None, "listener", ?addr)),
                    }),
                    Err(error) => tracing::error!(%error, "epoll cannot watch a listener"),
                }
            }
            Request::Connect(conn, addr) => {
                let (id, index) = (conn.id, split(conn.id).0);
                match watch(self.poll.registry(), &conn, Token(index as usize)) {
                    Ok(()) => {
                        let link = Link {
                            id,
                            conn,
                            connecting: Some(addr),
                        };
                        self.links.insert(index, link);
                    }
                    Err(error) => {
                        conns(&self.conns).remove(&index);
                        conn.out().closed = true;
                        self.sink.closed(id, Some(error));
                    }
                }
            }
            Request::Failed(id, error) => self.sink.closed(id, Some(error)),
            Request::Flush(id) => {
                let index = split(id).0;
                if self.links.get(&index).is_some_and(|link| link.id == id) {
                    self.flush(index);
                }
            }
            Request::Close(id) => {
                let index = split(id).0;
                if self.links.get(&index).is_some_and(|link| link.id == id) {
                    self.finish(index, None);
                }
            }
        }
    }

    /// Paused listeners whose wait is over accept again.
    fn retry_accepts(&mut self) {
        let now = Instant::now();
        for index in 0..self.listeners.len() {
            if self.listeners[index].retry.is_some_and(|at| at <= now) {
                self.listeners[index].retry = None;
                self.accept(index);
            }
        }
    }

    fn accept(&mut self, listener: usize) {
        if self.listeners[listener].retry.is_some() {
            // Paused: `retry_accepts` takes the backlog when it is time.
            return;
        }
        loop {
            let l = &mut self.listeners[listener];
            let (stream, peer) = match l.socket.accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    self.sink.accept_errors.fetch_add(1, Ordering::Relaxed);
                    let starved = backoff::starved(&error);
                    limited!(warn, &mut l.log, "accept", %error, starved, "accept failed");
                    if starved {
                        // The connection stays in the backlog, and no new
                        // readiness edge will say so: pause, then retry.
                        l.retry = Some(Instant::now() + l.backoff.failed());
                        return;
                    }
                    continue;
                }
            };
            l.backoff.reset();
            let id = self.sink.links.open(0);
            let index = split(id).0;
            let _ = stream.set_nodelay(true);
            let conn = Arc::new(Conn::new(id, stream, false));
            if watch(self.poll.registry(), &conn, Token(index as usize)).is_err() {
                // Never announced, so no event is owed for it.
                self.sink.links.release(id);
                continue;
            }
            conns(&self.conns).insert(index, Arc::clone(&conn));
            self.links.insert(
                index,
                Link {
                    id,
                    conn,
                    connecting: None,
                },
            );
            self.sink.connected(id, peer);
        }
    }

    fn ready(&mut self, index: u32, event: &Event) {
        let Some(link) = self.links.get_mut(&index) else {
            return;
        };
        if link.connecting.is_some() {
            // The outcome of a non-blocking connect shows as writability
            // (or an error); `peer_addr` tells success from a spurious wake.
            match link.conn.stream.take_error() {
                Ok(None) => {}
                Ok(Some(error)) | Err(error) => return self.finish(index, Some(error)),
            }
            match link.conn.stream.peer_addr() {
                Ok(peer) => {
                    link.connecting = None;
                    let _ = link.conn.stream.set_nodelay(true);
                    // From now on `send` may write; what it queued meanwhile
                    // goes out below (the socket is writable).
                    link.conn.out().connecting = false;
                    let id = link.id;
                    self.sink.connected(id, peer);
                }
                Err(error) if error.kind() == io::ErrorKind::NotConnected => return,
                Err(error) => return self.finish(index, Some(error)),
            }
        }
        if (event.is_readable() || event.is_read_closed() || event.is_error()) && !self.read(index)
        {
            return;
        }
        if event.is_writable() {
            self.flush(index);
        }
    }

    /// Reads until `WouldBlock`; false if the link ended.
    fn read(&mut self, index: u32) -> bool {
        loop {
            let Some(link) = self.links.get_mut(&index) else {
                return false;
            };
            let id = link.id;
            match (&link.conn.stream).read(&mut self.buffer) {
                Ok(0) => {
                    self.finish(index, None);
                    return false;
                }
                Ok(n) => {
                    self.sink.received(id, &self.buffer[..n]);
                    if self.sink.is_stopped() || !self.sink.links.is_open(id) {
                        // Closed from the callback: the Close request ends it.
                        return true;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.finish(index, Some(error));
                    return false;
                }
            }
        }
    }

    /// Writes queued bytes until the queue is empty or the socket is full.
    fn flush(&mut self, index: u32) {
        let Some(link) = self.links.get(&index) else {
            return;
        };
        let conn = Arc::clone(&link.conn);
        let result = conn.flush(&mut conn.out(), &self.sink.links);
        if let Err(error) = result {
            self.finish(index, Some(error));
        }
    }

    /// Closes the link and reports it, once: it leaves `links` here.
    fn finish(&mut self, index: u32, error: Option<io::Error>) {
        if let Some(link) = self.links.remove(&index) {
            conns(&self.conns).remove(&index);
            {
                let mut out = link.conn.out();
                out.closed = true;
                out.queue = SendQueue::default();
            }
            let fd = link.conn.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            // The socket closes with the last `Arc` (a `send` may hold one
            // for the length of a write that `closed` now refuses).
            let id = link.id;
            drop(link);
            self.sink.closed(id, error);
        }
    }
}
