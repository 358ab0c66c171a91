//! The epoll backend (through `mio`): the fallback where io_uring cannot be
//! set up (seccomp in containers, old kernels), and the reference the
//! io_uring backend is tested against.
//!
//! One reactor thread owns every socket ([`Config::threads`] is ignored:
//! readiness I/O copies through one reusable 64 KiB read buffer and gains
//! little from more threads at the link counts a node has). Caller threads
//! reach it through a [`Mailbox`] and a `mio::Waker`. Readiness is
//! edge-triggered, so a readable link is read until `WouldBlock` and a
//! writable one written until its queue is empty or the socket is full.
//! Writes go one queued buffer per `send(2)` (std uses `MSG_NOSIGNAL`, so a
//! reset peer cannot raise `SIGPIPE`, which `writev` would).

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Poll, Token, Waker};

use super::links::split;
use super::mailbox::Mailbox;
use super::sink::{join_reactors, Sink};
use super::{Backend, Config, Events, LinkId};

/// The waker's token; links use their slot index, listeners [`LISTENER`] | n.
const WAKER: Token = Token(usize::MAX);
const LISTENER: usize = 1 << (usize::BITS - 1);
const READ_BUFFER: usize = 64 * 1024;

/// A request from a caller thread.
#[derive(Debug)]
enum Request {
    /// Register a bound, non-blocking listener.
    Listen(std::net::TcpListener),
    Connect(LinkId, SocketAddr),
    Send(LinkId, Vec<u8>),
    Close(LinkId),
}

