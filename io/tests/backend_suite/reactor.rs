//! The reactors themselves: turns, wake-ups and deadlines (with a handler
//! that has no links, [`Turns`]), a handler's panic, and stopping.

use std::io::{self, ErrorKind, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use appc_io::backend::{self, Backend, Config, Events, Handler, Io, Kind, LinkId, Waker};

use super::rig::{drain, kinds, loopback, std_peer, wait_until, Rig, DEADLINE};

/// What the test and a [`Turns`] handler share.
#[derive(Default)]
struct TurnState {
    /// Work posted by other threads: the turn takes it all.
    work: AtomicUsize,
    /// Work taken so far.
    done: AtomicUsize,
    turns: AtomicUsize,
    /// Wake-ups the turn is to make itself, one per turn, each with work.
    rewakes: AtomicUsize,
    /// Times `sleep` is to refuse.
    stay_awake: AtomicUsize,
    deadline: Mutex<Option<Instant>>,
    /// When a turn came at or after the deadline.
    fired: Mutex<Option<Instant>>,
    waker: Mutex<Option<Waker>>,
    thread: Mutex<Option<ThreadId>>,
    off_thread: AtomicUsize,
}

/// A handler with no links that counts its turns.
struct Turns(Arc<TurnState>);

impl Handler for Turns {
    fn connected(&mut self, _: &mut dyn Io, _: LinkId, _: SocketAddr) {}
    fn received(&mut self, _: &mut dyn Io, _: LinkId, _: &[u8]) {}
    fn closed(&mut self, _: &mut dyn Io, _: LinkId, _: Option<io::Error>) {}

    fn turn(&mut self, _: &mut dyn Io) {
        let s = &*self.0;
        if *s.thread.lock().unwrap() != Some(thread::current().id()) {
            s.off_thread.fetch_add(1, SeqCst);
        }
        s.turns.fetch_add(1, SeqCst);
        let work = s.work.swap(0, SeqCst);
        s.done.fetch_add(work, SeqCst);
        if s.rewakes
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            s.work.fetch_add(1, SeqCst);
            s.waker.lock().unwrap().as_ref().unwrap().wake();
        }
        let mut deadline = s.deadline.lock().unwrap();
        if deadline.is_some_and(|at| Instant::now() >= at) {
            *deadline = None;
            *s.fired.lock().unwrap() = Some(Instant::now());
        }
    }

    fn busy(&self) -> bool {
        self.0.work.load(SeqCst) > 0
    }

    fn sleep(&mut self) -> bool {
        let s = &*self.0;
        if s.stay_awake
            .fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return false;
        }
        s.work.load(SeqCst) == 0
    }

    fn deadline(&self) -> Option<Instant> {
        *self.0.deadline.lock().unwrap()
    }
}

struct OneTurns(Arc<TurnState>);

impl Events for OneTurns {
    fn reactor(&self, _: usize, waker: Waker) -> Box<dyn Handler> {
        *self.0.waker.lock().unwrap() = Some(waker);
        *self.0.thread.lock().unwrap() = Some(thread::current().id());
        Box::new(Turns(Arc::clone(&self.0)))
    }
}

fn start_turns(kind: Kind) -> (Arc<dyn Backend>, Arc<TurnState>) {
    let state = Arc::new(TurnState::default());
    let backend = backend::start(
        kind,
        Arc::new(OneTurns(Arc::clone(&state))),
        Config::default(),
    )
    .unwrap_or_else(|e| panic!("{kind:?} does not start: {e}"));
    assert_eq!(backend.reactors(), 1, "{kind:?}");
    (backend, state)
}

/// A sleeping reactor wakes for its waker, from another thread or from
/// its own turn, every time; it sleeps when `sleep` lets it, and takes
/// turns without a wake-up when `sleep` refuses.
#[test]
fn a_waker_wakes_a_sleeping_reactor_every_time() {
    for &kind in kinds() {
        let (backend, s) = start_turns(kind);
        let waker = s.waker.lock().unwrap().clone().unwrap();
        assert_ne!(*s.thread.lock().unwrap(), Some(thread::current().id()));
        for i in 1..=50 {
            s.work.fetch_add(1, SeqCst);
            waker.wake();
            wait_until("the woken turn", || s.done.load(SeqCst) >= i);
        }
        s.rewakes.store(10, SeqCst);
        s.work.fetch_add(1, SeqCst);
        waker.wake();
        wait_until("the turns' own wake-ups", || s.done.load(SeqCst) >= 61);
        // Idle: a sleeping reactor takes no turns (a stray one or two at
        // most, not a spinning loop's thousands).
        thread::sleep(Duration::from_millis(20));
        let idle = s.turns.load(SeqCst);
        thread::sleep(Duration::from_millis(200));
        let stray = s.turns.load(SeqCst) - idle;
        assert!(stray <= 2, "{kind:?}: {stray} turns while asleep");
        // `sleep` refusing: turns go on, with no wake-up.
        s.stay_awake.store(20, SeqCst);
        waker.wake();
        wait_until("the turns sleep refused", || {
            s.turns.load(SeqCst) >= idle + stray + 21
        });
        assert_eq!(
            s.off_thread.load(SeqCst),
            0,
            "{kind:?}: turns off the thread"
        );
        drop(backend);
    }
}

