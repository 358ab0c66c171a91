//! The io_uring backend: completion-based socket I/O with multishot accept,
//! multishot receive into a provided buffer ring, and batched submission.
//!
//! [`Config::threads`] reactors (0: one per core), each a thread with its
//! own ring ([`ring`]), listeners and links ([`reactor`]). A link stays on
//! the reactor that accepted or connected it; listeners and outgoing
//! connects are dealt round-robin. Caller threads reach a reactor through
//! its [`Mailbox`] and ring its doorbell, an eventfd that the reactor keeps
//! a `Read` op on, so a wake-up is just another completion. `user_data`
//! layout: [`op`].
//!
//! Sends are plain `IORING_OP_SEND` with `MSG_NOSIGNAL` (not `SEND_ZC`: a
//! node's sends are small RUs, where zero-copy's page pinning and second
//! notification completion cost more than the copy). Before that, `send`
//! tries the socket itself: a link's socket and send queue are shared
//! ([`Conn`], the queue behind its own mutex), and a `send` on a connected
//! link with nothing queued or in flight, while its reactor sleeps, writes
//! at once on the caller's thread (`send(2)` with `MSG_DONTWAIT`), so a
//! request/response costs no wake-up of the reactor. (A reactor that is
//! awake takes the bytes with its next batch instead, coalesced with what
//! else is queued by then, for no extra syscall.) Only what the socket does not take is queued,
//! and the reactor asked to send it; while anything is queued or in flight
//! `send` appends, so order is kept.
//!
//! This is the only module of the crate with `unsafe`: an op hands the
//! kernel raw pointers that must stay valid until its final completion,
//! which the reactors guarantee by keeping every buffer in the link (or the
//! reactor) that issued the op until then, and by leaking rather than
//! freeing whatever a shutdown could not wait out.

mod buffers;
mod op;
mod reactor;
mod ring;

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use socket2::{Domain, SockRef, Socket, Type};
use std::thread::{self, JoinHandle};

use super::links::{split, Links};
use super::mailbox::Mailbox;
use super::sink::{join_reactors, Sink};
use super::{Backend, Config, Events, LinkId};
use reactor::Reactor;
use ring::Ring;

/// A request from a caller thread to a reactor.
#[derive(Debug)]
enum Request {
    Listen(TcpListener),
    /// Connect a link whose socket (unconnected) is shared already.
    Connect(Arc<Conn>, SocketAddr),
    /// A connect that failed at once: report it.
    Failed(LinkId, io::Error),
    /// A caller queued bytes: send them.
    Flush(LinkId),
    Close(LinkId),
}

/// A link's socket and send queue, shared by its reactor and `send`.
#[derive(Debug)]
struct Conn {
    id: LinkId,
    socket: TcpStream,
    out: Mutex<Out>,
}

#[derive(Debug, Default)]
struct Out {
    queue: VecDeque<Vec<u8>>,
    /// Bytes of `queue.front()` already sent.
    head: usize,
    /// A `Send` op is in flight: the front of `queue` is the kernel's.
    sending: bool,
    /// Connected, and not closing: `send` may write itself.
    ready: bool,
    /// Closing: bytes sent now are dropped.
    closing: bool,
}

impl Conn {
    fn new(id: LinkId, socket: TcpStream, ready: bool) -> Self {
        Self {
            id,
            socket,
            out: Mutex::new(Out {
                ready,
                ..Out::default()
            }),
        }
    }

