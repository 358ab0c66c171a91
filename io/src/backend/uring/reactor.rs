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

use rustc_hash::FxHashMap;
use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::types::{Fd, Timespec};
use io_uring::{cqueue, opcode};
use socket2::{Domain, SockAddr, Socket, Type};

use super::op::{link_op, other_op, Op, Tag};
use super::ring::{Completion, Features, Ring, LINK_RECV_BUFFER_SIZE};
use super::Request;
use crate::backend::backoff::{self, Backoff};
use crate::backend::idle;
use crate::backend::links::split;
use crate::backend::mailbox::Mailbox;
use crate::backend::output::Output;
use crate::backend::sink::{turn, Sink};
use crate::backend::{Handler, Io, LinkId, Waker};
use crate::diag::{limited, Limits};

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

/// What the handler asked of the reactor during a callback, done once the
/// callback has returned.
#[derive(Debug, Default)]
struct Effects {
    /// Links whose output grew.
    dirty: Vec<u32>,
    /// Links to close, with the error to report.
    closes: Vec<(LinkId, Option<io::Error>)>,
    /// Links whose `Connect` is to be submitted.
    connects: Vec<u32>,
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
    fn live(&mut self, id: LinkId) -> Option<&mut Link> {
        self.links
            .get_mut(&split(id).0)
            .filter(|link| link.id == id && link.closing.is_none())
    }
}

