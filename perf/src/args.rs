//! Command-line flags, parsed by hand.
//!
//! A dozen flags do not justify a parser dependency. Every failure is a
//! one-line [`ArgError`] that `main` prints above the usage text before
//! exiting with status 2; nothing here panics, whatever the input. Flags
//! that a mode does not use are accepted and ignored, so a command line can
//! switch modes by changing `--mode` alone; the exceptions are flags that
//! would make a bandwidth report claim something it did not measure
//! (`--partner`, `--peer`, `--requests` with `--mode bandwidth`: see
//! [`check`]).

use appc::verbs::MAX_DATA;
use appc_engine::{Engine, Verb};
use appc_io::node::NodeConfig;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// The usage text printed by `--help` and after a bad flag.
pub const USAGE: &str = "\
usage: appc-load [--mode load|bandwidth|scale|engine|partner] [flags]

The gateway load generator: an in-process partner node on loopback, LU 6.2
sessions over TCP, many conversations doing request/response (SEND_DATA with
change of direction + RECEIVE_AND_WAIT), random cancels, and a report.

  --mode M             load (default): request/response for --duration;
                       bandwidth: one conversation on one session sends --size records
                       back to back for --duration to a sink TP, then raw loopback TCP
                       (one writer, one reader thread) for as long; MiB/s of both
                       and their ratio (target: appc >= 80% of TCP);
                       scale: hold --outstanding RECEIVE_AND_WAITs, then cancel them all;
                       engine: the engine alone (submit/complete/cancel threads, no sockets);
                       partner: run only the echo partner node on --listen until killed
  --duration S         load: seconds to run (default 10); bandwidth: seconds per side (default 5)
  --requests N         load: stop after N requests instead of --duration;
                       engine: requests pushed through the engine (default 4000000)
  --sessions N         load: conversations at once, one LU 6.2 session each (default 256)
  --size B             load: request and echo size in bytes, 1..=32767 (default 64);
                       bandwidth: record size, 9..=65535 (default 65535, the most one
                       MC_SEND_DATA carries: its length is 16 bits)
  --cancel-fraction F  fraction of RECEIVE_AND_WAITs cancelled at random, 0..=1
                       (default 0.01; engine mode 0.1)
  --backend B          auto (default: io_uring, else epoll), uring, or epoll
  --peer P             none (default), or tokio: run the same load with tokio
                       (a task per connection, a oneshot per request, abort to cancel)
                       and print both side by side
  --partner HOST:PORT  load: use the partner node listening there (see --mode partner)
                       instead of starting one in this process
  --listen ADDR        where the in-process partner listens (default 127.0.0.1:0;
                       partner mode default 127.0.0.1:6262)
  --outstanding N      scale: verbs held outstanding (default 1000000);
                       engine: tasks held in the memory phase (default 1000000)
  --links N            scale: TCP links the sessions are spread over (default 16)
  --threads N          engine: submitter threads (default 2)
  --idle-poll          io_uring: reactors poll for some tens of microseconds before
                       they sleep (faster for few sessions, slower for many; epoll
                       always does)
  --json               print the report as JSON on stdout (progress stays on stderr)
  --plot PATH          where the SVG plot goes (default target/appc-load.svg)
  --no-plot            write no plot
  -h, --help           print this help

Numbers may use '_' separators (1_000_000). Exit status: 0 all checks passed,
1 a check failed or the run could not start, 2 bad flags.";

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

/// What to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The loopback gateway load.
    Load,
    /// A million outstanding verbs, then cancel-all.
    Scale,
    /// The engine-only demo.
    Engine,
    /// The echo partner node alone.
    Partner,
    /// One session's bandwidth against raw loopback TCP.
    Bandwidth,
}

/// The socket backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// io_uring if it can be set up, else epoll.
    Auto,
    /// io_uring.
    Uring,
    /// epoll.
    Epoll,
}

/// The peer to compare against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Ours only.
    None,
    /// The tokio baseline.
    Tokio,
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

