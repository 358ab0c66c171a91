//! One IOCP reactor thread: its handler, links ([`link`](super::link))
//! and listeners ([`accept`](super::accept)), and its loop.
//!
//! A turn: dequeue packets (waiting, if the handler let the reactor sleep,
//! until the handler's deadline or a paused listener's retry), run what
//! they mean through the handler, then the listeners' retries, the
//! mailbox, the handler's own turn, and after every callback what the
//! handler asked for meanwhile ([`Effects`]: sends, closes, connects).
//!
//! Once the backend stops (or a callback panics), the handler is dropped,
//! every operation is cancelled, and the reactor waits a while for their
//! packets before it closes the sockets (`shutdown`).

use rustc_hash::FxHashMap;
use std::mem;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use windows_sys::Win32::System::Threading::INFINITE;
use windows_sys::Win32::System::IO::{OVERLAPPED, OVERLAPPED_ENTRY};

use super::accept::Listener;
use super::link::{Link, LinkIo, Which};
use super::sys::{self, ConnectEx, Wsa};
use super::{Doorbell, Key, Request};
use crate::backend::effects::Effects;
use crate::backend::links::split;
use crate::backend::mailbox::Mailbox;
use crate::backend::sink::{turn, Sink};
use crate::backend::{Handler, Waker};

/// Packets dequeued per wait.
const BATCH: usize = 128;
/// How long a stopping reactor waits for its cancelled operations.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// See the module docs.
pub(super) struct Reactor {
    pub(super) index: usize,
    pub(super) sink: Arc<Sink>,
    pub(super) doorbell: Arc<Doorbell>,
    mailbox: Arc<Mailbox<Request>>,
    max_queued: usize,
    pub(super) listeners: Vec<Listener>,
    /// Keyed by slot index (the link's completion key).
    pub(super) links: FxHashMap<u32, Link>,
    effects: Effects,
    requests: Vec<Request>,
    pub(super) connectex: Option<ConnectEx>,
    /// The packets of the last wait, and the next one to handle: those
    /// left when a callback panicked are settled by `shutdown`.
    batch: Box<[OVERLAPPED_ENTRY]>,
    batch_len: usize,
    batch_next: usize,
    /// Last: Winsock is cleaned up after the sockets are closed.
    _wsa: Arc<Wsa>,
}

impl Reactor {
    pub(super) fn new(
        index: usize,
        sink: Arc<Sink>,
        doorbell: Arc<Doorbell>,
        mailbox: Arc<Mailbox<Request>>,
        max_queued: usize,
        wsa: Arc<Wsa>,
    ) -> Self {
        Self {
            index,
            sink,
            doorbell,
            mailbox,
            max_queued,
            listeners: Vec::new(),
            links: FxHashMap::default(),
            effects: Effects::default(),
            requests: Vec::new(),
            connectex: None,
            batch: vec![OVERLAPPED_ENTRY::default(); BATCH].into_boxed_slice(),
            batch_len: 0,
            batch_next: 0,
            _wsa: wsa,
        }
    }

    /// The reactor loop: makes the handler (then tells `started`), turns
    /// until the backend stops or a callback panics, then shuts down.
    pub(super) fn run(mut self, started: SyncSender<()>) {
        let doorbell = Arc::clone(&self.doorbell);
        let waker = Waker::new(move || doorbell.ring());
        let mut handler = self.sink.handler(self.index, waker);
        let _ = started.send(());
        while !self.sink.is_stopped() {
            match turn(|| self.turn(&mut *handler)) {
                Ok(true) => {}
                Ok(false) => break,
                Err(reason) => {
                    self.sink.failed("iocp", &reason);
                    drop(handler);
                    return self.shutdown();
                }
            }
        }
        drop(handler);
        self.shutdown();
    }

