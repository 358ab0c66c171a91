//! The backend contract (`appc_io::backend`'s module docs), checked for
//! every backend the platform has: io_uring and epoll on Linux, IOCP on
//! Windows. Links, their bytes and their ends here; the reactors' turns,
//! wake-ups, deadlines, panics and shutdown in `backend_suite/reactor.rs`;
//! the harness in `backend_suite/rig.rs`.
//!
//! Portable on purpose: only std and the io crate, so the same suite runs
//! natively and under Wine. Every wait has a deadline that fails the test
//! instead of hanging; nothing asserts on timing.

#[path = "backend_suite/reactor.rs"]
mod reactor;
#[path = "backend_suite/rig.rs"]
mod rig;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use appc_io::backend::{Config, LinkId};
use rig::{drain, is_pattern, kinds, loopback, pattern, std_peer, wait_until, Rig, Sent};

#[test]
fn echo_round_trip() {
    for &kind in kinds() {
        let rig = Rig::start_with(kind, Config::default(), true);
        let addr = rig.backend.listen(loopback()).unwrap();
        let link = rig.connect(0, addr);
        rig.wait_connected(link);
        rig.send_all(link, b"hello, ".to_vec());
        rig.send_all(link, b"partner".to_vec());
        assert_eq!(rig.wait_data(link, 14), b"hello, partner", "{kind:?}");
        let server = rig.shared.wait("the server link", |s| {
            s.order.iter().copied().find(|l| *l != link)
        });
        rig.close(link);
        assert_eq!(rig.wait_closed(link), None, "{kind:?}: close");
        assert_eq!(rig.wait_closed(server), None, "{kind:?}: peer close");
        rig.check();
    }
}

#[test]
fn sixty_four_links_interleaved() {
    const LINKS: usize = 64;
    const ROUNDS: usize = 50;
    for &kind in kinds() {
        let rig = Rig::start_with(kind, Config::default(), true);
        let addr = rig.backend.listen(loopback()).unwrap();
        let links: Vec<LinkId> = (0..LINKS).map(|_| rig.connect(0, addr)).collect();
        let message = |i: usize, round: usize| format!("<{i}:{round}>").into_bytes();
        for round in 0..ROUNDS {
            for (i, &link) in links.iter().enumerate() {
                rig.send_all(link, message(i, round));
            }
        }
        for (i, &link) in links.iter().enumerate() {
            let expected: Vec<u8> = (0..ROUNDS).flat_map(|r| message(i, r)).collect();
            assert_eq!(rig.wait_data(link, expected.len()), expected, "{kind:?}");
        }
        rig.shared.wait("every server link", |s| {
            (s.order.len() == 2 * LINKS).then_some(())
        });
        for &link in &links {
            rig.close(link);
        }
        for &link in &links {
            rig.wait_closed(link);
        }
        rig.check();
    }
}

#[test]
fn sixteen_mib_each_way_in_order() {
    const LEN: usize = 16 << 20;
    for &kind in kinds() {
        let rig = Rig::start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let peer = std_peer(&listener);
        rig.wait_connected(link);

        // Peer to backend.
        let mut writer = peer.try_clone().unwrap();
        let sender = thread::spawn(move || {
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            writer.write_all(&data).unwrap();
        });
        // Backend to peer, in uneven chunks, waiting out a full output.
        let receiver = thread::spawn(move || {
            let mut peer = peer;
            let mut got = vec![0; LEN];
            peer.read_exact(&mut got).unwrap();
            got
        });
        let mut offset = 0;
        while offset < LEN {
            let end = (offset + 100_003).min(LEN);
            rig.send_all(link, (offset..end).map(pattern).collect());
            offset = end;
        }
        sender.join().unwrap();
        let got = rig.wait_data(link, LEN);
        assert_eq!(got.len(), LEN, "{kind:?}: extra bytes");
        assert!(is_pattern(&got), "{kind:?}: received stream differs");
        let sent = receiver.join().unwrap();
        assert!(is_pattern(&sent), "{kind:?}: sent stream differs");
        rig.close(link);
        rig.wait_closed(link);
        rig.check();
    }
}

/// Appends of every size (empty, tiny, large), many in one callback, while
/// a full socket cuts the writes short: the peer reads every byte once, in
/// append order, and `queued` counts each append as it is made.
#[test]
fn appends_arrive_in_order_whatever_their_shape() {
    const LEN: usize = 8 << 20;
    for &kind in kinds() {
        // Above LEN: no callback's appends ever meet the limit.
        let config = Config {
            max_queued_bytes: 4 * LEN,
            ..Config::default()
        };
        let rig = Rig::start_with(kind, config, false);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let mut peer = std_peer(&listener);
        rig.wait_connected(link);
        let receiver = thread::spawn(move || {
            // Late, so that the socket fills and writes end mid-append.
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
        let (mut offset, mut calls) = (0, 0);
        while offset < LEN {
            let count = if calls % 7 == 0 { 200 } else { 1 + calls % 5 };
            let mut end = offset;
            let parts: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let start = end;
                    end = (end + next_len()).min(LEN);
                    (start..end).map(pattern).collect()
                })
                .collect();
            assert_eq!(rig.append(link, parts), Sent::Queued, "{kind:?}");
            offset = end;
            calls += 1;
        }
        let got = receiver.join().unwrap();
        assert!(is_pattern(&got), "{kind:?}: the stream differs");
        wait_until("the output to drain", || rig.queued(link) == 0);
        rig.close(link);
        rig.wait_closed(link);
        rig.check();
    }
}

