//! LU 6.2 session transport for [`appc_engine`].
//!
//! This crate holds the wire codec ([`wire`]), the socket backends
//! ([`backend`]: io_uring, epoll, IOCP) and the node ([`node`]): a local
//! LU whose conversations run over TCP links to partner nodes. It
//! re-exports the engine, so that the dependency direction
//! `perf -> io -> engine` is the only one.
//!
//! `unsafe` is denied crate-wide and allowed only on the modules that hand
//! memory to the kernel (the io_uring and IOCP backends); each block there names the
//! invariant it relies on in a `// SAFETY:` comment.
//!
//! Nothing here prints: diagnostics are `tracing` events (see `diag.rs`),
//! and the lints below keep it so.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]
#![deny(clippy::print_stderr, clippy::print_stdout)]

pub use appc;
pub use appc_engine as engine;

pub mod backend;
mod diag;
pub mod node;
pub mod wire;
