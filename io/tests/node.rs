//! Two (or three) `TcpNode`s over real loopback sockets, each with its own
//! engine node and application, for every backend: conversations, attach
//! rejection, session pooling, cancel over the wire, link loss, hostile
//! peers. Every test body runs under a watchdog that fails instead of
//! hanging. On Windows (CI: under Wine, `.ci/wine-test`) the same tests run
//! on IOCP.

mod support;

use appc_io::appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::backend::Kind;
use appc_io::engine::{Event, Target};
use appc_io::node::NodeConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// A record as the TP sends it: mapped as is, basic with its LL.
fn record(mapped: bool, data: &[u8]) -> Vec<u8> {
    if mapped {
        data.to_vec()
    } else {
        let mut r = ((data.len() + 2) as u16).to_be_bytes().to_vec();
        r.extend_from_slice(data);
        r
    }
}

fn full_conversation(kind: Kind, mapped: bool) {
    let (a, b, _) = pair(kind);
    thread::scope(|s| {
        s.spawn(|| {
            let conv = receive_allocate(&b.app);
            let (rc, what, data) = receive(&b.app, mapped, conv);
            assert_eq!((rc, what), (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE));
            assert!(data.ends_with(b"ping"), "{data:?}");
            assert_eq!(receive(&b.app, mapped, conv).1, WhatRcvd::SEND);
            let pong = record(mapped, b"pong");
            let rc = send(&b.app, mapped, conv, values::SEND_DATA_CONFIRM, &pong);
            assert_eq!(rc, PrimaryRc::OK);
            assert_eq!(receive(&b.app, mapped, conv).0, PrimaryRc::DEALLOC_NORMAL);
        });
        let conv = allocate(&a.app, mapped, "ECHO", values::SYNC_CONFIRM);
        let ping = record(mapped, b"ping");
        assert_eq!(
            send(&a.app, mapped, conv, values::SEND_DATA_NONE, &ping),
            PrimaryRc::OK
        );
        let (rc, what, data) = receive(&a.app, mapped, conv);
        assert_eq!((rc, what), (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE));
        assert!(data.ends_with(b"pong"));
        assert_eq!(
            receive(&a.app, mapped, conv).1,
            WhatRcvd::CONFIRM_WHAT_RECEIVED
        );
        assert_eq!(
            call_as(&a.app, mapped, Body::Confirmed(conv)).primary_rc,
            PrimaryRc::OK
        );
        assert_eq!(receive(&a.app, mapped, conv).1, WhatRcvd::SEND);
        let dealloc = Deallocate {
            conv,
            dealloc_type: values::FLUSH,
            log_data: vec![],
        };
        assert_eq!(
            call_as(&a.app, mapped, Body::Deallocate(dealloc)).primary_rc,
            PrimaryRc::OK
        );
    });
    assert_eq!(a.node.stats().snapshot().0, 1, "one BIND");
    assert_eq!(b.node.stats().snapshot().3, 0, "no violation");
}