    fn out(&self) -> MutexGuard<'_, Out> {
        // Consistent after every statement.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `bytes` for the link: written at once if `direct` and nothing is
    /// queued or in flight, as far as the socket takes them without
    /// blocking; the rest is queued. True if the reactor must be asked to
    /// send.
    fn send(&self, bytes: Vec<u8>, links: &Links, direct: bool) -> bool {
        let mut out = self.out();
        if out.closing {
            return false;
        }
        let mut written = 0;
        if direct && out.ready && !out.sending && out.queue.is_empty() {
            let socket = SockRef::from(&self.socket);
            while written < bytes.len() {
                let flags = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
                match socket.send_with_flags(&bytes[written..], flags) {
                    Ok(n) => written += n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    // Full, or failed: the reactor's send finds out which.
                    Err(_) => break,
                }
            }
            links.sent(self.id, written);
            if written == bytes.len() {
                return false;
            }
        }
        out.queue.push_back(bytes);
        if written > 0 {
            out.head = written;
        }
        // In flight, or not connected yet: the reactor goes on by itself.
        out.ready && !out.sending
    }
}

/// The links' [`Conn`]s by slot index, for `send`.
type Conns = Mutex<HashMap<u32, Arc<Conn>>>;

fn conns(conns: &Conns) -> MutexGuard<'_, HashMap<u32, Arc<Conn>>> {
    conns.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A caller's way to one reactor (the reactor holds a clone).
#[derive(Clone, Debug)]
struct Shard {
    mailbox: Arc<Mailbox<Request>>,
    doorbell: Arc<File>,
    /// The reactor is not waiting for completions (a hint, for `send`).
    awake: Arc<AtomicBool>,
}

impl Shard {
    fn ring(&self) {
        // Fails only when the counter would overflow: it is already rung.
        let _ = (&*self.doorbell).write(&1u64.to_ne_bytes());
    }

    fn post(&self, request: Request) {
        if self.mailbox.post(request) {
            self.ring();
        }
    }
}

/// The handle returned by [`start`].
#[derive(Debug)]
struct UringBackend {
    sink: Arc<Sink>,
    conns: Arc<Conns>,
    shards: Vec<Shard>,
    next: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts the io_uring reactors; fails if a ring cannot be set up.
pub(crate) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    start_with(events, config, true)
}

/// [`start`]; `multishot` false forces the single-shot paths (for tests).
fn start_with(
    events: Arc<dyn Events>,
    config: Config,
    multishot: bool,
) -> io::Result<Arc<dyn Backend>> {
    let count = match config.threads {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let sink = Arc::new(Sink::new(events, config.max_queued_bytes));
    let conns = Arc::new(Mutex::new(HashMap::new()));
    // Every ring is set up here, on the caller's thread, so that a failure
    // (seccomp, an old kernel) is returned and `Kind::Auto` can fall back.
    let mut reactors = Vec::with_capacity(count);
    let mut shards = Vec::with_capacity(count);
    for index in 0..count {
        let (ring, features) = Ring::new(multishot)?;
        let shard = Shard {
            mailbox: Arc::new(Mailbox::new()),
            doorbell: Arc::new(eventfd()?),
            awake: Arc::new(AtomicBool::new(false)),
        };
        reactors.push(Reactor::new(
            index,
            ring,
            features,
            Arc::clone(&sink),
            Arc::clone(&conns),
            shard.clone(),
        ));
        shards.push(shard);
    }
    let mut backend = UringBackend {
        sink,
        conns,
        shards,
        next: AtomicUsize::new(0),
        threads: Mutex::new(Vec::with_capacity(count)),
    };
    for (index, reactor) in reactors.into_iter().enumerate() {
        // On failure, dropping `backend` stops the reactors already started.
        backend
            .threads
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .push(
                thread::Builder::new()
                    .name(format!("appc-io-uring-{index}"))
                    .spawn(move || reactor.run())?,
            );
    }
    Ok(Arc::new(backend))
}

fn eventfd() -> io::Result<File> {
    // SAFETY: `eventfd` takes no pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

impl UringBackend {
    fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len()
    }
}

impl Backend for UringBackend {
    fn name(&self) -> &'static str {
        "io_uring"
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        self.shards[self.pick()].post(Request::Listen(listener));
        Ok(local)
    }

    fn connect(&self, addr: SocketAddr) -> io::Result<LinkId> {
        let shard = self.pick();
        let link = self.sink.links.open(shard);
        match Socket::new(Domain::for_address(addr), Type::STREAM, None) {
            Ok(socket) => {
                let socket = TcpStream::from(socket);
                let _ = socket.set_nodelay(true);
                // Shared before any `send` can name the link.
                let conn = Arc::new(Conn::new(link, socket, false));
                conns(&self.conns).insert(split(link).0, Arc::clone(&conn));
                self.shards[shard].post(Request::Connect(conn, addr));
            }
            Err(error) => self.shards[shard].post(Request::Failed(link, error)),
        }
        Ok(link)
    }

    fn send(&self, link: LinkId, bytes: Vec<u8>) -> io::Result<()> {
        let shard = self.sink.links.admit(link, bytes.len())?;
        if bytes.is_empty() {
            return Ok(());
        }
        let conn = conns(&self.conns)
            .get(&split(link).0)
            .filter(|conn| conn.id == link)
            .cloned();
        // No conn: the link was closed meanwhile.
        let direct = !self.shards[shard].awake.load(Ordering::Relaxed);
        if conn.is_some_and(|conn| conn.send(bytes, &self.sink.links, direct)) {
            self.shards[shard].post(Request::Flush(link));
        }
        Ok(())
    }

    fn close(&self, link: LinkId) {
        if let Some(shard) = self.sink.links.begin_close(link) {
            self.shards[shard].post(Request::Close(link));
        }
    }

    fn shutdown(&self) {
        self.sink.stop();
        for shard in &self.shards {
            shard.ring();
        }
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        join_reactors(threads);
    }
}

