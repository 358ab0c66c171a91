//! `apingd`: the APPC ping daemon (TP `APINGD`) on a TCP node. See
//! `appc_perf::aping` for the protocol.

use appc_perf::aping::{cli, daemon};
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main::<cli::Apingd, _>(daemon::run)
}
