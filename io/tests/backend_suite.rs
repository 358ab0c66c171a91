//! The backend contract (`appc_io::backend`), checked for every backend the
//! platform has: io_uring and epoll on Linux, IOCP on Windows.
//!
//! Portable on purpose: only std and the io crate, so the same file runs
//! natively and under Wine. Every wait has a deadline that fails the test
//! instead of hanging; nothing asserts on timing.

use std::collections::{HashMap, HashSet};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use appc_io::backend::{self, Backend, Config, Events, Kind, LinkId};

const DEADLINE: Duration = Duration::from_secs(30);

fn kinds() -> &'static [Kind] {
    if cfg!(windows) {
        &[Kind::Iocp]
    } else {
        &[Kind::Uring, Kind::Poll]
    }
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The byte at offset `i` of a test stream: not periodic in any power of 2,
/// so a lost, duplicated or reordered chunk shows.
fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

/// Whether `bytes` is a test stream from its start.
fn is_pattern(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| b == pattern(i))
}

/// Whether a send was queued: false after a short wait if the link's queue
/// was full; panics on any other error, or if it is still full at
/// `deadline`.
fn queued(kind: Kind, result: std::io::Result<()>, deadline: Instant) -> bool {
    match result {
        Ok(()) => true,
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            assert!(
                Instant::now() < deadline,
                "{kind:?}: the queue never drained"
            );
            thread::sleep(Duration::from_millis(1));
            false
        }
        Err(e) => panic!("{kind:?}: send: {e}"),
    }
}

#[derive(Debug, Default)]
struct LinkLog {
    connected: Option<SocketAddr>,
    data: Vec<u8>,
    closed: Vec<Option<ErrorKind>>,
}

#[derive(Debug, Default)]
struct State {
    links: HashMap<LinkId, LinkLog>,
    /// Links in the order `connected` named them.
    order: Vec<LinkId>,
    /// Contract violations seen by the callbacks.
    violations: Vec<String>,
    /// Events delivered so far.
    count: usize,
}

/// Records every event and checks per-link order as it goes. With `echo`,
/// sends back what arrives on links the test did not open itself.
#[derive(Debug)]
struct Recorder {
    state: Mutex<State>,
    changed: Condvar,
    echo: bool,
    clients: Mutex<HashSet<LinkId>>,
    backend: OnceLock<Weak<dyn Backend>>,
    /// The thread of each [`Events::kicked`], and whether one overlapped
    /// another.
    kicks: Mutex<Vec<String>>,
    in_kick: AtomicBool,
    /// Kicks still to make from inside `kicked` (from a reactor thread).
    rekicks: AtomicUsize,
}

impl Recorder {
    fn record(&self, link: LinkId, f: impl FnOnce(&mut LinkLog, &mut Vec<String>)) {
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        state.count += 1;
        let log = state.links.entry(link).or_default();
        if !log.closed.is_empty() {
            state
                .violations
                .push(format!("{link:?}: an event after closed"));
        }
        f(log, &mut state.violations);
        self.changed.notify_all();
    }