/// Every setting, after defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// What to run.
    pub mode: Mode,
    /// Load and bandwidth: run time, if given (defaults differ per mode;
    /// load ignores it when `requests` is set).
    pub duration: Option<Duration>,
    /// Load: a request count instead of a time; engine: its request count.
    pub requests: Option<u64>,
    /// Load: conversations at once.
    pub sessions: usize,
    /// Load: request size; bandwidth: record size; if given (defaults
    /// differ per mode).
    pub size: Option<usize>,
    /// Cancel fraction, if given (defaults differ per mode).
    pub cancel_fraction: Option<f64>,
    /// Socket backend.
    pub backend: Backend,
    /// Baseline.
    pub peer: Peer,
    /// An external partner node.
    pub partner: Option<SocketAddr>,
    /// Where the in-process partner (or partner mode) listens, if given.
    pub listen: Option<SocketAddr>,
    /// Scale / engine: verbs held outstanding.
    pub outstanding: usize,
    /// Scale: links.
    pub links: usize,
    /// Engine: submitter threads.
    pub threads: usize,
    /// JSON report.
    pub json: bool,
    /// The plot's path; `None` for no plot.
    pub plot: Option<PathBuf>,
    /// io_uring reactors poll before they sleep.
    pub idle_poll: bool,
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
            json: false,
            plot: Some(PathBuf::from("target/appc-load.svg")),
            idle_poll: false,
        }
    }
}

impl Config {
    /// The run time: 5 s per side in bandwidth mode, else 10 s.
    pub fn duration(&self) -> Duration {
        let default = if self.mode == Mode::Bandwidth { 5 } else { 10 };
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
}

/// The outcome of parsing: run with a config, or print help.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run.
    Run(Config),
    /// `--help` was given.
    Help,
}

/// A bad command line, as one line of text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgError(String);

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgError {}

/// Flags that take no value.
const SWITCHES: &[&str] = &["--json", "--no-plot", "--idle-poll"];
/// Flags that take a value.
const VALUED: &[&str] = &[
    "--mode",
    "--duration",
    "--requests",
    "--sessions",
    "--size",
    "--cancel-fraction",
    "--backend",
    "--peer",
    "--partner",
    "--listen",
    "--outstanding",
    "--links",
    "--threads",
    "--plot",
];

/// Parses the arguments after the program name. Flags take their value as the
/// next argument or after `=` (`--requests=1000`); a later flag overrides an
/// earlier one.
pub fn parse<I>(args: I) -> Result<Command, ArgError>
where
    I: IntoIterator<Item = String>,
{
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        if SWITCHES.contains(&flag.as_str()) {
            if inline.is_some() {
                return Err(ArgError(format!("{flag} takes no value")));
            }
            match flag.as_str() {
                "--json" => config.json = true,
                "--idle-poll" => config.idle_poll = true,
                _ => config.plot = None,
            }
            continue;
        }
        if !VALUED.contains(&flag.as_str()) {
            return Err(ArgError(format!("unknown argument '{flag}'")));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(ArgError(format!("{flag} needs a value"))),
        };
        apply(&mut config, &flag, &value)?;
    }
    check(&config)?;
    Ok(Command::Run(config))
}

/// The checks that need the whole command line: `--size`'s range depends
/// on the mode, and bandwidth mode refuses the flags whose figures it would
/// not report (it always runs on loopback, against raw TCP, for a time).
fn check(config: &Config) -> Result<(), ArgError> {
    let size = config.size();
    if config.mode == Mode::Bandwidth {
        if !(MIN_RECORD..=MAX_DATA).contains(&size) {
            return Err(ArgError(format!(
                "--size expects an integer in {MIN_RECORD}..={MAX_DATA} with --mode bandwidth, got '{size}'"
            )));
        }
        let refused = [
            (config.partner.is_some(), "--partner"),
            (config.peer != Peer::None, "--peer"),
            (config.requests.is_some(), "--requests"),
        ];
        if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
            return Err(ArgError(format!(
                "{flag} does not go with --mode bandwidth (one loopback session for --duration, against raw TCP)"
            )));
        }
    } else if size > MAX_SIZE {
        return Err(ArgError(format!(
            "--size expects an integer in 1..={MAX_SIZE} (up to {MAX_DATA} with --mode bandwidth), got '{size}'"
        )));
    }
    Ok(())
}

