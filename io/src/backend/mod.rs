//! Session transport backends: TCP links driven by io_uring (Linux), IOCP
//! (Windows) or epoll (the portable fallback), behind one interface.
//!
//! A backend runs reactor threads ([`Config::threads`]) and owns every
//! socket. Each reactor runs a [`Handler`] of the user's, made on that
//! thread ([`Events::reactor`]) and called only there, so a handler owns
//! its links' state outright, with no lock: the bytes that arrive on its
//! links ([`Handler::received`]), and the links coming and going. It sends
//! by appending to a link's output buffer ([`Io::output`]), which the
//! reactor writes after the callback, one write per link per turn; the
//! buffers are kept and reused, so a steady stream allocates nothing.
//! Other threads reach a handler only through what the handler itself
//! offers them (the node's inbox) and the reactor's [`Waker`].
//!
//! # Contract (every backend; `io/tests/backend_suite.rs` checks it)
//!
//! * Every link produces exactly one [`Handler::connected`] (accepted, or
//!   an outgoing connect that succeeded) before any
//!   [`Handler::received`], and exactly one [`Handler::closed`] after
//!   which no callback names it again. An outgoing connect that fails
//!   produces only `closed`, with the error. All of a link's callbacks run
//!   on the reactor whose handler opened or accepted it.
//! * `received` delivers the stream's bytes in order, each byte once.
//! * Bytes appended to [`Io::output`] are written in append order, after
//!   the callback returns. `output` is `None` for a link that is closed,
//!   closing or unknown. A link that already has
//!   [`Config::max_queued_bytes`] unwritten when its output is asked for
//!   has a peer that stopped reading: the reactor closes it, and reports it
//!   closed with an error of kind [`std::io::ErrorKind::WouldBlock`].
//! * [`Io::close`] drops the link's unwritten bytes, closes the socket and
//!   leads to one `closed` (with no error), after the callback returns.
//!   Closing twice, or an unknown link, is a no-op.
//! * [`Handler::turn`] runs once per reactor turn, after the turn's
//!   events; a reactor sleeps only once [`Handler::sleep`] said it may,
//!   and wakes for its sockets, its [`Waker`], or the handler's
//!   [`Handler::deadline`].
//! * A [`LinkId`] is generation-tagged: a closed link's id is never reused
//!   for another link, so a stale id can only get `NotConnected`.
//! * [`Backend::shutdown`] (or dropping the backend) stops the reactor
//!   threads and closes every socket; each handler is dropped on its
//!   thread, and no callback runs after it returns.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

// Shared by every backend (portable: std only).
#[cfg(any(target_os = "linux", windows))]
mod backoff;
#[cfg(any(target_os = "linux", windows))]
mod effects;
#[cfg(any(target_os = "linux", windows))]
mod links;
#[cfg(any(target_os = "linux", windows))]
mod mailbox;
#[cfg(any(target_os = "linux", windows))]
mod output;
#[cfg(any(target_os = "linux", windows))]
mod sink;

#[cfg(target_os = "linux")]
mod idle;
#[cfg(target_os = "linux")]
mod poll;

// Hand memory to the kernel, so `unsafe` is allowed here (see
// `iocp/op.rs` and `uring/mod.rs`).
#[cfg(windows)]
#[allow(unsafe_code)]
mod iocp;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod uring;

/// A link (one TCP connection), unique for the backend's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// What a backend asks of its user: a handler for each reactor.
pub trait Events: Send + Sync + 'static {
    /// The handler reactor `index` runs, made on that reactor's thread
    /// before its first turn. `waker` wakes that reactor from any thread
    /// (for work the handler takes from other threads).
    fn reactor(&self, index: usize, waker: Waker) -> Box<dyn Handler>;

    /// A reactor thread stopped on a panic (a bug in the backend or the
    /// handler): the links it carried are lost, and no callback comes for
    /// them any more. Reported once per reactor, from that thread, before
    /// its handler is dropped (no callback reaches the handler in between),
    /// so that the handler's drop knows why it goes; the owner should
    /// treat the backend as failed.
    fn failed(&self, reason: &str) {
        let _ = reason;
    }
}

/// What one reactor thread runs. Every callback runs on that thread and
/// must not block; `io` acts on the reactor's links.
pub trait Handler {
    /// A link is up: accepted on a listener, or an outgoing connect
    /// completed. `peer` is the remote address.
    fn connected(&mut self, io: &mut dyn Io, link: LinkId, peer: SocketAddr);
    /// Bytes arrived on `link`, in stream order.
    fn received(&mut self, io: &mut dyn Io, link: LinkId, data: &[u8]);
    /// `link` is gone: the peer closed it (`None`), an error ended it, or
    /// [`Io::close`] was called (`None`). Its last callback.
    fn closed(&mut self, io: &mut dyn Io, link: LinkId, error: Option<io::Error>);
    /// The reactor's turn, after its events: work from other threads,
    /// timers.
    fn turn(&mut self, io: &mut dyn Io);
    /// Whether work is waiting for the next turn: a reactor that polls
    /// before it sleeps looks at this (a hint; no synchronisation).
    fn busy(&self) -> bool;
    /// The reactor has nothing to do: true if it may sleep now (the
    /// handler then wakes it through its [`Waker`] when work comes), false
    /// if work came meanwhile (it takes another turn).
    fn sleep(&mut self) -> bool;
    /// When the reactor must turn at the latest, for the handler's timers.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Whether the handler runs tasks on the reactor's thread (TPs written
    /// as futures): their replies come over the links, with no other
    /// thread's work to gather into a batch, so the reactor polls before it
    /// sleeps as with [`Config::idle_poll`] (io_uring; epoll always polls).
    fn runs_tasks(&self) -> bool {
        false
    }
}