impl Drop for UringBackend {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    //! The single-shot fallbacks and several rings, which the shared suite
    //! (`tests/backend_suite.rs`, multishot, one ring) does not reach.

    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[derive(Debug)]
    enum Event {
        Connected(LinkId),
        Received(LinkId, Vec<u8>),
        Closed(LinkId, bool),
    }

    #[derive(Debug)]
    struct Forward(Mutex<Sender<Event>>);

    impl Events for Forward {
        fn connected(&self, link: LinkId, _: SocketAddr) {
            let _ = self.0.lock().unwrap().send(Event::Connected(link));
        }
        fn received(&self, link: LinkId, data: &[u8]) {
            let _ = self
                .0
                .lock()
                .unwrap()
                .send(Event::Received(link, data.to_vec()));
        }
        fn closed(&self, link: LinkId, error: Option<io::Error>) {
            let _ = self
                .0
                .lock()
                .unwrap()
                .send(Event::Closed(link, error.is_some()));
        }
    }

    fn next(events: &Receiver<Event>) -> Event {
        events
            .recv_timeout(Duration::from_secs(20))
            .expect("no event in time")
    }

    fn round_trip(multishot: bool) {
        let (tx, events) = mpsc::channel();
        let config = Config {
            threads: 2,
            ..Config::default()
        };
        let backend = start_with(Arc::new(Forward(Mutex::new(tx))), config, multishot).unwrap();
        for _ in 0..2 {
            // Two listeners, one per ring.
            let addr = backend.listen("127.0.0.1:0".parse().unwrap()).unwrap();
            let mut peer = TcpStream::connect(addr).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let Event::Connected(link) = next(&events) else {
                panic!("expected connected");
            };
            let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
            peer.write_all(&data).unwrap();
            let mut got = Vec::new();
            while got.len() < data.len() {
                match next(&events) {
                    Event::Received(l, bytes) if l == link => got.extend(bytes),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(got, data);
            backend.send(link, data.clone()).unwrap();
            let mut echoed = vec![0; data.len()];
            peer.read_exact(&mut echoed).unwrap();
            assert_eq!(echoed, data);
            drop(peer);
            assert!(matches!(next(&events), Event::Closed(l, false) if l == link));
        }
    }

    #[test]
    fn multishot_on_two_rings() {
        round_trip(true);
    }

    #[test]
    fn single_shot_fallback_on_two_rings() {
        round_trip(false);
    }
}
