//! Accepting while the process is out of descriptors, on each Linux
//! backend: connections queue in the listen backlog while every
//! descriptor is taken; the backend must neither spin on the failing
//! accept (its count of accept errors over half a second stays at a
//! backoff's handful, where a reactor that retried at once made millions)
//! nor forget the backlog: once descriptors are free again, every queued
//! connection is accepted.
//!
//! No harness: this binary takes all of its own descriptors, which would
//! starve any test running beside it in the same process.

#[cfg(target_os = "linux")]
fn main() {
    use appc_io::backend::{self, Config, Events, Handler, Io, Kind, LinkId, Waker};
    use std::fs::File;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::{Duration, Instant};

    /// Counts the links its handlers are given.
    struct Count(Arc<AtomicUsize>);
    impl Events for Count {
        fn reactor(&self, _: usize, _: Waker) -> Box<dyn Handler> {
            Box::new(Counter(Arc::clone(&self.0)))
        }
    }
    struct Counter(Arc<AtomicUsize>);
    impl Handler for Counter {
        fn connected(&mut self, _: &mut dyn Io, _: LinkId, _: SocketAddr) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        fn received(&mut self, _: &mut dyn Io, _: LinkId, _: &[u8]) {}
        fn closed(&mut self, _: &mut dyn Io, _: LinkId, _: Option<std::io::Error>) {}
        fn turn(&mut self, _: &mut dyn Io) {}
        fn busy(&self) -> bool {
            false
        }
        fn sleep(&mut self) -> bool {
            true
        }
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(Instant::now() < deadline, "never happened: {what}");
            thread::sleep(Duration::from_millis(5));
        }
    }

    // A low limit, so that taking every descriptor is quick.
    let limit = libc::rlimit {
        rlim_cur: 256,
        rlim_max: 256,
    };
    // SAFETY: setrlimit reads the struct during the call only.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);

    const CLIENTS: usize = 8;
    let mut passed = 0;
    for kind in [Kind::Uring, Kind::Poll] {
        let count = Arc::new(AtomicUsize::new(0));
        let events = Arc::new(Count(Arc::clone(&count)));
        let backend = match backend::start(kind, events, Config::default()) {
            Ok(backend) => backend,
            Err(e) => {
                println!("fd_exhaustion: {kind:?} skipped: {e}");
                continue;
            }
        };
        let addr = backend.listen("127.0.0.1:0".parse().unwrap()).unwrap();
        // The clients' sockets first: connecting needs no descriptor.
        let clients: Vec<socket2::Socket> = (0..CLIENTS)
            .map(|_| {
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap()
            })
            .collect();
        let mut taken = Vec::new();
        while let Ok(file) = File::open("/dev/null") {
            taken.push(file);
        }
        for client in &clients {
            client.connect(&addr.into()).unwrap();
        }
        wait_for("an accept fails", || backend.accept_errors() > 0);
        let before = backend.accept_errors();
        thread::sleep(Duration::from_millis(500));
        let during = backend.accept_errors() - before;
        assert!(
            during <= 20,
            "{kind:?}: {during} accept attempts in half a second while exhausted"
        );
        assert_eq!(count.load(Ordering::SeqCst), 0, "{kind:?}");
        drop(taken);
        wait_for("the backlog is accepted", || {
            count.load(Ordering::SeqCst) == CLIENTS
        });
        println!("fd_exhaustion: {kind:?}: ok ({during} accept errors in 500 ms while exhausted)");
        drop(clients);
        drop(backend);
        passed += 1;
    }
    println!("{passed} passed, 0 failed");
}

#[cfg(not(target_os = "linux"))]
fn main() {}
