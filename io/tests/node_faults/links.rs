//! Faults on a link's bytes: cut mid-conversation (half a frame then
//! close, a reset), a PIU that does not decode and broken framing, and a
//! peer that stops reading.

use crate::support::*;
use crate::{
    completes, each_backend, links_lost, nothing_left, others_unaffected, send_fails,
    send_until_it_fails, trio, two_conversations, Fault,
};
use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::backend::Kind;
use appc_io::node::NodeConfig;

/// The link between A and B ends by `fault` while A waits on one
/// conversation and B on another: a link loss at both ends (RETRY), not a
/// violation, and nothing else is affected.
fn link_cut_mid_conversation(kind: Kind, fault: Fault) {
    let mut t = trio(kind, NodeConfig::default());
    let (a_tx, mut a_rx) = t.a.app.queue();
    let (b_tx, mut b_rx) = t.b.app.queue();
    let two = two_conversations(&mut t, &a_tx, &b_tx);
    t.proxy.arm(fault);
    let rc = send(
        &t.a.app,
        true,
        two.a_send,
        values::SEND_DATA_FLUSH,
        &[7; 500],
    );
    assert_eq!(rc, PrimaryRc::OK);
    assert_eq!(t.proxy.injected(), fault);
    let retry = PrimaryRc::CONV_FAILURE_RETRY;
    completes(&mut a_rx, two.a_wait.1, retry);
    completes(&mut b_rx, two.b_wait.1, retry);
    links_lost(&t.a, 1);
    links_lost(&t.b, 1);
    send_fails(&t.a.app, two.a_send, retry);
    send_fails(&t.b.app, two.b_send, retry);
    let (_, _, _, va, ca) = t.a.node.stats().snapshot();
    let (_, _, _, vb, cb) = t.b.node.stats().snapshot();
    assert_eq!(
        (va, ca, vb, cb),
        (0, 1, 0, 1),
        "one link lost, no violation"
    );
    others_unaffected(&t);
    assert!(a_rx.try_recv().is_none() && b_rx.try_recv().is_none());
    nothing_left(&[&t.a, &t.b, &t.c], &two.tps(&t));
}

#[test]
fn half_a_frame_then_close_fails_that_link_only() {
    each_backend(|kind| link_cut_mid_conversation(kind, Fault::HalfThenClose));
}

#[test]
fn reset_mid_conversation_fails_that_link_only() {
    each_backend(|kind| link_cut_mid_conversation(kind, Fault::Reset));
}

#[test]
fn an_undecodable_piu_ends_its_session_and_broken_framing_its_link() {
    each_backend(|kind| {
        let mut t = trio(kind, NodeConfig::default());
        let (a_tx, mut a_rx) = t.a.app.queue();
        let (b_tx, mut b_rx) = t.b.app.queue();
        let two = two_conversations(&mut t, &a_tx, &b_tx);
        let no_retry = PrimaryRc::CONV_FAILURE_NO_RETRY;
        // A PIU of the second session that does not decode: B unbinds
        // that session (type FE), both ends fail NO_RETRY.
        t.proxy.arm(Fault::Corrupt);
        let rc = send(&t.a.app, true, two.a_send, values::SEND_DATA_FLUSH, b"2");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(t.proxy.injected(), Fault::Corrupt);
        completes(&mut b_rx, two.b_wait.1, no_retry);
        let a_handle = submit_receive(&t.a.app, two.a_send, &a_tx);
        completes(&mut a_rx, a_handle, no_retry);
        assert_eq!(t.b.node.stats().snapshot().3, 1, "one violation");
        // The first session, on the same link, carries on.
        let rc = send(
            &t.b.app,
            true,
            two.b_send,
            values::SEND_DATA_P_TO_R_FLUSH,
            b"3",
        );
        assert_eq!(rc, PrimaryRc::OK);
        let done = a_rx.recv_timeout(LIMIT).expect("A receives");
        assert_eq!(
            (done.handle, done.verb.primary_rc),
            (two.a_wait.1, PrimaryRc::OK)
        );
        let (a_conv, b_conv) = (two.a_wait.0, two.b_send);
        assert_eq!(receive(&t.a.app, true, a_conv).1, WhatRcvd::SEND);
        // Now a length prefix over the limit: B closes the whole link;
        // its end fails NO_RETRY, A's sees the link go (RETRY).
        let b_handle = submit_receive(&t.b.app, b_conv, &b_tx);
        t.proxy.arm(Fault::Oversize);
        let rc = send(&t.a.app, true, a_conv, values::SEND_DATA_FLUSH, b"4");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(t.proxy.injected(), Fault::Oversize);
        completes(&mut b_rx, b_handle, no_retry);
        let a_handle = submit_receive(&t.a.app, a_conv, &a_tx);
        completes(&mut a_rx, a_handle, PrimaryRc::CONV_FAILURE_RETRY);
        links_lost(&t.b, 1);
        assert_eq!(t.b.node.stats().snapshot().3, 2, "two violations");
        others_unaffected(&t);
        assert!(a_rx.try_recv().is_none() && b_rx.try_recv().is_none());
        nothing_left(&[&t.a, &t.b, &t.c], &two.tps(&t));
    });
}

#[test]
fn a_peer_that_stops_reading_loses_its_link_at_the_send_queue_bound() {
    each_backend(|kind| {
        let mut config = NodeConfig::default();
        config.backend.max_queued_bytes = 256 * 1024;
        // Unpaced sessions: paced, A's sends would wait for the stalled
        // peer's pacing responses instead (node/limits.rs, the pacing tests).
        config.pacing_window = 0;
        let mut t = trio(kind, config);
        let (a_tx, mut a_rx) = t.a.app.queue();
        let (b_tx, mut b_rx) = t.b.app.queue();
        let two = two_conversations(&mut t, &a_tx, &b_tx);
        t.proxy.arm(Fault::Stall);
        // A sends more than the link can hold (socket buffers, 4 MiB at
        // most by default, plus max_queued_bytes): its link goes.
        let (v, accepted) = send_until_it_fails(&t.a.app, two.a_send, 24 << 20);
        eprintln!(
            "{kind:?}: SEND_DATA accepted {} KiB before the stalled link closed",
            accepted / 1024
        );
        assert_eq!(t.proxy.injected(), Fault::Stall);
        let retry = PrimaryRc::CONV_FAILURE_RETRY;
        assert_eq!(v.primary_rc, retry);
        completes(&mut a_rx, two.a_wait.1, retry);
        links_lost(&t.a, 1);
        assert_eq!(t.a.node.stats().snapshot().3, 0, "not a violation");
        // A's other link works; B's end learns when the stalled peer
        // finally goes.
        echo_round(&t.a, &t.c, "LUC", 2);
        t.proxy.close();
        completes(&mut b_rx, two.b_wait.1, retry);
        links_lost(&t.b, 1);
        send_fails(&t.b.app, two.b_send, retry);
        echo_round(&t.c, &t.b, "LUB", 2);
        assert!(a_rx.try_recv().is_none() && b_rx.try_recv().is_none());
        nothing_left(&[&t.a, &t.b, &t.c], &two.tps(&t));
    });
}
