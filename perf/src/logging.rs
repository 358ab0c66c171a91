//! Where the appc-perf binaries send the library's diagnostics.
//!
//! `appc-io` reports through `tracing` and prints nothing itself; a binary
//! chooses where that goes. These send it to stderr, one line per event,
//! filtered as `RUST_LOG` says (`RUST_LOG=appc_io=debug`, say; default:
//! warnings and errors), through a non-blocking writer: a thread of its own
//! writes the lines, and an event that finds its queue full is dropped.
//! So a reactor thread never waits on stderr, whether it is a pipe nobody
//! reads or closed (then the lines are lost, and nothing fails).

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Installs the subscriber (see the module docs), unless one is already
/// installed. Keep the guard until `main` returns: dropping it writes out
/// what is still queued.
pub fn install() -> WorkerGuard {
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init();
    guard
}
