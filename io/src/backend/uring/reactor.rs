//! One io_uring reactor thread: its listeners and links, the ops it keeps
//! in flight for them, and what each completion means.
//!
//! Per link at most one op of each kind is in flight: a `Connect`, a
//! receive (multishot, or single-shot re-armed after each completion) and a
//! `SendMsg` gathering the front of the queue from its first unsent byte
//! (one at a time keeps the stream in order across partial sends). The
//! queued `Vec`s live in the link and those the op reads are pinned
//! ([`SendQueue::pin`]), and so does the op's `msghdr` and iovec array
//! ([`Gather`]): what the kernel reads stays alive and unchanged until the
//! completion.
//!
//! Closing (asked for, the peer's end of stream, or an error) is two-phase:
//! the link is marked with the reason, its queue is dropped except for the
//! buffers the kernel is sending from, and every op it has in flight is
//! cancelled (`AsyncCancel` by `user_data`). Only when the last of them has
//! completed is the socket closed and `closed` reported, so no completion
//! can name a released link: a late one is ignored, except that a provided
//! buffer it carries goes back to the ring.

use rustc_hash::FxHashMap;
use std::fs::File;
use std::io;
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
use crate::backend::queue::{SendQueue, MAX_IOV};
use crate::backend::sink::{turn, Sink};
use crate::backend::LinkId;
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
    queue: SendQueue,
    /// What the `SendMsg` in flight reads; made on the link's first send.
    gather: Option<Box<Gather>>,
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
            queue: SendQueue::default(),
            gather: None,
            closing: None,
            recv_buffer: None,
        }
    }

    fn idle(&self) -> bool {
        self.target.is_none() && !self.receiving && !self.sending
    }
}

/// The `msghdr` of a link's `SendMsg` and the iovecs it names: the kernel
/// may read them until the op completes (when the send goes async), so
/// they are boxed with the link rather than built on the stack.
struct Gather {
    header: libc::msghdr,
    iov: [libc::iovec; MAX_IOV],
}

// SAFETY: the raw pointers point into this box and into buffers the same
// link owns; both move between threads only with the reactor that owns
// the link, before its thread starts, and are used on that thread only.
unsafe impl Send for Gather {}

impl std::fmt::Debug for Gather {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gather")
            .field("iovecs", &self.header.msg_iovlen)
            .finish_non_exhaustive()
    }
}

impl Gather {
    fn new() -> Box<Self> {
        let empty = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        // SAFETY: `msghdr` is plain data, for which all zeroes (no name, no
        // control data, no flags) is valid.
        let header = unsafe { std::mem::zeroed() };
        Box::new(Self {
            header,
            iov: [empty; MAX_IOV],
        })
    }

    /// Points the iovecs at `slices` (at most [`MAX_IOV`]) and the header
    /// at the iovecs; returns how many it took.
    fn fill<'a>(&mut self, slices: impl Iterator<Item = &'a [u8]>) -> usize {
        let mut count = 0;
        for (iov, bytes) in self.iov.iter_mut().zip(slices) {
            iov.iov_base = bytes.as_ptr().cast_mut().cast();
            iov.iov_len = bytes.len();
            count += 1;
        }
        self.header.msg_iov = self.iov.as_mut_ptr();
        // `size_t` with glibc, `c_int` with musl; at most MAX_IOV either way.
        self.header.msg_iovlen = count as _;
        count
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
    mailbox: Arc<Mailbox<Request>>,
    doorbell: Arc<File>,
    /// Where the doorbell's read lands (the value is not used).
    doorbell_count: Box<u64>,
    listeners: Vec<Listener>,
    /// Keyed by slot index.
    links: FxHashMap<u32, Link>,
    requests: Vec<Request>,
}

fn os_error(result: i32) -> io::Error {
    io::Error::from_raw_os_error(-result)
}