    /// Waits until `ready` returns something, failing after the deadline.
    fn wait<T>(&self, what: &str, mut ready: impl FnMut(&State) -> Option<T>) -> T {
        let deadline = Instant::now() + DEADLINE;
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(value) = ready(&state) {
                return value;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .unwrap_or_else(|| panic!("timed out waiting for {what}"));
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    fn wait_connected(&self, link: LinkId) -> SocketAddr {
        self.wait("connected", |s| s.links.get(&link)?.connected)
    }

    fn wait_closed(&self, link: LinkId) -> Option<ErrorKind> {
        self.wait("closed", |s| s.links.get(&link)?.closed.first().copied())
    }

    /// Waits for the `n`th link `connected` names (0-based).
    fn wait_nth(&self, n: usize) -> LinkId {
        self.wait("an accepted link", |s| s.order.get(n).copied())
    }

    fn wait_data(&self, link: LinkId, len: usize) -> Vec<u8> {
        self.wait("data", |s| {
            let log = s.links.get(&link)?;
            (log.data.len() >= len).then(|| log.data.clone())
        })
    }

    fn closed_count(&self, link: LinkId) -> usize {
        let state = self.state.lock().unwrap();
        state.links.get(&link).map_or(0, |log| log.closed.len())
    }

    fn count(&self) -> usize {
        self.state.lock().unwrap().count
    }

    fn check(&self) {
        let state = self.state.lock().unwrap();
        assert!(state.violations.is_empty(), "{:?}", state.violations);
    }
}

impl Events for Recorder {
    fn connected(&self, link: LinkId, peer: SocketAddr) {
        self.record(link, |log, violations| {
            if log.connected.is_some() || !log.data.is_empty() {
                violations.push(format!("{link:?}: connected twice or late"));
            }
            log.connected = Some(peer);
        });
        self.state.lock().unwrap().order.push(link);
    }

    fn received(&self, link: LinkId, data: &[u8]) {
        if data.is_empty() {
            self.record(link, |_, v| v.push(format!("{link:?}: empty received")));
        }
        self.record(link, |log, violations| {
            if log.connected.is_none() {
                violations.push(format!("{link:?}: received before connected"));
            }
            log.data.extend_from_slice(data);
        });
        let echo = self.echo && !self.clients.lock().unwrap().contains(&link);
        if echo {
            if let Some(backend) = self.backend.get().and_then(Weak::upgrade) {
                if let Err(error) = backend.send(link, data.to_vec()) {
                    self.record(link, |_, v| v.push(format!("{link:?}: echo: {error}")));
                }
            }
        }
    }

    fn closed(&self, link: LinkId, error: Option<io::Error>) {
        self.record(link, |log, _| log.closed.push(error.map(|e| e.kind())));
    }

    fn kicked(&self) {
        assert!(!self.in_kick.swap(true, SeqCst), "a turn inside a turn");
        let name = thread::current().name().unwrap_or("").to_owned();
        self.kicks.lock().unwrap().push(name);
        let again = self
            .rekicks
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if again {
            if let Some(backend) = self.backend.get().and_then(Weak::upgrade) {
                assert!(backend.kick());
            }
        }
        self.in_kick.store(false, SeqCst);
        self.changed.notify_all();
    }
}

fn recorder(echo: bool) -> Arc<Recorder> {
    Arc::new(Recorder {
        state: Mutex::default(),
        changed: Condvar::new(),
        echo,
        clients: Mutex::default(),
        backend: OnceLock::new(),
        kicks: Mutex::default(),
        in_kick: AtomicBool::new(false),
        rekicks: AtomicUsize::new(0),
    })
}

fn start_with(kind: Kind, config: Config, echo: bool) -> (Arc<dyn Backend>, Arc<Recorder>) {
    let recorder = recorder(echo);
    let backend = backend::start(kind, recorder.clone(), config)
        .unwrap_or_else(|e| panic!("{kind:?} does not start: {e}"));
    recorder.backend.set(Arc::downgrade(&backend)).unwrap();
    (backend, recorder)
}

fn start(kind: Kind) -> (Arc<dyn Backend>, Arc<Recorder>) {
    start_with(kind, Config::default(), false)
}

/// Connects a client link of `backend` to `addr` and marks it as the
/// test's own (not echoed).
fn client(backend: &dyn Backend, recorder: &Recorder, addr: SocketAddr) -> LinkId {
    let link = backend.connect(addr).unwrap();
    recorder.clients.lock().unwrap().insert(link);
    link
}

/// A plain std peer accepting one connection, with a read deadline.
fn std_peer(listener: &TcpListener) -> TcpStream {
    let (stream, _) = listener.accept().unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Sends `chunk`-sized copies until `send` keeps refusing with
/// `WouldBlock` (the queue is full and stays full: the socket buffers are
/// too); returns the bytes accepted. Fails if the queue never fills.
fn fill(backend: &dyn Backend, link: LinkId, chunk: usize) -> usize {
    let deadline = Instant::now() + DEADLINE;
    let mut total = 0;
    let mut refusals = 0;
    while refusals < 5 {
        match backend.send(link, vec![7; chunk]) {
            Ok(()) => {
                total += chunk;
                refusals = 0;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                refusals += 1;
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("send: {e}"),
        }
        assert!(Instant::now() < deadline, "the send queue never filled");
    }
    total
}

/// Reads until end of stream (or a reset); returns the byte count.
fn drain(mut stream: TcpStream) -> usize {
    let mut buffer = vec![0; 64 * 1024];
    let mut total = 0;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("peer read: {e}"),
        }
    }
}

#[test]
fn echo_round_trip() {
    for &kind in kinds() {
        let (backend, recorder) = start_with(kind, Config::default(), true);
        let addr = backend.listen(loopback()).unwrap();
        let link = client(&*backend, &recorder, addr);
        recorder.wait_connected(link);
        backend.send(link, b"hello, ".to_vec()).unwrap();
        backend.send(link, b"partner".to_vec()).unwrap();
        assert_eq!(recorder.wait_data(link, 14), b"hello, partner", "{kind:?}");
        let server = recorder.wait("the server link", |s| {
            s.order.iter().copied().find(|l| *l != link)
        });
        backend.close(link);
        assert_eq!(recorder.wait_closed(link), None, "{kind:?}: close");
        assert_eq!(recorder.wait_closed(server), None, "{kind:?}: peer close");
        recorder.check();
    }
}

#[test]
fn sixty_four_links_interleaved() {
    const LINKS: usize = 64;
    const ROUNDS: usize = 50;
    for &kind in kinds() {
        let (backend, recorder) = start_with(kind, Config::default(), true);
        let addr = backend.listen(loopback()).unwrap();
        let links: Vec<LinkId> = (0..LINKS)
            .map(|_| client(&*backend, &recorder, addr))
            .collect();
        let message = |i: usize, round: usize| format!("<{i}:{round}>").into_bytes();
        for round in 0..ROUNDS {
            for (i, &link) in links.iter().enumerate() {
                backend.send(link, message(i, round)).unwrap();
            }
        }
        for (i, &link) in links.iter().enumerate() {
            let expected: Vec<u8> = (0..ROUNDS).flat_map(|r| message(i, r)).collect();
            assert_eq!(
                recorder.wait_data(link, expected.len()),
                expected,
                "{kind:?}"
            );
        }
        recorder.wait("every server link", |s| {
            (s.order.len() == 2 * LINKS).then_some(())
        });
        for &link in &links {
            backend.close(link);
        }
        for &link in &links {
            recorder.wait_closed(link);
        }
        recorder.check();
    }
}

#[test]
fn sixteen_mib_each_way_in_order() {
    const LEN: usize = 16 << 20;
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = backend.connect(listener.local_addr().unwrap()).unwrap();
        let peer = std_peer(&listener);
        recorder.wait_connected(link);

        // Peer to backend.
        let mut writer = peer.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            writer.write_all(&data).unwrap();
        });
        // Backend to peer, in uneven chunks, waiting out a full queue.
        let receiver = thread::spawn(move || {
            let mut peer = peer;
            let mut got = vec![0; LEN];
            peer.read_exact(&mut got).unwrap();
            got
        });
        let mut offset = 0;
        let deadline = Instant::now() + DEADLINE;
        while offset < LEN {
            let end = (offset + 100_003).min(LEN);
            let result = backend.send(link, (offset..end).map(pattern).collect());
            if queued(kind, result, deadline) {
                offset = end;
            }
        }
        sender.join().unwrap();
        let got = recorder.wait_data(link, LEN);
        assert_eq!(got.len(), LEN, "{kind:?}: extra bytes");
        assert!(is_pattern(&got), "{kind:?}: received stream differs");
        let sent = receiver.join().unwrap();
        assert!(is_pattern(&sent), "{kind:?}: sent stream differs");
        backend.close(link);
        recorder.wait_closed(link);
        recorder.check();
    }
}

