//! Session transport backends: TCP links driven by io_uring (Linux), IOCP
//! (Windows) or epoll (the portable fallback), behind one interface.
//!
//! A backend owns its reactor thread(s) and every socket. The node above it
//! sees only [`LinkId`]s and three events ([`Events`]): a link came up,
//! bytes arrived on it (in order), it is gone. Sending is a queued,
//! in-order, never-blocking [`Backend::send`] (or
//! [`Backend::send_vectored`]: several buffers, written gathered);
//! [`Backend::close`] is abrupt (queued bytes are dropped: what a cancelled
//! verb's session needs).
//!
//! # Contract (every backend; `io/tests/backend_suite.rs` checks it)
//!
//! * Every link produces exactly one [`Events::connected`] (accepted, or an
//!   outgoing connect that succeeded) before any [`Events::received`], and
//!   exactly one [`Events::closed`] after which no event names it again. An
//!   outgoing connect that fails produces only `closed`, with the error.
//! * `received` delivers the stream's bytes in order, each byte once.
//! * `send` queues bytes for the link in call order; they are written in
//!   that order (`send_vectored`: its parts one after the other, with no
//!   other send's bytes between them). It fails with
//!   [`std::io::ErrorKind::NotConnected`] for a link that is closed or
//!   unknown, and with [`std::io::ErrorKind::WouldBlock`] when the link
//!   already has [`Config::max_queued_bytes`] queued (a peer that stopped
//!   reading): the caller decides (the node closes the link).
//! * `close` drops the link's queued bytes, closes the socket and leads to
//!   one `closed` (with no error). Closing twice, or an unknown link, is a
//!   no-op.
//! * Events for one link are delivered from one thread at a time, in order.
//!   Callbacks must not block; they may call back into the backend (through
//!   a `Weak`: an `Events` that owns an `Arc<dyn Backend>` is a cycle that
//!   keeps the backend alive).
//! * A [`LinkId`] is generation-tagged: a closed link's id is never reused
//!   for another link, so a stale id can only get `NotConnected`.
//! * [`Backend::kick`] (io_uring) gets the owner one [`Events::kicked`]
//!   on a reactor thread, after the event in hand if called from one;
//!   turns are never nested in other callbacks. The others return false.
//! * Dropping the last `Arc<dyn Backend>` stops the reactor threads and
//!   closes every socket; no event is delivered after the drop returns.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

#[cfg(any(target_os = "linux", windows))]
mod backoff;
#[cfg(windows)]
mod iocp;
// Shared by the Linux backends; portable (std only), so IOCP may use them
// too by widening the `cfg`.
#[cfg(target_os = "linux")]
mod idle;
#[cfg(target_os = "linux")]
mod links;
#[cfg(target_os = "linux")]
mod mailbox;
#[cfg(target_os = "linux")]
mod poll;
#[cfg(target_os = "linux")]
mod queue;
#[cfg(target_os = "linux")]
mod sink;
// Hands memory to the kernel, so `unsafe` is allowed here (see
// `uring/mod.rs`); `iocp.rs` allows it for itself.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod uring;

/// A link (one TCP connection), unique for the backend's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u64);

/// What a backend tells its user. Called on reactor threads.
pub trait Events: Send + Sync + 'static {
    /// A link is up: accepted on a listener, or an outgoing connect
    /// completed. `peer` is the remote address.
    fn connected(&self, link: LinkId, peer: SocketAddr);
    /// Bytes arrived on `link`, in stream order.
    fn received(&self, link: LinkId, data: &[u8]);
    /// `link` is gone: the peer closed it (`None`), an error ended it, or
    /// [`Backend::close`] was called (`None`). Its last event.
    fn closed(&self, link: LinkId, error: Option<io::Error>);
    /// The turn on a reactor thread that [`Backend::kick`] asked for: one
    /// call per kick that returned true, unless the backend stops first.
    /// Like every callback it must not block.
    fn kicked(&self) {}
    /// A reactor thread stopped on a panic (a bug in the backend): the
    /// links it carried are lost, and no event comes for them any more.
    /// Reported once per reactor, then the thread ends; the owner should
    /// treat the backend as failed (the node fails itself).
    fn failed(&self, reason: &str) {
        let _ = reason;
    }
}

