//! `appc-capi`: the Windows APPC API of Microsoft Host Integration Server's
//! `winappc.h`, as a C ABI over the `appc` engine, so that an existing
//! `winappc.h` program ports by recompiling against `include/winappc.h`
//! and linking this library (shared or static).
//!
//! * **Entry points**: `WinAPPCStartup`, `WinAPPCCleanup`, `WinAsyncAPPC`,
//!   `WinAsyncAPPCEx`, `WinAsyncAPPCIOCP`, `APPC`,
//!   `WinAPPCCancelAsyncRequest`, `WinAPPCIsBlocking`,
//!   `WinAPPCCancelBlockingCall`, `WinAPPCSetBlockingHook`,
//!   `WinAPPCUnhookBlockingHook`, `GetAppcReturnCode` (the `exports` module).
//! * **VCBs** are the caller's memory, laid out as the published header
//!   lays them out (the `vcb` module, proven field by field by the layout tests).
//!   The library reads a VCB when the verb is issued and writes its
//!   results back just before the completion is announced; received data
//!   lands in the caller's `dptr` buffer.
//! * **Completion** reaches the caller's own objects: a window message, an
//!   event, a completion-port packet (the `notify` module), straight from the
//!   thread that finished the verb (the `call` module); the posting verbs' second
//!   completion goes to the VCB's own event (the `posts` module).
//!
//! `docs/capi.md` is the user's guide: building, linking, the node's
//! configuration, the Linux stand-ins for window, event and port handles,
//! and the sources of the layout facts.
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod buffers;
mod call;
mod decode;
mod encode;
pub mod exports;
mod names;
mod notify;
mod posts;
mod process;
mod vcb;