#[test]
fn start_refuses_what_is_not_an_lu_name() {
    use appc_io::appc::Node;
    use appc_io::node::TcpNode;
    let kind = if cfg!(windows) {
        Kind::Iocp
    } else {
        Kind::Poll
    };
    // Empty, one past the 17 characters of a network-qualified name, and
    // characters outside the EBCDIC name set.
    for bad in ["", "NETWORK1.LUNAME123", "LU-1", "LU\u{e9}"] {
        let error = TcpNode::start(bad, Node::new(), kind, NodeConfig::default())
            .err()
            .unwrap_or_else(|| panic!("{bad:?} was taken for an LU name"));
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{bad:?}");
        assert!(error.to_string().contains("not an LU name"), "{error}");
    }
    for good in ["L", "NETWORK1.LUNAME12"] {
        TcpNode::start(good, Node::new(), kind, NodeConfig::default())
            .unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
}

#[test]
fn mapped_conversation() {
    for_each_backend(|kind| full_conversation(kind, true));
}

#[test]
fn basic_conversation() {
    for_each_backend(|kind| full_conversation(kind, false));
}

#[test]
fn unknown_tp_is_rejected_on_a_later_verb() {
    for_each_backend(|kind| {
        let (a, _b, _) = pair(kind);
        let conv = allocate(&a.app, true, "NOBODY", values::SYNC_CONFIRM);
        let v = call(
            &a.app,
            Body::Confirm(Confirm {
                conv,
                rts_rcvd: false,
            }),
        );
        assert_eq!(
            (v.primary_rc, v.secondary_rc),
            (
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::TP_NAME_NOT_RECOGNIZED
            )
        );
        // The session went back to the pool: the next conversation reuses it.
        let conv = allocate(&a.app, true, "NOBODY", values::SYNC_CONFIRM);
        let rc = send(&a.app, true, conv, values::SEND_DATA_NONE, b"x");
        assert_eq!(rc, PrimaryRc::OK);
        let v = call(
            &a.app,
            Body::Deallocate(Deallocate {
                conv,
                dealloc_type: values::SYNC_LEVEL,
                log_data: vec![],
            }),
        );
        assert_eq!(
            (v.primary_rc, v.secondary_rc),
            (
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::TP_NAME_NOT_RECOGNIZED
            ),
        );
        let (binds, _, reused, _, _) = a.node.stats().snapshot();
        assert_eq!((binds, reused), (1, 1));
    });
}

/// A node and its engine hold each other (the engine holds the node's
/// shards as the owners of their conversations): once both sides are
/// dropped after an exchange, each engine is freed.
#[test]
fn nodes_and_their_engines_are_freed() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        echo_round(&a, &b, "LUB", 3);
        let engines = [a.engine.downgrade(), b.engine.downgrade()];
        drop((a, b));
        for (side, engine) in ["A", "B"].iter().zip(&engines) {
            assert!(
                engine.upgrade().is_none(),
                "{kind:?}: {side}'s engine lives on"
            );
        }
    });
}

#[test]
fn fifty_conversations_share_one_link_and_reuse_sessions() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let started = Instant::now();
        echo_round(&a, &b, "LUB", 50);
        let (binds, _, _, _, _) = a.node.stats().snapshot();
        assert!(binds <= 50, "{binds} sessions for 50 conversations");
        echo_round(&a, &b, "LUB", 50);
        let (binds2, accepted, reused, violations, closed) = b_and(&a, &b);
        assert!(binds2 <= 50, "{binds2} sessions");
        assert_eq!(binds2 + reused, 100, "every conversation binds or reuses");
        assert!(reused >= 50, "round two reuses: {reused}");
        assert_eq!((accepted, violations, closed), (binds2, 0, 0));
        eprintln!(
            "{kind:?}: 100 conversations over {binds} sessions on one link in {:?}",
            started.elapsed()
        );
    });
}

/// A's binds and reuse, B's accepted binds, both sides' violations and closed links.
fn b_and(a: &Side, b: &Side) -> (u64, u64, u64, u64, u64) {
    let (binds, _, reused, va, ca) = a.node.stats().snapshot();
    let (_, accepted, _, vb, cb) = b.node.stats().snapshot();
    (binds, accepted, reused, va + vb, ca + cb)
}

