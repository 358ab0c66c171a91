//! `apingd`: the APPC ping daemon (TP `APINGD`) on a TCP node. See
//! `appc_perf::aping` for the protocol.

use appc_perf::aping::{cli, daemon};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The allocator first (before any thread), then the log's writer thread.
    appc_perf::malloc::tune();
    let _log = appc_perf::logging::install();
    cli::main::<cli::Apingd, _>(daemon::run)
}
