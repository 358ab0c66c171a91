//! `aping`: the APPC ping client over our TCP nodes. See
//! `appc_perf::aping` for the protocol and the report.

use appc_perf::aping::{cli, client};
use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main::<cli::Aping, _>(client::run)
}