#[test]
fn cancel_on_one_node_fails_the_partner_verb_at_once() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        // A second conversation on the same link, which must carry on.
        let other = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        let (tx, mut rx) = a.app.queue();
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_CONFIRM);
        // other: A sends data and keeps the direction.
        assert_eq!(
            send(&a.app, true, other, values::SEND_DATA_FLUSH, b"one"),
            PrimaryRc::OK
        );
        let handle = a
            .app
            .submit(
                Verb::mapped(Body::ReceiveAndWait(Receive {
                    conv,
                    max_len: 100,
                    ..Default::default()
                })),
                &Target::Queue(tx),
            )
            .unwrap();
        // Attaches arrive in order on the one link.
        let b_other = receive_allocate(&b.app);
        let b_conv = receive_allocate(&b.app);
        assert_eq!(receive(&b.app, true, b_other).2, b"one");
        assert_eq!(receive(&b.app, true, b_conv).1, WhatRcvd::SEND);
        let event = Event::default();
        let registered = call(
            &b.app,
            Body::TestRtsAndPost(TestRtsAndPost {
                conv: b_conv,
                handle: event.clone(),
                post: None,
            }),
        );
        let Body::TestRtsAndPost(TestRtsAndPost {
            post: Some(post), ..
        }) = registered.body
        else {
            panic!("the registration has a post: {registered:?}")
        };
        let cancelled = Instant::now();
        assert_eq!(a.app.cancel(handle).code(), 0);
        let done = rx.try_recv().expect("posted before cancel returned");
        assert_eq!(done.verb.primary_rc, PrimaryRc::CANCELLED);
        assert!(
            event.wait_timeout(Duration::from_secs(10)),
            "B's post completes"
        );
        let elapsed = cancelled.elapsed();
        eprintln!("{kind:?}: cancel on A -> B's verb failed after {elapsed:?}");
        assert_eq!(
            b.app.collect(post).unwrap().primary_rc,
            PrimaryRc::CONV_FAILURE_RETRY
        );
        assert_eq!(
            send(&b.app, true, b_conv, values::SEND_DATA_FLUSH, b"x"),
            PrimaryRc::CONV_FAILURE_RETRY
        );
        assert!(rx.try_recv().is_none(), "the cancelled verb completed once");
        // The other conversation on the same link carries on.
        assert_eq!(
            send(&a.app, true, other, values::SEND_DATA_P_TO_R_FLUSH, b"two"),
            PrimaryRc::OK
        );
        let (rc, what, data) = receive(&b.app, true, b_other);
        assert_eq!(
            (rc, what, data),
            (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE, b"two".to_vec())
        );
        assert_eq!(receive(&b.app, true, b_other).1, WhatRcvd::SEND);
        let rc = send(
            &b.app,
            true,
            b_other,
            values::SEND_DATA_DEALLOC_FLUSH,
            b"bye",
        );
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(receive(&a.app, true, other).2, b"bye");
        assert_eq!(receive(&a.app, true, other).0, PrimaryRc::DEALLOC_NORMAL);
    });
}

#[test]
fn link_loss_fails_exactly_the_conversations_on_it() {
    for_each_backend(|kind| {
        let (a, b, addr) = pair(kind);
        let c = side("LUC", kind);
        c.node.add_partner("LUB", addr);
        // A and C each hand B the direction, and wait in RECEIVE.
        let mut waits = Vec::new();
        for s in [&a, &c] {
            let conv = allocate(&s.app, true, "ECHO", values::SYNC_NONE);
            let (tx, rx) = s.app.queue();
            s.app
                .submit(
                    Verb::mapped(Body::ReceiveAndWait(Receive {
                        conv,
                        max_len: 100,
                        ..Default::default()
                    })),
                    &Target::Queue(tx),
                )
                .unwrap();
            let b_conv = receive_allocate(&b.app);
            assert_eq!(receive(&b.app, true, b_conv).1, WhatRcvd::SEND);
            waits.push((conv, rx, b_conv));
        }
        a.node.disconnect("LUB");
        let (_, a_rx, b_of_a) = &mut waits[0];
        let done = a_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("A's receive completes");
        assert_eq!(done.verb.primary_rc, PrimaryRc::CONV_FAILURE_RETRY);
        // B learns too: its next verb on that conversation fails.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rc = send(&b.app, true, *b_of_a, values::SEND_DATA_FLUSH, b"x");
            if rc == PrimaryRc::CONV_FAILURE_RETRY {
                break;
            }
            assert_eq!(rc, PrimaryRc::OK);
            assert!(Instant::now() < deadline, "B never saw the link loss");
            thread::sleep(Duration::from_millis(5));
        }
        // C's conversation, on its own link, is untouched.
        let (c_conv, c_rx, b_of_c) = &mut waits[1];
        assert!(c_rx.try_recv().is_none());
        let rc = send(
            &b.app,
            true,
            *b_of_c,
            values::SEND_DATA_DEALLOC_FLUSH,
            b"still here",
        );
        assert_eq!(rc, PrimaryRc::OK);
        let done = c_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("C receives");
        let Body::ReceiveAndWait(r) = &done.verb.body else {
            unreachable!()
        };
        assert_eq!(
            (done.verb.primary_rc, r.data.as_slice()),
            (PrimaryRc::OK, &b"still here"[..])
        );
        assert_eq!(receive(&c.app, true, *c_conv).0, PrimaryRc::DEALLOC_NORMAL);
        // A reconnects on its next ALLOCATE.
        thread::scope(|s| {
            s.spawn(|| {
                let conv = receive_allocate(&b.app);
                assert_eq!(receive(&b.app, true, conv).0, PrimaryRc::DEALLOC_NORMAL);
            });
            let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
            let dealloc = Deallocate {
                conv,
                dealloc_type: values::FLUSH,
                log_data: vec![],
            };
            assert_eq!(
                call(&a.app, Body::Deallocate(dealloc)).primary_rc,
                PrimaryRc::OK
            );
        });
    });
}

