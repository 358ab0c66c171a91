//! The gateway load generator: our engine over real LU 6.2 sessions on
//! loopback, against the same load written with tokio.
//!
//! A run starts an in-process partner node ([`partner`]) listening on
//! loopback (or uses `--partner HOST:PORT`), a client node for the gateway
//! application, and drives `--sessions` conversations of request/response
//! ([`client`]) for `--duration`, cancelling a fraction of the outstanding
//! RECEIVE_AND_WAITs at random. With `--peer tokio` the same load runs
//! again written the way one would without this library ([`tokio_peer`]).
//! The report ([`report`]) prints both sides and their ratios, the cancel
//! answers and the exactly-once verdict; [`plot`] draws the latency
//! distribution and the throughput over time. `--mode scale` ([`scale`])
//! holds a million RECEIVE_AND_WAITs instead; `--mode bandwidth`
//! ([`bandwidth`]) streams records on one session against raw TCP;
//! `--mode soak` ([`soak`]) runs the load for half an hour watching the
//! process's memory, descriptors and live tasks. The load and bandwidth
//! modes set up and take down their two nodes the same way ([`Nodes`]).

pub mod bandwidth;
pub mod client;
pub mod partner;
pub mod payload;
pub mod plot;
pub mod report;
pub mod sampler;
pub mod scale;
pub mod soak;
pub mod tokio_peer;
pub mod verbs;
pub mod window;

use crate::args::{Config, Peer, Tps};
use crate::sysinfo::{proc_status_bytes, Machine};
use crate::workload::CancelCounts;
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::{Stats, WINAPPC_VERSION};
use appc_io::node::{NodeConfig, NodeStats, TcpNode};
use appc_perf::flags::HostPort;
use client::{ClientConfig, ClientTally};
use hdrhistogram::Histogram;
use partner::{Partner, PartnerTally};
use sampler::Limit;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_peer::PeerTally;
use window::Window;

/// The client LU's name.
pub const CLIENT_LU: &str = "APPCLOAD";

/// Sessions per link the standalone partner accepts: every one a 16-bit
/// session id can name, so any `--sessions` a client asks for fits.
const MAX_SERVED_SESSIONS: usize = 65_535;

/// One contestant's measurements.
#[derive(Clone, Debug)]
pub struct Side {
    /// Requests completed (a request = SEND_DATA + RECEIVE_AND_WAIT).
    pub requests: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Round-trip latency, nanoseconds.
    pub latency: Histogram<u64>,
    /// `(seconds, requests so far)`, every [`sampler::TICK`].
    pub points: Vec<(f64, u64)>,
    /// Answers to the cancels of picked requests.
    pub cancels: CancelCounts,
    /// What a request cost in steady state (allocations, CPU time); `None`
    /// if the run was too short to measure one.
    pub window: Option<Window>,
}

impl Side {
    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn micros(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1e3
    }
}

