//! APPC semantics: return codes, verbs, the LU 6.2 conversation rules, and
//! (outside loom builds) the application API that runs conversations
//! between TPs over an in-memory [`Node`].

#[cfg(loom)]
#[doc(hidden)]
pub mod activity;
#[cfg(not(loom))]
mod activity;
#[cfg(loom)]
#[doc(hidden)]
pub mod deferred;
#[cfg(not(loom))]
mod deferred;
// A refused submission gives the caller's verb back by value in
// `Rejected`, as `Engine::submit` does; a VCB is larger than clippy's
// threshold for an `Err`, and boxing it would allocate on every refusal.
#[cfg(not(loom))]
#[allow(clippy::result_large_err)]
mod app;
#[cfg(not(loom))]
#[allow(clippy::result_large_err)]
mod conversation;
#[cfg(not(loom))]
#[allow(clippy::result_large_err)]
mod node;
#[cfg(not(loom))]
#[allow(clippy::result_large_err)]
mod outcome;
#[cfg(not(loom))]
mod param;
pub mod rc;
pub mod records;
#[cfg(not(loom))]
pub mod session;
pub mod states;
pub mod verbs;

#[cfg(not(loom))]
pub use app::Appc;
#[cfg(not(loom))]
pub use conversation::SEND_BUFFER;
#[cfg(not(loom))]
pub use node::{Node, MAX_QUEUED_ATTACHES};
#[cfg(not(loom))]
pub use session::{Attach, Confirmation, ConvPort, Flow, Partner, Session};