#[test]
fn hostile_peers_lose_their_own_link_only() {
    for_each_backend(|kind| {
        let (a, b, addr) = pair(kind);
        // A conversation in progress across the A-B link.
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(&a.app, true, conv, values::SEND_DATA_FLUSH, b"1"),
            PrimaryRc::OK
        );
        let b_conv = receive_allocate(&b.app);
        assert_eq!(receive(&b.app, true, b_conv).2, b"1");
        let hostile: [&[u8]; 3] = [
            // An oversize length prefix.
            &[0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3],
            // A length below a TH + RH.
            &[0, 0, 0, 2, 0, 0],
            // Garbage.
            &[0xAB; 64],
        ];
        for bytes in hostile {
            let mut peer = TcpStream::connect(addr).unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            peer.write_all(bytes).unwrap();
            let mut buf = [0u8; 64];
            match peer.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                other => panic!("B kept a hostile link open: {other:?}"),
            }
        }
        // A well-framed PIU that does not decode, for no session: dropped,
        // the link stays up.
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.write_all(&[0, 0, 0, 9, 0x50, 0, 0, 0, 0, 0, 0, 0, 0])
            .unwrap();
        peer.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 8];
        assert!(
            // A read timeout is `WouldBlock` on Unix, `TimedOut` on Windows.
            matches!(
                peer.read(&mut buf),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
            ),
            "the link stays up"
        );
        let (_, _, _, violations, _) = b.node.stats().snapshot();
        assert!(violations >= 3, "{violations}");
        // The A-B conversation carries on.
        assert_eq!(
            send(&a.app, true, conv, values::SEND_DATA_P_TO_R_FLUSH, b"2"),
            PrimaryRc::OK
        );
        assert_eq!(receive(&b.app, true, b_conv).2, b"2");
        assert_eq!(receive(&b.app, true, b_conv).1, WhatRcvd::SEND);
        let rc = send(&b.app, true, b_conv, values::SEND_DATA_DEALLOC_FLUSH, b"3");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(receive(&a.app, true, conv).2, b"3");
        assert_eq!(receive(&a.app, true, conv).0, PrimaryRc::DEALLOC_NORMAL);
    });
}

