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
//! [`appc`] gives the engine its APPC meaning: typed verbs, return codes,
//! the LU 6.2 conversation state machine, and [`appc::Appc`], an
//! application whose TPs hold conversations over an [`appc::Node`]. There a
//! cancel closes the cancelled verb's session (the partner's verb fails
//! with `AP_CONV_FAILURE_RETRY`) before it returns:
//!
//! ```
//! use appc_engine::appc::rc::PrimaryRc;
//! use appc_engine::appc::verbs::{name, Allocate, Body, Conv, Receive, TpStarted, Verb};
//! use appc_engine::appc::{Appc, Node};
//! use appc_engine::{Target, WINAPPC_VERSION};
//!
//! let node = Node::new();
//! node.define_tp("ECHO"); // attaches to ECHO queue until a RECEIVE_ALLOCATE takes them
//! let (app, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
//! let started = app.call(Verb::mapped(Body::TpStarted(TpStarted::default()))).unwrap();
//! let Body::TpStarted(TpStarted { tp_id, .. }) = started.body else { unreachable!() };
//! let allocate = Allocate { tp_id, tp_name: name("ECHO"), ..Default::default() };
//! let allocated = app.call(Verb::mapped(Body::Allocate(allocate))).unwrap();
//! let Body::Allocate(Allocate { conv_id, .. }) = allocated.body else { unreachable!() };
//!
//! // An asynchronous receive (it flushes the attach and turns the direction),
//! // then cancelled: AP_CANCELLED is posted before cancel returns.
//! let (tx, mut rx) = app.queue();
//! let receive = Receive { conv: Conv { tp_id, conv_id }, max_len: 100, ..Default::default() };
//! let handle = app.submit(Verb::mapped(Body::ReceiveAndWait(receive)), &Target::Queue(tx)).unwrap();
//! assert_eq!(app.cancel(handle).code(), 0);
//! assert_eq!(rx.try_recv().unwrap().verb.primary_rc, PrimaryRc::CANCELLED);
//! ```
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod api;
pub mod appc;
#[cfg(not(loom))]
mod blocking;
pub mod combiner;
mod completion;
mod core;
mod handle;
pub mod id_hash;
pub mod spin;
mod state;
mod sync;
mod table;
mod verb;

pub use api::{
    CancelOutcome, CompleteOutcome, Engine, Rejected, StartupData, StartupError, Stats,
    WAPPCALREADY, WAPPCCANCEL, WAPPCINVALID, WAPPCSYSNOTREADY, WAPPCVERNOTSUPPORTED,
    WINAPPC_VERSION,
};
#[cfg(not(loom))]
pub use blocking::HOOK_PERIOD;
pub use completion::{Completion, Event, Packet, Port, Receiver, Sender, Target, TaskFuture};
pub use core::{CollectError, Reason};
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