/// A latency histogram: 1 ns to 60 s, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// How long a node may take to let go of its last conversation.
const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// Waits until `stats`' driver holds no conversation (the node's leak
/// gauge is back to 0), at most [`SETTLE_LIMIT`]; returns how many it
/// still holds and how long the wait took.
pub fn settle(stats: &NodeStats) -> (u64, Duration) {
    let start = std::time::Instant::now();
    loop {
        let (conversations, _) = stats.live();
        if conversations == 0 || start.elapsed() > SETTLE_LIMIT {
            return (conversations, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Everything a load run measured.
#[derive(Clone, Debug)]
pub struct LoadReport {
    /// The machine.
    pub machine: Machine,
    /// The socket backend that ran.
    pub backend: &'static str,
    /// Where the partner was.
    pub partner_addr: SocketAddr,
    /// True for the in-process partner.
    pub partner_local: bool,
    /// Conversations at once.
    pub sessions: usize,
    /// Request size.
    pub size: usize,
    /// Cancel fraction.
    pub cancel_fraction: f64,
    /// The limit the run had.
    pub limit: Limit,
    /// Our side.
    pub ours: Side,
    /// Our exactly-once accounting.
    pub client: ClientTally,
    /// Why conversations failed other than by their cancel (the partner
    /// was lost), if any did.
    pub failure: Option<String>,
    /// The in-process partner's accounting.
    pub partner: Option<PartnerTally>,
    /// The client node's `(binds_sent, _, sessions_reused, violations, links_closed)`.
    pub node: (u64, u64, u64, u64, u64),
    /// Conversations the client node's driver still held after the run
    /// (its leak gauge, given [`SETTLE_LIMIT`] to reach 0).
    pub node_conversations_left: u64,
    /// Engine state per task slot, verb excluded (`Stats::slot_overhead_bytes`).
    pub slot_overhead_bytes: usize,
    /// One slot with its verb (`Stats::slot_bytes`).
    pub slot_bytes: usize,
    /// Peak RSS after our side (VmHWM).
    pub peak_rss: Option<u64>,
    /// The tokio peer, if asked for.
    pub peer: Option<(Side, PeerTally)>,
    /// Peak RSS at the end (after the peer too).
    pub peak_rss_end: Option<u64>,
}

impl LoadReport {
    /// The exactly-once verdict: every accepted handle completed once, on
    /// both nodes, every cancel answer consistent, no leak (engine tasks or
    /// node conversations), no protocol violation, and requests actually
    /// flowed.
    pub fn exactly_once(&self) -> bool {
        self.client.exactly_once()
            && self.failure.is_none()
            && self.partner.is_none_or(|p| p.exactly_once())
            && self.node.3 == 0
            && self.node_conversations_left == 0
            && self.ours.requests > 0
    }
}

/// The two nodes a run talks through: the partner (in process, or
/// external with `--partner`) and the client node, with the application
/// its TPs run in.
pub struct Nodes {
    /// The in-process partner, if no `--partner` was given.
    partner: Option<Partner>,
    /// Where the partner listens.
    pub partner_addr: SocketAddr,
    node: TcpNode,
    /// The client application (`WinAPPCStartup` done), shared with the
    /// client's task while it runs.
    pub app: Arc<Appc>,
}

/// What [`Nodes::stop`] found.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// The socket backend that ran.
    pub backend: &'static str,
    /// The client engine's figures before its cleanup.
    pub stats: Stats,
    /// The client node's `(binds_sent, _, sessions_reused, violations, links_closed)`.
    pub node: (u64, u64, u64, u64, u64),
    /// Conversations the client node's driver still held after the run
    /// (its leak gauge, given [`SETTLE_LIMIT`] to reach 0).
    pub node_conversations_left: u64,
    /// The in-process partner's accounting.
    pub partner: Option<PartnerTally>,
}

impl Nodes {
    /// Starts the in-process partner on `--listen` (unless `--partner`
    /// names one, which must accept a connection), then the client node
    /// knowing it as [`partner::LU`], and the client application.
    pub fn start(config: &Config, node_config: NodeConfig) -> Result<Nodes, String> {
        let kind = Kind::from(config.backend);
        let external = config.partner.as_ref().map(HostPort::resolve).transpose()?;
        let partner = match external {
            Some(addr) => {
                TcpStream::connect_timeout(&addr, Duration::from_secs(3))
                    .map_err(|e| format!("cannot reach the partner node at {addr}: {e}"))?;
                None
            }
            None => {
                let listen = config.listen_addr(SocketAddr::from(([127, 0, 0, 1], 0)))?;
                Some(
                    Partner::start(kind, listen, node_config.clone(), Some(config.tps))
                        .map_err(|e| format!("cannot start the partner node: {e}"))?,
                )
            }
        };
        let partner_addr = partner
            .as_ref()
            .map(Partner::addr)
            .or(external)
            .expect("one of the two");
        let engine = Node::new();
        let node = TcpNode::start(CLIENT_LU, engine.clone(), kind, node_config)
            .map_err(|e| format!("cannot start the client node: {e}"))?;
        node.add_partner(partner::LU, partner_addr);
        let (app, _) = Appc::startup(WINAPPC_VERSION, &engine)
            .map_err(|e| format!("WinAPPCStartup: {e:?}"))?;
        Ok(Nodes {
            partner,
            partner_addr,
            node,
            app: Arc::new(app),
        })
    }

    /// Cleans the client application up, waits for the client node to let
    /// go of its conversations, closes it, then stops the partner.
    pub fn stop(mut self) -> Stopped {
        let stats = self.app.stats();
        Arc::get_mut(&mut self.app)
            .expect("the client has let go of the application")
            .cleanup();
        let backend = self.node.backend_name();
        let (node_conversations_left, _) = settle(self.node.stats());
        // The partner too, so that what it still sends when a conversation
        // ends (an IPR, a response) meets an open link, not a reset one.
        if let Some(partner) = &self.partner {
            settle(partner.stats());
        }
        let node = self.node.stats().snapshot();
        drop(self.node);
        Stopped {
            backend,
            stats,
            node,
            node_conversations_left,
            partner: self.partner.and_then(Partner::stop),
        }
    }
}

/// Runs the load (and the peer), returning the report, or why it could
/// not run.
pub fn run(config: &Config) -> Result<LoadReport, String> {
    run_watched(config, |_, _| ()).map(|(report, ())| report)
}

/// [`run`], with `watch` running on a thread of its own while the load
/// runs: it is given the client application and a flag that is set (and
/// its thread unparked) when the load is over, and what it returns comes
/// back with the report.
pub fn run_watched<W: Send>(
    config: &Config,
    watch: impl FnOnce(&Appc, &AtomicBool) -> W + Send,
) -> Result<(LoadReport, W), String> {
    let limit = match config.requests {
        Some(n) => Limit::Requests(n),
        None => Limit::Time(config.duration()),
    };
    let node_config = NodeConfig {
        max_sessions_per_link: config
            .sessions
            .max(NodeConfig::default().max_sessions_per_link),
        ..config.node_config()
    };
    let nodes = Nodes::start(config, node_config)?;
    let partner_addr = nodes.partner_addr;
    let client_config = ClientConfig {
        sessions: config.sessions,
        size: config.size(),
        cancel_fraction: config.load_cancel_fraction(),
        limit,
        partner: partner::LU.into(),
        tp: partner::TP.into(),
    };
    let over = AtomicBool::new(false);
    let (result, watched) = std::thread::scope(|s| {
        let watcher = s.spawn(|| watch(&nodes.app, &over));
        let result = match config.tps {
            Tps::Thread => client::run(&nodes.app, &client_config),
            Tps::Task => {
                let (app, client_config) = (Arc::clone(&nodes.app), client_config.clone());
                nodes
                    .node
                    .spawn(move || async move {
                        let outcome = client::run_task(&app, &client_config).await;
                        // Let go of the application before the outcome is
                        // out, so that it can be cleaned up.
                        drop(app);
                        outcome
                    })
                    .join()
                    .unwrap_or_else(|| Err("the client node stopped under the client".into()))
            }
        };
        over.store(true, Ordering::Release);
        watcher.thread().unpark();
        let watched = watcher
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (result, watched)
    });
    let stopped = nodes.stop();
    let client::Outcome {
        side: ours,
        tally: client,
        failure,
    } = result?;
    // What the client saw, with what its node saw of the links.
    let failure = failure.map(|why| match stopped.node.4 {
        0 => why,
        closed => format!("{why}; links to {partner_addr} closed (lost or refused): {closed}"),
    });
    let peak_rss = proc_status_bytes("VmHWM");

    let peer = match config.peer {
        Peer::None => None,
        Peer::Tokio => Some(tokio_peer::run(
            config.sessions,
            config.size(),
            config.load_cancel_fraction(),
            limit,
        )?),
    };
    let report = LoadReport {
        machine: Machine::detect(),
        backend: stopped.backend,
        partner_addr,
        partner_local: stopped.partner.is_some(),
        sessions: config.sessions,
        size: config.size(),
        cancel_fraction: config.load_cancel_fraction(),
        limit,
        ours,
        client,
        failure,
        partner: stopped.partner,
        node: stopped.node,
        node_conversations_left: stopped.node_conversations_left,
        slot_overhead_bytes: stopped.stats.slot_overhead_bytes,
        slot_bytes: stopped.stats.slot_bytes,
        peak_rss,
        peer,
        peak_rss_end: proc_status_bytes("VmHWM"),
    };
    Ok((report, watched))
}

/// `--mode partner`: the echo partner alone, until the process is killed.
pub fn serve(config: &Config) -> Result<(), String> {
    let listen = config.listen_addr(SocketAddr::from(([127, 0, 0, 1], 6262)))?;
    let node_config = NodeConfig {
        max_sessions_per_link: MAX_SERVED_SESSIONS,
        ..config.node_config()
    };
    let partner = Partner::start(config.backend.into(), listen, node_config, Some(config.tps))
        .map_err(|e| format!("cannot start the partner node: {e}"))?;
    println!(
        "partner LU {} (TP {}) listening on {} ({}); Ctrl-C stops it",
        partner::LU,
        partner::TP,
        partner.addr(),
        partner.backend_name()
    );
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Mode;

    fn small(peer: Peer) -> Config {
        Config {
            mode: Mode::Load,
            duration: Some(Duration::from_millis(400)),
            sessions: 8,
            cancel_fraction: Some(0.3),
            peer,
            plot: None,
            ..Config::default()
        }
    }

    #[test]
    fn a_short_load_with_many_cancels_is_exactly_once() {
        let report = run(&small(Peer::Tokio)).expect("loopback run");
        for check in report::checks(&report) {
            assert!(check.ok, "{}: {}", check.claim, check.detail);
        }
        assert!(report.exactly_once());
        assert!(report.ours.cancels.total() > 0, "cancels happened");
        let (peer, _) = report.peer.as_ref().expect("the peer ran");
        assert!(peer.requests > 0);
        // This test binary counts with the load's allocator, and the run
        // is long enough for a window after the warm-up on both sides.
        for side in [&report.ours, peer] {
            let window = side.window.expect("a measured window");
            assert!(window.requests > 0 && window.requests <= side.requests);
            assert!(window.heap.is_some() && window.cpu.is_some(), "{window:?}");
        }
    }

    #[test]
    fn a_refused_partner_is_an_error_not_a_hang() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let config = Config {
            partner: Some(addr.into()),
            ..small(Peer::None)
        };
        let err = run(&config).expect_err("nobody listens");
        assert!(err.contains("cannot reach the partner"), "{err}");
    }

    #[test]
    fn a_taken_port_is_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = Config {
            listen: Some(listener.local_addr().unwrap().into()),
            ..small(Peer::None)
        };
        let err = run(&config).expect_err("the port is taken");
        assert!(err.contains("cannot listen"), "{err}");
    }
}