impl Io for LinkIo<'_> {
    fn output(&mut self, id: LinkId) -> Option<&mut Vec<u8>> {
        let max = self.max_queued;
        let effects = &mut *self.effects;
        let link = self
            .links
            .get_mut(&split(id).0)
            .filter(|link| link.id == id && link.closing.is_none())?;
        if effects.closes.iter().any(|(closing, _)| *closing == id) {
            return None;
        }
        if link.output.unwritten() >= max {
            effects.closes.push((id, Some(Output::full())));
            return None;
        }
        if !link.dirty {
            link.dirty = true;
            effects.dirty.push(split(id).0);
        }
        link.output.buffer(max)
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
        let closing = self
            .effects
            .closes
            .iter()
            .any(|(closing, _)| *closing == id);
        if self.live(id).is_some() && !closing {
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
        let poll = self.idle_poll || self.bulk > 0;
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
            let effects = std::mem::take(&mut self.effects);
            if effects.dirty.is_empty() && effects.closes.is_empty() && effects.connects.is_empty()
            {
                self.effects = effects;
                return;
            }
            let Effects {
                mut dirty,
                mut closes,
                mut connects,
            } = effects;
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
            if self.effects.dirty.is_empty() {
                self.effects.dirty = dirty;
            }
            if self.effects.closes.is_empty() {
                self.effects.closes = closes;
            }
            if self.effects.connects.is_empty() {
                self.effects.connects = connects;
            }
        }
    }

    fn arm_doorbell(&mut self) {
        let read = opcode::Read::new(
            Fd(self.doorbell.as_raw_fd()),
            (&mut *self.doorbell_count as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(other_op(Tag::Wake, 0));
        // SAFETY: the eventfd and the boxed counter belong to `self`, which
        // outlives the op (see `shutdown`), and nothing reads the counter.
        unsafe { self.ring.push(&read) };
    }

    fn arm_accept(&mut self, listener: usize) {
        let entry = &mut self.listeners[listener];
        let fd = Fd(entry.socket.as_raw_fd());
        let accept = if self.features.multishot_accept {
            opcode::AcceptMulti::new(fd)
                .flags(libc::SOCK_CLOEXEC)
                .build()
        } else {
            opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                .flags(libc::SOCK_CLOEXEC)
                .build()
        };
        entry.armed = true;
        let accept = accept.user_data(other_op(Tag::Accept, listener as u32));
        // SAFETY: no memory is passed (the peer address is read later) and
        // the listener lives as long as `self`.
        unsafe { self.ring.push(&accept) };
    }

    fn arm_recv(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.receiving || link.closing.is_some() {
            return;
        }
        let fd = Fd(link.socket.as_raw_fd());
        let recv = match self.ring.recv_group() {
            Some(group) => opcode::RecvMulti::new(fd, group).build(),
            None => {
                let buffer = link
                    .recv_buffer
                    .get_or_insert_with(|| vec![0; LINK_RECV_BUFFER_SIZE].into_boxed_slice());
                opcode::Recv::new(fd, buffer.as_mut_ptr(), buffer.len() as u32).build()
            }
        };
        link.receiving = true;
        let recv = recv.user_data(link_op(Tag::Recv, link.id));
        // SAFETY: the socket and the boxed receive buffer belong to the link,
        // which stays in `links` (untouched by us) until this op completes.
        unsafe { self.ring.push(&recv) };
    }

    fn arm_send(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.sending || link.target.is_some() || link.closing.is_some() {
            return;
        }
        let bytes = link.output.next();
        if bytes.is_empty() {
            return;
        }
        // At most 4 GiB a send: the rest goes with the next.
        let len = bytes.len().min(u32::MAX as usize) as u32;
        let send = opcode::Send::new(Fd(link.socket.as_raw_fd()), bytes.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(link_op(Tag::Send, link.id));
        link.sending = true;
        // SAFETY: the bytes are the output's flight buffer, which nothing
        // changes, moves or drops while `sending` is set (appends go to the
        // other buffer), and the link stays in `links` until the op
        // completes.
        unsafe { self.ring.push(&send) };
    }

    fn arm_connect(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        let Some(target) = &link.target else {
            return;
        };
        let connect = opcode::Connect::new(
            Fd(link.socket.as_raw_fd()),
            target.as_ptr().cast(),
            target.len(),
        )
        .build()
        .user_data(link_op(Tag::Connect, link.id));
        // SAFETY: the boxed address is kept in `link.target` until the
        // connect completes, and the link stays in `links` until then.
        unsafe { self.ring.push(&connect) };
    }

    fn cancel(&mut self, user_data: u64) {
        let cancel = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(other_op(Tag::Cancel, 0));
        // SAFETY: a cancel names its target by `user_data` only.
        unsafe { self.ring.push(&cancel) };
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

    fn complete(&mut self, handler: &mut dyn Handler, completion: Completion) {
        let Some(op) = Op::decode(completion.user_data) else {
            return;
        };
        match op.tag {
            // The mailbox and the handler's inbox are looked at every turn.
            Tag::Wake => self.arm_doorbell(),
            Tag::Accept => self.accepted(handler, op.slot as usize, completion),
            Tag::AcceptRetry => {
                let listener = op.slot as usize;
                self.listeners[listener].paused = false;
                if !self.listeners[listener].armed {
                    self.arm_accept(listener);
                }
            }
            Tag::Cancel => {}
            Tag::Connect | Tag::Recv | Tag::Send => {
                let live = self
                    .links
                    .get(&op.slot)
                    .is_some_and(|link| op.is_for(link.id));
                if !live {
                    if let Some(bid) = cqueue::buffer_select(completion.flags) {
                        self.ring.recycle(bid);
                    }
                    return;
                }
                match op.tag {
                    Tag::Connect => self.connected(handler, op.slot, completion.result),
                    Tag::Recv => self.received(handler, op.slot, completion),
                    _ => self.sent(op.slot, completion.result),
                }
                self.effects(handler);
                self.maybe_finish(handler, op.slot);
            }
        }
    }

    fn accepted(&mut self, handler: &mut dyn Handler, listener: usize, completion: Completion) {
        let more = cqueue::more(completion.flags);
        if completion.result >= 0 {
            // SAFETY: a successful accept returns a new descriptor that
            // nothing else owns.
            let socket = TcpStream::from(unsafe { OwnedFd::from_raw_fd(completion.result) });
            self.listeners[listener].backoff.reset();
            self.adopt(handler, socket);
        } else if completion.result == -libc::EINVAL && self.features.multishot_accept {
            // Probed, but refused: accept one at a time from now on.
            self.features.multishot_accept = false;
        } else if completion.result != -libc::ECANCELED {
            let error = os_error(completion.result);
            self.sink.accept_errors.fetch_add(1, Ordering::Relaxed);
            let starved = backoff::starved(&error);
            let l = &mut self.listeners[listener];
            limited!(warn, &mut l.log, "accept", %error, starved, "accept failed");
            if starved && !l.paused {
                self.pause(listener, more);
            }
        }
        if !more {
            self.listeners[listener].armed = false;
            if !self.listeners[listener].paused {
                self.arm_accept(listener);
            }
        }
    }

    /// Stops accepting on `listener` for its backoff's wait (see
    /// `backoff.rs`): cancels its accept if still `armed` (multishot), and
    /// sets a timeout whose completion arms it again.
    fn pause(&mut self, listener: usize, armed: bool) {
        if armed {
            self.cancel(other_op(Tag::Accept, listener as u32));
        }
        let l = &mut self.listeners[listener];
        l.paused = true;
        *l.wait = Timespec::from(l.backoff.failed());
        let timeout = opcode::Timeout::new(&*l.wait)
            .build()
            .user_data(other_op(Tag::AcceptRetry, listener as u32));
        // SAFETY: the timespec is boxed in the listener, which lives as
        // long as `self`, and is not changed while `paused` (until this
        // op completes).
        unsafe { self.ring.push(&timeout) };
    }

    fn adopt(&mut self, handler: &mut dyn Handler, socket: TcpStream) {
        // A peer that already reset has no address: drop it unannounced.
        let Ok(peer) = socket.peer_addr() else {
            return;
        };
        let _ = socket.set_nodelay(true);
        let id = self.sink.links.open(self.index);
        let slot = split(id).0;
        self.links.insert(slot, Link::new(id, socket, peer));
        handler.connected(&mut self.io(), id, peer);
        self.arm_recv(slot);
        self.effects(handler);
    }

    fn connected(&mut self, handler: &mut dyn Handler, slot: u32, result: i32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        link.target = None;
        if link.closing.is_some() {
            return;
        }
        if result < 0 {
            return self.begin_close(slot, Some(os_error(result)));
        }
        let (id, peer) = (link.id, link.peer);
        handler.connected(&mut self.io(), id, peer);
        self.arm_recv(slot);
        self.arm_send(slot);
    }

    fn received(&mut self, handler: &mut dyn Handler, slot: u32, completion: Completion) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if !cqueue::more(completion.flags) {
            link.receiving = false;
        }
        let bid = cqueue::buffer_select(completion.flags);
        match completion.result {
            n if n > 0 => {
                if n as usize >= BULK {
                    self.bulk = BULK_TURNS;
                }
                if link.closing.is_none() {
                    let id = link.id;
                    // The received bytes live in the ring's buffer or the
                    // link's; the handler sees the links through `io`.
                    let mut single = None;
                    let data = match bid {
                        Some(bid) => self.ring.buffer(bid, n as usize),
                        None => {
                            single = link.recv_buffer.take();
                            single.as_deref().map_or(&[][..], |b| &b[..n as usize])
                        }
                    };
                    let mut io = LinkIo {
                        index: self.index,
                        links: &mut self.links,
                        effects: &mut self.effects,
                        sink: &self.sink,
                        max_queued: self.max_queued,
                    };
                    handler.received(&mut io, id, data);
                    if let (Some(buffer), Some(link)) = (single, self.links.get_mut(&slot)) {
                        link.recv_buffer = Some(buffer);
                    }
                }
                if let Some(bid) = bid {
                    self.ring.recycle(bid);
                }
                self.arm_recv(slot);
            }
            0 => self.begin_close(slot, None),
            // Every provided buffer was out; this batch gave them back.
            n if n == -libc::ENOBUFS => self.arm_recv(slot),
            n if n == -libc::ECANCELED => {}
            n => self.begin_close(slot, Some(os_error(n))),
        }
    }

    fn sent(&mut self, slot: u32, result: i32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        link.sending = false;
        if result < 0 {
            if result != -libc::ECANCELED {
                self.begin_close(slot, Some(os_error(result)));
            }
            return;
        }
        let n = result as usize;
        if n >= BULK {
            self.bulk = BULK_TURNS;
        }
        link.output.advance(n);
        self.arm_send(slot);
    }

    /// Starts closing `slot` (the first reason wins): drops its unsent
    /// output and cancels its ops; [`maybe_finish`](Self::maybe_finish)
    /// ends it.
    fn begin_close(&mut self, slot: u32, reason: Option<io::Error>) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.closing.is_some() {
            return;
        }
        link.closing = Some(reason);
        // The flight stays until its send completes (the kernel reads it).
        link.output.drop_pending();
        let id = link.id;
        let ops = [
            (link.target.is_some(), Tag::Connect),
            (link.receiving, Tag::Recv),
            (link.sending, Tag::Send),
        ];
        for (inflight, tag) in ops {
            if inflight {
                self.cancel(link_op(tag, id));
            }
        }
    }

    /// Ends a closing link whose ops have all completed, exactly once.
    fn maybe_finish(&mut self, handler: &mut dyn Handler, slot: u32) {
        let done = self
            .links
            .get(&slot)
            .is_some_and(|link| link.closing.is_some() && link.idle());
        if !done {
            return;
        }
        if let Some(mut link) = self.links.remove(&slot) {
            let reason = link.closing.take().flatten();
            let id = link.id;
            drop(link);
            self.sink.links.release(id);
            handler.closed(&mut self.io(), id, reason);
            self.effects(handler);
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
