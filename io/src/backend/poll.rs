//! The epoll backend (through `mio`): the fallback where io_uring cannot be
//! set up (seccomp in containers, old kernels), and the reference the
//! io_uring backend is tested against.
//!
//! One reactor thread watches every socket and runs the one handler
//! ([`Config::threads`] is ignored: readiness I/O copies through one
//! reusable read buffer, [`READ_BUFFER`], and gains little from more
//! threads at the link counts a node has). Readiness is edge-triggered, so
//! a readable link is read until `WouldBlock`, and a link's output is
//! written after each callback until it is empty or the socket is full
//! (then again on writability). Writes go through `send(2)` with
//! `MSG_NOSIGNAL` (a reset peer cannot raise `SIGPIPE`). A reactor out of
//! events polls for some tens of microseconds before it sleeps ([`idle`]),
//! which more than doubled the many-session load over epoll
//! (`docs/design.md#reactors-poll-before-they-sleep`).

use rustc_hash::FxHashMap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Interest, Poll, Registry, Token};
use socket2::SockRef;

use super::backoff::{self, Backoff};
use super::idle;
use super::links::split;
use super::mailbox::Mailbox;
use super::output::Output;
use super::sink::{join_reactors, turn, Sink};
use super::{Backend, Config, Events, Handler, Io, LinkId, Waker};
use crate::diag::{limited, Limits};

/// The waker's token; links use their slot index, listeners [`LISTENER`] | n.
const WAKER: Token = Token(usize::MAX);
const LISTENER: usize = 1 << (usize::BITS - 1);
/// The reactor's read buffer. 256 KiB, not 64: a 64 KiB record travels
/// in a PIU of 72 KiB, which a 64 KiB read always cut in two, and the node
/// then gathered it in a buffer of its own (a copy of every byte).
const READ_BUFFER: usize = 256 * 1024;

/// A request from a caller thread.
#[derive(Debug)]
enum Request {
    /// Register a bound, non-blocking listener.
    Listen(std::net::TcpListener),
}

/// The handle returned by [`start`].
#[derive(Debug)]
struct PollBackend {
    sink: Arc<Sink>,
    mailbox: Arc<Mailbox<Request>>,
    waker: Arc<mio::Waker>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// Starts the epoll reactor thread (it makes its handler before this
/// returns).
pub(crate) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    let poll = Poll::new()?;
    let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
    let sink = Arc::new(Sink::new(events));
    let mailbox = Arc::new(Mailbox::new());
    let reactor = Reactor {
        poll,
        sink: Arc::clone(&sink),
        max_queued: config.max_queued_bytes,
        mailbox: Arc::clone(&mailbox),
        listeners: Vec::new(),
        links: FxHashMap::default(),
        effects: Effects::default(),
        buffer: vec![0; READ_BUFFER].into_boxed_slice(),
    };
    let (started_tx, started) = mpsc::sync_channel(1);
    let handler_waker = {
        let waker = Arc::clone(&waker);
        Waker::new(move || {
            // Fails only if the eventfd is gone, i.e. the reactor too.
            let _ = waker.wake();
        })
    };
    let thread = thread::Builder::new()
        .name("appc-io-epoll".into())
        .spawn(move || reactor.run(handler_waker, started_tx))?;
    let _ = started.recv();
    Ok(Arc::new(PollBackend {
        sink,
        mailbox,
        waker,
        thread: Mutex::new(Some(thread)),
    }))
}

impl Backend for PollBackend {
    fn name(&self) -> &'static str {
        "epoll"
    }

    fn reactors(&self) -> usize {
        1
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        if self.mailbox.post(Request::Listen(listener)) {
            let _ = self.waker.wake();
        }
        Ok(local)
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
    stream: TcpStream,
    /// `Some(addr)` until an outgoing connect completes.
    connecting: Option<SocketAddr>,
    output: Output,
    /// The output has bytes the reactor has not looked at yet.
    dirty: bool,
}

fn watch(registry: &Registry, stream: &TcpStream, token: Token) -> io::Result<()> {
    let fd = stream.as_raw_fd();
    registry.register(
        &mut SourceFd(&fd),
        token,
        Interest::READABLE | Interest::WRITABLE,
    )
}

/// What the handler asked of the reactor during a callback.
#[derive(Debug, Default)]
struct Effects {
    dirty: Vec<u32>,
    /// Links to close, with the error to report.
    closes: Vec<(LinkId, Option<io::Error>)>,
    /// Connects that could not be watched: reported closed.
    failed: Vec<(LinkId, io::Error)>,
}

/// The reactor's links, as its handler acts on them.
struct LinkIo<'a> {
    links: &'a mut FxHashMap<u32, Link>,
    effects: &'a mut Effects,
    registry: &'a Registry,
    sink: &'a Sink,
    max_queued: usize,
}