/// A's TP sends `COUNT` records (about 50 MB) to a TP on B that does not
/// receive until A's sends have stopped: B's session holds at most
/// `max_session_buffer + 2 * window * max_RU` (pacing), A's SEND_DATAs wait
/// (backpressure) rather than run ahead, A's link is not closed by its
/// send-queue bound, and B then receives everything, in order.
fn bulk_to_a_tp_that_does_not_receive(kind: Kind, mapped: bool) {
    const RECORD: usize = 32_000;
    const COUNT: usize = 1_600;
    let mut config = NodeConfig::default();
    // Half the default: a link queue that grew with the sender would close.
    config.backend.max_queued_bytes = 2 << 20;
    let b = side_with("LUB", kind, config.clone());
    b.engine.define_tp("ECHO");
    let a = side_with("LUA", kind, config.clone());
    a.node.add_partner("LUB", listen(&b));
    let max_ru = config.max_frame - 9;
    let windows = 2 * usize::from(config.pacing_window) * max_ru;
    let held_bound = config.max_session_buffer + windows;
    // A flush: the engine's send buffer (32 KiB) and the record over it.
    let flush = 32 * 1024 + RECORD;
    let backlog_bound = config.max_send_backlog + flush + 1024;
    // Sent by A's TP and not received by B's: A's engine buffer, A's
    // session backlog, what B's session delivered or has in flight.
    let outstanding_bound = flush + backlog_bound + held_bound;
    let accepted = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let conv = allocate(&a.app, mapped, "ECHO", values::SYNC_NONE);
            for i in 0..COUNT {
                let mut data = vec![(i % 251) as u8; if mapped { RECORD } else { RECORD - 2 }];
                data[..4].copy_from_slice(&(i as u32).to_be_bytes());
                let rc = send(
                    &a.app,
                    mapped,
                    conv,
                    values::SEND_DATA_NONE,
                    &record(mapped, &data),
                );
                assert_eq!(rc, PrimaryRc::OK);
                accepted.fetch_add(RECORD, Ordering::SeqCst);
            }
            let dealloc = Deallocate {
                conv,
                dealloc_type: values::FLUSH,
                log_data: vec![],
            };
            let v = call_as(&a.app, mapped, Body::Deallocate(dealloc));
            assert_eq!(v.primary_rc, PrimaryRc::OK);
        });
        let conv = receive_allocate(&b.app);
        // Until the gauges show both ends at their limits: B's session
        // holds a full buffer (it withholds pacing) and A's backlog went
        // past `max_send_backlog` (so A's next SEND_DATA waits). The bounds
        // hold throughout.
        let limits_reached = || {
            let held = b.node.stats().received_held_max.load(Ordering::SeqCst) as usize;
            let backlog = a.node.stats().send_backlog_max.load(Ordering::SeqCst) as usize;
            held >= config.max_session_buffer && backlog > config.max_send_backlog
        };
        wait_until("both ends at their limits", || {
            let now = accepted.load(Ordering::SeqCst);
            assert!(
                now <= outstanding_bound,
                "{now} accepted, bound {outstanding_bound}"
            );
            limits_reached()
        });
        let last = accepted.load(Ordering::SeqCst);
        assert!(
            COUNT * RECORD > outstanding_bound,
            "A's sends must outrun the bound"
        );
        let held = b.node.stats().received_held_max.load(Ordering::SeqCst) as usize;
        let backlog = a.node.stats().send_backlog_max.load(Ordering::SeqCst) as usize;
        eprintln!(
            "{kind:?} mapped={mapped}: A stopped after {} kB; B held at most {} kB (bound {}), A's backlog at most {} kB (bound {})",
            last / 1000,
            held / 1000,
            held_bound / 1000,
            backlog / 1000,
            backlog_bound / 1000
        );
        assert!(
            held > config.max_session_buffer / 2,
            "B's TP did not receive: B held data"
        );
        assert!(held <= held_bound);
        assert!(backlog <= backlog_bound);
        // Now B receives it all, in order.
        let mut received = 0;
        for i in 0..COUNT {
            let v = call_as(
                &b.app,
                mapped,
                Body::ReceiveAndWait(Receive {
                    conv,
                    max_len: u16::MAX,
                    fill: values::FILL_LL,
                    ..Default::default()
                }),
            );
            let Body::ReceiveAndWait(r) = v.body else {
                unreachable!()
            };
            assert_eq!(v.primary_rc, PrimaryRc::OK);
            assert_eq!(r.data.len(), RECORD);
            let at = if mapped { 0 } else { 2 };
            assert_eq!(r.data[at..at + 4], (i as u32).to_be_bytes(), "in order");
            assert!(r.data[at + 4..].iter().all(|&x| x == (i % 251) as u8));
            received += RECORD;
            let sent = accepted.load(Ordering::SeqCst);
            assert!(sent.saturating_sub(received) <= outstanding_bound);
        }
        assert_eq!(receive(&b.app, mapped, conv).0, PrimaryRc::DEALLOC_NORMAL);
    });
    let held = b.node.stats().received_held_max.load(Ordering::SeqCst) as usize;
    assert!(held <= held_bound, "{held} > {held_bound}");
    let backlog = a.node.stats().send_backlog_max.load(Ordering::SeqCst) as usize;
    assert!(backlog <= backlog_bound, "{backlog} > {backlog_bound}");
    for side in [&a, &b] {
        let (_, _, _, violations, links_closed) = side.node.stats().snapshot();
        assert_eq!(
            (violations, links_closed),
            (0, 0),
            "no violation, no link lost"
        );
    }
}