#[test]
fn connect_to_a_closed_port_fails_once() {
    for &kind in kinds() {
        let rig = Rig::start(kind);
        let addr = TcpListener::bind(loopback()).unwrap().local_addr().unwrap();
        let link = rig.connect(0, addr);
        let error = rig.wait_closed(link);
        assert!(
            error.is_some(),
            "{kind:?}: a failed connect reports its error"
        );
        thread::sleep(Duration::from_millis(50));
        let state = rig.shared.state.lock().unwrap();
        let log = &state.links[&link];
        assert_eq!(log.connected, None, "{kind:?}: no connected");
        assert_eq!(log.closed.len(), 1, "{kind:?}");
        drop(state);
        assert_eq!(rig.send(link, vec![1]), Sent::Gone, "{kind:?}");
        rig.check();
    }
}

#[test]
fn peer_close_is_reported_once_and_the_id_is_never_reused() {
    for &kind in kinds() {
        let rig = Rig::start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let mut peer = std_peer(&listener);
        assert_eq!(rig.wait_connected(link), listener.local_addr().unwrap());
        peer.write_all(b"bye").unwrap();
        drop(peer);
        assert_eq!(rig.wait_closed(link), None, "{kind:?}");
        assert_eq!(rig.wait_data(link, 3), b"bye");
        thread::sleep(Duration::from_millis(50));
        assert_eq!(rig.closed_count(link), 1, "{kind:?}");
        rig.close(link); // closing a gone link: a no-op
        assert_eq!(rig.send(link, vec![1]), Sent::Gone, "{kind:?}");
        // The next link may take the slot, never the id.
        let next = rig.connect(0, listener.local_addr().unwrap());
        let _peer = std_peer(&listener);
        rig.wait_connected(next);
        assert_ne!(next, link, "{kind:?}");
        assert_eq!(rig.send(link, vec![1]), Sent::Gone, "{kind:?}: a stale id");
        assert_eq!(rig.queued(link), 0, "{kind:?}");
        rig.close(link);
        assert_eq!(rig.send(next, vec![1]), Sent::Queued, "{kind:?}");
        rig.close(next);
        rig.wait_closed(next);
        assert_eq!(rig.closed_count(link), 1, "{kind:?}");
        rig.check();
    }
}

#[test]
fn close_drops_unwritten_bytes_and_reports_once() {
    for &kind in kinds() {
        let config = Config {
            max_queued_bytes: 1 << 20,
            ..Config::default()
        };
        let rig = Rig::start_with(kind, config, false);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let peer = std_peer(&listener);
        rig.wait_connected(link);
        let filled = rig.fill(link, 64 * 1024);
        // With the limit unwritten; twice in one callback, and the output
        // is gone at once.
        let (topped, gone) = rig.top_up(link, 64 * 1024, move |io| {
            io.close(link);
            io.close(link);
            io.output(link).is_none()
        });
        let queued = filled + topped;
        assert!(gone, "{kind:?}: output after close");
        assert_eq!(rig.wait_closed(link), None, "{kind:?}");
        let delivered = drain(peer);
        assert!(
            delivered < queued,
            "{kind:?}: {delivered} of {queued} bytes arrived"
        );
        thread::sleep(Duration::from_millis(50));
        assert_eq!(rig.closed_count(link), 1, "{kind:?}");
        rig.check();
    }
}

#[test]
fn unknown_links_are_not_connected() {
    for &kind in kinds() {
        let rig = Rig::start(kind);
        for link in [LinkId(u64::MAX), LinkId(12_345), LinkId(7 << 32)] {
            let (output, queued) = rig.call(0, move |io| {
                io.close(link);
                (io.output(link).is_some(), io.queued(link))
            });
            assert!(!output, "{kind:?}: output for {link:?}");
            assert_eq!(queued, 0, "{kind:?}");
        }
        thread::sleep(Duration::from_millis(20));
        assert_eq!(rig.count(), 0, "{kind:?}: no events");
    }
}

/// Max queued bytes for the output limit tests.
const LIMIT: usize = 256 * 1024;