/// Vectored sends of every shape (empty, tiny, large, more parts than one
/// gathered write takes), mixed with plain ones and cut short by a full
/// socket: the peer reads the parts' bytes once each, in order.
#[test]
fn vectored_sends_arrive_concatenated_in_order() {
    const LEN: usize = 8 << 20;
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = backend.connect(listener.local_addr().unwrap()).unwrap();
        let mut peer = std_peer(&listener);
        recorder.wait_connected(link);
        let receiver = thread::spawn(move || {
            // Late, so that the socket fills and writes end mid-part.
            thread::sleep(Duration::from_millis(200));
            let mut got = vec![0; LEN];
            peer.read_exact(&mut got).unwrap();
            got
        });
        // Part sizes from a small LCG: 0 to 96 KiB, mostly small.
        let mut seed = 12_345u32;
        let mut next_len = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            match seed >> 28 {
                0 => 0,
                1..=3 => (seed >> 8) as usize % (96 << 10),
                _ => (seed >> 8) as usize % 300,
            }
        };
        let (mut offset, mut sends) = (0, 0);
        let deadline = Instant::now() + DEADLINE;
        while offset < LEN {
            let count = if sends % 7 == 0 { 200 } else { 1 + sends % 5 };
            let mut end = offset;
            let parts: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let start = end;
                    end = (end + next_len()).min(LEN);
                    (start..end).map(pattern).collect()
                })
                .collect();
            let result = if count == 1 {
                backend.send(link, parts.concat())
            } else {
                backend.send_vectored(link, parts)
            };
            if queued(kind, result, deadline) {
                offset = end;
                sends += 1;
            }
        }
        let got = receiver.join().unwrap();
        assert!(is_pattern(&got), "{kind:?}: the stream differs");
        backend.close(link);
        recorder.wait_closed(link);
        recorder.check();
    }
}

