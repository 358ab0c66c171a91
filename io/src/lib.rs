//! LU 6.2 session transport for [`appc_engine`].
//!
//! This crate holds the wire codec ([`wire`]) and the socket backends
//! ([`backend`]: io_uring, epoll, IOCP); the node follows (see `DESIGN.md`,
//! "io/"). It re-exports the engine, so that the dependency direction
//! `perf -> io -> engine` is already the one the design asks for.
//!
//! `unsafe` is denied crate-wide and allowed only on the modules that hand
//! memory to the kernel (the io_uring and IOCP backends); each block there names the
//! invariant it relies on in a `// SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]

pub use appc;
pub use appc_engine as engine;

pub mod backend;
pub mod node;
pub mod wire;