#[test]
fn fifty_mb_to_a_tp_that_does_not_receive_mapped() {
    for_each_backend(|kind| bulk_to_a_tp_that_does_not_receive(kind, true));
}

#[test]
fn fifty_mb_to_a_tp_that_does_not_receive_basic() {
    for_each_backend(|kind| bulk_to_a_tp_that_does_not_receive(kind, false));
}

/// A node configured unpaced (window 0) BINDs with windows of 0: the
/// sessions are unpaced both ways (interop), conversations work; a TP that
/// does not receive fails its conversation once it holds more than twice
/// `max_session_buffer` (sense 08120000), the link stays.
#[test]
fn an_unpaced_bind_is_honoured_and_bounded() {
    for_each_backend(|kind| {
        let config = NodeConfig {
            pacing_window: 0,
            ..NodeConfig::default()
        };
        let b = side("LUB", kind);
        b.engine.define_tp("ECHO");
        let a = side_with("LUA", kind, config);
        a.node.add_partner("LUB", listen(&b));
        echo_round(&a, &b, "LUB", 2);
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        let record = vec![7u8; 32_000];
        assert_eq!(
            send(&a.app, true, conv, values::SEND_DATA_FLUSH, &record),
            PrimaryRc::OK
        );
        let b_conv = receive_allocate(&b.app);
        let limit = NodeConfig::default().max_session_buffer;
        let mut sent = 0;
        let rc = loop {
            let rc = send(&a.app, true, conv, values::SEND_DATA_FLUSH, &record);
            if rc != PrimaryRc::OK {
                break rc;
            }
            sent += record.len();
            assert!(sent < 64 * limit, "never failed");
            thread::sleep(Duration::from_micros(200));
        };
        eprintln!(
            "{kind:?}: unpaced, {} kB sent before the failure",
            sent / 1000
        );
        assert_eq!(rc, PrimaryRc::CONV_FAILURE_NO_RETRY);
        let held = b.node.stats().received_held_max.load(Ordering::SeqCst) as usize;
        assert!(held <= 2 * limit + 64 * 1024, "{held}");
        let rc = loop {
            let (rc, _, _) = receive(&b.app, true, b_conv);
            if rc != PrimaryRc::OK {
                break rc;
            }
        };
        assert_eq!(rc, PrimaryRc::CONV_FAILURE_NO_RETRY);
        let (_, _, _, violations, links_closed) = b.node.stats().snapshot();
        assert_eq!((violations, links_closed), (1, 0));
        echo_round(&a, &b, "LUB", 2);
    });
}