#[test]
fn a_peer_that_reads_again_drains_the_output() {
    for &kind in kinds() {
        let config = Config {
            max_queued_bytes: LIMIT,
            ..Config::default()
        };
        let rig = Rig::start_with(kind, config, false);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let peer = std_peer(&listener);
        rig.wait_connected(link);
        let queued = rig.fill(link, 16 * 1024);
        assert!(queued >= LIMIT, "{kind:?}: full below the limit");
        // Once the peer reads again, the output drains.
        let reader = thread::spawn(move || drain(peer));
        wait_until("the output to drain", || rig.queued(link) == 0);
        assert_eq!(rig.send(link, vec![1; 10]), Sent::Queued, "{kind:?}");
        rig.close(link);
        assert_eq!(rig.wait_closed(link), None, "{kind:?}");
        assert!(reader.join().unwrap() >= queued, "{kind:?}");
        rig.check();
    }
}

/// A link whose output holds the limit when it is asked for again has a
/// peer that stopped reading: the reactor closes it, reported as
/// `WouldBlock`, and the peer sees it end.
#[test]
fn the_output_limit_closes_a_link_whose_peer_stopped_reading() {
    for &kind in kinds() {
        let config = Config {
            max_queued_bytes: LIMIT,
            ..Config::default()
        };
        let rig = Rig::start_with(kind, config, false);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let peer = std_peer(&listener);
        rig.wait_connected(link);
        rig.fill(link, 16 * 1024);
        let (_, (output, again)) = rig.top_up(link, 16 * 1024, move |io| {
            (io.output(link).is_some(), io.output(link).is_some())
        });
        assert!(!output && !again, "{kind:?}: an output past the limit");
        assert_eq!(
            rig.wait_closed(link),
            Some(ErrorKind::WouldBlock),
            "{kind:?}"
        );
        drain(peer);
        thread::sleep(Duration::from_millis(50));
        assert_eq!(rig.closed_count(link), 1, "{kind:?}");
        rig.check();
    }
}

/// With several reactors, listeners are dealt round-robin, a link stays
/// on the reactor that accepted or connected it, and every callback of a
/// handler runs on its own thread (the recorder checks both).
#[test]
fn links_stay_on_the_reactor_that_opened_them() {
    for &kind in kinds() {
        let config = Config {
            threads: 2,
            ..Config::default()
        };
        let rig = Rig::start_with(kind, config, true);
        let reactors = rig.backend.reactors();
        let mut accepted = Vec::new();
        let mut peers = Vec::new();
        for n in 0..reactors {
            let addr = rig.backend.listen(loopback()).unwrap();
            peers.push(TcpStream::connect(addr).unwrap());
            let link = rig.wait_nth(n);
            accepted.push(rig.reactor_of(link));
        }
        accepted.sort_unstable();
        let all: Vec<usize> = (0..reactors).collect();
        assert_eq!(accepted, all, "{kind:?}: listeners dealt round-robin");
        let addr = rig.backend.listen(loopback()).unwrap();
        for r in 0..reactors {
            let link = rig.connect(r, addr);
            rig.wait_connected(link);
            rig.send_all(link, b"ping".to_vec());
            assert_eq!(rig.wait_data(link, 4), b"ping", "{kind:?}");
            assert_eq!(rig.reactor_of(link), r, "{kind:?}");
            // Another reactor's handler does not see the link.
            let other = (r + 1) % reactors;
            if other != r {
                let seen = rig.call(other, move |io| io.output(link).is_some());
                assert!(!seen, "{kind:?}: reactor {other} has {link:?}");
            }
            rig.close(link);
            rig.wait_closed(link);
        }
        for (n, mut peer) in peers.into_iter().enumerate() {
            peer.write_all(b"x").unwrap();
            peer.set_read_timeout(Some(rig::DEADLINE)).unwrap();
            let mut echo = [0];
            peer.read_exact(&mut echo).unwrap();
            assert_eq!(&echo, b"x", "{kind:?}: listener {n}");
        }
        rig.check();
    }
}

#[test]
fn writes_from_a_turn_with_no_link_event_go_out() {
    // The handler appends in its turn (a job), not in a link's callback:
    // the reactor still writes it, though nothing else happens.
    for &kind in kinds() {
        let rig = Rig::start(kind);
        let listener = TcpListener::bind(loopback()).unwrap();
        let link = rig.connect(0, listener.local_addr().unwrap());
        let mut peer = std_peer(&listener);
        rig.wait_connected(link);
        let deadline = Instant::now() + rig::DEADLINE;
        for i in 0..100u8 {
            assert_eq!(rig.send(link, vec![i]), Sent::Queued, "{kind:?}");
            let mut byte = [0];
            peer.read_exact(&mut byte).unwrap();
            assert_eq!(byte[0], i, "{kind:?}");
            assert!(Instant::now() < deadline);
        }
        rig.close(link);
        rig.wait_closed(link);
        rig.check();
    }
}
