//! Limits and flow: fifty MB to a TP that does not receive, an unpaced
//! BIND honoured and bounded, polling reactors, nodes with different frame
//! limits, a send waiting for the backlog cancelled, dead attaches.

use crate::record;
use crate::support::*;
use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::backend::Kind;
use appc_io::engine::Target;
use appc_io::node::NodeConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

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
