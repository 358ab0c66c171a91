//! The Windows backend: I/O completion ports.
//!
//! # Threads
//!
//! [`Config::threads`] reactors (0: one per core), each a thread with its
//! own completion port, handler, listeners and links ([`reactor`]),
//! blocked in `GetQueuedCompletionStatusEx` when it sleeps. A link stays
//! on the reactor that accepted or connected it: its socket is associated
//! with that reactor's port, so only that thread issues its I/O and runs
//! its callbacks, with no lock. Listeners are dealt round-robin
//! ([`accept`]).
//!
//! # Waking
//!
//! Other threads reach a reactor through its [`Doorbell`]: a packet posted
//! to its port (`PostQueuedCompletionStatus`, key [`Key::Wake`]), at most
//! one queued at a time (a flag the reactor clears when it dequeues it, so
//! a wake-up after that posts again). The handler's
//! [`Waker`](crate::backend::Waker) rings it, and so do `listen` (whose
//! request waits in the reactor's [`Mailbox`]) and `shutdown`. A reactor
//! whose handler let it sleep waits until the handler's
//! [`deadline`](crate::backend::Handler::deadline) or a paused listener's
//! retry, whichever comes first (the wait's timeout, rounded up to a
//! millisecond); otherwise it only looks for packets already there. It
//! does not poll before it sleeps ([`Config::idle_poll`] is io_uring's):
//! that trade was measured on Linux only, and Wine's timings say nothing
//! of Windows'.
//!
//! # Completion keys
//!
//! A socket's key says what it is ([`Key`]): a link's is its slot in the
//! backend's id table (a slot is not reused while its link has an
//! operation in flight: a link leaves the table only once every packet of
//! its is in), a listener's a number counted down from the top, and the
//! wake-up packets carry the largest. The `OVERLAPPED` pointer tells which
//! of the socket's operations completed ([`op`]).
//!
//! # Shutdown and panics
//!
//! Stopping (or a callback's panic, reported through [`Events::failed`])
//! drops the handler on its thread, then cancels every operation, waits a
//! while for their packets, and closes the sockets; memory the kernel might
//! still use after that wait is leaked, never freed.

mod accept;
mod link;
mod op;
mod reactor;
mod sys;

use std::io;
use std::net::SocketAddr;
use std::os::windows::io::OwnedSocket;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use super::mailbox::Mailbox;
use super::sink::{join_reactors, Sink};
use super::{Backend, Config, Events};
use reactor::Reactor;
use sys::{Port, Wsa};

// Link slots are `u32`s below every listener's and the wake-up's key.
const _: () = assert!(
    usize::BITS == 64,
    "IOCP completion keys need a 64-bit usize"
);

/// What a packet's completion key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    /// A [`Doorbell`] ring.
    Wake,
    /// A listener, by its number (the backend counts them).
    Listener(usize),
    /// A link, by its slot.
    Link(u32),
}

impl Key {
    /// Listener keys count down from below [`Key::Wake`]'s; link keys are
    /// slots, far below both.
    fn encode(self) -> usize {
        match self {
            Key::Wake => usize::MAX,
            Key::Listener(n) => usize::MAX - 1 - n,
            Key::Link(slot) => slot as usize,
        }
    }

    fn decode(key: usize) -> Self {
        match key {
            usize::MAX => Key::Wake,
            key if key > u32::MAX as usize => Key::Listener(usize::MAX - 1 - key),
            slot => Key::Link(slot as u32),
        }
    }
}

/// A request from a caller thread to a reactor.
#[derive(Debug)]
enum Request {
    /// A listening socket, associated with the reactor's port under
    /// listener `number`'s key.
    Listen {
        number: usize,
        sock: OwnedSocket,
        family: socket2::Domain,
    },
}

/// A reactor's port, and the flag that keeps one wake-up packet queued at
/// most (see the module docs).
#[derive(Debug)]
struct Doorbell {
    port: Port,
    rung: AtomicBool,
}

