//! Limits of a [`TcpNode`](super::TcpNode): safe defaults for an untrusted
//! peer.

use std::time::Duration;

use crate::backend;
use crate::wire::frame::DEFAULT_MAX_PIU;

/// What a node allows a peer, and what it asks of the backend.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Largest PIU (TH + RH + RU) accepted or sent. A length prefix above it
    /// breaks the framing: the link is closed. BINDs and their images state
    /// the largest RU size (a·2^n bytes) within `max_frame - 9`, and each
    /// direction of a session sends RUs no larger than the smaller of the
    /// two ends' sizes (the FMH-5 with its PIP must fit in one RU).
    pub max_frame: usize,
    /// Sessions one link may carry. The initiator queues conversations
    /// beyond it until a session is free; the acceptor refuses a BIND beyond
    /// it (`-RSP(BIND)`, sense `08050000`).
    pub max_sessions_per_link: usize,
    /// Bytes a session may hold for one conversation: a mapped record being
    /// reassembled, or flows queued before the session is active. Beyond
    /// it the conversation fails (and, inbound, the session is unbound).
    pub max_session_buffer: usize,
    /// Session-level pacing window, in RUs (at most 63): this node sends
    /// at most this many normal-flow requests before the partner's pacing
    /// response, and asks the same of the partner in its BINDs. The
    /// partner's pacing response waits while the conversation holds more
    /// than `max_session_buffer` bytes received and not yet taken by its
    /// TP. 0: unpaced (as a peer whose BIND proposes 0 windows, for
    /// interop); an unpaced conversation that holds more than twice
    /// `max_session_buffer` fails instead.
    pub pacing_window: u8,
    /// Bytes of one conversation's flows a session may hold not yet sent
    /// (waiting for a pacing window, or for the driver) before a send verb
    /// of it waits (SEND_DATA, FLUSH); it completes once the backlog is
    /// down to half of this. Keep it below `max_session_buffer`.
    pub max_send_backlog: usize,
    /// Protocol violations a link's peer may commit (sessions unbound for
    /// a violation, refused BINDs, PIUs for no session that do not decode)
    /// before the link is closed: a peer that sends garbage costs itself
    /// its link, not the node a log line per frame. Counted over the
    /// link's life.
    pub max_link_violations: u32,
    /// Links open at once, in both directions; a connection accepted
    /// beyond it is closed at once. Each costs the node a descriptor and a
    /// few KiB until its peer binds a session (then its sessions' memory,
    /// bounded per session: see the module docs of `node`).
    pub max_links: usize,
    /// An accepted link on which no valid BIND came within this is closed:
    /// a peer that connects and says nothing holds a descriptor for at
    /// most this long.
    pub handshake_timeout: Duration,
    /// A link with no session for this long is closed (and opened again
    /// by the next ALLOCATE that needs it).
    pub idle_timeout: Duration,
    /// Bytes all links together may hold in the node and its backend:
    /// partial PIUs being gathered and bytes queued to send. Over it, the
    /// links holding most are closed (their conversations fail as on a
    /// lost link) until the node is under it again; the node goes on. One
    /// link holds at most one partial PIU (`max_frame`) and its send queue
    /// (`backend.max_queued_bytes`, whose breach closes it).
    pub max_node_memory: usize,
    /// How long dropping the node waits for what its conversations already
    /// sent to go out and be answered ([`TcpNode::shutdown`](super::TcpNode::shutdown)):
    /// a node dropped right after its TP's DEALLOCATE no longer cuts it
    /// off. Returns at once when nothing is on its way.
    pub linger: Duration,
    /// The network this node's LU belongs to (its NETID, 1 to 8 letters,
    /// digits or `$#@`). BINDs name both LUs network-qualified
    /// (`NETID.LU`), a partner taken to be in the same network; a BIND
    /// from a peer may name this LU either way, and one naming another
    /// network's LU (or another LU) is refused. Set it to the network's
    /// real NETID where partners check it; the default is `APPN`.
    pub netid: String,
    /// Backend tuning (its `max_queued_bytes` bounds each link's output;
    /// the node raises it to at least [`CONTROL_BURST`] bytes a session, see
    /// [`NodeConfig::backend_config`]).
    pub backend: backend::Config,
}

/// A generous bound on the control traffic one session puts on its link's
/// send queue at once: a BIND or its response (with the image), an FMH-5
/// attach or its response, an UNBIND. Every session of a link can do so in
/// the same moment (a link coming up binds them all; a mass cancel unbinds
/// them all), and the link's queue must hold that burst: a full queue reads
/// as a peer that stopped reading.
pub const CONTROL_BURST: usize = 256;

impl NodeConfig {
    /// The backend configuration the node starts with: [`NodeConfig::backend`]
    /// with `max_queued_bytes` raised to hold one [`CONTROL_BURST`] from each
    /// of `max_sessions_per_link` sessions (with the defaults, 64 KiB: the
    /// 4 MiB set is kept).
    pub fn backend_config(&self) -> backend::Config {
        let burst = self.max_sessions_per_link.saturating_mul(CONTROL_BURST);
        backend::Config {
            max_queued_bytes: self.backend.max_queued_bytes.max(burst),
            ..self.backend.clone()
        }
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_PIU,
            max_sessions_per_link: 256,
            max_session_buffer: 1 << 20,
            pacing_window: 8,
            max_send_backlog: 512 << 10,
            max_link_violations: 16,
            max_links: 1024,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_node_memory: 64 << 20,
            linger: Duration::from_secs(1),
            netid: "APPN".to_owned(),
            backend: backend::Config::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_queue_holds_a_control_burst_of_every_session() {
        let default = NodeConfig::default();
        assert_eq!(
            default.backend_config().max_queued_bytes,
            default.backend.max_queued_bytes,
            "256 sessions fit the default queue"
        );
        let crowded = NodeConfig {
            max_sessions_per_link: 62_500,
            ..NodeConfig::default()
        };
        assert_eq!(
            crowded.backend_config().max_queued_bytes,
            62_500 * CONTROL_BURST
        );
        let unbounded = NodeConfig {
            max_sessions_per_link: usize::MAX,
            ..NodeConfig::default()
        };
        assert_eq!(unbounded.backend_config().max_queued_bytes, usize::MAX);
    }
}
