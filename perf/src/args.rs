//! Command-line flags, with `clap`, and the conventions users expect of a
//! command line: every flag at most once; a flag the chosen `--mode` does
//! not read is an error, not silently ignored; a value the command line
//! alone shows to be wrong is a usage error (exit 2, `clap`'s message and
//! usage); what depends on the world (a host name that does not resolve, a
//! directory that is not there) is a failed run (exit 1). Arguments that
//! are not UTF-8 are refused like any other bad flag, except a `--plot`
//! path, which may be any path the system takes.

use appc::verbs::MAX_DATA;
use appc_engine::{Engine, Verb};
use appc_io::node::NodeConfig;
use appc_perf::flags::{number_in, HostPort};
use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, ValueEnum};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use appc_perf::flags::Backend;

/// The most submitter threads accepted: far more than are useful, few enough
/// that a typo cannot ask for a million threads.
pub const MAX_THREADS: usize = 256;
/// The most sessions one run may ask for in load mode.
pub const MAX_SESSIONS: usize = 65_535;
/// The most request bytes in load mode (one mapped record in one flush).
pub const MAX_SIZE: usize = 32_767;
/// The fewest record bytes in bandwidth mode: the sequence number and one
/// filler byte.
pub const MIN_RECORD: usize = 9;
/// The most links in scale mode.
pub const MAX_LINKS: usize = 256;
/// Where the plot goes unless `--plot` says otherwise.
pub const DEFAULT_PLOT: &str = "target/appc-load.svg";

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Request/response for --duration
    Load,
    /// One conversation on one session sends --size records back to back for
    /// --duration to a sink TP, then raw loopback TCP (one writer, one reader
    /// thread) for as long; MiB/s of both and their ratio (target: appc >= 90%
    /// of TCP)
    Bandwidth,
    /// Hold --outstanding RECEIVE_AND_WAITs, then cancel them all
    Scale,
    /// The engine alone (submit/complete/cancel threads, no sockets)
    Engine,
    /// Run only the echo partner node on --listen until killed
    Partner,
    /// The load for --duration (default 30 min) with the process's RSS, open
    /// descriptors and live tasks sampled every --sample-every, which must
    /// stay flat
    Soak,
}

impl Mode {
    /// The flags this mode reads; any other given with it is an error.
    fn reads(self) -> &'static [&'static str] {
        match self {
            Mode::Load => &[
                "duration",
                "requests",
                "sessions",
                "size",
                "cancel_fraction",
                "backend",
                "peer",
                "partner",
                "listen",
                "tps",
                "idle_poll",
                "json",
                "plot",
                "no_plot",
            ],
            Mode::Bandwidth => &["duration", "size", "backend", "listen", "idle_poll", "json"],
            Mode::Scale => &[
                "outstanding",
                "links",
                "backend",
                "listen",
                "idle_poll",
                "json",
            ],
            Mode::Engine => &["requests", "cancel_fraction", "outstanding", "threads"],
            Mode::Partner => &["listen", "backend", "tps", "idle_poll"],
            Mode::Soak => &[
                "duration",
                "sample_every",
                "sessions",
                "size",
                "cancel_fraction",
                "backend",
                "listen",
                "tps",
                "idle_poll",
            ],
        }
    }

    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// The peer to compare against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    /// Ours only
    #[default]
    None,
    /// The same load written with tokio (a task per connection, a oneshot per
    /// request, abort to cancel), side by side
    Tokio,
}

/// Where the load's TPs (the client's, and the in-process partner's) run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Tps {
    /// As a task on their node's reactor thread (TcpNode::spawn), awaiting
    /// their completion port: the thread-per-core shape, where a request
    /// and its reply cross no thread
    #[default]
    Task,
    /// On a thread of their own, blocked on their completion port between
    /// batches (the WinAsyncAPPCIOCP shape): each request crosses to the
    /// reactor and back
    Thread,
}