impl Io for LinkIo<'_> {
    fn output(&mut self, id: LinkId) -> Option<&mut Vec<u8>> {
        let slot = split(id).0;
        if self
            .effects
            .closes
            .iter()
            .any(|(closing, _)| *closing == id)
        {
            return None;
        }
        let link = self.links.get_mut(&slot).filter(|link| link.id == id)?;
        if link.output.unwritten() >= self.max_queued {
            self.effects.closes.push((id, Some(Output::full())));
            return None;
        }
        if !link.dirty {
            link.dirty = true;
            self.effects.dirty.push(slot);
        }
        link.output.buffer(self.max_queued)
    }

    fn queued(&self, id: LinkId) -> usize {
        self.links
            .get(&split(id).0)
            .filter(|link| link.id == id)
            .map_or(0, |link| link.output.unwritten())
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<LinkId> {
        let stream = TcpStream::connect(addr)?;
        let id = self.sink.links.open(0);
        let slot = split(id).0;
        if let Err(error) = watch(self.registry, &stream, Token(slot as usize)) {
            self.effects.failed.push((id, error));
        }
        self.links.insert(
            slot,
            Link {
                id,
                stream,
                connecting: Some(addr),
                output: Output::default(),
                dirty: false,
            },
        );
        Ok(id)
    }

    fn close(&mut self, id: LinkId) {
        let live = self
            .links
            .get(&split(id).0)
            .is_some_and(|link| link.id == id);
        let closing = self
            .effects
            .closes
            .iter()
            .any(|(closing, _)| *closing == id);
        if live && !closing {
            self.effects.closes.push((id, None));
        }
    }
}

#[derive(Debug)]
struct Reactor {
    poll: Poll,
    sink: Arc<Sink>,
    max_queued: usize,
    mailbox: Arc<Mailbox<Request>>,
    listeners: Vec<Listener>,
    /// Keyed by slot index (the link's token).
    links: FxHashMap<u32, Link>,
    effects: Effects,
    buffer: Box<[u8]>,
}

impl Reactor {
    fn run(mut self, waker: Waker, started: mpsc::SyncSender<()>) {
        let mut handler = self.sink.handler(0, waker);
        let _ = started.send(());
        let mut events = mio::Events::with_capacity(256);
        let mut requests = Vec::new();
        while !self.sink.is_stopped() {
            match turn(|| self.turn(&mut *handler, &mut events, &mut requests)) {
                Ok(true) => {}
                Ok(false) => break,
                Err(reason) => {
                    self.sink.failed("epoll", &reason);
                    drop(handler);
                    return;
                }
            }
        }
        // Dropping the handler, then `self`, closes every link; no calls.
    }

