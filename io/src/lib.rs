//! LU 6.2 session transport for [`appc_engine`].
//!
//! This crate will hold the wire codec, the io_uring / IOCP / epoll backends
//! and the node (see `DESIGN.md`, "io/"). Until the session-traffic work lands
//! it only re-exports the engine, so that the dependency direction
//! `perf -> io -> engine` is already the one the design asks for.
#![deny(unsafe_op_in_unsafe_fn)]

pub use appc_engine as engine;