/// Reactors that poll before they sleep (`backend::Config::idle_poll`)
/// carry conversations as sleeping ones do: echo rounds of many
/// conversations at once, with pauses between them long enough for the
/// reactors to give up polling and sleep.
#[test]
fn polling_reactors_carry_conversations() {
    for_each_backend(|kind| {
        let mut config = NodeConfig::default();
        config.backend.idle_poll = true;
        let b = side_with("LUB", kind, config.clone());
        b.engine.define_tp("ECHO");
        let a = side_with("LUA", kind, config);
        a.node.add_partner("LUB", listen(&b));
        if a.node.backend_name().starts_with("io_uring") {
            assert_eq!(a.node.backend_name(), "io_uring (idle poll)");
        }
        for n in [1, 16, 1] {
            echo_round(&a, &b, "LUB", n);
            thread::sleep(Duration::from_millis(20));
        }
        let (_, _, _, violations, links_closed) = b.node.stats().snapshot();
        assert_eq!((violations, links_closed), (0, 0), "{kind:?}");
    });
}

/// Nodes with different frame limits settle RU sizes in the BIND and its
/// image: each sends RUs the other takes. A 64 KiB record goes each way
/// between a node with the default limit and one with 16 KiB frames, whoever
/// opens the link. (Cutting at its own limit, the larger node broke the
/// smaller one's framing, which closed the link.)
#[test]
fn nodes_with_different_frame_limits_agree_on_ru_sizes() {
    for_each_backend(|kind| {
        let small = NodeConfig {
            max_frame: 16 << 10,
            ..NodeConfig::default()
        };
        for (a_config, b_config) in [
            (NodeConfig::default(), small.clone()),
            (small.clone(), NodeConfig::default()),
        ] {
            let b = side_with("LUB", kind, b_config);
            b.engine.define_tp("ECHO");
            let a = side_with("LUA", kind, a_config);
            a.node.add_partner("LUB", listen(&b));
            let record: Vec<u8> = (0..65_535u32).map(|i| (i % 251) as u8).collect();
            let receive_record = |app: &_, conv| {
                let v = call(
                    app,
                    Body::ReceiveAndWait(Receive {
                        conv,
                        max_len: u16::MAX,
                        ..Default::default()
                    }),
                );
                let Body::ReceiveAndWait(r) = v.body else {
                    unreachable!()
                };
                (v.primary_rc, r.what_rcvd, r.data)
            };
            thread::scope(|s| {
                s.spawn(|| {
                    let conv = receive_allocate(&b.app);
                    let (rc, what, data) = receive_record(&b.app, conv);
                    assert_eq!((rc, what), (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE));
                    assert!(data == record, "B received {} bytes", data.len());
                    assert_eq!(receive(&b.app, true, conv).1, WhatRcvd::SEND);
                    let rc = send(&b.app, true, conv, values::SEND_DATA_DEALLOC_FLUSH, &data);
                    assert_eq!(rc, PrimaryRc::OK);
                    tp_ended(&b.app, conv.tp_id);
                });
                let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
                let rc = send(&a.app, true, conv, values::SEND_DATA_P_TO_R_FLUSH, &record);
                assert_eq!(rc, PrimaryRc::OK);
                let (rc, what, data) = receive_record(&a.app, conv);
                assert_eq!((rc, what), (PrimaryRc::OK, WhatRcvd::DATA_COMPLETE));
                assert!(data == record, "A received {} bytes", data.len());
                assert_eq!(receive(&a.app, true, conv).0, PrimaryRc::DEALLOC_NORMAL);
                tp_ended(&a.app, conv.tp_id);
            });
            for side in [&a, &b] {
                let (_, _, _, violations, links_closed) = side.node.stats().snapshot();
                assert_eq!((violations, links_closed), (0, 0), "{kind:?}");
            }
        }
    });
}