fn apply(config: &mut Config, flag: &str, value: &str) -> Result<(), ArgError> {
    let max_tasks = Engine::<Verb>::MAX_CAPACITY as u64;
    match flag {
        "--mode" => {
            config.mode = match value {
                "load" => Mode::Load,
                "scale" => Mode::Scale,
                "engine" => Mode::Engine,
                "partner" => Mode::Partner,
                "bandwidth" => Mode::Bandwidth,
                _ => {
                    return Err(choice(
                        flag,
                        value,
                        "load, bandwidth, scale, engine or partner",
                    ))
                }
            }
        }
        "--duration" => config.duration = Some(seconds(flag, value)?),
        "--requests" => config.requests = Some(integer(flag, value, 1, u64::MAX)?),
        "--sessions" => config.sessions = integer(flag, value, 1, MAX_SESSIONS as u64)? as usize,
        "--size" => config.size = Some(integer(flag, value, 1, MAX_DATA as u64)? as usize),
        "--cancel-fraction" => config.cancel_fraction = Some(fraction(flag, value)?),
        "--backend" => {
            config.backend = match value {
                "auto" => Backend::Auto,
                "uring" | "io_uring" => Backend::Uring,
                "epoll" | "poll" => Backend::Epoll,
                _ => return Err(choice(flag, value, "auto, uring or epoll")),
            }
        }
        "--peer" => {
            config.peer = match value {
                "none" => Peer::None,
                "tokio" => Peer::Tokio,
                _ => return Err(choice(flag, value, "none or tokio")),
            }
        }
        "--partner" => config.partner = Some(address(flag, value)?),
        "--listen" => config.listen = Some(address(flag, value)?),
        "--outstanding" => config.outstanding = integer(flag, value, 1, max_tasks)? as usize,
        "--links" => config.links = integer(flag, value, 1, MAX_LINKS as u64)? as usize,
        "--threads" => config.threads = integer(flag, value, 1, MAX_THREADS as u64)? as usize,
        _ => {
            if value.is_empty() {
                return Err(ArgError(format!("{flag} needs a path")));
            }
            config.plot = Some(PathBuf::from(value));
        }
    }
    Ok(())
}

fn choice(flag: &str, value: &str, allowed: &str) -> ArgError {
    ArgError(format!("{flag} expects {allowed}, got '{value}'"))
}

fn integer(flag: &str, value: &str, min: u64, max: u64) -> Result<u64, ArgError> {
    let digits: String = value.chars().filter(|&c| c != '_').collect();
    match digits.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ if max == u64::MAX => Err(ArgError(format!(
            "{flag} expects an integer of at least {min}, got '{value}'"
        ))),
        _ => Err(ArgError(format!(
            "{flag} expects an integer in {min}..={max}, got '{value}'"
        ))),
    }
}

fn fraction(flag: &str, value: &str) -> Result<f64, ArgError> {
    match value.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(ArgError(format!(
            "{flag} expects a number in 0..=1, got '{value}'"
        ))),
    }
}