/// The command line as `clap` sees it; [`parse`] turns it into a [`Config`].
#[derive(Debug, Parser)]
#[command(
    name = "appc-load",
    about = "The gateway load generator: an in-process partner node on loopback, LU 6.2 \
             sessions over TCP, many conversations doing request/response (SEND_DATA with \
             change of direction + RECEIVE_AND_WAIT), random cancels, and a report.",
    after_help = "Numbers may use '_' separators (1_000_000); times are seconds, or take a \
                  unit (2.5s, 30m, 1h). A flag the mode does not read is an error. Exit \
                  status: 0 all checks passed, 1 a check failed or the run could not start, \
                  2 bad flags."
)]
struct Cli {
    /// What to run
    #[arg(long, value_enum, default_value_t = Mode::Load, value_name = "MODE")]
    mode: Mode,
    /// Load: how long to run (default 10 s); bandwidth: per side (default 5 s);
    /// soak: how long to run (default 30 min)
    #[arg(long, value_parser = time, value_name = "TIME", conflicts_with = "requests")]
    duration: Option<Duration>,
    /// Load: stop after N requests instead of --duration; engine: requests
    /// pushed through the engine (default 4000000)
    #[arg(long, value_parser = positive, value_name = "N")]
    requests: Option<u64>,
    /// Load and soak: conversations at once, one LU 6.2 session each (default 256)
    #[arg(long, value_parser = sessions, value_name = "N")]
    sessions: Option<usize>,
    /// Load and soak: request and echo size in bytes, 1..=32767 (default 64);
    /// bandwidth: record size, 9..=65535 (default 65535, the most one
    /// MC_SEND_DATA carries: its length is 16 bits)
    #[arg(long, value_parser = positive, value_name = "BYTES")]
    size: Option<u64>,
    /// Fraction of RECEIVE_AND_WAITs cancelled at random, 0..=1 (default 0.01;
    /// engine mode 0.1)
    #[arg(long, value_parser = fraction, value_name = "F")]
    cancel_fraction: Option<f64>,
    /// Socket backend: auto is io_uring, else epoll
    #[arg(long, value_enum, default_value_t = Backend::Auto, value_name = "KIND")]
    backend: Backend,
    /// Load: also run the same load with another implementation
    #[arg(long, value_enum, default_value_t = Peer::None, value_name = "PEER")]
    peer: Peer,
    /// Load, soak and partner: where the TPs run
    #[arg(long, value_enum, default_value_t = Tps::Task, value_name = "WHERE")]
    tps: Tps,
    /// Load: use the partner node listening there (see --mode partner) instead
    /// of starting one in this process
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "listen")]
    partner: Option<HostPort>,
    /// Where the in-process partner listens (default 127.0.0.1:0; partner mode
    /// 127.0.0.1:6262)
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<HostPort>,
    /// Scale: verbs held outstanding (default 1000000); engine: tasks held in
    /// the memory phase (default 1000000)
    #[arg(long, value_parser = outstanding, value_name = "N")]
    outstanding: Option<usize>,
    /// Scale: TCP links the sessions are spread over (default 16)
    #[arg(long, value_parser = links, value_name = "N")]
    links: Option<usize>,
    /// Engine: submitter threads (default 2)
    #[arg(long, value_parser = threads, value_name = "N")]
    threads: Option<usize>,
    /// Soak: the sampling period (default 10 s)
    #[arg(long, value_parser = time, value_name = "TIME")]
    sample_every: Option<Duration>,
    /// io_uring: reactors poll for some tens of microseconds before they sleep
    /// (faster for few sessions, slower for many; epoll always does)
    #[arg(long)]
    idle_poll: bool,
    /// Print the report as JSON on stdout (progress stays on stderr)
    #[arg(long)]
    json: bool,
    /// Where the SVG plot goes (default target/appc-load.svg); its directory
    /// must exist
    #[arg(long, value_name = "PATH", conflicts_with = "no_plot")]
    plot: Option<PathBuf>,
    /// Write no plot
    #[arg(long)]
    no_plot: bool,
}

