//! Two (or three) `TcpNode`s over real loopback sockets, each with its own
//! engine node and application, for every backend: conversations, attach
//! rejection, session pooling, cancel over the wire, link loss, hostile
//! peers. Every test body runs under a watchdog that fails instead of
//! hanging. On Windows (CI: under Wine, `.ci/wine-test`) the same tests run
//! on IOCP.
//!
//! One test binary, by topic: `conversations` (whole conversations,
//! refusals, freeing, session pooling), `failures` (cancel over the wire,
//! link loss, hostile peers) and `limits` (bulk to a TP that does not
//! receive, pacing, polling reactors, frame limits, the send backlog,
//! dead attaches). The helpers they share are here.

#[path = "../support/mod.rs"]
mod support;

mod conversations;
mod failures;
mod limits;

use support::*;

/// A record as the TP sends it: mapped as is, basic with its LL.
fn record(mapped: bool, data: &[u8]) -> Vec<u8> {
    if mapped {
        data.to_vec()
    } else {
        let mut r = ((data.len() + 2) as u16).to_be_bytes().to_vec();
        r.extend_from_slice(data);
        r
    }
}

/// A's binds and reuse, B's accepted binds, both sides' violations and closed links.
fn b_and(a: &Side, b: &Side) -> (u64, u64, u64, u64, u64) {
    let (binds, _, reused, va, ca) = a.node.stats().snapshot();
    let (_, accepted, _, vb, cb) = b.node.stats().snapshot();
    (binds, accepted, reused, va + vb, ca + cb)
}
