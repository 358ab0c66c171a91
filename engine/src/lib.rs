//! A lock-free engine for the asynchronous Windows APPC (LU 6.2) programming
//! model of Microsoft Host Integration Server: `WinAsyncAPPC`,
//! `WinAsyncAPPCEx`, `WinAsyncAPPCIOCP` and `WinAPPCCancelAsyncRequest`,
//! rebuilt for gateways that hold millions of outstanding requests.
//!
//! * Every accepted [`Engine::submit`] returns a [`Handle`] and produces
//!   exactly one completion, delivered to its [`Target`]: a message queue,
//!   a completion port, an event, or a Rust future.
//! * [`Engine::cancel`] answers 0 / `WAPPCALREADY` / `WAPPCINVALID` by one
//!   compare-and-swap on the task's state word (the `state` module's
//!   module docs are the protocol).
//! * Handles are generation-tagged and never alias: a stale handle is
//!   `WAPPCALREADY`, a forged one `WAPPCINVALID`, never another task.
//!
//! ```
//! use appc_engine::{Engine, Opcode, Target, Verb, AP_CANCELLED, WINAPPC_VERSION};
//!
//! let (engine, _) = Engine::<Verb>::startup(WINAPPC_VERSION).unwrap();
//! let (tx, mut rx) = engine.queue();
//! let handle = engine
//!     .submit(Verb::new(Opcode::ReceiveAndWait, 7), &Target::Queue(tx))
//!     .unwrap();
//! assert_eq!(engine.cancel(handle).code(), 0);
//! let done = rx.try_recv().expect("posted before cancel returned");
//! assert_eq!((done.handle, done.verb.primary_rc), (handle, AP_CANCELLED));
//! assert_eq!(engine.cancel(handle).code(), appc_engine::WAPPCALREADY);
//! ```
//!
//! The APPC verb layer (typed verbs, return codes, the LU 6.2 conversation
//! state machine, applications and nodes) is the `appc` crate, built on this
//! core's public API; the [`Tasks`] handle and the teardown hook of
//! [`Engine::startup_with_teardown`] are what it, and any other layer that
//! finishes tasks (a transport), needs.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod activity;
mod api;
#[cfg(not(loom))]
mod blocking;
pub mod combiner;
mod completion;
mod core;
pub mod deferred;
mod handle;
pub mod id_hash;
pub mod inbox;
pub mod spin;
mod state;
mod sync;
mod table;
mod tags;
mod verb;

pub use api::{
    CancelOutcome, CompleteOutcome, Engine, Rejected, Reservation, StartupData, StartupError,
    Stats, Tasks, WAPPCALREADY, WAPPCCANCEL, WAPPCINVALID, WAPPCSYSNOTREADY, WAPPCVERNOTSUPPORTED,
    WINAPPC_VERSION,
};
#[cfg(not(loom))]
pub use blocking::HOOK_PERIOD;
pub use completion::{Completion, Event, Packet, Port, Receiver, Sender, Target, TaskFuture};
pub use core::{CollectError, Reason, Teardown};
pub use handle::Handle;
#[cfg(loom)]
#[doc(hidden)]
pub use sync::paths as loom_paths;
pub use verb::{Opcode, Request, Verb, AP_CANCELLED, AP_OK, AP_THREAD_BLOCKING};

impl From<Handle> for u64 {
    fn from(handle: Handle) -> u64 {
        handle.raw()
    }
}