    fn io(&mut self) -> LinkIo<'_> {
        LinkIo {
            links: &mut self.links,
            effects: &mut self.effects,
            registry: self.poll.registry(),
            sink: &self.sink,
            max_queued: self.max_queued,
        }
    }

    /// One turn of the loop: wait (or poll), handle what is ready, the
    /// mailbox, the handler's turn. False if epoll failed.
    fn turn(
        &mut self,
        handler: &mut dyn Handler,
        events: &mut mio::Events,
        requests: &mut Vec<Request>,
    ) -> bool {
        if let Err(error) = self.wait(handler, events) {
            if error.kind() == io::ErrorKind::Interrupted {
                return true;
            }
            tracing::error!(%error, "epoll reactor stops: every link is lost");
            return false;
        }
        self.retry_accepts(handler);
        for event in events.iter() {
            if self.sink.is_stopped() {
                return true;
            }
            match event.token() {
                WAKER => {}
                Token(token) if token & LISTENER != 0 => self.accept(handler, token & !LISTENER),
                Token(token) => self.ready(handler, token as u32, event),
            }
        }
        if self.mailbox.is_rung() {
            self.mailbox.drain(requests);
            for request in requests.drain(..) {
                self.request(request);
            }
        }
        handler.turn(&mut self.io());
        self.effects(handler);
        true
    }

    /// Polls without blocking for a short while ([`idle`]), then sleeps in
    /// `epoll_wait` if the handler lets it (until its deadline, or a
    /// paused listener's retry).
    fn wait(&mut self, handler: &mut dyn Handler, events: &mut mio::Events) -> io::Result<()> {
        let poll = &mut self.poll;
        let mailbox = &self.mailbox;
        let mut failed = None;
        let ready = idle::spin(|| {
            if handler.busy() || mailbox.is_rung() {
                events.clear();
                return true;
            }
            match poll.poll(events, Some(Duration::ZERO)) {
                Ok(()) => !events.is_empty(),
                Err(error) => {
                    failed = Some(error);
                    true
                }
            }
        });
        match failed {
            Some(error) => return Err(error),
            None if ready => return Ok(()),
            None => {}
        }
        if !handler.sleep() {
            return poll.poll(events, Some(Duration::ZERO));
        }
        let now = Instant::now();
        let timeout = self
            .listeners
            .iter()
            .filter_map(|l| l.retry)
            .chain(handler.deadline())
            .min()
            .map(|at| at.saturating_duration_since(now));
        poll.poll(events, timeout)
    }

    /// Acts on what the handler asked for.
    fn effects(&mut self, handler: &mut dyn Handler) {
        loop {
            let Effects {
                dirty,
                closes,
                failed,
            } = &mut self.effects;
            if dirty.is_empty() && closes.is_empty() && failed.is_empty() {
                return;
            }
            let (dirty, closes, failed) = (
                std::mem::take(dirty),
                std::mem::take(closes),
                std::mem::take(failed),
            );
            for slot in dirty {
                if let Some(link) = self.links.get_mut(&slot) {
                    link.dirty = false;
                }
                self.flush(handler, slot);
            }
            for (id, error) in failed {
                self.finish(handler, split(id).0, Some(error));
            }
            for (id, error) in closes {
                let slot = split(id).0;
                if self.links.get(&slot).is_some_and(|link| link.id == id) {
                    self.finish(handler, slot, error);
                }
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
        }
    }

    /// Paused listeners whose wait is over accept again.
    fn retry_accepts(&mut self, handler: &mut dyn Handler) {
        let now = Instant::now();
        for index in 0..self.listeners.len() {
            if self.listeners[index].retry.is_some_and(|at| at <= now) {
                self.listeners[index].retry = None;
                self.accept(handler, index);
            }
        }
    }

    fn accept(&mut self, handler: &mut dyn Handler, listener: usize) {
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
            if watch(self.poll.registry(), &stream, Token(index as usize)).is_err() {
                // Never announced, so no call is owed for it.
                self.sink.links.release(id);
                continue;
            }
            self.links.insert(
                index,
                Link {
                    id,
                    stream,
                    connecting: None,
                    output: Output::default(),
                    dirty: false,
                },
            );
            handler.connected(&mut self.io(), id, peer);
            self.effects(handler);
        }
    }

    fn ready(&mut self, handler: &mut dyn Handler, index: u32, event: &Event) {
        let Some(link) = self.links.get_mut(&index) else {
            return;
        };
        if link.connecting.is_some() {
            // The outcome of a non-blocking connect shows as writability
            // (or an error); `peer_addr` tells success from a spurious wake.
            match link.stream.take_error() {
                Ok(None) => {}
                Ok(Some(error)) | Err(error) => return self.finish(handler, index, Some(error)),
            }
            match link.stream.peer_addr() {
                Ok(peer) => {
                    link.connecting = None;
                    let _ = link.stream.set_nodelay(true);
                    let id = link.id;
                    handler.connected(&mut self.io(), id, peer);
                    self.effects(handler);
                }
                Err(error) if error.kind() == io::ErrorKind::NotConnected => return,
                Err(error) => return self.finish(handler, index, Some(error)),
            }
        }
        if (event.is_readable() || event.is_read_closed() || event.is_error())
            && !self.read(handler, index)
        {
            return;
        }
        if event.is_writable() {
            self.flush(handler, index);
        }
    }

    /// Reads until `WouldBlock`; false if the link ended.
    fn read(&mut self, handler: &mut dyn Handler, index: u32) -> bool {
        loop {
            let Some(link) = self.links.get_mut(&index) else {
                return false;
            };
            let id = link.id;
            match (&link.stream).read(&mut self.buffer) {
                Ok(0) => {
                    self.finish(handler, index, None);
                    return false;
                }
                Ok(n) => {
                    let mut io = LinkIo {
                        links: &mut self.links,
                        effects: &mut self.effects,
                        registry: self.poll.registry(),
                        sink: &self.sink,
                        max_queued: self.max_queued,
                    };
                    handler.received(&mut io, id, &self.buffer[..n]);
                    let closing = self.effects.closes.iter().any(|(c, _)| *c == id);
                    self.effects(handler);
                    if self.sink.is_stopped() || closing {
                        return !closing;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    self.finish(handler, index, Some(error));
                    return false;
                }
            }
        }
    }

    /// Writes the link's output until it is empty or the socket is full.
    fn flush(&mut self, handler: &mut dyn Handler, index: u32) {
        let Some(link) = self.links.get_mut(&index) else {
            return;
        };
        if link.connecting.is_some() {
            return;
        }
        let socket = SockRef::from(&link.stream);
        let error = loop {
            let bytes = link.output.next();
            if bytes.is_empty() {
                return;
            }
            match socket.send_with_flags(bytes, libc::MSG_NOSIGNAL) {
                Ok(n) => link.output.advance(n),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => break error,
            }
        };
        self.finish(handler, index, Some(error));
    }

    /// Closes the link and reports it, once: it leaves `links` here.
    fn finish(&mut self, handler: &mut dyn Handler, index: u32, error: Option<io::Error>) {
        if let Some(link) = self.links.remove(&index) {
            let fd = link.stream.as_raw_fd();
            let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
            let id = link.id;
            drop(link);
            self.sink.links.release(id);
            handler.closed(&mut self.io(), id, error);
            self.effects(handler);
        }
    }
}