#[test]
fn connect_to_a_closed_port_fails_once() {
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        let addr = TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
        let link = backend.connect(addr).unwrap();
        let error = recorder.wait_closed(link);
        assert!(
            error.is_some(),
            "{kind:?}: a failed connect reports its error"
        );
        thread::sleep(Duration::from_millis(50));
        let state = recorder.state.lock().unwrap();
        let log = &state.links[&link];
        assert_eq!(log.connected, None, "{kind:?}: no connected");
        assert_eq!(log.closed.len(), 1, "{kind:?}");
        drop(state);
        assert_eq!(
            backend.send(link, vec![1]).unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        recorder.check();
    }
}

#[test]
fn peer_close_is_reported_once() {
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = backend.connect(listener.local_addr().unwrap()).unwrap();
        let mut peer = std_peer(&listener);
        assert_eq!(
            recorder.wait_connected(link),
            listener.local_addr().unwrap()
        );
        peer.write_all(b"bye").unwrap();
        drop(peer);
        assert_eq!(recorder.wait_closed(link), None, "{kind:?}");
        assert_eq!(recorder.wait_data(link, 3), b"bye");
        thread::sleep(Duration::from_millis(50));
        assert_eq!(recorder.closed_count(link), 1, "{kind:?}");
        backend.close(link); // closing a gone link: a no-op
        assert_eq!(
            backend.send(link, vec![1]).unwrap_err().kind(),
            ErrorKind::NotConnected
        );
        recorder.check();
    }
}

#[test]
fn close_drops_queued_bytes_and_reports_once() {
    for &kind in kinds() {
        let config = Config {
            max_queued_bytes: 1 << 20,
            ..Config::default()
        };
        let (backend, recorder) = start_with(kind, config, false);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = backend.connect(listener.local_addr().unwrap()).unwrap();
        let peer = std_peer(&listener);
        recorder.wait_connected(link);
        let queued = fill(&*backend, link, 64 * 1024);
        backend.close(link);
        backend.close(link);
        assert_eq!(
            backend.send(link, vec![1]).unwrap_err().kind(),
            ErrorKind::NotConnected,
            "{kind:?}: send after close"
        );
        assert_eq!(recorder.wait_closed(link), None, "{kind:?}");
        let delivered = drain(peer);
        assert!(
            delivered < queued,
            "{kind:?}: {delivered} of {queued} bytes arrived"
        );
        thread::sleep(Duration::from_millis(50));
        assert_eq!(recorder.closed_count(link), 1, "{kind:?}");
        recorder.check();
    }
}

#[test]
fn a_kick_is_one_turn_on_a_reactor_thread_and_never_nested() {
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        let turns_after = |n: usize| {
            let deadline = Instant::now() + DEADLINE;
            while recorder.kicks.lock().unwrap().len() < n && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(Duration::from_millis(20));
            recorder.kicks.lock().unwrap().clone()
        };
        // One kick whose turns kick ten more, each from the reactor thread
        // with nothing else going on to wake it.
        recorder.rekicks.store(10, SeqCst);
        if !backend.kick() {
            assert_ne!(kind, Kind::Uring);
            assert!((0..50).all(|_| !backend.kick()), "{kind:?}: all or none");
            continue;
        }
        assert_eq!(turns_after(11).len(), 11, "{kind:?}: kicks from a turn");
        assert_eq!((0..50).filter(|_| backend.kick()).count(), 50);
        let turns = turns_after(61);
        assert_eq!(turns.len(), 61, "{kind:?}: one turn per kick");
        assert!(
            turns.iter().all(|t| t.starts_with("appc-io-uring")),
            "{kind:?}: {turns:?}"
        );
    }
}

#[test]
fn unknown_links_are_not_connected() {
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        for link in [LinkId(u64::MAX), LinkId(12_345), LinkId(7 << 32)] {
            assert_eq!(
                backend.send(link, vec![1]).unwrap_err().kind(),
                ErrorKind::NotConnected,
                "{kind:?}"
            );
            backend.close(link);
        }
        thread::sleep(Duration::from_millis(20));
        assert_eq!(recorder.count(), 0, "{kind:?}: no events");
    }
}

