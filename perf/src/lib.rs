//! Code shared by more than one of the appc-perf binaries.
//!
//! Each binary in `src/bin/` is a thin `main`: it parses its flags and calls
//! in here, so that a protocol is written once and both ends of it (and the
//! tests that run them) agree by construction.

pub mod aping;
pub mod counting;
pub mod flags;
pub mod logging;
pub mod malloc;