    pub(super) fn io(&mut self) -> LinkIo<'_> {
        LinkIo {
            index: self.index,
            links: &mut self.links,
            effects: &mut self.effects,
            sink: &self.sink,
            doorbell: &self.doorbell,
            connectex: &mut self.connectex,
            max_queued: self.max_queued,
        }
    }

    /// One turn of the loop. False if the port failed.
    fn turn(&mut self, handler: &mut dyn Handler) -> bool {
        let timeout = if handler.busy() || !handler.sleep() {
            0
        } else {
            self.timeout(handler.deadline())
        };
        match self.doorbell.port.wait(&mut self.batch, timeout) {
            Ok(n) => (self.batch_len, self.batch_next) = (n, 0),
            Err(error) => {
                tracing::error!(%error, "IOCP reactor stops: its links are lost");
                return false;
            }
        }
        while self.batch_next < self.batch_len {
            let entry = self.batch[self.batch_next];
            self.batch_next += 1;
            self.complete(handler, entry.lpCompletionKey, entry.lpOverlapped);
        }
        if self.sink.is_stopped() {
            return true;
        }
        self.retry_accepts();
        if self.mailbox.is_rung() {
            self.mailbox.drain(&mut self.requests);
            for request in mem::take(&mut self.requests) {
                self.request(request);
            }
        }
        handler.turn(&mut self.io());
        self.effects(handler);
        true
    }

    /// The wait's limit in milliseconds (rounded up, so that a wait never
    /// ends before its time): the earliest of the handler's deadline and
    /// the paused listeners' retries.
    fn timeout(&self, deadline: Option<Instant>) -> u32 {
        let Some(at) = self
            .listeners
            .iter()
            .filter_map(|l| l.retry)
            .chain(deadline)
            .min()
        else {
            return INFINITE;
        };
        let wait = at.saturating_duration_since(Instant::now());
        let ms = wait.as_nanos().div_ceil(1_000_000);
        u32::try_from(ms).unwrap_or(INFINITE - 1).min(INFINITE - 1)
    }

    fn request(&mut self, request: Request) {
        match request {
            Request::Listen {
                number,
                sock,
                family,
            } => self.listen(number, sock, family),
        }
    }

    /// Handles one packet. Once the backend is stopping, the packet's
    /// operation is only marked done (no callback).
    fn complete(&mut self, handler: &mut dyn Handler, key: usize, ov: *mut OVERLAPPED) {
        match Key::decode(key) {
            Key::Wake => self.doorbell.answered(),
            Key::Listener(number) => self.accepted(handler, number, ov),
            Key::Link(slot) => {
                let Some(link) = self.links.get_mut(&slot) else {
                    return unexpected("a packet for an unknown link");
                };
                let Some(which) = link.completed(ov) else {
                    return unexpected("a foreign OVERLAPPED for a link");
                };
                let result = sys::overlapped_result(&link.sock, ov);
                if link.closing.is_some() || self.sink.is_stopped() {
                    return self.maybe_finish(handler, slot);
                }
                match which {
                    Which::Conn => self.connected(handler, slot, result),
                    Which::Recv => self.received(handler, slot, result),
                    Which::Send => self.sent(slot, result),
                }
                self.effects(handler);
                self.maybe_finish(handler, slot);
            }
        }
    }

    /// Acts on what the handler asked for (which may make it ask for
    /// more: a close reported asks for nothing, but it may).
    pub(super) fn effects(&mut self, handler: &mut dyn Handler) {
        loop {
            let mut effects = mem::take(&mut self.effects);
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
                self.post_connect(slot);
                self.maybe_finish(handler, slot);
            }
            for slot in dirty.drain(..) {
                if let Some(link) = self.links.get_mut(&slot) {
                    link.dirty = false;
                }
                self.arm_send(slot);
                self.maybe_finish(handler, slot);
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

    /// Whether any operation is still in flight.
    fn pending(&self) -> bool {
        self.links.values().any(Link::pending) || self.listeners.iter().any(Listener::pending)
    }

    /// Marks the operation of a packet dequeued after the handler is gone
    /// as done.
    fn settle(&mut self, key: usize, ov: *mut OVERLAPPED) {
        match Key::decode(key) {
            Key::Wake => {}
            Key::Listener(number) => self.settle_accept(number, ov),
            Key::Link(slot) => {
                if let Some(link) = self.links.get_mut(&slot) {
                    link.completed(ov);
                }
            }
        }
    }

    /// Cancels everything, waits for the cancellations, then closes the
    /// sockets. Memory an operation might still touch is leaked, never
    /// freed, if the kernel does not finish within [`SHUTDOWN_GRACE`].
    fn shutdown(mut self) {
        // The rest of a batch a panic cut short.
        while self.batch_next < self.batch_len {
            let entry = self.batch[self.batch_next];
            self.batch_next += 1;
            self.settle(entry.lpCompletionKey, entry.lpOverlapped);
        }
        for link in self.links.values().filter(|link| link.pending()) {
            sys::cancel(&link.sock);
        }
        for listener in self.listeners.iter().filter(|l| l.pending()) {
            sys::cancel(&listener.sock);
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let mut batch = mem::take(&mut self.batch);
        while self.pending() && Instant::now() < deadline {
            let n = match self.doorbell.port.wait(&mut batch, 50) {
                Ok(n) => n,
                Err(error) => {
                    tracing::warn!(%error, "IOCP: a stopping reactor cannot wait");
                    break;
                }
            };
            for entry in &batch[..n] {
                self.settle(entry.lpCompletionKey, entry.lpOverlapped);
            }
        }
        if self.pending() {
            tracing::warn!("IOCP reactor stopped with operations in flight; leaking their memory");
        }
        // Dropping `self` closes every socket.
    }
}

/// A packet that names no operation in flight: a bug (a link or listener
/// leaves only once its packets are in), so it is ignored and logged.
pub(super) fn unexpected(what: &str) {
    debug_assert!(false, "{what}");
    tracing::error!(what, "IOCP: a packet no operation waits for");
}