#[test]
fn a_peer_that_stops_reading_fills_the_queue() {
    for &kind in kinds() {
        let config = Config {
            max_queued_bytes: 256 * 1024,
            ..Config::default()
        };
        let (backend, recorder) = start_with(kind, config, false);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = backend.connect(listener.local_addr().unwrap()).unwrap();
        let peer = std_peer(&listener);
        recorder.wait_connected(link);
        let queued = fill(&*backend, link, 16 * 1024);
        assert!(queued >= 256 * 1024, "{kind:?}: refused below the limit");
        // Once the peer reads again, the queue drains and send succeeds.
        let reader = thread::spawn(move || drain(peer));
        let deadline = Instant::now() + DEADLINE;
        while let Err(e) = backend.send(link, vec![1; 10]) {
            assert_eq!(e.kind(), ErrorKind::WouldBlock, "{kind:?}");
            assert!(
                Instant::now() < deadline,
                "{kind:?}: the queue never drained"
            );
            thread::sleep(Duration::from_millis(2));
        }
        backend.close(link);
        recorder.wait_closed(link);
        assert!(reader.join().unwrap() > 0, "{kind:?}");
        recorder.check();
    }
}

#[test]
fn dropping_the_backend_stops_it_and_frees_sockets() {
    for &kind in kinds() {
        let (backend, recorder) = start(kind);
        let addr = backend.listen(loopback()).unwrap();
        let mut inbound = TcpStream::connect(addr).unwrap();
        inbound.set_read_timeout(Some(DEADLINE)).unwrap();
        let accepted = recorder.wait_nth(0);
        recorder.wait_connected(accepted);
        let listener = TcpListener::bind(loopback()).unwrap();
        let outbound = backend.connect(listener.local_addr().unwrap()).unwrap();
        let peer = std_peer(&listener);
        recorder.wait_connected(outbound);

        drop(backend);
        let events = recorder.count();
        // Our peers see their links end, and the listener is gone.
        let mut byte = [0];
        assert!(
            !matches!(inbound.read(&mut byte), Ok(n) if n > 0),
            "{kind:?}: inbound link still open"
        );
        drain(peer);
        assert!(
            TcpStream::connect(addr).is_err(),
            "{kind:?}: the listener still accepts"
        );
        thread::sleep(Duration::from_millis(50));
        assert_eq!(recorder.count(), events, "{kind:?}: events after drop");
        recorder.check();
    }
}

#[test]
fn auto_starts_a_backend_and_absent_kinds_are_unsupported() {
    let (backend, _recorder) = start(Kind::Auto);
    assert!(["io_uring", "epoll", "iocp"].contains(&backend.name()));
    let absent = if cfg!(windows) {
        Kind::Uring
    } else {
        Kind::Iocp
    };
    let error = backend::start(absent, recorder(false), Config::default())
        .err()
        .expect("an absent kind starts");
    assert_eq!(error.kind(), ErrorKind::Unsupported);
}

/// An owner whose `received` panics (a bug in it): the reactor reports
/// the panic once through [`Events::failed`] and stops, rather than dying
/// with its links unreported; dropping the backend still returns.
#[test]
fn a_panicking_callback_is_reported_as_failed() {
    #[derive(Default)]
    struct Panicky {
        failed: Mutex<Vec<String>>,
        changed: Condvar,
    }
    impl Events for Panicky {
        fn connected(&self, _: LinkId, _: SocketAddr) {}
        fn received(&self, _: LinkId, _: &[u8]) {
            panic!("a bug in the owner");
        }
        fn closed(&self, _: LinkId, _: Option<io::Error>) {}
        fn failed(&self, reason: &str) {
            self.failed.lock().unwrap().push(reason.to_owned());
            self.changed.notify_all();
        }
    }
    for &kind in kinds() {
        let events = Arc::new(Panicky::default());
        let backend = backend::start(kind, events.clone(), Config::default()).unwrap();
        let addr = backend.listen(loopback()).unwrap();
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.write_all(b"x").unwrap();
        let failed = events.failed.lock().unwrap();
        let (failed, timeout) = events
            .changed
            .wait_timeout_while(failed, DEADLINE, |f| f.is_empty())
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "{kind:?}: the panic was never reported"
        );
        assert_eq!(*failed, ["a bug in the owner"], "{kind:?}");
        drop(failed);
        drop(backend);
    }
}
