//! The process's one APPC application, between `WinAPPCStartup` and the
//! matching `WinAPPCCleanup`, and the node it runs on.
//!
//! The Windows API is process-global: no handle names the application, so
//! the library keeps it in a static. Startups are counted as Winsock's
//! are: each `WinAPPCStartup` needs a `WinAPPCCleanup`, and the last one
//! ends the application (every TP ended as by `TP_ENDED(AP_HARD)`, every
//! pending verb completed with `AP_CANCELLED`).
//!
//! # The node
//!
//! HIS reads its node from the SNA server's configuration; this library
//! reads it from the environment when the first `WinAPPCStartup` runs:
//!
//! | variable | meaning |
//! |---|---|
//! | `APPC_LOCAL_LU` | the local LU's name (default `APPCLU`) |
//! | `APPC_NETID` | its network (default the node's, `APPN`) |
//! | `APPC_PARTNERS` | `ALIAS=host:port,...`: partner LUs over TCP |
//! | `APPC_LISTEN` | `host:port`: accept partners' sessions here |
//! | `APPC_TP_NAMES` | `NAME,...`: TP names whose attaches may queue before a `RECEIVE_ALLOCATE` |
//!
//! With neither `APPC_PARTNERS` nor `APPC_LISTEN` the node is in memory
//! only, and every partner alias reaches this process's own TPs (two TPs
//! of one program can converse, as the C tests do).
//!
//! # Ordering contract
//!
//! The application sits in an `RwLock<Option<Arc<..>>>`. Entry points read
//! it under the read lock for the length of a submission; a blocking call
//! clones the `Arc` and lets the lock go. Cleanup takes the write lock, so
//! no submission runs beside it, takes the application out, cancels the
//! blocking calls still waiting on other threads ([`Process::blocked`]),
//! and drops it: the last reference (a blocking call returning, or cleanup
//! itself) ends it, every pending verb getting its `AP_CANCELLED`.

use crate::posts::Posts;
use appc::{Appc, Node};
use appc_engine::{StartupError, WAPPCSYSNOTREADY};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

#[cfg(feature = "tcp")]
use appc_io::node::TcpNode;
/// Without the `tcp` feature the node has no TCP side.
#[cfg(not(feature = "tcp"))]
type TcpNode = std::convert::Infallible;

/// The running application.
pub(crate) struct Process {
    /// The APPC application.
    pub(crate) app: Arc<Appc>,
    /// The relay of its posting verbs.
    pub(crate) posts: Arc<Posts>,
    /// Outstanding startups.
    startups: AtomicUsize,
    /// Set by the last cleanup: blocking calls still waiting cancel
    /// themselves.
    closing: AtomicBool,
    /// Blocking calls that have waited long enough to run their hook
    /// (see [`Process::blocked`]).
    blocked: Mutex<Vec<u64>>,
    /// The TCP side of the node, when partners are configured (declared
    /// last: dropped after the application).
    _tcp: Option<TcpNode>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("startups", &self.startups)
            .field("closing", &self.closing)
            .finish_non_exhaustive()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Then the fields in order: the application (its TPs end, its
        // conversations close), then the links.
        self.posts.stop();
    }
}

impl Process {
    /// A blocking call (task `handle`) is waiting: its hook's first run
    /// records it, so that a cleanup on another thread can cancel it.
    /// Returns true if the application is closing already: the call must
    /// then cancel itself (`WinAPPCCancelBlockingCall`).
    ///
    /// Ordering: `close` sets `closing` before it reads `blocked`, and a
    /// call adds itself to `blocked` before it reads `closing`, both under
    /// `blocked`'s lock; so a call that waits across a cleanup is either
    /// in the list that cleanup cancels, or sees `closing`.
    pub(crate) fn blocked(&self, handle: u64) -> bool {
        lock(&self.blocked).push(handle);
        self.closing.load(Ordering::SeqCst)
    }

    /// A recorded blocking call returned.
    pub(crate) fn unblocked(&self, handle: u64) {
        lock(&self.blocked).retain(|&h| h != handle);
    }