/// Seconds, fractional allowed, from 0.1 s to a day.
fn seconds(flag: &str, value: &str) -> Result<Duration, ArgError> {
    match value.strip_suffix('s').unwrap_or(value).parse::<f64>() {
        Ok(s) if (0.1..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(ArgError(format!(
            "{flag} expects seconds in 0.1..=86400, got '{value}'"
        ))),
    }
}

/// `HOST:PORT`, resolved now so that a bad name is a flag error.
fn address(flag: &str, value: &str) -> Result<SocketAddr, ArgError> {
    let bad = |why: String| ArgError(format!("{flag} expects HOST:PORT, got '{value}' ({why})"));
    let mut addrs = value.to_socket_addrs().map_err(|e| bad(e.to_string()))?;
    addrs.next().ok_or_else(|| bad("no address".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, ArgError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    fn config(args: &[&str]) -> Config {
        match run(args) {
            Ok(Command::Run(config)) => config,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[]);
        assert_eq!(c, Config::default());
        assert_eq!((c.mode, c.sessions, c.size()), (Mode::Load, 256, 64));
        assert_eq!(c.duration(), Duration::from_secs(10));
        assert_eq!(c.load_cancel_fraction(), 0.01);
        assert_eq!(c.engine().cancel_fraction, 0.1);
        assert_eq!(c.engine().requests, 4_000_000);
    }

    #[test]
    fn every_flag_both_spellings() {
        let separate = [
            "--mode",
            "scale",
            "--duration",
            "2.5",
            "--requests",
            "1_000",
            "--sessions",
            "8",
            "--size",
            "512",
            "--cancel-fraction",
            "0.5",
            "--backend",
            "epoll",
            "--peer",
            "tokio",
            "--partner",
            "127.0.0.1:7000",
            "--listen",
            "127.0.0.1:0",
            "--outstanding",
            "20000",
            "--links",
            "4",
            "--threads",
            "3",
            "--json",
            "--plot",
            "x.svg",
        ];
        let inline = [
            "--mode=scale",
            "--duration=2.5",
            "--requests=1000",
            "--sessions=8",
            "--size=512",
            "--cancel-fraction=0.5",
            "--backend=epoll",
            "--peer=tokio",
            "--partner=127.0.0.1:7000",
            "--listen=127.0.0.1:0",
            "--outstanding=20_000",
            "--links=4",
            "--threads=3",
            "--json",
            "--plot=x.svg",
        ];
        let a = config(&separate);
        assert_eq!(a.mode, Mode::Scale);
        assert_eq!(a.duration(), Duration::from_millis(2500));
        assert_eq!(a.requests, Some(1000));
        assert_eq!(
            (a.sessions, a.size(), a.outstanding, a.links),
            (8, 512, 20_000, 4)
        );
        assert_eq!(
            (a.backend, a.peer, a.json),
            (Backend::Epoll, Peer::Tokio, true)
        );
        assert_eq!(a.partner, Some("127.0.0.1:7000".parse().unwrap()));
        assert_eq!(a.plot, Some(PathBuf::from("x.svg")));
        assert_eq!(a.engine().submitters, 3);
        assert_eq!(config(&inline), a);
        assert_eq!(config(&["--no-plot"]).plot, None);
    }

    #[test]
    fn bandwidth_defaults_differ_only_where_the_mode_needs_it() {
        let c = config(&["--mode", "bandwidth"]);
        assert_eq!(c.mode, Mode::Bandwidth);
        assert_eq!((c.size(), c.duration()), (65_535, Duration::from_secs(5)));
        let c = config(&["--mode=bandwidth", "--size", "40000", "--duration", "1"]);
        assert_eq!((c.size(), c.duration()), (40_000, Duration::from_secs(1)));
        assert_eq!(
            config(&["--size", "40000", "--mode", "bandwidth"]).size(),
            40_000
        );
    }

    #[test]
    fn help_wins() {
        assert_eq!(run(&["--requests", "5", "--help"]), Ok(Command::Help));
        assert_eq!(run(&["-h"]), Ok(Command::Help));
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let too_many = (Engine::<Verb>::MAX_CAPACITY + 1).to_string();
        let bad: &[&[&str]] = &[
            &["--requests"],
            &["--requests", "0"],
            &["--requests", "-3"],
            &["--requests", "lots"],
            &["--requests", "99999999999999999999999"],
            &["--threads", "0"],
            &["--threads", "100000"],
            &["--cancel-fraction", "1.5"],
            &["--cancel-fraction", "NaN"],
            &["--cancel-fraction", "-0.1"],
            &["--outstanding", &too_many],
            &["--sessions", "0"],
            &["--size", "40000"],
            &["--size", "65536", "--mode", "bandwidth"],
            &["--size", "8", "--mode", "bandwidth"],
            &["--mode", "bandwidth", "--partner", "127.0.0.1:7000"],
            &["--mode", "bandwidth", "--peer", "tokio"],
            &["--mode", "bandwidth", "--requests", "10"],
            &["--duration", "0"],
            &["--duration", "forever"],
            &["--mode", "fast"],
            &["--backend", "iocp-please"],
            &["--peer", "go"],
            &["--partner"],
            &["--partner", "nowhere"],
            &["--partner", "no.such.host.invalid:1"],
            &["--listen", "127.0.0.1:99999"],
            &["--json=yes"],
            &["--plot="],
            &["--verbose"],
            &["extra"],
            &["-x=1"],
        ];
        for args in bad {
            let err = run(args).expect_err(&format!("{args:?} should be rejected"));
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }
}
