//! Conformance scripts: two TPs (a requester and a responder) run the LU
//! 6.2 flows of `docs/api.md#one-verb-at-a-time`, `docs/api.md#posting-verbs`, `docs/api.md#verbs` to `docs/api.md#verb-by-state` and the KB regressions of
//! `docs/api.md#known-problems-in-his-that-the-tests-guard-against` against the in-memory node. Each script is a sequence of verbs with
//! the results HIS documents. Where both sides must wait, they
//! run on two threads with blocking calls ([`support::duet`]); nothing
//! depends on timing.
//!
//! One test binary, by topic:
//!
//! * `flows`: startup, ALLOCATE and SEND_DATA buffering, change of
//!   direction, CONFIRM / CONFIRMED and the sync-level forms of
//!   PREPARE_TO_RECEIVE and DEALLOCATE;
//! * `errors`: SEND_ERROR (truncation, purging, error direction) and
//!   DEALLOCATE's abend and flush forms;
//! * `records`: basic logical records and mapped records;
//! * `posting`: REQUEST_TO_SEND and TEST_RTS_AND_POST, RECEIVE_IMMEDIATE,
//!   RECEIVE_AND_POST and POST_ON_RECEIPT, and their queue / port targets;
//! * `concurrency`: what may be issued while a verb is outstanding;
//! * `state_checks`: the state matrix applied by the running engine, and
//!   bad input refused without disturbing anything;
//! * `parameters`: SEND_CONVERSATION, GET_ATTRIBUTES / GET_TYPE,
//!   RECEIVE_ALLOCATE's outputs and the verbs' parameter checks;
//! * `kb`: the KB regressions and the attach queue limit.
//!
//! The conversation helper every topic shares ([`pair`]) is here.
#![cfg(not(loom))]

#[path = "../support/mod.rs"]
mod support;

mod concurrency;
mod errors;
mod flows;
mod kb;
mod parameters;
mod posting;
mod records;
mod state_checks;

use support::*;

/// A requester with an allocated basic conversation, and the responder
/// that took it (the attach is flushed first, so nothing blocks).
fn pair<'a>(a: &'a appc::Appc, b: &'a appc::Appc, mapped: bool, sync: u8) -> (Tp<'a>, Tp<'a>) {
    let mut req = Tp::started(a, mapped);
    req.allocate(RESP, sync).ok();
    req.flush().ok();
    let resp = Tp::receive_allocate(b, RESP);
    (req, resp)
}
