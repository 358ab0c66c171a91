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
//!
//! One test binary: the proxy, the three nodes and the checks are here;
//! the faults on a link's bytes in `links`, those under load in `load`.

#![cfg(target_os = "linux")]

#[path = "../support/mod.rs"]
mod support;

mod links;
mod load;

use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::*;
use appc_io::appc::Appc;
use appc_io::backend::Kind;
use appc_io::engine::{Handle, Receiver, Sender};
use appc_io::node::NodeConfig;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, channel};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::{self, JoinHandle};
use std::time::Duration;
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