/// A reactor's links, as its handler acts on them (within a callback).
pub trait Io {
    /// `link`'s output buffer: bytes appended to it are written after the
    /// callback, in order. `None` for a link that is gone or closing,
    /// or whose peer stopped reading (see the module docs).
    fn output(&mut self, link: LinkId) -> Option<&mut Vec<u8>>;
    /// Bytes appended to `link`'s output and not yet written (0 for a link
    /// closed or unknown): what its peer makes the reactor hold.
    fn queued(&self, link: LinkId) -> usize;
    /// Starts connecting to `addr` from this reactor; the link is announced
    /// through [`Handler::connected`], or [`Handler::closed`] with the
    /// error.
    fn connect(&mut self, addr: SocketAddr) -> io::Result<LinkId>;
    /// Closes `link` abruptly: unwritten bytes are dropped.
    fn close(&mut self, link: LinkId);
}

/// Wakes one reactor from any thread (its handler then takes a turn).
#[derive(Clone)]
pub struct Waker(Arc<dyn Fn() + Send + Sync>);

impl Waker {
    pub(crate) fn new(wake: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(wake))
    }

    /// Wakes the reactor (a system call: an eventfd write, a completion
    /// packet). Cheap to call when it is awake, but not free.
    pub fn wake(&self) {
        (self.0)();
    }
}

impl std::fmt::Debug for Waker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Waker")
    }
}

/// Limits and tuning; the defaults are safe for an untrusted peer.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bytes a link may have queued for sending before `send` refuses.
    pub max_queued_bytes: usize,
    /// Reactor threads (io_uring: one ring each; 0 = one per core).
    pub threads: usize,
    /// io_uring: a reactor out of work polls its ring and mailbox for about
    /// 50 µs before it sleeps. That shortens one session's round trip and
    /// costs many sessions whose TPs are threads some throughput (a reactor
    /// that sleeps lets their work batch up while they run); off by
    /// default, for that gateway. A reactor polls anyway while tasks run on
    /// it ([`Handler::runs_tasks`]: no other thread's work to batch), and
    /// for a few turns after a send or receive of 16 KiB or more (bulk
    /// transfer). The epoll reactor always polls first (there it also
    /// merges callers' writes). Why, and the figures: `idle.rs`,
    /// `docs/design.md#reactors-poll-before-they-sleep`.
    pub idle_poll: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_queued_bytes: 4 << 20,
            threads: 1,
            idle_poll: false,
        }
    }
}

/// Which backend to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// io_uring where it can be set up, else epoll (logged); IOCP on Windows.
    Auto,
    /// Linux io_uring.
    Uring,
    /// epoll (via mio); also the fallback.
    Poll,
    /// Windows I/O completion ports.
    Iocp,
}

/// A running backend.
pub trait Backend: Send + Sync {
    /// The backend's name ("io_uring", "io_uring (idle poll)", "epoll",
    /// "iocp").
    fn name(&self) -> &'static str;
    /// The number of reactors (handlers).
    fn reactors(&self) -> usize;
    /// Listens on `addr` (port 0 picks one); returns the bound address.
    /// Accepted links go to one reactor's handler (listeners are dealt
    /// round-robin).
    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr>;
    /// Accepts that failed, over the backend's life (for monitoring: out
    /// of descriptors, the count grows by a few a second, not by a
    /// spinning reactor's millions).
    fn accept_errors(&self) -> u64;
    /// Stops the backend: closes every link and listener and waits for the
    /// reactor threads to end (all but the caller's, when called from a
    /// callback), so no callback runs after it returns. Idempotent;
    /// dropping the backend does it.
    fn shutdown(&self);
}

/// The environment variable that overrides [`Kind::Auto`] on Linux:
/// `poll` (or `epoll`) forces the epoll backend, `uring` (or `io_uring`)
/// forces io_uring with no fallback. Use `poll` where io_uring is known to be
/// blocked (seccomp in containers), or to test the fallback.
pub const BACKEND_ENV: &str = "APPC_IO_BACKEND";

/// Starts a backend of `kind` delivering to `events`.
///
/// [`Kind::Auto`] on Linux tries io_uring and falls back to epoll when the
/// ring cannot be set up, saying so (a `tracing` warning; see also [`BACKEND_ENV`]); on
/// Windows it is IOCP. A kind the platform lacks fails with
/// [`io::ErrorKind::Unsupported`].
pub fn start(kind: Kind, events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    match kind {
        Kind::Auto => start_auto(events, config),
        #[cfg(target_os = "linux")]
        Kind::Uring => uring::start(events, config),
        #[cfg(target_os = "linux")]
        Kind::Poll => poll::start(events, config),
        #[cfg(windows)]
        Kind::Iocp => iocp::start(events, config),
        _ => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("the {kind:?} backend does not exist on this platform"),
        )),
    }
}

#[cfg(target_os = "linux")]
fn start_auto(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    match std::env::var(BACKEND_ENV).as_deref() {
        Ok("poll" | "epoll") => return poll::start(events, config),
        Ok("uring" | "io_uring") => return uring::start(events, config),
        _ => {}
    }
    match uring::start(Arc::clone(&events), config.clone()) {
        Ok(backend) => Ok(backend),
        Err(error) => {
            tracing::warn!(%error, "io_uring unavailable; falling back to epoll");
            poll::start(events, config)
        }
    }
}

#[cfg(windows)]
fn start_auto(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    iocp::start(events, config)
}

#[cfg(not(any(target_os = "linux", windows)))]
fn start_auto(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    let _ = (events, config);
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no backend for this platform",
    ))
}
