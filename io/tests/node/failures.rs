//! Failures across the wire: a cancel on one node fails the partner's
//! verb at once, a lost link fails exactly its conversations, and hostile
//! peers lose only their own link.

use crate::support::*;
use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::engine::{Event, Target};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

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