/// The handle returned by [`start`].
#[derive(Debug)]
struct PollBackend {
    sink: Arc<Sink>,
    mailbox: Arc<Mailbox<Request>>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the epoll reactor thread.
pub(crate) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let sink = Arc::new(Sink::new(events, config.max_queued_bytes));
    let mailbox = Arc::new(Mailbox::new());
    let reactor = Reactor {
        poll,
        sink: Arc::clone(&sink),
        mailbox: Arc::clone(&mailbox),
        listeners: Vec::new(),
        links: HashMap::new(),
        buffer: vec![0; READ_BUFFER].into_boxed_slice(),
    };
    let thread = thread::Builder::new()
        .name("appc-io-epoll".into())
        .spawn(move || reactor.run())?;
    Ok(Arc::new(PollBackend {
        sink,
        mailbox,
        waker,
        thread: Some(thread),
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
        self.post(Request::Connect(link, addr));
        Ok(link)
    }

    fn send(&self, link: LinkId, bytes: Vec<u8>) -> io::Result<()> {
        self.sink.links.admit(link, bytes.len())?;
        if !bytes.is_empty() {
            self.post(Request::Send(link, bytes));
        }
        Ok(())
    }

    fn close(&self, link: LinkId) {
        if self.sink.links.begin_close(link).is_some() {
            self.post(Request::Close(link));
        }
    }
}

impl Drop for PollBackend {
    fn drop(&mut self) {
        self.sink.stop();
        let _ = self.waker.wake();
        join_reactors(self.thread.take().into_iter().collect());
    }
}

/// One TCP link on the reactor.
#[derive(Debug)]
struct Link {
    id: LinkId,
    stream: TcpStream,
    /// `Some(addr)` until an outgoing connect completes.
    connecting: Option<SocketAddr>,
    queue: VecDeque<Vec<u8>>,
    /// Bytes of `queue.front()` already written.
    head: usize,
}

#[derive(Debug)]
struct Reactor {
    poll: Poll,
    sink: Arc<Sink>,
    mailbox: Arc<Mailbox<Request>>,
    listeners: Vec<TcpListener>,
    /// Keyed by slot index (the link's token).
    links: HashMap<u32, Link>,
    buffer: Box<[u8]>,
}

impl Reactor {
    fn run(mut self) {
        let mut events = mio::Events::with_capacity(256);
        let mut requests = Vec::new();
        while !self.sink.is_stopped() {
            if let Err(error) = self.poll.poll(&mut events, None) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                eprintln!("appc-io: epoll reactor stops: {error}");
                break;
            }
            for event in &events {
                if self.sink.is_stopped() {
                    break;
                }
                match event.token() {
                    WAKER => {
                        self.mailbox.drain(&mut requests);
                        for request in requests.drain(..) {
                            self.request(request);
                        }
                    }
                    Token(token) if token & LISTENER != 0 => self.accept(token & !LISTENER),
                    Token(token) => self.ready(token as u32, event),
                }
            }
        }
        // Dropping `self` closes every listener and link; no events.
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Listen(listener) => {
                let token = Token(LISTENER | self.listeners.len());
                let mut listener = TcpListener::from_std(listener);
                match self
                    .poll
                    .registry()
                    .register(&mut listener, token, Interest::READABLE)
                {
                    Ok(()) => self.listeners.push(listener),
                    Err(error) => eprintln!("appc-io: epoll cannot watch a listener: {error}"),
                }
            }
            Request::Connect(id, addr) => match self.start_connect(id, addr) {
                Ok(link) => {
                    self.links.insert(split(id).0, link);
                }
                Err(error) => self.sink.closed(id, Some(error)),
            },
            Request::Send(id, bytes) => {
                let index = split(id).0;
                if let Some(link) = self.links.get_mut(&index).filter(|link| link.id == id) {
                    link.queue.push_back(bytes);
                    if link.connecting.is_none() {
                        self.flush(index);
                    }
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

    fn start_connect(&self, id: LinkId, addr: SocketAddr) -> io::Result<Link> {
        let mut stream = TcpStream::connect(addr)?;
        self.poll.registry().register(
            &mut stream,
            Token(split(id).0 as usize),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        Ok(Link {
            id,
            stream,
            connecting: Some(addr),
            queue: VecDeque::new(),
            head: 0,
        })
    }

    fn accept(&mut self, listener: usize) {
        loop {
            let (mut stream, peer) = match self.listeners[listener].accept() {
                Ok(accepted) => accepted,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) => {
                    // EMFILE and friends: the connection stays in the
                    // backlog and the next readiness edge retries.
                    eprintln!("appc-io: epoll accept failed: {error}");
                    return;
                }
            };
            let id = self.sink.links.open(0);
            let index = split(id).0;
            let _ = stream.set_nodelay(true);
            let registered = self.poll.registry().register(
                &mut stream,
                Token(index as usize),
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_err() {
                // Never announced, so no event is owed for it.
                self.sink.links.release(id);
                continue;
            }
            self.links.insert(
                index,
                Link {
                    id,
                    stream,
                    connecting: None,
                    queue: VecDeque::new(),
                    head: 0,
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
            match link.stream.take_error() {
                Ok(None) => {}
                Ok(Some(error)) | Err(error) => return self.finish(index, Some(error)),
            }
            match link.stream.peer_addr() {
                Ok(peer) => {
                    link.connecting = None;
                    let _ = link.stream.set_nodelay(true);
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
            match link.stream.read(&mut self.buffer) {
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
        let Some(link) = self.links.get_mut(&index) else {
            return;
        };
        while let Some(front) = link.queue.front() {
            match link.stream.write(&front[link.head..]) {
                Ok(n) => {
                    self.sink.links.sent(link.id, n);
                    link.head += n;
                    if link.head == front.len() {
                        link.queue.pop_front();
                        link.head = 0;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return self.finish(index, Some(error)),
            }
        }
    }

    /// Closes the link and reports it, once: it leaves `links` here.
    fn finish(&mut self, index: u32, error: Option<io::Error>) {
        if let Some(mut link) = self.links.remove(&index) {
            let _ = self.poll.registry().deregister(&mut link.stream);
            let id = link.id;
            drop(link);
            self.sink.closed(id, error);
        }
    }
}
