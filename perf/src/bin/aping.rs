//! `aping`: the APPC ping client over our TCP nodes. See
//! `appc_perf::aping` for the protocol and the report.

use appc_perf::aping::{cli, client};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The allocator first (before any thread), then the log's writer thread.
    appc_perf::malloc::tune();
    let _log = appc_perf::logging::install();
    cli::main::<cli::Aping, _>(client::run)
}