/// Limits and tuning; the defaults are safe for an untrusted peer.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bytes a link may have queued for sending before `send` refuses.
    pub max_queued_bytes: usize,
    /// Reactor threads (io_uring: one ring each; 0 = one per core).
    pub threads: usize,
    /// io_uring: a reactor out of work polls its ring and mailbox for some
    /// tens of microseconds before it sleeps. On 2 vCPUs that makes one
    /// session's round trip about 3x faster (64 B), and costs 256 sessions
    /// about a tenth of their requests/s (a reactor that sleeps lets work
    /// batch up while the TPs run); off by default, for the many-session
    /// gateway. Without it a reactor still polls for a few turns after a
    /// send or receive of 16 KiB or more (bulk transfer, where that cost
    /// does not arise). The epoll reactor always polls first (there it also
    /// merges callers' writes, a win in every case measured). Figures:
    /// `idle.rs`.
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
    /// Listens on `addr` (port 0 picks one); returns the bound address.
    /// Accepted links are announced through [`Events::connected`].
    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr>;
    /// Starts connecting to `addr`; the link is announced through
    /// [`Events::connected`], or reported [`Events::closed`] with the error.
    fn connect(&self, addr: SocketAddr) -> io::Result<LinkId>;
    /// Queues `parts` for `link`, one after the other and as one send:
    /// admitted or refused whole (see the module docs for the errors), and
    /// never interleaved with another send's bytes. The parts are written
    /// gathered (`sendmsg`, `WSASend`), so a large part reaches the socket
    /// without being copied into a bigger buffer.
    fn send_vectored(&self, link: LinkId, parts: Vec<Vec<u8>>) -> io::Result<()>;
    /// Queues `bytes` for `link`: [`send_vectored`](Self::send_vectored)
    /// with one part.
    fn send(&self, link: LinkId, bytes: Vec<u8>) -> io::Result<()> {
        self.send_vectored(link, vec![bytes])
    }
    /// Closes `link` abruptly: queued bytes are dropped.
    fn close(&self, link: LinkId);
    /// Bytes queued for `link` and not yet written (0 for a link closed
    /// or unknown): what its peer makes the backend hold.
    fn queued(&self, link: LinkId) -> usize;
    /// Accepts that failed, over the backend's life (for monitoring: out
    /// of descriptors, the count grows by a few a second, not by a
    /// spinning reactor's millions; see `backoff.rs`).
    fn accept_errors(&self) -> u64;
    /// Stops the backend: closes every link and listener and waits for the
    /// reactor threads to end (all but the caller's, when called from a
    /// callback), so no event is delivered after it returns. Idempotent;
    /// dropping the backend does it. For an owner whose callbacks may hold
    /// a reference to the backend: its teardown is then still synchronous.
    fn shutdown(&self);
    /// Has a reactor thread call [`Events::kicked`] soon, for work its
    /// owner wants done there (a node runs its driver's queued steps);
    /// false if this backend does not (epoll and IOCP: the caller then
    /// does the work itself). From a reactor thread the turn comes after
    /// the event being handled, never inside the call.
    fn kick(&self) -> bool {
        false
    }
}

/// The environment variable that overrides [`Kind::Auto`] on Linux:
/// `poll` (or `epoll`) forces the epoll backend, `uring` (or `io_uring`)
/// forces io_uring with no fallback. Use `poll` where io_uring is known to be
/// blocked (seccomp in containers), or to test the fallback.
pub const BACKEND_ENV: &str = "APPC_IO_BACKEND";

/// Starts a backend of `kind` delivering to `events`.
///
/// [`Kind::Auto`] on Linux tries io_uring and falls back to epoll when the
/// ring cannot be set up, saying so (a `tracing` warning) (see also [`BACKEND_ENV`]); on
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
