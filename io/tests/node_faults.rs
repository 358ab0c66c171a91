//! Fault injection on `TcpNode` links over real loopback sockets, for every
//! backend: half a frame then close, a reset, a PIU that does not
//! decode, an oversize length prefix, a peer that stops reading while we
//! send, a cancel during a large send, a link dropped under thousands of
//! outstanding verbs, a link dropped before its BINDs were answered.
//!
//! Most faults are injected by a [`Proxy`] between two real nodes, A (which
//! opens the link) and B, so both ends run the real protocol and both ends'
//! codes are checked. A third node C has a link to each (A -> C, C -> B):
//! the links that must be unaffected. In every case each outstanding verb
//! completes once, with its documented code (`io/src/node/mod.rs`,
//! "Failures"), and afterwards every TP is ended and nothing is left: no
//! engine task, no conversation in an engine or a node driver, no open fd.
//! The tests count the process's fds, so they take turns ([`serial`]).

#![cfg(target_os = "linux")]

mod support;

use appc_io::appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::appc::Appc;
use appc_io::backend::Kind;
use appc_io::engine::{Handle, Receiver, Sender, Target};
use appc_io::node::NodeConfig;
use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::*;

/// The tests count the process's open fds: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs `body` (which builds its nodes and proxy and drops them all) for
/// each backend, one test at a time, and checks that every fd it opened
/// is closed again: dropping a `TcpNode` joins its driver and reactor
/// threads, which close every socket, ring and eventfd.
fn each_backend(body: fn(Kind)) {
    let _serial = serial();
    for_each_backend(move |kind| {
        let before = open_fds();
        body(kind);
        assert_eq!(open_fds(), before, "{kind:?}: open fds before and after");
    });
}

/// What the proxy does to the next PIU from A to B.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Forward it.
    None,
    /// Forward its length prefix and half of it, then close both
    /// connections.
    HalfThenClose,
    /// Forward it with its TH's reserved byte set: it still names its
    /// session but does not decode.
    Corrupt,
    /// Send a length prefix over the frame limit instead.
    Oversize,
    /// Hold it, and read nothing more from A: a peer that stopped reading.
    Stall,
    /// Reset both connections (RST, no FIN).
    Reset,
}

/// A proxied link's two connections; both sockets close when both pumps
/// are done with it.
struct Conn {
    a: TcpStream,
    b: TcpStream,
    ended: AtomicBool,
}