/// A sleeping reactor wakes for its handler's deadline, not before it, and
/// without spinning meanwhile.
#[test]
fn a_deadline_wakes_a_sleeping_reactor() {
    for &kind in kinds() {
        let (backend, s) = start_turns(kind);
        let waker = s.waker.lock().unwrap().clone().unwrap();
        let at = Instant::now() + Duration::from_millis(100);
        *s.deadline.lock().unwrap() = Some(at);
        let before = s.turns.load(SeqCst);
        // A turn to see the new deadline; the next comes for it.
        waker.wake();
        wait_until("the deadline's turn", || s.fired.lock().unwrap().is_some());
        let fired = s.fired.lock().unwrap().unwrap();
        assert!(fired >= at, "{kind:?}: fired early");
        let turns = s.turns.load(SeqCst) - before;
        assert!(
            turns <= 10,
            "{kind:?}: {turns} turns to wait for a deadline"
        );
        drop(backend);
    }
}

/// An owner whose `received` panics (a bug in it): the reactor reports
/// the panic once through [`Events::failed`] and stops, rather than dying
/// with its links unreported; dropping the backend still returns.
#[test]
fn a_panicking_callback_is_reported_as_failed() {
    #[derive(Default)]
    struct Failures {
        failed: Mutex<Vec<String>>,
        changed: Condvar,
    }
    struct Panicky;
    impl Handler for Panicky {
        fn connected(&mut self, _: &mut dyn Io, _: LinkId, _: SocketAddr) {}
        fn received(&mut self, _: &mut dyn Io, _: LinkId, _: &[u8]) {
            panic!("a bug in the owner");
        }
        fn closed(&mut self, _: &mut dyn Io, _: LinkId, _: Option<io::Error>) {}
        fn turn(&mut self, _: &mut dyn Io) {}
        fn busy(&self) -> bool {
            false
        }
        fn sleep(&mut self) -> bool {
            true
        }
    }
    impl Events for Failures {
        fn reactor(&self, _: usize, _: Waker) -> Box<dyn Handler> {
            Box::new(Panicky)
        }
        fn failed(&self, reason: &str) {
            self.failed.lock().unwrap().push(reason.to_owned());
            self.changed.notify_all();
        }
    }
    for &kind in kinds() {
        let events = Arc::new(Failures::default());
        let backend = backend::start(kind, events.clone(), Config::default()).unwrap();
        let addr = backend.listen(loopback()).unwrap();
        let mut peer = TcpStream::connect(addr).unwrap();
        std::io::Write::write_all(&mut peer, b"x").unwrap();
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

#[test]
fn dropping_the_backend_stops_it_and_frees_sockets() {
    for &kind in kinds() {
        let rig = Rig::start(kind);
        let addr = rig.backend.listen(loopback()).unwrap();
        let mut inbound = TcpStream::connect(addr).unwrap();
        inbound.set_read_timeout(Some(DEADLINE)).unwrap();
        let accepted = rig.wait_nth(0);
        rig.wait_connected(accepted);
        let listener = TcpListener::bind(loopback()).unwrap();
        let outbound = rig.connect(0, listener.local_addr().unwrap());
        let peer = std_peer(&listener);
        rig.wait_connected(outbound);

        let Rig {
            backend, shared, ..
        } = rig;
        let reactors = backend.reactors();
        drop(backend);
        let events = shared.state.lock().unwrap().count;
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
        let state = shared.state.lock().unwrap();
        assert_eq!(state.count, events, "{kind:?}: events after drop");
        let mut dropped = state.dropped.clone();
        dropped.sort_unstable();
        let expected: Vec<_> = (0..reactors).map(|r| (r, true)).collect();
        assert_eq!(
            dropped, expected,
            "{kind:?}: handlers dropped on their threads"
        );
        assert!(state.violations.is_empty(), "{:?}", state.violations);
    }
}

/// `shutdown` from inside a callback stops the other reactors and returns;
/// the calling reactor ends once its callback has, calling nothing more.
#[test]
fn shutdown_from_a_callback_returns() {
    for &kind in kinds() {
        let rig = Rig::start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let peer = std_peer(&listener);
        rig.wait_connected(link);
        let backend = Arc::clone(&rig.backend);
        rig.call(0, move |_| backend.shutdown());
        rig.shared.wait("the handler dropped", |s| {
            (!s.dropped.is_empty()).then_some(())
        });
        let events = rig.count();
        drain(peer);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(rig.count(), events, "{kind:?}: events after shutdown");
        rig.check();
    }
}

#[test]
fn auto_starts_a_backend_and_absent_kinds_are_unsupported() {
    let rig = Rig::start(Kind::Auto);
    assert!(["io_uring", "epoll", "iocp"].contains(&rig.backend.name()));
    let absent = if cfg!(windows) {
        Kind::Uring
    } else {
        Kind::Iocp
    };
    let state = Arc::new(TurnState::default());
    let error = backend::start(absent, Arc::new(OneTurns(state)), Config::default())
        .err()
        .expect("an absent kind starts");
    assert_eq!(error.kind(), ErrorKind::Unsupported);
}
