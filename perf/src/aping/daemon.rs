//! The APINGD TP: a node that listens, defines `APINGD`, and serves every
//! incoming conversation on its own thread.
//!
//! The original APINGD is started once per attach by the attach manager
//! and exits when its conversation ends. Here one process plays the attach
//! manager: it waits in RECEIVE_ALLOCATE, hands each conversation to a
//! thread (so a slow client never holds up the next), and that thread ends
//! the conversation's TP with TP_ENDED when the client deallocates or the
//! conversation fails.

use super::tp::{Failure, Tp, Turn};
use super::version::{self, Partner};
use super::MAX_BLOCK;
use crate::flags::HostPort;
use appc_io::appc::verbs::{values, Conv};
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::WINAPPC_VERSION;
use appc_io::node::{NodeConfig, TcpNode};
use std::error::Error;
use std::net::SocketAddr;
use std::thread;

/// What `apingd` was asked to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where to accept links (resolved when the daemon starts).
    pub listen: HostPort,
    /// This node's LU name.
    pub lu: String,
    /// The socket backend.
    pub backend: Kind,
}

/// `apingd`: starts the node, says where it listens (the first line on
/// stdout, which scripts and tests read), and serves until it cannot.
pub fn run(options: Options) -> Result<(), Box<dyn Error>> {
    let daemon = Daemon::start(
        &options.lu,
        options.listen.resolve()?,
        options.backend,
        NodeConfig::default(),
    )?;
    println!(
        "apingd: LU {} serving TP {} on {} ({})",
        daemon.node.lu_name(),
        super::TP_NAME,
        daemon.addr,
        daemon.node.backend_name()
    );
    Err(Box::new(daemon.serve(true)))
}

/// Starts a daemon of LU `lu` on a loopback port and serves it on a
/// background thread for the rest of the process (`aping --local`, and
/// the session benchmark's echo TP), its node set up with `config`;
/// returns where it listens.
pub fn spawn_local(lu: &str, kind: Kind, config: NodeConfig) -> Result<SocketAddr, Box<dyn Error>> {
    let daemon = Daemon::start(lu, SocketAddr::from(([127, 0, 0, 1], 0)), kind, config)?;
    let addr = daemon.addr;
    thread::spawn(move || daemon.serve(false));
    Ok(addr)
}

/// A running APINGD node.
#[derive(Debug)]
struct Daemon {
    app: Appc,
    node: TcpNode,
    addr: SocketAddr,
}

impl Daemon {
    /// Starts the LU `lu` on a backend of `kind` with `config`, defines the
    /// APINGD TP and listens on `listen` (port 0 picks one).
    fn start(
        lu: &str,
        listen: SocketAddr,
        kind: Kind,
        config: NodeConfig,
    ) -> Result<Self, Box<dyn Error>> {
        let engine = Node::new();
        let node = TcpNode::start(lu, engine.clone(), kind, config)?;
        engine.define_tp(super::TP_NAME);
        let addr = node.listen(listen)?;
        let (app, _) = Appc::startup(WINAPPC_VERSION, &engine)?;
        Ok(Self { app, node, addr })
    }

    /// Serves conversations until RECEIVE_ALLOCATE itself fails, which is
    /// what it returns. With `log`, says on stdout who connected and on
    /// stderr why a conversation failed.
    fn serve(&self, log: bool) -> Failure {
        thread::scope(|threads| {
            let mut tp = Tp::new(&self.app, None);
            loop {
                let (conv, partner) = match tp.receive_allocate() {
                    Ok(attached) => attached,
                    Err(failure) => return failure,
                };
                threads.spawn(move || {
                    let mut tp = Tp::new(&self.app, None);
                    let served = hello(&mut tp, conv).and_then(|client| match client {
                        Some(client) => {
                            if log {
                                println!(
                                    "apingd: contacted by partner LU {partner}: APING {} on {}",
                                    client.version, client.os
                                );
                            }
                            echo(&mut tp, conv)
                        }
                        None => Ok(()),
                    });
                    // TP_ENDED also cleans up after a failed conversation.
                    let ended = tp.tp_ended(conv.tp_id);
                    if let (true, Err(failure)) = (log, served.and(ended)) {
                        eprintln!("apingd: conversation with {partner}: {failure}");
                    }
                });
            }
        })
    }
}

/// The version exchange: the client's record in, ours out. `None` if the
/// client deallocated instead.
fn hello(tp: &mut Tp<'_>, conv: Conv) -> Result<Option<Partner>, Failure> {
    let mut client = Partner::default();
    let turn = tp.receive_turn(conv, MAX_BLOCK, |record| {
        client = version::decode(&record);
    })?;
    match turn {
        Turn::Deallocated => Ok(None),
        Turn::Confirm => Err(Failure::Protocol(
            "the client ended its version record with CONFIRM, not PREPARE_TO_RECEIVE".into(),
        )),
        Turn::Send => {
            let ours = version::encode(version::OURS, &version::os_name());
            tp.send_blocks(conv, &ours, 1, values::SEND_DATA_P_TO_R_FLUSH)?;
            Ok(Some(client))
        }
    }
}

/// The iterations, until the client deallocates: echo its blocks, or
/// confirm them in one-way mode.
fn echo(tp: &mut Tp<'_>, conv: Conv) -> Result<(), Failure> {
    loop {
        let (mut blocks, mut last) = (0, Vec::new());
        let turn = tp.receive_turn(conv, MAX_BLOCK, |block| {
            blocks += 1;
            last = block;
        })?;
        match turn {
            Turn::Deallocated => return Ok(()),
            Turn::Confirm => tp.confirmed(conv)?,
            Turn::Send if blocks == 0 => tp.prepare_to_receive(conv)?,
            Turn::Send => tp.send_blocks(conv, &last, blocks, values::SEND_DATA_P_TO_R_FLUSH)?,
        }
    }
}
