//! APPC semantics over the lock-free `appc-engine` core: return codes,
//! verbs, the LU 6.2 conversation rules, and the application API
//! ([`Appc`]) that runs conversations between TPs over a [`Node`] (in
//! memory, or through a session layer such as `appc-io`'s TCP node).
//!
//! Safe code only: every concurrent protocol it relies on (the task state
//! word, completion targets, the soft-end race of [`activity`], the
//! [`deferred`] list) lives in the core, where loom and Miri check it.
//!
//! [`activity`]: appc_engine::activity
//! [`deferred`]: appc_engine::deferred
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// A refused submission gives the caller's verb back by value in
// `Rejected`, as `Engine::submit` does; a VCB is larger than clippy's
// threshold for an `Err`, and boxing it would allocate on every refusal.
#[allow(clippy::result_large_err)]
mod app;
#[allow(clippy::result_large_err)]
mod conversation;
mod lock;
#[allow(clippy::result_large_err)]
mod node;
#[allow(clippy::result_large_err)]
mod outcome;
mod param;
pub mod rc;
pub mod records;
pub mod session;
pub mod states;
pub mod tp_async;
pub mod verbs;

pub use app::Appc;
pub use conversation::{Attachment, Ending, IssuedVerb, RemoteEnd, SEND_BUFFER};
pub use node::{Node, WeakNode, MAX_QUEUED_ATTACHES};
pub use session::{Attach, Confirmation, Failure, Flow, Owner, Peer, TpEnd, Work};
