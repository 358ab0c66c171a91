//! `appc-load`: the gateway load generator, in one command.
//!
//! `cargo run --release` from the workspace root runs this. It exists so that
//! a newcomer can see, on their own machine and in well under a minute, what
//! the library is for: a gateway holding many LU 6.2 conversations over real
//! TCP sessions, issuing and cancelling asynchronous APPC verbs at a high
//! rate, with every accepted verb completing exactly once ([`load`]). With
//! `--peer tokio` the same load written with plain tokio runs beside it and
//! the report gives the ratios.
//!
//! The other modes: `--mode bandwidth` streams 64 KiB records on one
//! session and sets that against raw loopback TCP ([`load::bandwidth`]);
//! `--mode scale` holds a million outstanding
//! RECEIVE_AND_WAITs and cancels them all ([`load::scale`]); `--mode engine`
//! is the engine alone without sockets ([`demo`]); `--mode partner` runs
//! just the echo partner node, for a client on another machine; `--mode
//! soak` runs the load for half an hour and requires the process's memory,
//! descriptors and live tasks to stay flat ([`load::soak`]).
//!
//! Exit status: 0 if every check held, 1 if one failed or the run could not
//! start (with a one-line reason on stderr), 2 on a bad flag.

mod args;
mod demo;
mod load;
mod memory;
mod sysinfo;
mod units;
mod workload;

use args::{Config, Mode};
use std::process::ExitCode;

/// Every allocation in the process is counted, so that the report can say
/// what a request costs the heap ([`load::window`]).
#[global_allocator]
static ALLOCATOR: appc_perf::counting::Counting = appc_perf::counting::Counting;

fn main() -> ExitCode {
    appc_perf::malloc::tune();
    let _log = appc_perf::logging::install();
    let config = match args::parse(std::env::args_os()) {
        Ok(config) => config,
        // --help (exit 0) or a usage error (exit 2), printed by clap.
        Err(err) => err.exit(),
    };
    match run(&config) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("appc-load: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the chosen mode; true if every check held.
fn run(config: &Config) -> Result<bool, String> {
    match config.mode {
        Mode::Load => {
            config.plot_ready()?;
            let report = load::run(config)?;
            let pass = report.exactly_once();
            if config.json {
                println!("{}", load::report::json(&report));
            } else {
                print!("{}", load::report::text(&report));
            }
            if let Some(failure) = &report.failure {
                eprintln!("appc-load: error: {failure}");
            }
            if let Some(path) = &config.plot {
                load::plot::write(&report, path)
                    .map_err(|e| format!("cannot write the plot to {}: {e}", path.display()))?;
                eprintln!("plot: {}", path.display());
            }
            Ok(pass)
        }
        Mode::Scale => load::scale::run(config),
        Mode::Bandwidth => load::bandwidth::run(config),
        Mode::Engine => {
            let pass = demo::run(&config.engine()).map_err(|e| format!("engine startup: {e}"))?;
            print!("{}", workload::verdict_text(pass));
            Ok(pass)
        }
        Mode::Partner => load::serve(config).map(|()| true),
        Mode::Soak => load::soak::run(config),
    }
}