    /// The last cleanup: cancels the blocking calls waiting on other
    /// threads, which then return and let the application go (it ends
    /// when its last reference drops).
    fn close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        for &handle in lock(&self.blocked).iter() {
            let _ = self.app.cancel(handle);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

static PROCESS: RwLock<Option<Arc<Process>>> = RwLock::new(None);

/// The running application, under the read lock (`None` before startup).
pub(crate) fn current() -> RwLockReadGuard<'static, Option<Arc<Process>>> {
    PROCESS.read().unwrap_or_else(PoisonError::into_inner)
}

/// `WinAPPCStartup`: 0, or the `WAPPC*` error.
pub(crate) fn startup(version: u16) -> i32 {
    let [major, _] = version.to_le_bytes();
    match major {
        0 => return StartupError::Invalid.code(),
        1 => {}
        _ => return StartupError::VersionNotSupported.code(),
    }
    let mut slot = PROCESS.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(process) = slot.as_ref() {
        process.startups.fetch_add(1, Ordering::Relaxed);
        return 0;
    }
    match start() {
        Ok(process) => {
            *slot = Some(Arc::new(process));
            0
        }
        Err(code) => code,
    }
}

/// `WinAPPCCleanup`: false if the application was not started.
pub(crate) fn cleanup() -> bool {
    let mut slot = PROCESS.write().unwrap_or_else(PoisonError::into_inner);
    let Some(process) = slot.as_ref() else {
        return false;
    };
    // Under the write lock: no startup or other cleanup runs beside it.
    if process.startups.fetch_sub(1, Ordering::Relaxed) > 1 {
        return true;
    }
    let process = slot.take();
    drop(slot);
    if let Some(process) = process {
        process.close();
    }
    true
}

fn start() -> Result<Process, i32> {
    let node = Node::new();
    let tcp = tcp_node(&node).map_err(|error| {
        eprintln!("appc-capi: the node could not start: {error}");
        WAPPCSYSNOTREADY
    })?;
    let (app, _) = Appc::startup(appc_engine::WINAPPC_VERSION, &node).map_err(|e| e.code())?;
    let app = Arc::new(app);
    Ok(Process {
        posts: Posts::new(Arc::downgrade(&app)),
        app,
        startups: AtomicUsize::new(1),
        closing: AtomicBool::new(false),
        blocked: Mutex::new(Vec::new()),
        _tcp: tcp,
    })
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The TCP node the environment asks for, if any.
fn tcp_node(node: &Node) -> Result<Option<TcpNode>, String> {
    for tp in var("APPC_TP_NAMES").iter().flat_map(|v| v.split(',')) {
        node.define_tp(tp.trim());
    }
    let partners = var("APPC_PARTNERS");
    let listen = var("APPC_LISTEN");
    if partners.is_none() && listen.is_none() {
        return Ok(None);
    }
    start_tcp(node, partners, listen)
}

#[cfg(not(feature = "tcp"))]
fn start_tcp(_: &Node, _: Option<String>, _: Option<String>) -> Result<Option<TcpNode>, String> {
    Err("APPC_PARTNERS / APPC_LISTEN need the library built with its `tcp` feature".to_owned())
}

#[cfg(feature = "tcp")]
fn start_tcp(
    node: &Node,
    partners: Option<String>,
    listen: Option<String>,
) -> Result<Option<TcpNode>, String> {
    use appc_io::backend::Kind;
    use appc_io::node::NodeConfig;

    let lu = var("APPC_LOCAL_LU").unwrap_or_else(|| "APPCLU".to_owned());
    let mut config = NodeConfig::default();
    if let Some(netid) = var("APPC_NETID") {
        config.netid = netid;
    }
    let tcp = TcpNode::start(&lu, node.clone(), Kind::Auto, config).map_err(|e| e.to_string())?;
    for partner in partners.iter().flat_map(|v| v.split(',')) {
        let (alias, addr) = partner
            .split_once('=')
            .ok_or_else(|| format!("APPC_PARTNERS entry {partner:?} is not ALIAS=host:port"))?;
        tcp.add_partner(alias.trim(), resolve(addr)?);
    }
    if let Some(addr) = listen {
        tcp.listen(resolve(&addr)?).map_err(|e| e.to_string())?;
    }
    Ok(Some(tcp))
}

#[cfg(feature = "tcp")]
fn resolve(addr: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    addr.trim()
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))
}