/// A SEND_DATA waiting on a backlogged session is cancelled as any
/// conversation verb: `AP_CANCELLED` at once, the session is unbound (held
/// RUs dropped), the partner fails `CONV_FAILURE_RETRY` after what it got.
#[test]
fn a_send_waiting_for_the_backlog_is_cancelled() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(&a.app, true, conv, values::SEND_DATA_FLUSH, b"x"),
            PrimaryRc::OK
        );
        let b_conv = receive_allocate(&b.app);
        let (tx, mut rx) = a.app.queue();
        let send_verb = || {
            verb(
                true,
                Body::SendData(SendData {
                    conv,
                    send_type: values::SEND_DATA_FLUSH,
                    data: vec![9; 32_000],
                    rts_rcvd: false,
                }),
            )
        };
        // Sends until one waits: it has not completed, and A's backlog has
        // gone past its bound (B's TP does not receive, so the backlog
        // stays there; that happens after a few MB at most).
        let max_send_backlog = NodeConfig::default().max_send_backlog as u64;
        let over_bound =
            || a.node.stats().send_backlog_max.load(Ordering::SeqCst) > max_send_backlog;
        let waiting = 'sending: loop {
            let handle = a
                .app
                .submit(send_verb(), &Target::Queue(tx.clone()))
                .unwrap();
            let deadline = Instant::now() + LIMIT / 2;
            while Instant::now() < deadline {
                match rx.recv_timeout(Duration::from_millis(20)) {
                    Some(done) => {
                        assert_eq!((done.handle, done.verb.primary_rc), (handle, PrimaryRc::OK));
                        continue 'sending;
                    }
                    None if over_bound() => break 'sending handle,
                    None => {}
                }
            }
            panic!("a send neither completed nor met a full backlog");
        };
        assert_eq!(a.app.cancel(waiting).code(), 0);
        let done = rx
            .recv_timeout(LIMIT)
            .expect("the cancelled send completes");
        assert_eq!(
            (done.handle, done.verb.primary_rc),
            (waiting, PrimaryRc::CANCELLED)
        );
        let rc = loop {
            let (rc, _, _) = receive(&b.app, true, b_conv);
            if rc != PrimaryRc::OK {
                break rc;
            }
        };
        assert_eq!(rc, PrimaryRc::CONV_FAILURE_RETRY);
        assert!(rx.try_recv().is_none());
        echo_round(&a, &b, "LUB", 2);
        let (_, _, _, violations, links_closed) = b.node.stats().snapshot();
        assert_eq!((violations, links_closed), (0, 0));
    });
}

/// An attach that waits on B for a RECEIVE_ALLOCATE leaves B's queue when
/// its conversation dies first, over TCP as in memory: A's verb is
/// cancelled (the session is unbound), or A abends the conversation. B
/// holds no conversation afterwards, and a live conversation still runs.
#[test]
fn dead_attaches_leave_the_queue() {
    for_each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let queued = |n: usize| {
            wait_until(&format!("{n} attaches queued on B"), || {
                b.engine.queued_attaches() == n
            })
        };
        // Cancelled: the session is unbound under the queued attach.
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(call(&a.app, Body::Flush(conv)).primary_rc, PrimaryRc::OK);
        queued(1);
        let (tx, _rx) = a.app.queue();
        let handle = submit_receive(&a.app, conv, &tx);
        assert_eq!(a.app.cancel(handle).code(), 0);
        queued(0);
        // Abended: the abend arrives behind the attach.
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(call(&a.app, Body::Flush(conv)).primary_rc, PrimaryRc::OK);
        queued(1);
        let abend = Deallocate {
            conv,
            dealloc_type: values::ABEND,
            log_data: vec![],
        };
        assert_eq!(
            call(&a.app, Body::Deallocate(abend)).primary_rc,
            PrimaryRc::OK
        );
        queued(0);
        wait_until("B holds no conversation", || b.node.stats().live().0 == 0);
        echo_round(&a, &b, "LUB", 2);
    });
}