impl Doorbell {
    /// Wakes the reactor (from any thread).
    fn ring(&self) {
        // The swap orders what the ringer did before it (pushed work)
        // before the reactor's `answered`, which sees the packet.
        if !self.rung.swap(true, Ordering::AcqRel) {
            if let Err(error) = self.port.post(Key::Wake.encode()) {
                // Out of memory: the next ring tries again.
                self.rung.store(false, Ordering::Release);
                tracing::error!(%error, "IOCP: a reactor cannot be woken");
            }
        }
    }

    /// The reactor dequeued the wake-up packet: a ring from now on posts
    /// another. (It looks for work after this, so none is missed.)
    fn answered(&self) {
        self.rung.swap(false, Ordering::AcqRel);
    }
}

/// A caller's way to one reactor.
#[derive(Debug)]
struct Shard {
    doorbell: Arc<Doorbell>,
    mailbox: Arc<Mailbox<Request>>,
}

/// The handle returned by [`start`].
#[derive(Debug)]
struct IocpBackend {
    sink: Arc<Sink>,
    shards: Vec<Shard>,
    /// The next listener's number (its key, and its reactor).
    next: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Last: Winsock is cleaned up after the reactors' sockets are closed.
    wsa: Arc<Wsa>,
}

/// Starts the IOCP reactors; each has made its handler when this returns.
pub(super) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    let wsa = Arc::new(Wsa::start()?);
    let count = match config.threads {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let mut shards = Vec::with_capacity(count);
    for _ in 0..count {
        shards.push(Shard {
            doorbell: Arc::new(Doorbell {
                port: Port::new()?,
                rung: AtomicBool::new(false),
            }),
            mailbox: Arc::new(Mailbox::new()),
        });
    }
    let mut backend = IocpBackend {
        sink: Arc::new(Sink::new(events)),
        shards,
        next: AtomicUsize::new(0),
        threads: Mutex::new(Vec::with_capacity(count)),
        wsa,
    };
    for index in 0..count {
        let shard = &backend.shards[index];
        let (sink, doorbell, mailbox, wsa) = (
            Arc::clone(&backend.sink),
            Arc::clone(&shard.doorbell),
            Arc::clone(&shard.mailbox),
            Arc::clone(&backend.wsa),
        );
        let max_queued = config.max_queued_bytes;
        let (started_tx, started) = mpsc::sync_channel(1);
        // On failure, dropping `backend` stops the reactors already started.
        let thread = thread::Builder::new()
            .name(format!("appc-iocp-{index}"))
            .spawn(move || {
                Reactor::new(index, sink, doorbell, mailbox, max_queued, wsa).run(started_tx);
            })?;
        backend
            .threads
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .push(thread);
        started
            .recv()
            .map_err(|_| io::Error::other("an IOCP reactor thread died at start"))?;
    }
    Ok(Arc::new(backend))
}

impl Backend for IocpBackend {
    fn name(&self) -> &'static str {
        "iocp"
    }

    fn reactors(&self) -> usize {
        self.shards.len()
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let (sock, local) = sys::listener(&addr)?;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let shard = &self.shards[n % self.shards.len()];
        shard
            .doorbell
            .port
            .associate(&sock, Key::Listener(n).encode())?;
        let family = sys::family(&addr);
        if shard.mailbox.post(Request::Listen {
            number: n,
            sock,
            family,
        }) {
            shard.doorbell.ring();
        }
        Ok(local)
    }

    fn accept_errors(&self) -> u64 {
        self.sink.accept_errors.load(Ordering::Relaxed)
    }

    fn shutdown(&self) {
        self.sink.stop();
        for shard in &self.shards {
            shard.doorbell.ring();
        }
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        join_reactors(threads);
    }
}

impl Drop for IocpBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::Key;

    #[test]
    fn keys_round_trip_and_never_collide() {
        for key in [
            Key::Wake,
            Key::Listener(0),
            Key::Listener(7),
            Key::Link(0),
            Key::Link(u32::MAX),
        ] {
            assert_eq!(Key::decode(key.encode()), key);
        }
    }
}