impl Conn {
    /// Ends both connections, once. With `reset`, nothing is sent now and
    /// the last close sends RST.
    fn end(&self, reset: bool) {
        if self.ended.swap(true, Ordering::SeqCst) {
            return;
        }
        for stream in [&self.a, &self.b] {
            if reset {
                let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
                // Wakes the other pump's read (Linux) without a FIN.
                let _ = stream.shutdown(Shutdown::Read);
            } else {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

/// A TCP proxy from A to B that cuts A's byte stream into PIUs and
/// injects the armed [`Fault`] into the next one.
struct Proxy {
    listener: TcpListener,
    to: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    injected: mpsc::Receiver<Fault>,
    injected_tx: mpsc::Sender<Fault>,
    /// Dropped to let a stalled pump end.
    release: Option<mpsc::Sender<()>>,
    conn: Weak<Conn>,
    pumps: Vec<JoinHandle<()>>,
}

impl Proxy {
    fn listen(to: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // A small receive window (inherited by the accepted socket), so
        // that a stall backs up into A's send queue after little data.
        socket2::SockRef::from(&listener)
            .set_recv_buffer_size(16 * 1024)
            .unwrap();
        let (injected_tx, injected) = channel();
        Self {
            listener,
            to,
            fault: Arc::new(Mutex::new(Fault::None)),
            injected,
            injected_tx,
            release: None,
            conn: Weak::new(),
            pumps: Vec::new(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Takes A's connection (A connects when its first conversation
    /// flushes) and connects it on to B.
    fn accept(&mut self) {
        let (a, _) = self.listener.accept().unwrap();
        let b = TcpStream::connect(self.to).unwrap();
        for stream in [&a, &b] {
            stream.set_nodelay(true).unwrap();
        }
        let conn = Arc::new(Conn {
            a,
            b,
            ended: AtomicBool::new(false),
        });
        self.conn = Arc::downgrade(&conn);
        let (release_tx, release) = channel();
        self.release = Some(release_tx);
        let (fault, injected) = (Arc::clone(&self.fault), self.injected_tx.clone());
        let up = Arc::clone(&conn);
        self.pumps.push(thread::spawn(move || {
            pump_up(&up, &fault, &injected, &release);
            up.end(false);
        }));
        self.pumps.push(thread::spawn(move || {
            let _ = io::copy(&mut &conn.b, &mut &conn.a);
            conn.end(false);
        }));
    }

    fn arm(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Waits until the armed fault has been injected.
    fn injected(&self) -> Fault {
        self.injected.recv_timeout(LIMIT).expect("fault injected")
    }
}

/// A -> B: whole PIUs, or the armed fault in place of the next one.
fn pump_up(
    conn: &Conn,
    fault: &Mutex<Fault>,
    injected: &mpsc::Sender<Fault>,
    release: &mpsc::Receiver<()>,
) {
    loop {
        let mut prefix = [0; 4];
        if (&conn.a).read_exact(&mut prefix).is_err() {
            return;
        }
        let mut piu = vec![0; u32::from_be_bytes(prefix) as usize];
        if (&conn.a).read_exact(&mut piu).is_err() {
            return;
        }
        let now = std::mem::replace(&mut *fault.lock().unwrap(), Fault::None);
        let mut out = prefix.to_vec();
        match now {
            Fault::None => out.extend_from_slice(&piu),
            Fault::HalfThenClose => out.extend_from_slice(&piu[..piu.len() / 2]),
            Fault::Corrupt => {
                piu[1] = 0xFF;
                out.extend_from_slice(&piu);
            }
            Fault::Oversize => out = vec![0x7F, 0xFF, 0xFF, 0xFF],
            Fault::Stall | Fault::Reset => out.clear(),
        }
        if (&conn.b).write_all(&out).is_err() {
            return;
        }
        if now != Fault::None {
            let _ = injected.send(now);
        }
        match now {
            Fault::HalfThenClose => return,
            Fault::Stall => {
                let _ = release.recv();
                return;
            }
            Fault::Reset => return conn.end(true),
            _ => {}
        }
    }
}

impl Proxy {
    /// Ends the proxied link (a stalled pump too) and joins the pumps.
    fn close(&mut self) {
        self.release = None;
        if let Some(conn) = self.conn.upgrade() {
            conn.end(false);
        }
        for pump in self.pumps.drain(..) {
            let _ = pump.join();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.close();
    }
}

/// A -> proxy -> B, A -> C, C -> B; "ECHO" defined on B and C.
struct Trio {
    a: Side,
    b: Side,
    c: Side,
    proxy: Proxy,
}

fn trio(kind: Kind, a_config: NodeConfig) -> Trio {
    let b = side("LUB", kind);
    b.engine.define_tp("ECHO");
    let b_addr = listen(&b);
    let c = side("LUC", kind);
    c.engine.define_tp("ECHO");
    let c_addr = listen(&c);
    c.node.add_partner("LUB", b_addr);
    let proxy = Proxy::listen(b_addr);
    let a = side_with("LUA", kind, a_config);
    a.node.add_partner("LUB", proxy.addr());
    a.node.add_partner("LUC", c_addr);
    Trio { a, b, c, proxy }
}

/// Two conversations from A to B through the proxy: on the first A waits
/// in an outstanding RECEIVE_AND_WAIT (`a_wait`, to `a_queue`) and B holds
/// the direction (`b_send`); on the second A holds it (`a_send`) and B
/// waits (`b_wait`, to `b_queue`).
struct Two {
    a_wait: (Conv, Handle),
    b_send: Conv,
    a_send: Conv,
    b_wait: (Conv, Handle),
}

impl Two {
    fn tps<'s>(&self, t: &'s Trio) -> [(&'s Side, TpId); 4] {
        [
            (&t.a, self.a_wait.0.tp_id),
            (&t.a, self.a_send.tp_id),
            (&t.b, self.b_send.tp_id),
            (&t.b, self.b_wait.0.tp_id),
        ]
    }
}

fn two_conversations(t: &mut Trio, a_queue: &Sender<Verb>, b_queue: &Sender<Verb>) -> Two {
    let conv = allocate(&t.a.app, true, "ECHO", values::SYNC_NONE);
    let a_handle = submit_receive(&t.a.app, conv, a_queue);
    t.proxy.accept();
    let b_send = receive_allocate(&t.b.app);
    assert_eq!(receive(&t.b.app, true, b_send).1, WhatRcvd::SEND);
    let a_send = allocate(&t.a.app, true, "ECHO", values::SYNC_NONE);
    let rc = send(&t.a.app, true, a_send, values::SEND_DATA_FLUSH, b"1");
    assert_eq!(rc, PrimaryRc::OK);
    let b_conv = receive_allocate(&t.b.app);
    assert_eq!(receive(&t.b.app, true, b_conv).2, b"1");
    let b_handle = submit_receive(&t.b.app, b_conv, b_queue);
    Two {
        a_wait: (conv, a_handle),
        b_send,
        a_send,
        b_wait: (b_conv, b_handle),
    }
}

/// The next completion on `queue`: `handle`'s, with `rc`.
fn completes(queue: &mut Receiver<Verb>, handle: Handle, rc: PrimaryRc) -> Verb {
    let done = queue.recv_timeout(LIMIT).expect("the verb completes");
    assert_eq!(done.handle, handle);
    assert_eq!(done.verb.primary_rc, rc, "{:?}", done.verb);
    done.verb
}

/// Waits until `side` has lost `count` links in all, their conversations
/// failed.
fn links_lost(side: &Side, count: u64) {
    wait_until("the link's loss is handled", || {
        side.node.stats().snapshot().4 == count
    });
}

/// The verb after a failure reports it too, and ends the conversation:
/// `conv`'s local end, in SEND state, fails with `rc`.
fn send_fails(app: &Appc, conv: Conv, rc: PrimaryRc) {
    assert_eq!(send(app, true, conv, values::SEND_DATA_FLUSH, b"x"), rc);
}

/// SEND_DATA of `total` bytes in 32 kB records on `conv` (in SEND
/// state), until one fails; if none has, a RECEIVE_AND_WAIT then waits for
/// the failure. Returns the failed verb and the bytes accepted. (The
/// application may get ahead of the node's driver thread by any amount,
/// so a failure is awaited, not expected after some byte count.)
fn send_until_it_fails(app: &Appc, conv: Conv, total: usize) -> (Verb, usize) {
    let record = vec![0x5A; 32_000];
    let mut accepted = 0;
    while accepted < total {
        let v = call(
            app,
            Body::SendData(SendData {
                conv,
                send_type: values::SEND_DATA_NONE,
                data: record.clone(),
                rts_rcvd: false,
            }),
        );
        if v.primary_rc != PrimaryRc::OK {
            return (v, accepted);
        }
        accepted += record.len();
    }
    let v = app.call(receive_verb(true, conv)).expect("accepted");
    (v, accepted)
}

/// The links not involved still carry conversations both ways.
fn others_unaffected(t: &Trio) {
    echo_round(&t.a, &t.c, "LUC", 2);
    echo_round(&t.c, &t.b, "LUB", 2);
}

/// Ends the TPs, then checks that nothing is left on any node: no engine
/// task or conversation, no conversation in a driver.
fn nothing_left(sides: &[&Side], tps: &[(&Side, TpId)]) {
    for (side, tp_id) in tps {
        tp_ended(&side.app, *tp_id);
    }
    for side in sides {
        assert_eq!(side.app.stats().live_tasks, 0, "{}", side.node.lu_name());
        assert_eq!(
            format!("{:?}", side.engine),
            "Node { tps: 0, conversations: 0 }"
        );
        wait_until("the driver forgets every conversation", || {
            side.node.stats().live().0 == 0
        });
    }
}

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
        // peer's pacing responses instead (node.rs, the pacing tests).
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

#[test]
fn cancel_during_a_large_send_ends_that_session_only() {
    each_backend(|kind| {
        // Room for the whole send in A's queue: this test is about the
        // cancel, not the queue bound (the test above).
        let mut config = NodeConfig::default();
        config.backend.max_queued_bytes = 64 << 20;
        // And room for it in A's session (held by pacing, as B's TP does
        // not receive), so that A's SEND_DATAs complete without waiting.
        config.max_send_backlog = 64 << 20;
        let mut t = trio(kind, config);
        let (a_tx, mut a_rx) = t.a.app.queue();
        let (a, b) = (&t.a.app, &t.b.app);
        let x = allocate(a, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(a, true, x, values::SEND_DATA_FLUSH, b"x"),
            PrimaryRc::OK
        );
        t.proxy.accept();
        let b_x = receive_allocate(b);
        assert_eq!(receive(b, true, b_x).2, b"x");
        // A bystander on the same link.
        let y = allocate(a, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(a, true, y, values::SEND_DATA_FLUSH, b"y"),
            PrimaryRc::OK
        );
        let b_y = receive_allocate(b);
        assert_eq!(receive(b, true, b_y).2, b"y");
        // 8 MB that B's application does not receive, then a receive
        // that flushes them, passes the direction and waits.
        let started = Instant::now();
        let record = vec![0x42; 32_000];
        for _ in 0..250 {
            assert_eq!(
                send(a, true, x, values::SEND_DATA_NONE, &record),
                PrimaryRc::OK
            );
        }
        let handle = submit_receive(a, x, &a_tx);
        assert_eq!(a.cancel(handle).code(), 0);
        let done = a_rx.try_recv().expect("posted before cancel returned");
        assert_eq!(
            (done.handle, done.verb.primary_rc),
            (handle, PrimaryRc::CANCELLED)
        );
        // B gets what A flushed, then the session's end.
        let mut got = 0;
        let rc = loop {
            let v = call(
                b,
                Body::ReceiveAndWait(Receive {
                    conv: b_x,
                    max_len: u16::MAX,
                    ..Default::default()
                }),
            );
            let Body::ReceiveAndWait(r) = v.body else {
                unreachable!()
            };
            if v.primary_rc != PrimaryRc::OK {
                break v.primary_rc;
            }
            got += r.data.len();
        };
        eprintln!(
                "{kind:?}: cancel after 8 MB of SEND_DATA: B received {} KB, then the failure, {:?} after the first send",
                got / 1000,
                started.elapsed()
            );
        assert_eq!(rc, PrimaryRc::CONV_FAILURE_RETRY);
        assert!(got <= 250 * record.len());
        // The link and its other session carry on.
        let rc = send(a, true, y, values::SEND_DATA_P_TO_R_FLUSH, b"y2");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(receive(b, true, b_y).2, b"y2");
        assert_eq!(receive(b, true, b_y).1, WhatRcvd::SEND);
        let rc = send(b, true, b_y, values::SEND_DATA_DEALLOC_FLUSH, b"bye");
        assert_eq!(rc, PrimaryRc::OK);
        assert_eq!(receive(a, true, y).2, b"bye");
        assert_eq!(receive(a, true, y).0, PrimaryRc::DEALLOC_NORMAL);
        let (_, _, _, va, ca) = t.a.node.stats().snapshot();
        let (_, _, _, vb, cb) = t.b.node.stats().snapshot();
        assert_eq!((va, ca, vb, cb), (0, 0, 0, 0), "no violation, no link lost");
        others_unaffected(&t);
        assert!(
            a_rx.try_recv().is_none(),
            "the cancelled verb completed once"
        );
        let tps = [
            (&t.a, x.tp_id),
            (&t.a, y.tp_id),
            (&t.b, b_x.tp_id),
            (&t.b, b_y.tp_id),
        ];
        nothing_left(&[&t.a, &t.b, &t.c], &tps);
    });
}

#[test]
fn a_link_dropped_under_thousands_of_outstanding_receives() {
    const N: usize = 2_000;
    each_backend(|kind| {
        let config = NodeConfig {
            max_sessions_per_link: N + 16,
            ..NodeConfig::default()
        };
        let b = side_with("LUB", kind, config.clone());
        b.engine.define_tp("ECHO");
        let c = side("LUC", kind);
        c.engine.define_tp("ECHO");
        let a = side_with("LUA", kind, config);
        a.node.add_partner("LUB", listen(&b));
        a.node.add_partner("LUC", listen(&c));
        let (b_tx, mut b_rx) = b.app.queue();
        for _ in 0..N {
            let ra = ReceiveAllocate {
                tp_name: name("ECHO"),
                ..Default::default()
            };
            let verb = Verb::mapped(Body::ReceiveAllocate(ra));
            b.app.submit(verb, &Target::Queue(b_tx.clone())).unwrap();
        }
        let started = Instant::now();
        let (a_tx, mut a_rx) = a.app.queue();
        let a_tp = tp(&a.app);
        let mut waiting = HashSet::new();
        for _ in 0..N {
            let conv = allocate_on(&a.app, a_tp, "LUB", true, "ECHO", values::SYNC_NONE);
            assert!(waiting.insert(submit_receive(&a.app, conv, &a_tx)));
        }
        // A's conversation on its other link waits too.
        let (c_tx, mut c_rx) = a.app.queue();
        let to_c = allocate_on(&a.app, a_tp, "LUC", true, "ECHO", values::SYNC_NONE);
        let c_handle = submit_receive(&a.app, to_c, &c_tx);
        let on_c = receive_allocate(&c.app);
        assert_eq!(receive(&c.app, true, on_c).1, WhatRcvd::SEND);
        // B has every attach: each conversation has its bound session.
        let b_convs: Vec<Conv> = (0..N)
            .map(|_| {
                let done = b_rx.recv_timeout(LIMIT).expect("B gets the attach");
                assert_eq!(done.verb.primary_rc, PrimaryRc::OK);
                let Body::ReceiveAllocate(ra) = done.verb.body else {
                    unreachable!()
                };
                Conv {
                    tp_id: ra.tp_id,
                    conv_id: ra.conv_id,
                }
            })
            .collect();
        eprintln!(
            "{kind:?}: {N} conversations on {N} sessions of one link in {:?}",
            started.elapsed()
        );
        let dropped = Instant::now();
        a.node.disconnect("LUB");
        for _ in 0..N {
            let done = a_rx.recv_timeout(LIMIT).expect("every receive completes");
            assert_eq!(done.verb.primary_rc, PrimaryRc::CONV_FAILURE_RETRY);
            assert!(waiting.remove(&done.handle), "one completion per verb");
        }
        eprintln!(
            "{kind:?}: {N} outstanding receives failed {:?} after the drop",
            dropped.elapsed()
        );
        // The other link: C's data reaches A's waiting receive.
        let rc = send(&c.app, true, on_c, values::SEND_DATA_DEALLOC_FLUSH, b"c");
        assert_eq!(rc, PrimaryRc::OK);
        let v = completes(&mut c_rx, c_handle, PrimaryRc::OK);
        let Body::ReceiveAndWait(r) = v.body else {
            unreachable!()
        };
        assert_eq!(r.data, b"c");
        assert_eq!(receive(&a.app, true, to_c).0, PrimaryRc::DEALLOC_NORMAL);
        assert!(a_rx.try_recv().is_none(), "no second completion");
        // B's ends fail too, once B has seen the link go.
        links_lost(&a, 1);
        links_lost(&b, 1);
        for &conv in &b_convs {
            assert_eq!(receive(&b.app, true, conv).0, PrimaryRc::CONV_FAILURE_RETRY);
        }
        let (binds, _, _, va, ca) = a.node.stats().snapshot();
        let (_, accepted, _, vb, _) = b.node.stats().snapshot();
        assert_eq!(
            (binds, accepted, va, ca, vb),
            (N as u64 + 1, N as u64, 0, 1, 0)
        );
        let mut tps: Vec<(&Side, TpId)> = b_convs.iter().map(|c| (&b, c.tp_id)).collect();
        tps.extend([(&a, a_tp), (&c, on_c.tp_id)]);
        nothing_left(&[&a, &b, &c], &tps);
    });
}

#[test]
fn conversations_waiting_for_an_unanswered_bind_are_bounded_and_forgotten() {
    each_backend(|kind| {
        // A partner that accepts the link and never answers a BIND.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        // Sends complete beyond the session buffer (no backpressure before
        // it), so that the bound on queued flows is what stops them.
        let config = NodeConfig {
            max_send_backlog: 4 * NodeConfig::default().max_session_buffer,
            ..NodeConfig::default()
        };
        let a = side_with("LUA", kind, config);
        a.node.add_partner("LUB", silent.local_addr().unwrap());
        let app = &a.app;
        // Closed by its TP while its flows wait for the session.
        let closed = allocate(app, true, "ECHO", values::SYNC_NONE);
        assert_eq!(
            send(app, true, closed, values::SEND_DATA_NONE, b"z"),
            PrimaryRc::OK
        );
        let dealloc = Deallocate {
            conv: closed,
            dealloc_type: values::FLUSH,
            log_data: vec![],
        };
        assert_eq!(
            call(app, Body::Deallocate(dealloc)).primary_rc,
            PrimaryRc::OK
        );
        let (_peer, _) = silent.accept().unwrap();
        // Flows queued before the session is active are bounded by
        // max_session_buffer: the conversation fails beyond it.
        let big = allocate(app, true, "ECHO", values::SYNC_NONE);
        let limit = NodeConfig::default().max_session_buffer;
        let (v, accepted) = send_until_it_fails(app, big, limit + 64_000);
        eprintln!(
            "{kind:?}: {} kB accepted for a session never bound",
            accepted / 1000
        );
        assert_eq!(
            (v.primary_rc, v.secondary_rc),
            (
                PrimaryRc::ALLOCATION_ERROR,
                SecondaryRc::ALLOCATION_FAILURE_RETRY
            )
        );
        // A receive waiting for its session when the link goes.
        let (tx, mut rx) = app.queue();
        let waiting = allocate(app, true, "ECHO", values::SYNC_NONE);
        let handle = submit_receive(app, waiting, &tx);
        a.node.disconnect("LUB");
        let v = completes(&mut rx, handle, PrimaryRc::ALLOCATION_ERROR);
        assert_eq!(v.secondary_rc, SecondaryRc::ALLOCATION_FAILURE_RETRY);
        assert!(rx.try_recv().is_none());
        let tps = [(&a, closed.tp_id), (&a, big.tp_id), (&a, waiting.tp_id)];
        nothing_left(&[&a], &tps);
        assert_eq!(a.node.stats().live(), (0, 0));
    });
}