/// Every setting, after defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// What to run.
    pub mode: Mode,
    /// Load, bandwidth and soak: run time, if given (defaults differ per
    /// mode).
    pub duration: Option<Duration>,
    /// Load: a request count instead of a time; engine: its request count.
    pub requests: Option<u64>,
    /// Load and soak: conversations at once.
    pub sessions: usize,
    /// Load and soak: request size; bandwidth: record size; if given
    /// (defaults differ per mode).
    pub size: Option<usize>,
    /// Cancel fraction, if given (defaults differ per mode).
    pub cancel_fraction: Option<f64>,
    /// Socket backend.
    pub backend: Backend,
    /// Baseline.
    pub peer: Peer,
    /// An external partner node.
    pub partner: Option<HostPort>,
    /// Where the in-process partner (or partner mode) listens, if given.
    pub listen: Option<HostPort>,
    /// Scale / engine: verbs held outstanding.
    pub outstanding: usize,
    /// Scale: links.
    pub links: usize,
    /// Engine: submitter threads.
    pub threads: usize,
    /// Soak: the sampling period, if given.
    pub sample_every: Option<Duration>,
    /// JSON report.
    pub json: bool,
    /// The plot's path; `None` for no plot.
    pub plot: Option<PathBuf>,
    /// io_uring reactors poll before they sleep.
    pub idle_poll: bool,
    /// Where the TPs run.
    pub tps: Tps,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mode: Mode::Load,
            duration: None,
            requests: None,
            sessions: 256,
            size: None,
            cancel_fraction: None,
            backend: Backend::Auto,
            peer: Peer::None,
            partner: None,
            listen: None,
            outstanding: 1_000_000,
            links: 16,
            threads: 2,
            sample_every: None,
            json: false,
            plot: Some(PathBuf::from(DEFAULT_PLOT)),
            idle_poll: false,
            tps: Tps::Task,
        }
    }
}

impl Config {
    /// The run time: 5 s per side in bandwidth mode, 30 min for a soak,
    /// else 10 s.
    pub fn duration(&self) -> Duration {
        let default = match self.mode {
            Mode::Bandwidth => 5,
            Mode::Soak => 30 * 60,
            _ => 10,
        };
        self.duration.unwrap_or(Duration::from_secs(default))
    }

    /// The request (load) or record (bandwidth) size: 64 bytes in load
    /// mode, the largest MC_SEND_DATA ([`MAX_DATA`]) in bandwidth mode.
    pub fn size(&self) -> usize {
        let default = if self.mode == Mode::Bandwidth {
            MAX_DATA
        } else {
            64
        };
        self.size.unwrap_or(default)
    }

    /// Load and scale: the cancel fraction (default 0.01).
    pub fn load_cancel_fraction(&self) -> f64 {
        self.cancel_fraction.unwrap_or(0.01)
    }

    /// Soak: the sampling period (default 10 s).
    pub fn sample_every(&self) -> Duration {
        self.sample_every.unwrap_or(Duration::from_secs(10))
    }

    /// Where the in-process partner (or partner mode) listens: `--listen`,
    /// resolved now, or `default`.
    pub fn listen_addr(&self, default: SocketAddr) -> Result<SocketAddr, String> {
        self.listen.as_ref().map_or(Ok(default), HostPort::resolve)
    }

    /// The nodes' settings: the defaults, with `--idle-poll`.
    pub fn node_config(&self) -> NodeConfig {
        let mut config = NodeConfig::default();
        config.backend.idle_poll = self.idle_poll;
        config
    }

    /// The engine demo's settings.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            requests: self.requests.unwrap_or(4_000_000),
            submitters: self.threads,
            cancel_fraction: self.cancel_fraction.unwrap_or(0.1),
            outstanding: self.outstanding,
        }
    }

    /// The plot's directory exists (or is the default `target/`, made if
    /// need be): checked before a run, so that a missing one fails at once
    /// rather than after the run.
    pub fn plot_ready(&self) -> Result<(), String> {
        let Some(path) = &self.plot else {
            return Ok(());
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if path == Path::new(DEFAULT_PLOT) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot make {} for the plot: {e}", dir.display()))?;
        }
        if dir.is_dir() {
            Ok(())
        } else {
            Err(format!(
                "cannot write the plot to {}: no directory {}",
                path.display(),
                dir.display()
            ))
        }
    }
}

/// The engine-only demo's settings (`--mode engine`).
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// Requests in the throughput phase.
    pub requests: u64,
    /// Submitter threads.
    pub submitters: usize,
    /// Probability that a request's handle is also sent to the canceller.
    pub cancel_fraction: f64,
    /// Tasks held outstanding in the memory phase.
    pub outstanding: usize,
}