impl Reactor {
    pub(super) fn new(
        index: usize,
        ring: Ring,
        features: Features,
        idle_poll: bool,
        sink: Arc<Sink>,
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
            mailbox,
            doorbell,
            doorbell_count: Box::new(0),
            listeners: Vec::new(),
            links: FxHashMap::default(),
            requests: Vec::new(),
        }
    }

    /// The reactor loop; `enabled` hears whether the ring could be bound to
    /// this thread, before anything else happens (on failure the reactor
    /// returns at once).
    pub(super) fn run(mut self, enabled: SyncSender<io::Result<()>>) {
        super::ON_REACTOR.with(|on| on.set(Some(self.index)));
        let result = self.ring.enable();
        let failed = result.is_err();
        let _ = enabled.send(result);
        if failed {
            return;
        }
        self.arm_doorbell();
        let mut completions = Vec::new();
        while !self.sink.is_stopped() {
            match turn(|| self.turn(&mut completions)) {
                Ok(true) => {}
                Ok(false) => break,
                Err(reason) => {
                    self.sink.failed("io_uring", &reason);
                    break;
                }
            }
        }
        self.shutdown();
    }

    /// One turn of the loop: wait (or poll), handle the completions, then
    /// the mailbox. False if the ring failed.
    fn turn(&mut self, completions: &mut Vec<Completion>) -> bool {
        let poll = self.idle_poll || self.bulk > 0;
        self.bulk = self.bulk.saturating_sub(1);
        if !(poll && self.spin()) {
            if let Err(error) = self.ring.wait() {
                tracing::error!(%error, "io_uring reactor stops: its links are lost");
                return false;
            }
        }
        self.ring.reap(completions);
        for completion in completions.drain(..) {
            if self.sink.is_stopped() {
                break;
            }
            self.complete(completion);
        }
        // The mailbox: what other threads posted (they rang the doorbell,
        // whose read completed), and what this thread posted to itself
        // meanwhile without ringing (a kicked step's sends, a kick from a
        // callback). Handling it may post more: drain until nothing is
        // left, so that nothing waits there while the ring sleeps.
        loop {
            self.mailbox.drain(&mut self.requests);
            if self.requests.is_empty() {
                break;
            }
            for request in std::mem::take(&mut self.requests) {
                self.request(request);
            }
        }
        true
    }

    /// Submits the batch, then polls the ring and the mailbox for a short
    /// while ([`idle`]): true as soon as a completion or a request is there,
    /// false if the reactor should sleep in [`Ring::wait`].
    fn spin(&mut self) -> bool {
        self.ring.submit();
        let (ring, mailbox) = (&mut self.ring, &self.mailbox);
        idle::spin(|| ring.ready() || mailbox.is_rung())
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
        if link.queue.is_empty() {
            return;
        }
        let gather = link.gather.get_or_insert_with(Gather::new);
        let count = gather.fill(link.queue.slices());
        link.queue.pin(count);
        let send = opcode::SendMsg::new(Fd(link.socket.as_raw_fd()), &gather.header)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(link_op(Tag::Send, link.id));
        link.sending = true;
        // SAFETY: the header and iovecs are the link's boxed `Gather`, and
        // the iovecs point into the queue's first `count` buffers, pinned:
        // none of them is moved, changed or dropped while `sending` is set,
        // and the link stays in `links` until the op completes.
        unsafe { self.ring.push(&send) };
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
            Request::Connect(id, addr) => self.connect(id, addr),
            Request::Send(id, parts) => {
                let slot = split(id).0;
                if let Some(link) = self.links.get_mut(&slot) {
                    if link.id == id && link.closing.is_none() {
                        parts.into_iter().for_each(|part| link.queue.push(part));
                        self.arm_send(slot);
                    }
                }
            }
            Request::Kick => self.sink.kicked(),
            Request::Close(id) => {
                let slot = split(id).0;
                if self.links.get(&slot).is_some_and(|link| link.id == id) {
                    self.begin_close(slot, None);
                    self.maybe_finish(slot);
                }
            }
        }
    }

    fn connect(&mut self, id: LinkId, addr: SocketAddr) {
        let socket = match Socket::new(Domain::for_address(addr), Type::STREAM, None) {
            Ok(socket) => TcpStream::from(socket),
            Err(error) => return self.sink.closed(id, Some(error)),
        };
        let _ = socket.set_nodelay(true);
        let mut link = Link::new(id, socket, addr);
        let target = link.target.insert(Box::new(SockAddr::from(addr)));
        let connect = opcode::Connect::new(
            Fd(link.socket.as_raw_fd()),
            target.as_ptr().cast(),
            target.len(),
        )
        .build()
        .user_data(link_op(Tag::Connect, id));
        self.links.insert(split(id).0, link);
        // SAFETY: the boxed address is kept in `link.target` until the
        // connect completes, and the link stays in `links` until then.
        unsafe { self.ring.push(&connect) };
    }

    fn complete(&mut self, completion: Completion) {
        let Some(op) = Op::decode(completion.user_data) else {
            return;
        };
        match op.tag {
            // The requests are taken at the end of this turn (`run`).
            Tag::Wake => self.arm_doorbell(),
            Tag::Accept => self.accepted(op.slot as usize, completion),
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
                    Tag::Connect => self.connected(op.slot, completion.result),
                    Tag::Recv => self.received(op.slot, completion),
                    _ => self.sent(op.slot, completion.result),
                }
                self.maybe_finish(op.slot);
            }
        }
    }

    fn accepted(&mut self, listener: usize, completion: Completion) {
        let more = cqueue::more(completion.flags);
        if completion.result >= 0 {
            // SAFETY: a successful accept returns a new descriptor that
            // nothing else owns.
            let socket = TcpStream::from(unsafe { OwnedFd::from_raw_fd(completion.result) });
            self.listeners[listener].backoff.reset();
            self.adopt(socket);
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

    fn adopt(&mut self, socket: TcpStream) {
        // A peer that already reset has no address: drop it unannounced.
        let Ok(peer) = socket.peer_addr() else {
            return;
        };
        let _ = socket.set_nodelay(true);
        let id = self.sink.links.open(self.index);
        let slot = split(id).0;
        self.links.insert(slot, Link::new(id, socket, peer));
        self.sink.connected(id, peer);
        self.arm_recv(slot);
    }

    fn connected(&mut self, slot: u32, result: i32) {
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
        self.sink.connected(id, peer);
        self.arm_recv(slot);
        self.arm_send(slot);
    }

    fn received(&mut self, slot: u32, completion: Completion) {
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
                    let data = match (bid, &link.recv_buffer) {
                        (Some(bid), _) => self.ring.buffer(bid, n as usize),
                        (None, Some(buffer)) => &buffer[..n as usize],
                        (None, None) => &[],
                    };
                    self.sink.received(link.id, data);
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
        self.sink.links.sent(link.id, n);
        link.queue.advance(n);
        self.arm_send(slot);
    }

    /// Starts closing `slot` (the first reason wins): drops its queue and
    /// cancels its ops; [`maybe_finish`](Self::maybe_finish) ends it.
    fn begin_close(&mut self, slot: u32, reason: Option<io::Error>) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.closing.is_some() {
            return;
        }
        link.closing = Some(reason);
        // Keep only the buffers the kernel is reading from.
        link.queue.truncate_to_pinned();
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
    fn maybe_finish(&mut self, slot: u32) {
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
            self.sink.closed(id, reason);
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
