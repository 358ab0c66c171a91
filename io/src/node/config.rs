//! Limits of a [`TcpNode`](super::TcpNode): safe defaults for an untrusted
//! peer.

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
    /// Backend tuning (its `max_queued_bytes` bounds each link's output).
    pub backend: backend::Config,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            max_frame: DEFAULT_MAX_PIU,
            max_sessions_per_link: 256,
            max_session_buffer: 1 << 20,
            pacing_window: 8,
            max_send_backlog: 512 << 10,
            backend: backend::Config::default(),
        }
    }
}
