//! The io_uring backend: completion-based socket I/O with multishot accept,
//! multishot receive into a provided buffer ring, and batched submission.
//!
//! [`Config::threads`] reactors (0: one per core), each a thread with its
//! own ring ([`ring`]), listeners and links ([`reactor`]). A link stays on
//! the reactor that accepted or connected it; listeners and outgoing
//! connects are dealt round-robin. Caller threads reach a reactor through
//! its [`Mailbox`] and ring its doorbell, an eventfd that the reactor keeps
//! a `Read` op on, so a wake-up is just another completion. With
//! [`Config::idle_poll`], or while tasks run on it, a reactor that runs
//! out of work polls its ring and mailbox for about 50 µs before it sleeps
//! ([`idle`](super::idle)). `user_data` layout: [`op`].
//!
//! Sends are `IORING_OP_SENDMSG` with `MSG_NOSIGNAL`, writing the link's
//! output ([`output`](super::output)); not `SEND_ZC`: most of a
//! node's sends are small RUs, where zero-copy's page pinning and second
//! notification completion cost more than the copy.
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

use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};

use super::mailbox::Mailbox;
use super::sink::{join_reactors, Sink};
use super::{Backend, Config, Events};
use reactor::Reactor;
use ring::Ring;

/// A request from a caller thread to a reactor.
#[derive(Debug)]
enum Request {
    Listen(TcpListener),
}

/// A caller's way to one reactor.
#[derive(Debug)]
struct Shard {
    mailbox: Arc<Mailbox<Request>>,
    doorbell: Arc<File>,
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
    shards: Vec<Shard>,
    /// [`Config::idle_poll`], shown in the name.
    idle_poll: bool,
    next: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Starts the io_uring reactors; fails if a ring cannot be set up.
pub(crate) fn start(events: Arc<dyn Events>, config: Config) -> io::Result<Arc<dyn Backend>> {
    start_with(events, config, true)
}

/// [`start`]; `multishot` false forces the single-shot paths and a ring
/// without deferred task work, as on a kernel before 6.0 (for tests).
fn start_with(
    events: Arc<dyn Events>,
    config: Config,
    multishot: bool,
) -> io::Result<Arc<dyn Backend>> {
    let count = match config.threads {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let sink = Arc::new(Sink::new(events));
    // Every ring is set up here, on the caller's thread, so that a failure
    // (seccomp, an old kernel) is returned and `Kind::Auto` can fall back.
    let mut reactors = Vec::with_capacity(count);
    let mut shards = Vec::with_capacity(count);
    for index in 0..count {
        let (ring, features) = Ring::new(multishot)?;
        let shard = Shard {
            mailbox: Arc::new(Mailbox::new()),
            doorbell: Arc::new(eventfd()?),
        };
        reactors.push(Reactor::new(
            index,
            ring,
            features,
            config.idle_poll,
            Arc::clone(&sink),
            config.max_queued_bytes,
            Arc::clone(&shard.mailbox),
            Arc::clone(&shard.doorbell),
        ));
        shards.push(shard);
    }
    let mut backend = UringBackend {
        sink,
        shards,
        idle_poll: config.idle_poll,
        next: AtomicUsize::new(0),
        threads: Mutex::new(Vec::with_capacity(count)),
    };
    for (index, reactor) in reactors.into_iter().enumerate() {
        // On failure, dropping `backend` stops the reactors already started.
        let (started_tx, started) = mpsc::sync_channel(1);
        backend
            .threads
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .push(
                thread::Builder::new()
                    .name(format!("appc-io-uring-{index}"))
                    .spawn(move || reactor.run(started_tx))?,
            );
        // A reactor first binds its ring to its thread (`Ring::enable`)
        // and makes its handler; the ring failing is a setup failure, the
        // caller's to see.
        started.recv().unwrap_or_else(|_| {
            Err(io::Error::other("an io_uring reactor thread died at start"))
        })?;
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

impl Backend for UringBackend {
    fn name(&self) -> &'static str {
        if self.idle_poll {
            "io_uring (idle poll)"
        } else {
            "io_uring"
        }
    }

    fn reactors(&self) -> usize {
        self.shards.len()
    }

    fn listen(&self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr)?;
        let local = listener.local_addr()?;
        let shard = self.next.fetch_add(1, Ordering::Relaxed) % self.shards.len();
        self.shards[shard].post(Request::Listen(listener));
        Ok(local)
    }

    fn accept_errors(&self) -> u64 {
        self.sink.accept_errors.load(Ordering::Relaxed)
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
    //! The single-shot fallbacks on plain rings (an older kernel's) and
    //! several rings, which the shared suite (`tests/backend_suite.rs`,
    //! multishot, deferred task work, one ring) does not reach.

    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::mpsc::{self, Receiver, Sender};
    use std::time::Duration;

    use super::*;
    use crate::backend::{Handler, Io, LinkId, Waker};

    #[derive(Debug)]
    enum Event {
        Connected(LinkId),
        Received(LinkId, usize),
        Closed(LinkId, bool),
    }

    /// Echoes what it receives, and tells the test.
    struct Echo(Sender<Event>);

    impl Handler for Echo {
        fn connected(&mut self, _: &mut dyn Io, link: LinkId, _: SocketAddr) {
            let _ = self.0.send(Event::Connected(link));
        }
        fn received(&mut self, io: &mut dyn Io, link: LinkId, data: &[u8]) {
            io.output(link).unwrap().extend_from_slice(data);
            let _ = self.0.send(Event::Received(link, data.len()));
        }
        fn closed(&mut self, _: &mut dyn Io, link: LinkId, error: Option<io::Error>) {
            let _ = self.0.send(Event::Closed(link, error.is_some()));
        }
        fn turn(&mut self, _: &mut dyn Io) {}
        fn busy(&self) -> bool {
            false
        }
        fn sleep(&mut self) -> bool {
            true
        }
    }

    struct Echoes(Mutex<Sender<Event>>);

    impl Events for Echoes {
        fn reactor(&self, _: usize, _: Waker) -> Box<dyn Handler> {
            Box::new(Echo(self.0.lock().unwrap().clone()))
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
        let backend = start_with(Arc::new(Echoes(Mutex::new(tx))), config, multishot).unwrap();
        assert_eq!(backend.reactors(), 2);
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
            let mut echoed = vec![0; data.len()];
            peer.read_exact(&mut echoed).unwrap();
            assert_eq!(echoed, data);
            let mut got = 0;
            while got < data.len() {
                match next(&events) {
                    Event::Received(l, n) if l == link => got += n,
                    other => panic!("unexpected {other:?}"),
                }
            }
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
