//! Attacks on a real node, on every Linux backend, each while a
//! well-behaved client runs its conversations beside it: garbage frames,
//! a flood of bad frames, silent and idle connections, too many
//! connections, partial frames that pin memory, a BIND for another LU.
//! For each: the client passes, the node's links, conversations, memory
//! gauge and open descriptors return to where they were, and what the
//! node logs stays bounded (its `tracing` events are counted by a layer
//! of this test's own). Then what a node must do as it goes away: a node
//! dropped right after its TP's DEALLOCATE, and `shutdown`.
//!
//! Running out of descriptors is the one attack elsewhere: it takes every
//! descriptor of its process, so it has a binary of its own
//! (`fd_exhaustion.rs`).
//!
//! The tests count the process's descriptors and the events of every
//! thread, so they take turns ([`serial`]).

#![cfg(target_os = "linux")]

mod support;

use appc_io::appc::rc::PrimaryRc;
use appc_io::appc::verbs::values;
use appc_io::backend::Kind;
use appc_io::node::NodeConfig;
use appc_io::wire::{
    ebcdic, Bind, ControlRu, Flow, Frame, Lfsid, Request, ResponseType, Rh, RuCategory, RuSize, Th,
    Unbind, UnbindType,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::thread;
use std::time::Duration;
use support::*;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

/// Every `tracing` event of the process, counted.
static EVENTS: AtomicU64 = AtomicU64::new(0);

struct Count;

impl<S: tracing::Subscriber> Layer<S> for Count {
    fn on_event(&self, _: &tracing::Event<'_>, _: Context<'_, S>) {
        EVENTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// One test at a time (descriptors and events are the process's), with
/// the counting subscriber installed.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::registry().with(Count);
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// What one attack left behind.
struct Aftermath {
    /// Events logged while it ran.
    events: u64,
    /// Violations the node counted.
    violations: u64,
}

/// Runs `attack` against node B (started with `config`, "ECHO" defined,
/// listening at the address `attack` gets) while node A runs rounds of
/// echo conversations to it; then checks that A's conversations all
/// passed and that B is back where it was: one link (A's), no
/// conversation, no buffered memory, the same descriptors.
fn under_attack(
    kind: Kind,
    config: NodeConfig,
    attack: impl FnOnce(&Side, SocketAddr) + Send,
) -> Aftermath {
    let b = side_with("LUB", kind, config);
    b.engine.define_tp("ECHO");
    let addr = listen(&b);
    let a = side("LUA", kind);
    a.node.add_partner("LUB", addr);
    echo_round(&a, &b, "LUB", 4);
    let fds = open_fds();
    let violations = b.node.stats().snapshot().3;
    EVENTS.store(0, Ordering::SeqCst);
    thread::scope(|s| {
        let client = s.spawn(|| {
            for _ in 0..3 {
                echo_round(&a, &b, "LUB", 8);
            }
        });
        attack(&b, addr);
        client.join().expect("the client's conversations pass");
    });
    let events = EVENTS.load(Ordering::SeqCst);
    wait_until("B is back to one link and no conversation", || {
        b.node.stats().live() == (0, 1)
    });
    wait_until("B's descriptors are back", || open_fds() == fds);
    wait_until("B holds no buffered bytes", || {
        b.node.stats().memory.load(Ordering::Acquire) == 0
    });
    echo_round(&a, &b, "LUB", 4);
    Aftermath {
        events,
        violations: b.node.stats().snapshot().3 - violations,
    }
}

/// Each backend in turn, one test at a time.
fn each_backend(body: fn(Kind)) {
    let _serial = serial();
    for_each_backend(body);
}

/// The 13-byte frame `00 00 00 09` + nine zero bytes: a PIU whose TH does
/// not decode, for no session.
fn bad_frame() -> Vec<u8> {
    let mut frame = vec![0, 0, 0, 9];
    frame.extend([0; 9]);
    frame
}

/// Writes `frames` bad frames as fast as the node takes them, until the
/// node closes the connection.
fn flood(addr: SocketAddr, frames: usize) {
    let mut peer = TcpStream::connect(addr).unwrap();
    let frame = bad_frame();
    let batch: Vec<u8> = frame.repeat(1000);
    let mut sent = 0;
    while sent < frames {
        if peer.write_all(&batch).is_err() {
            return;
        }
        sent += 1000;
    }
    // All written (into socket buffers): the node closes it all the same.
    peer.set_read_timeout(Some(LIMIT / 2)).unwrap();
    let closed = matches!(peer.read(&mut [0; 64]), Ok(0) | Err(_));
    assert!(closed, "the flooding link stays open");
}

/// 200,000 bad frames on one connection: the node closes the link after
/// `max_link_violations` of them (it reads no further) and logs a bounded
/// number of events (a burst, one summary, the closing).
#[test]
fn a_flood_of_bad_frames_costs_the_sender_its_link() {
    each_backend(|kind| {
        let after = under_attack(kind, NodeConfig::default(), |_, addr| {
            flood(addr, 200_000);
        });
        let limit = u64::from(NodeConfig::default().max_link_violations);
        assert!(after.violations <= limit, "{kind:?}: {}", after.violations);
        assert!(after.events <= 20, "{kind:?}: {} events", after.events);
    });
}

/// The garbage frame alone, on many connections one after the other: each
/// is dropped with its link, the node logs a bounded number of events.
#[test]
fn garbage_frames_are_dropped_and_rate_limited() {
    each_backend(|kind| {
        let after = under_attack(kind, NodeConfig::default(), |_, addr| {
            for _ in 0..50 {
                let mut peer = TcpStream::connect(addr).unwrap();
                peer.write_all(&bad_frame()).unwrap();
            }
        });
        assert!(after.violations >= 1, "{kind:?}");
        assert!(after.events <= 50 * 2, "{kind:?}: {} events", after.events);
    });
}

/// A BIND from a peer acting as PLU `LUX` for session `sid`, naming
/// `slu` as the secondary LU.
fn bind(sid: u8, slu: &str) -> Vec<u8> {
    let mut bind = Bind::lu62(
        &ebcdic::encode("LUX").unwrap(),
        &ebcdic::encode(slu).unwrap(),
        &ebcdic::encode("#INTER").unwrap(),
        RuSize::at_most(1024).unwrap(),
    );
    bind.secondary_receive_pacing.window = 0;
    let mut ru = Vec::new();
    bind.encode(&mut ru).unwrap();
    control(sid, ControlRu::Bind(bind).category(), ru)
}

/// An UNBIND (normal) for session `sid`.
fn unbind(sid: u8) -> Vec<u8> {
    let mut ru = Vec::new();
    let unbind = ControlRu::Unbind(Unbind {
        kind: UnbindType::NORMAL,
        sense: None,
    });
    unbind.encode(&mut ru).unwrap();
    control(sid, unbind.category(), ru)
}

fn control(sid: u8, category: RuCategory, ru: Vec<u8>) -> Vec<u8> {
    let lfsid = Lfsid {
        odai: false,
        sidh: 0,
        sidl: sid,
    };
    let frame = Frame {
        th: Th::new(lfsid, Flow::Expedited, 1),
        rh: Rh::Request(Request::new(category, ResponseType::Rqd1)),
        ru,
    };
    let mut bytes = Vec::new();
    frame.encode(1 << 16, &mut bytes).unwrap();
    bytes
}

/// Reads one PIU (the response to what was sent); `None` at the end of
/// the stream.
fn read_piu(peer: &mut TcpStream) -> Option<Frame> {
    let mut prefix = [0; 4];
    peer.read_exact(&mut prefix).ok()?;
    let mut piu = vec![0; u32::from_be_bytes(prefix) as usize];
    peer.read_exact(&mut piu).ok()?;
    Some(Frame::decode_piu(&piu).expect("the node's PIU decodes"))
}

/// Whether the node closes `peer` (EOF or reset) before the test's limit.
fn closed_by_node(peer: &mut TcpStream) -> bool {
    peer.set_read_timeout(Some(LIMIT / 2)).unwrap();
    let mut buf = [0; 256];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// Whether the node has closed `peer` already (a read that does not wait).
fn is_closed(mut peer: &TcpStream) -> bool {
    peer.set_nonblocking(true).unwrap();
    let mut buf = [0; 256];
    loop {
        match peer.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

/// Connections that never say anything are closed at the handshake
/// timeout.
#[test]
fn silent_connections_are_closed_at_the_handshake_timeout() {
    each_backend(|kind| {
        let config = NodeConfig {
            handshake_timeout: Duration::from_millis(200),
            ..NodeConfig::default()
        };
        let after = under_attack(kind, config, |b, addr| {
            let mut silent: Vec<TcpStream> =
                (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
            for peer in &mut silent {
                assert!(closed_by_node(peer), "{kind:?}: a silent link stays");
            }
            assert!(b.node.stats().links_shed.load(Ordering::Relaxed) >= 50);
        });
        assert!(after.events <= 60, "{kind:?}: {} events", after.events);
    });
}

/// A link whose sessions are gone is closed at the idle timeout; one with
/// a session stays.
#[test]
fn a_link_without_sessions_is_closed_at_the_idle_timeout() {
    each_backend(|kind| {
        let config = NodeConfig {
            idle_timeout: Duration::from_millis(300),
            ..NodeConfig::default()
        };
        under_attack(kind, config, |b, addr| {
            let mut peer = TcpStream::connect(addr).unwrap();
            peer.write_all(&bind(1, "LUB")).unwrap();
            let rsp = read_piu(&mut peer).expect("the BIND response");
            assert!(matches!(rsp.rh, Rh::Response(r) if r.rti == appc_io::wire::Rti::Positive));
            peer.write_all(&unbind(1)).unwrap();
            assert!(closed_by_node(&mut peer), "{kind:?}: an idle link stays");
            assert!(b.node.stats().links_shed.load(Ordering::Relaxed) >= 1);
        });
    });
}

/// Beyond `max_links`, an accepted connection is closed at once; the
/// links already up (the client's) carry on.
#[test]
fn connections_beyond_the_limit_are_closed_at_once() {
    each_backend(|kind| {
        let config = NodeConfig {
            max_links: 8,
            ..NodeConfig::default()
        };
        under_attack(kind, config, |b, addr| {
            let peers: Vec<TcpStream> =
                (0..20).map(|_| TcpStream::connect(addr).unwrap()).collect();
            // The client's link and seven of these fit; the other 13 go.
            wait_until("13 connections shed", || {
                b.node.stats().links_shed.load(Ordering::Relaxed) >= 13
            });
            assert!(b.node.stats().live().1 <= 8, "{kind:?}");
            let closed = peers.iter().filter(|p| is_closed(p)).count();
            assert!(closed >= 13, "{kind:?}: {closed} closed");
        });
    });
}

/// Connections that each begin a maximum-size PIU and stop: each pins a
/// PIU buffer; past the node's memory budget the links holding most are
/// closed, the gauge stays near the budget, and the node goes on.
#[test]
fn partial_frames_beyond_the_memory_budget_cost_their_links() {
    each_backend(|kind| {
        let config = NodeConfig {
            max_node_memory: 256 << 10,
            ..NodeConfig::default()
        };
        let max_frame = config.max_frame;
        under_attack(kind, config, |b, addr| {
            let mut prefix = (max_frame as u32).to_be_bytes().to_vec();
            prefix.extend([0x2C; 100]);
            let peers: Vec<TcpStream> = (0..8)
                .map(|_| {
                    let mut peer = TcpStream::connect(addr).unwrap();
                    peer.write_all(&prefix).unwrap();
                    peer
                })
                .collect();
            wait_until("links shed for memory", || {
                b.node.stats().links_shed.load(Ordering::Relaxed) >= 5
            });
            let memory = b.node.stats().memory.load(Ordering::Acquire);
            assert!(memory <= 256 << 10, "{kind:?}: {memory} bytes held");
            let closed = peers.iter().filter(|p| is_closed(p)).count();
            assert!(closed >= 5, "{kind:?}: {closed} closed");
        });
    });
}

/// A node dropped right after its TP's last verb (data and DEALLOCATE in
/// one SEND_DATA, then TP_ENDED): the partner gets the data and a clean
/// `AP_DEALLOC_NORMAL`, every time. Without the linger the drop cut the
/// link before the DEALLOCATE (or its response) got through, and the
/// partner saw `AP_CONV_FAILURE_RETRY`.
#[test]
fn a_node_dropped_after_deallocate_has_it_delivered() {
    each_backend(|kind| {
        let b = side("LUB", kind);
        b.engine.define_tp("ECHO");
        let addr = listen(&b);
        for round in 0..20 {
            let a = side("LUA", kind);
            a.node.add_partner("LUB", addr);
            let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
            let rc = send(&a.app, true, conv, values::SEND_DATA_DEALLOC_FLUSH, b"bye");
            assert_eq!(rc, PrimaryRc::OK);
            tp_ended(&a.app, conv.tp_id);
            drop(a);
            let b_conv = receive_allocate(&b.app);
            let (rc, _, data) = receive(&b.app, true, b_conv);
            assert_eq!(
                (rc, &data[..]),
                (PrimaryRc::OK, &b"bye"[..]),
                "{kind:?} {round}"
            );
            let (rc, _, _) = receive(&b.app, true, b_conv);
            assert_eq!(rc, PrimaryRc::DEALLOC_NORMAL, "{kind:?}: round {round}");
            tp_ended(&b.app, b_conv.tp_id);
        }
    });
}

/// `shutdown` lingers for what was sent, then closes: a conversation
/// still running fails as on a lost link, a later ALLOCATE is refused
/// with `AP_COMM_SUBSYSTEM_NOT_LOADED`, `listen` fails, and shutting down
/// again (and dropping) does nothing more.
#[test]
fn shutdown_closes_the_node_for_good() {
    each_backend(|kind| {
        let (a, b, _) = pair(kind);
        let conv = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        let rc = send(&a.app, true, conv, values::SEND_DATA_FLUSH, b"1");
        assert_eq!(rc, PrimaryRc::OK);
        let b_conv = receive_allocate(&b.app);
        assert_eq!(receive(&b.app, true, b_conv).2, b"1");
        let fds = open_fds();
        a.node.shutdown(Duration::from_secs(5));
        assert!(open_fds() < fds, "{kind:?}: sockets closed on return");
        assert_eq!(
            receive(&b.app, true, b_conv).0,
            PrimaryRc::CONV_FAILURE_RETRY,
            "{kind:?}"
        );
        assert_eq!(
            receive(&a.app, true, conv).0,
            PrimaryRc::CONV_FAILURE_RETRY,
            "{kind:?}"
        );
        let late = allocate(&a.app, true, "ECHO", values::SYNC_NONE);
        let rc = send(&a.app, true, late, values::SEND_DATA_FLUSH, b"2");
        let rc = if rc == PrimaryRc::OK {
            receive(&a.app, true, late).0
        } else {
            rc
        };
        assert_eq!(rc, PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED, "{kind:?}");
        assert!(a.node.listen("127.0.0.1:0".parse().unwrap()).is_err());
        a.node.shutdown(Duration::from_secs(5));
    });
}

/// The response to one BIND: `Ok` (positive) or `Err(sense)`.
fn bind_answer(peer: &mut TcpStream, sid: u8, slu: &str) -> Result<(), u32> {
    peer.write_all(&bind(sid, slu)).unwrap();
    let rsp = read_piu(peer).expect("the BIND response");
    match rsp.rh {
        Rh::Response(r) if r.rti == appc_io::wire::Rti::Positive => Ok(()),
        Rh::Response(_) => Err(u32::from_be_bytes(rsp.ru[..4].try_into().unwrap())),
        other => panic!("not a response: {other:?}"),
    }
}

/// A BIND naming another LU as the secondary (another name, or this LU
/// in another network) is refused with `-RSP(0835xxxx)`, xxxx pointing at
/// the secondary LU name in the BIND (byte 47 of the test's BIND: 27
/// fixed, 4 for the PLU name `LUX`, 10 of user data, 1 for the URC), and
/// the session is not bound (its id is free for the next BIND). The node's
/// own name is accepted qualified (`APPN.LUB`) or bare (`LUB`).
#[test]
fn a_bind_for_another_lu_is_refused() {
    each_backend(|kind| {
        under_attack(kind, NodeConfig::default(), |_, addr| {
            let mut peer = TcpStream::connect(addr).unwrap();
            peer.set_read_timeout(Some(LIMIT / 2)).unwrap();
            for wrong in ["LUX", "NETB.LUB", "APPN.LUX"] {
                let offset = 27 + 4 + 10 + 1;
                assert_eq!(
                    bind_answer(&mut peer, 1, wrong),
                    Err(0x0835_0000 | offset),
                    "{kind:?}: {wrong}"
                );
            }
            // Session 1 was not bound: its id is free.
            assert_eq!(bind_answer(&mut peer, 1, "APPN.LUB"), Ok(()), "{kind:?}");
            assert_eq!(bind_answer(&mut peer, 2, "LUB"), Ok(()), "{kind:?}");
        });
    });
}

/// The node's own BINDs name both LUs network-qualified, with its NETID
/// (`NodeConfig::netid`; the partner taken to be in the same network),
/// the partner by its LU name, not the alias ALLOCATE used: the bytes of
/// both names in the BIND it sends.
#[test]
fn our_binds_name_both_lus_network_qualified() {
    each_backend(|kind| {
        let partner = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = NodeConfig {
            netid: "NETA".to_owned(),
            ..NodeConfig::default()
        };
        let a = side_with("LUA", kind, config);
        // An alias of its own for partner LU LUB.
        a.node
            .add_partner_as("PARTNER", "LUB", partner.local_addr().unwrap());
        let conv = allocate_on(
            &a.app,
            tp(&a.app),
            "PARTNER",
            true,
            "ECHO",
            values::SYNC_NONE,
        );
        let rc = send(&a.app, true, conv, values::SEND_DATA_FLUSH, b"x");
        assert_eq!(rc, PrimaryRc::OK);
        let (mut link, _) = partner.accept().unwrap();
        let frame = read_piu(&mut link).expect("the BIND");
        let ControlRu::Bind(bind) = ControlRu::decode(RuCategory::Sc, &frame.ru).unwrap() else {
            panic!("not a BIND");
        };
        // "NETA.LUA" and "NETA.LUB" in EBCDIC.
        assert_eq!(
            bind.primary_lu_name,
            [0xD5, 0xC5, 0xE3, 0xC1, 0x4B, 0xD3, 0xE4, 0xC1],
            "{kind:?}"
        );
        assert_eq!(
            bind.secondary_lu_name,
            [0xD5, 0xC5, 0xE3, 0xC1, 0x4B, 0xD3, 0xE4, 0xC2],
            "{kind:?}"
        );
        drop(link);
        tp_ended(&a.app, conv.tp_id);
    });
}
