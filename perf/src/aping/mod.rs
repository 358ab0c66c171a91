//! APING, the classic APPC "ping" TP pair, over [`TcpNode`](appc_io::node::TcpNode)s.
//!
//! APING (client) and APINGD (the daemon TP) are the de-facto standard
//! test of an LU 6.2 path: every SNA stack ships them, and their output is
//! what an operator compares. Running them over our nodes exercises the
//! whole stack (ALLOCATE, BIND, FMH-5 Attach, mapped data, change of
//! direction, confirmation, deallocation) and gives round-trip numbers in
//! a format people already read.
//!
//! # The protocol (`docs/wire.md#aping`, from the Linux-SNA APING)
//!
//! One mapped conversation, sync level CONFIRM, to the TP `APINGD`:
//!
//! 1. **Version exchange.** The client sends one record
//!    `[01, major, minor, 02, os-name…, 00]` with PREPARE_TO_RECEIVE; the
//!    daemon answers with its own (2.40) the same way ([`version`]).
//! 2. **Iterations.** The client sends `consecutive` blocks of `size`
//!    bytes, the last with PREPARE_TO_RECEIVE; the daemon counts the blocks
//!    and sends back as many blocks of the same size, the last with
//!    PREPARE_TO_RECEIVE. In one-way mode (`-1`) the client's last block
//!    carries CONFIRM instead and the daemon only answers CONFIRMED.
//! 3. **End.** The client deallocates; the daemon sees `DEALLOC_NORMAL`
//!    and ends its TP.
//!
//! The daemon's block limit is 32,763 bytes ([`MAX_BLOCK`]), as in the
//! original, so a client never has to guess how big a block may be.
//!
//! # Pieces
//!
//! * [`cli`]: the flag parsing both binaries use (one-line errors, exit 2).
//! * [`tp`]: one verb at a time with an optional time limit, and the two
//!   turn-taking steps both ends share (send N blocks, receive until the
//!   direction comes back).
//! * [`daemon`]: the APINGD TP on a listening node, one thread per attach.
//! * [`client`]: the APING side, its timings and its report.

pub mod cli;
pub mod client;
pub mod daemon;
pub mod tp;
pub mod version;

/// The daemon's TP name.
pub const TP_NAME: &str = "APINGD";
/// The mode both ends use (the original's default).
pub const MODE_NAME: &str = "#INTER";
/// The default LU name of the daemon's node (the client's partner LU).
pub const DAEMON_LU: &str = "APINGSRV";
/// The LU name of the client's node.
pub const CLIENT_LU: &str = "APING";
/// The default address the daemon listens on and the client connects to.
pub const DEFAULT_ADDR: &str = "127.0.0.1:6200";
/// The largest block the daemon receives (the original's `MAXPACKET`).
pub const MAX_BLOCK: usize = 32_763;
