//! One io_uring reactor thread: its handler, listeners and links, the ops
//! it keeps in flight for them, and what each completion means.
//!
//! Per link at most one op of each kind is in flight: a `Connect`, a
//! receive (multishot, or single-shot re-armed after each completion) and
//! a `Send` of the link's output from its first unwritten byte (one at a
//! time keeps the stream in order across partial sends). The bytes the
//! send reads are the output's flight buffer, which nothing touches until
//! the completion ([`Output`]).
//!
//! A turn: wait for completions (or poll a while first), run what they
//! mean through the handler, then the handler's own turn, then act on what
//! the handler asked for meanwhile ([`Effects`]: sends, closes, connects),
//! and submit the next batch with the next wait.
//!
//! Closing (asked for, the peer's end of stream, or an error) is two-phase:
//! the link is marked with the reason, its unsent output is dropped, and
//! every op it has in flight is cancelled (`AsyncCancel` by `user_data`).
//! Only when the last of them has completed is the socket closed and
//! `closed` reported, so no completion can name a released link: a late
//! one is ignored, except that a provided buffer it carries goes back to
//! the ring.
//!
//! This file holds the reactor's state and its loop; the ops it submits
//! are in `submit`, what their completions mean in `complete`.

mod complete;
mod submit;

use rustc_hash::FxHashMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::types::Timespec;
use socket2::{Domain, SockAddr, Socket, Type};

use super::op::{link_op, other_op, Tag};
use super::ring::{Completion, Features, Ring};
use super::Request;
use crate::backend::backoff::Backoff;
use crate::backend::effects::Effects;
use crate::backend::idle;
use crate::backend::links::split;
use crate::backend::mailbox::Mailbox;
use crate::backend::output::Output;
use crate::backend::sink::{turn, Sink};
use crate::backend::{Handler, Io, LinkId, Waker};
use crate::diag::Limits;

/// A send or receive at least this long makes the reactor poll before it
/// sleeps for its next [`BULK_TURNS`] turns,
/// [`Config::idle_poll`](crate::backend::Config::idle_poll) or not (see
/// [`idle`]).
const BULK: usize = 16 << 10;
const BULK_TURNS: u8 = 8;

/// How long a stopping reactor waits for its cancelled ops.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Listener {
    socket: TcpListener,
    /// An accept op is in flight.
    armed: bool,
    /// Accepting is paused after a failure for want of resources; a
    /// timeout op ([`Tag::AcceptRetry`]) is in flight, reading `wait`.
    paused: bool,
    backoff: Backoff,
    wait: Box<Timespec>,
    log: Limits,
}

#[derive(Debug)]
struct Link {
    id: LinkId,
    socket: TcpStream,
    peer: SocketAddr,
    /// The address a `Connect` in flight reads.
    target: Option<Box<SockAddr>>,
    receiving: bool,
    sending: bool,
    output: Output,
    /// The output has bytes the reactor has not looked at yet.
    dirty: bool,
    /// Set once closing starts: the error to report (`None`: a clean end).
    closing: Option<Option<io::Error>>,
    /// The single-shot receive buffer (no provided buffer ring).
    recv_buffer: Option<Box<[u8]>>,
}

impl Link {
    fn new(id: LinkId, socket: TcpStream, peer: SocketAddr) -> Self {
        Self {
            id,
            socket,
            peer,
            target: None,
            receiving: false,
            sending: false,
            output: Output::default(),
            dirty: false,
            closing: None,
            recv_buffer: None,
        }
    }

    fn idle(&self) -> bool {
        self.target.is_none() && !self.receiving && !self.sending
    }
}

/// The reactor's links, as its handler acts on them.
struct LinkIo<'a> {
    index: usize,
    links: &'a mut FxHashMap<u32, Link>,
    effects: &'a mut Effects,
    sink: &'a Sink,
    max_queued: usize,
}

impl LinkIo<'_> {
    /// Link `id`, unless it is gone or closing.
    fn live(links: &mut FxHashMap<u32, Link>, id: LinkId) -> Option<&mut Link> {
        links
            .get_mut(&split(id).0)
            .filter(|link| link.id == id && link.closing.is_none())
    }
}

