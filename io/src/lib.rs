//! LU 6.2 session transport for [`appc_engine`].
//!
//! This crate holds the wire codec ([`wire`]); the io_uring / IOCP / epoll
//! backends and the node follow (see `DESIGN.md`, "io/"). It re-exports the
//! engine, so that the dependency direction `perf -> io -> engine` is already
//! the one the design asks for.
#![deny(unsafe_op_in_unsafe_fn)]
#![forbid(unsafe_code)]

pub use appc_engine as engine;

pub mod wire;