/// Parses a command line (the program name first). `Err` is `clap`'s
/// error: `--help` (print it, exit 0) or a usage error (print it, exit 2),
/// as [`clap::Error::exit`] does.
pub fn parse<I, T>(args: I) -> Result<Config, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(args)?;
    let cli = Cli::from_arg_matches(&matches)?;
    for_the_mode(cli.mode, &matches)?;
    let size = cli
        .size
        .map(|size| size_in_range(cli.mode, size))
        .transpose()?;
    let defaults = Config::default();
    Ok(Config {
        mode: cli.mode,
        duration: cli.duration,
        requests: cli.requests,
        sessions: cli.sessions.unwrap_or(defaults.sessions),
        size,
        cancel_fraction: cli.cancel_fraction,
        backend: cli.backend,
        peer: cli.peer,
        partner: cli.partner,
        listen: cli.listen,
        outstanding: cli.outstanding.unwrap_or(defaults.outstanding),
        links: cli.links.unwrap_or(defaults.links),
        threads: cli.threads.unwrap_or(defaults.threads),
        sample_every: cli.sample_every,
        json: cli.json,
        plot: match (cli.no_plot, cli.plot) {
            (true, _) => None,
            (false, plot) => plot.or(defaults.plot),
        },
        idle_poll: cli.idle_poll,
        tps: cli.tps,
    })
}

/// Refuses a flag given on the command line that `mode` does not read.
fn for_the_mode(mode: Mode, matches: &ArgMatches) -> Result<(), clap::Error> {
    let mut command = Cli::command();
    let stray = command.get_arguments().find(|arg| {
        let id = arg.get_id().as_str();
        id != "mode"
            && !mode.reads().contains(&id)
            && matches.value_source(id) == Some(ValueSource::CommandLine)
    });
    let Some(flag) = stray.and_then(|arg| arg.get_long()).map(str::to_owned) else {
        return Ok(());
    };
    Err(command.error(
        ErrorKind::ArgumentConflict,
        format!("--{flag} does not apply to --mode {}", mode.name()),
    ))
}

/// `--size` for `mode`: 1..=[`MAX_SIZE`] for a request, [`MIN_RECORD`]..=
/// [`MAX_DATA`] for a bandwidth record.
fn size_in_range(mode: Mode, size: u64) -> Result<usize, clap::Error> {
    let (min, max, what) = match mode {
        Mode::Bandwidth => (MIN_RECORD, MAX_DATA, "a bandwidth record"),
        _ => (1, MAX_SIZE, "a request (one mapped record in one flush)"),
    };
    match usize::try_from(size) {
        Ok(size) if (min..=max).contains(&size) => Ok(size),
        _ => Err(Cli::command().error(
            ErrorKind::ValueValidation,
            format!("--size {size} is outside {min}..={max}, the sizes of {what}"),
        )),
    }
}

fn positive(value: &str) -> Result<u64, String> {
    number_in(value, 1, u64::MAX)
}

fn sessions(value: &str) -> Result<usize, String> {
    number_in(value, 1, MAX_SESSIONS as u64).map(|n| n as usize)
}

fn outstanding(value: &str) -> Result<usize, String> {
    let max = Engine::<Verb>::MAX_CAPACITY as u64;
    number_in(value, 1, max).map(|n| n as usize)
}

fn links(value: &str) -> Result<usize, String> {
    number_in(value, 1, MAX_LINKS as u64).map(|n| n as usize)
}

fn threads(value: &str) -> Result<usize, String> {
    number_in(value, 1, MAX_THREADS as u64).map(|n| n as usize)
}

fn fraction(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{value:?} is not a number in 0..=1")),
    }
}

/// A time: seconds, fractional allowed, or with a unit (`s`, `m`, `h`),
/// from 0.1 s to a day.
fn time(value: &str) -> Result<Duration, String> {
    let (number, unit) = match value.char_indices().last() {
        Some((at, 's')) => (&value[..at], 1.0),
        Some((at, 'm')) => (&value[..at], 60.0),
        Some((at, 'h')) => (&value[..at], 3600.0),
        _ => (value, 1.0),
    };
    match number.parse::<f64>().map(|n| n * unit) {
        Ok(s) if (0.1..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{value:?} is not a time from 0.1 s to 24 h (2.5, 2.5s, 30m, 1h)"
        )),
    }
}

#[cfg(test)]
mod tests;