impl Io for LinkIo<'_> {
    fn output(&mut self, id: LinkId) -> Option<&mut Vec<u8>> {
        let max = self.max_queued;
        let link = Self::live(self.links, id)?;
        self.effects
            .output(id, split(id).0, &mut link.output, &mut link.dirty, max)
    }

    fn queued(&self, id: LinkId) -> usize {
        self.links
            .get(&split(id).0)
            .filter(|link| link.id == id)
            .map_or(0, |link| link.output.unwritten())
    }

    fn connect(&mut self, addr: SocketAddr) -> io::Result<LinkId> {
        let socket = TcpStream::from(Socket::new(Domain::for_address(addr), Type::STREAM, None)?);
        let _ = socket.set_nodelay(true);
        let id = self.sink.links.open(self.index);
        let slot = split(id).0;
        let mut link = Link::new(id, socket, addr);
        link.target = Some(Box::new(SockAddr::from(addr)));
        self.links.insert(slot, link);
        self.effects.connects.push(slot);
        Ok(id)
    }

    fn close(&mut self, id: LinkId) {
        if Self::live(self.links, id).is_some() && !self.effects.closing(id) {
            self.effects.closes.push((id, None));
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Reactor {
    index: usize,
    ring: Ring,
    features: Features,
    /// Poll before sleeping ([`Config::idle_poll`](crate::backend::Config::idle_poll)).
    idle_poll: bool,
    /// Turns left to poll after one that moved [`BULK`] bytes in one op.
    bulk: u8,
    sink: Arc<Sink>,
    max_queued: usize,
    mailbox: Arc<Mailbox<Request>>,
    doorbell: Arc<File>,
    /// Where the doorbell's read lands (the value is not used).
    doorbell_count: Box<u64>,
    listeners: Vec<Listener>,
    /// Keyed by slot index.
    links: FxHashMap<u32, Link>,
    effects: Effects,
    requests: Vec<Request>,
}

fn os_error(result: i32) -> io::Error {
    io::Error::from_raw_os_error(-result)
}

impl Reactor {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        index: usize,
        ring: Ring,
        features: Features,
        idle_poll: bool,
        sink: Arc<Sink>,
        max_queued: usize,
        mailbox: Arc<Mailbox<Request>>,
        doorbell: Arc<File>,
    ) -> Self {
        Self {
            index,
            ring,
            features,
            idle_poll,
            bulk: 0,
            sink,
            max_queued,
            mailbox,
            doorbell,
            doorbell_count: Box::new(0),
            listeners: Vec::new(),
            links: FxHashMap::default(),
            effects: Effects::default(),
            requests: Vec::new(),
        }
    }

    /// The reactor loop; `started` hears whether the ring could be bound to
    /// this thread, once the handler is made, before anything else happens
    /// (on failure the reactor returns at once).
    pub(super) fn run(mut self, started: SyncSender<io::Result<()>>) {
        let result = self.ring.enable();
        if let Err(error) = result {
            let _ = started.send(Err(error));
            return;
        }
        let doorbell = Arc::clone(&self.doorbell);
        let waker = Waker::new(move || {
            // Fails only when the counter would overflow: it is rung.
            let _ = (&*doorbell).write(&1u64.to_ne_bytes());
        });
        let mut handler = self.sink.handler(self.index, waker);
        let _ = started.send(Ok(()));
        self.arm_doorbell();
        let mut completions = Vec::new();
        while !self.sink.is_stopped() {
            match turn(|| self.turn(&mut *handler, &mut completions)) {
                Ok(true) => {}
                Ok(false) => break,
                Err(reason) => {
                    self.sink.failed("io_uring", &reason);
                    drop(handler);
                    return self.shutdown();
                }
            }
        }
        drop(handler);
        self.shutdown();
    }

    fn io(&mut self) -> LinkIo<'_> {
        LinkIo {
            index: self.index,
            links: &mut self.links,
            effects: &mut self.effects,
            sink: &self.sink,
            max_queued: self.max_queued,
        }
    }

    /// One turn of the loop: wait (or poll), handle the completions, the
    /// mailbox, the handler's turn, what the handler asked for. False if
    /// the ring failed.
    fn turn(&mut self, handler: &mut dyn Handler, completions: &mut Vec<Completion>) -> bool {
        let poll = self.idle_poll || self.bulk > 0 || handler.runs_tasks();
        self.bulk = self.bulk.saturating_sub(1);
        if !(poll && self.spin(handler)) {
            let waited = if handler.busy() || !handler.sleep() {
                // Work is waiting: hand the batch over and go on.
                self.ring.submit();
                Ok(())
            } else {
                match handler.deadline() {
                    Some(at) => self
                        .ring
                        .wait_for(at.saturating_duration_since(Instant::now())),
                    None => self.ring.wait(),
                }
            };
            if let Err(error) = waited {
                tracing::error!(%error, "io_uring reactor stops: its links are lost");
                return false;
            }
        }
        self.ring.reap(completions);
        for completion in completions.drain(..) {
            if self.sink.is_stopped() {
                return true;
            }
            self.complete(handler, completion);
        }
        if self.mailbox.is_rung() {
            self.mailbox.drain(&mut self.requests);
            for request in std::mem::take(&mut self.requests) {
                self.request(request);
            }
        }
        handler.turn(&mut self.io());
        self.effects(handler);
        true
    }

    /// Submits the batch, then polls the ring, the handler and the mailbox
    /// for a short while ([`idle`]): true as soon as something is there,
    /// false if the reactor should sleep.
    fn spin(&mut self, handler: &mut dyn Handler) -> bool {
        self.ring.submit();
        let (ring, mailbox) = (&mut self.ring, &self.mailbox);
        idle::spin(|| ring.ready() || handler.busy() || mailbox.is_rung())
    }

    /// Acts on what the handler asked for (which may make it ask for
    /// more: a close reported asks for nothing, but it may).
    fn effects(&mut self, handler: &mut dyn Handler) {
        loop {
            let mut effects = std::mem::take(&mut self.effects);
            if effects.is_empty() {
                self.effects = effects;
                return;
            }
            let Effects {
                dirty,
                closes,
                connects,
            } = &mut effects;
            for slot in connects.drain(..) {
                self.arm_connect(slot);
            }
            for slot in dirty.drain(..) {
                if let Some(link) = self.links.get_mut(&slot) {
                    link.dirty = false;
                }
                self.arm_send(slot);
            }
            for (id, error) in closes.drain(..) {
                let slot = split(id).0;
                if self.links.get(&slot).is_some_and(|link| link.id == id) {
                    self.begin_close(slot, error);
                    self.maybe_finish(handler, slot);
                }
            }
            // Keep the lists' capacity for the next turn.
            self.effects.recycle(effects);
        }
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Listen(socket) => {
                let span = tracing::warn_span!(
                    parent: None,
                    "listener",
                    addr = ?socket.local_addr().ok()
                );
                self.listeners.push(Listener {
                    socket,
                    armed: false,
                    paused: false,
                    backoff: Backoff::default(),
                    wait: Box::new(Timespec::new()),
                    log: Limits::new(span),
                });
                self.arm_accept(self.listeners.len() - 1);
            }
        }
    }

    /// Cancels everything, waits for the cancellations, then drops the
    /// sockets. Memory an op might still touch is leaked, never freed, if
    /// the kernel does not finish within [`SHUTDOWN_GRACE`].
    fn shutdown(mut self) {
        let mut cancels = vec![other_op(Tag::Wake, 0)];
        for (index, listener) in self.listeners.iter().enumerate() {
            if listener.armed {
                cancels.push(other_op(Tag::Accept, index as u32));
            }
            if listener.paused {
                cancels.push(other_op(Tag::AcceptRetry, index as u32));
            }
        }
        for link in self.links.values() {
            let ops = [
                (link.target.is_some(), Tag::Connect),
                (link.receiving, Tag::Recv),
                (link.sending, Tag::Send),
            ];
            cancels.extend(
                ops.iter()
                    .filter(|(inflight, _)| *inflight)
                    .map(|&(_, tag)| link_op(tag, link.id)),
            );
        }
        for user_data in cancels {
            self.cancel(user_data);
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut completions = Vec::new();
        while self.ring.inflight() > 0 && Instant::now() < deadline {
            if self.ring.wait_for(Duration::from_millis(50)).is_err() {
                break;
            }
            self.ring.reap(&mut completions);
            completions.clear();
        }
        if self.ring.inflight() > 0 {
            tracing::warn!(
                inflight = self.ring.inflight(),
                "io_uring reactor stopped with ops in flight; leaking their memory"
            );
            std::mem::forget(std::mem::take(&mut self.links));
            std::mem::forget(std::mem::replace(&mut self.doorbell_count, Box::new(0)));
        }
    }
}
