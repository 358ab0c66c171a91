//! Criterion benchmarks of the engine against the peers a Rust engineer would
//! pick.
//!
//! The benchmarks themselves (`benches/lifecycle.rs`, `benches/session.rs`)
//! only wire things together; everything they measure besides the engine
//! and the node lives here so that it can be read, and unit-tested, on its
//! own:
//!
//! - [`peers`]: the peer implementations of "a table of asynchronous
//!   requests", each doing the same work as the engine (create a request
//!   record, finish it with one state transition, hand the result back).
//! - [`harness`]: the completer thread and the batching used by the
//!   cross-thread and cancel groups, shared by the engine and every peer so
//!   that scaffolding costs the same for all.
//! - [`session`]: the tokio TCP echo that LU 6.2 session traffic is
//!   measured against.
//! - [`api`]: the same APPC verbs through the Rust API, the async layer and
//!   the C ABI, for `benches/api_overhead.rs` and the instruction counts of
//!   `scripts/api_instructions.sh`.

pub mod api;
pub mod harness;
pub mod peers;
pub mod session;
