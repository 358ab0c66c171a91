//! The command lines of `aping` and `apingd`, with `clap`.
//!
//! The original aping's getopt flags stay (`-s 100`, `-s100`, `-i5`,
//! `-1`); the node's flags are long ones. The usual conventions hold: every
//! flag at most once, `--partner` and `--local` exclude each other, an
//! argument that is not UTF-8 is refused like any bad flag (exit 2 with
//! `clap`'s message and usage), and a `HOST:PORT` is resolved only when
//! the run needs it, so a name that does not resolve is a failed run
//! (exit 1), not a bad flag.

use super::client::{Destination, Options as ClientOptions};
use super::daemon::Options as DaemonOptions;
use super::{DAEMON_LU, DEFAULT_ADDR, MAX_BLOCK};
use crate::flags::{number_in, Backend, HostPort};
use clap::Parser;
use std::error::Error;
use std::ffi::OsString;
use std::process::ExitCode;
use std::time::Duration;

/// `aping`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "aping",
    about = "APPC ping: times round trips of data blocks to the APINGD TP of an apingd node"
)]
pub struct Aping {
    /// The apingd node to ping
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
    partner: HostPort,
    /// Start an apingd in this process, on loopback, and ping it
    #[arg(long, conflicts_with = "partner")]
    local: bool,
    /// The apingd node's LU name: NAME or NETID.NAME
    #[arg(long, value_parser = lu_name, default_value = DAEMON_LU, value_name = "NAME")]
    lu: String,
    /// Bytes per block, 1..=32763
    #[arg(short = 's', value_parser = block, default_value_t = 100, value_name = "SIZE")]
    size: usize,
    /// Round trips
    #[arg(short = 'i', value_parser = count, default_value_t = 2, value_name = "ITERATIONS")]
    iterations: u32,
    /// Blocks sent per round trip
    #[arg(short = 'c', value_parser = count, default_value_t = 1, value_name = "CONSECUTIVE")]
    consecutive: u32,
    /// One-way: the partner confirms instead of echoing
    #[arg(short = '1')]
    one_way: bool,
    /// Socket backend (auto: io_uring, else epoll)
    #[arg(long, value_enum, default_value_t = Backend::Auto, value_name = "KIND")]
    backend: Backend,
    /// The longest wait for any one verb, in seconds
    #[arg(long, value_parser = seconds, default_value = "10", value_name = "SECS")]
    timeout: Duration,
}

impl From<Aping> for ClientOptions {
    fn from(cli: Aping) -> Self {
        ClientOptions {
            destination: if cli.local {
                Destination::Local
            } else {
                Destination::Partner(cli.partner)
            },
            lu: cli.lu,
            size: cli.size,
            iterations: cli.iterations,
            consecutive: cli.consecutive,
            one_way: cli.one_way,
            backend: cli.backend.into(),
            limit: cli.timeout,
        }
    }
}

/// `apingd`'s command line.
#[derive(Debug, Parser)]
#[command(
    name = "apingd",
    about = "The APPC ping daemon: serves the APINGD TP on a node that accepts links"
)]
pub struct Apingd {
    /// Where to accept links (port 0 picks one)
    #[arg(long, value_name = "HOST:PORT", default_value = DEFAULT_ADDR)]
    listen: HostPort,
    /// This node's LU name: NAME or NETID.NAME
    #[arg(long, value_parser = lu_name, default_value = DAEMON_LU, value_name = "NAME")]
    lu: String,
    /// Socket backend (auto: io_uring, else epoll)
    #[arg(long, value_enum, default_value_t = Backend::Auto, value_name = "KIND")]
    backend: Backend,
}

impl From<Apingd> for DaemonOptions {
    fn from(cli: Apingd) -> Self {
        DaemonOptions {
            listen: cli.listen,
            lu: cli.lu,
            backend: cli.backend.into(),
        }
    }
}

/// Parses a command line (the program name first) into `O`. `Err` is
/// `clap`'s: `--help` (exit 0) or a usage error (exit 2), as
/// [`clap::Error::exit`] prints and exits.
pub fn parse<C, O, I, T>(args: I) -> Result<O, clap::Error>
where
    C: Parser + Into<O>,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    C::try_parse_from(args).map(Into::into)
}

/// The `main` of both binaries: parse (a usage error exits 2 with `clap`'s
/// message and usage), then run (a failure exits 1 with one line).
pub fn main<C, O>(run: fn(O) -> Result<(), Box<dyn Error>>) -> ExitCode
where
    C: Parser + Into<O>,
{
    crate::malloc::tune();
    let options = parse::<C, O, _, _>(std::env::args_os()).unwrap_or_else(|err| err.exit());
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}: {error}", C::command().get_name());
            ExitCode::FAILURE
        }
    }
}

/// An LU name as the node takes it (and a BIND carries it): `NAME` or
/// the network-qualified `NETID.NAME`, each part 1 to 8 of `A-Z 0-9 $ # @`
/// not starting with a digit (so at most 17 characters); lower case is
/// raised.
fn lu_name(value: &str) -> Result<String, String> {
    let upper = value.to_ascii_uppercase();
    let part = |p: &str| {
        (1..=8).contains(&p.len())
            && !p.starts_with(|c: char| c.is_ascii_digit())
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || "$#@".contains(c))
    };
    let valid = match upper.split_once('.') {
        Some((net, lu)) => part(net) && part(lu),
        None => part(&upper),
    };
    if valid {
        Ok(upper)
    } else {
        Err(format!(
            "{value:?} is not an LU name (NAME or NETID.NAME, each 1-8 of A-Z 0-9 $ # @, not starting with a digit)"
        ))
    }
}

fn block(value: &str) -> Result<usize, String> {
    number_in(value, 1, MAX_BLOCK as u64).map(|n| n as usize)
}

fn count(value: &str) -> Result<u32, String> {
    number_in(value, 1, u64::from(u32::MAX)).map(|n| n as u32)
}

fn seconds(value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|limit| !limit.is_zero())
        .ok_or_else(|| format!("{value:?} is not a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use appc_io::backend::Kind;
    use clap::error::ErrorKind;

    fn aping(line: &str) -> Result<ClientOptions, clap::Error> {
        parse::<Aping, _, _, _>(std::iter::once("aping").chain(line.split_whitespace()))
    }

    fn apingd(line: &str) -> Result<DaemonOptions, clap::Error> {
        parse::<Apingd, _, _, _>(std::iter::once("apingd").chain(line.split_whitespace()))
    }

    fn run(parsed: Result<ClientOptions, clap::Error>) -> ClientOptions {
        parsed.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn defaults_are_the_originals() {
        let options = run(aping(""));
        assert_eq!(
            (options.size, options.iterations, options.consecutive),
            (100, 2, 1)
        );
        assert_eq!(
            options.destination,
            Destination::Partner(DEFAULT_ADDR.parse().unwrap())
        );
        assert_eq!(options.lu, "APINGSRV");
        assert_eq!(options.limit, Duration::from_secs(10));
    }

    #[test]
    fn every_flag_form() {
        let options = run(aping(
            "--partner=localhost:7 -s 32763 -i5 -c=3 -1 --lu apingx --backend epoll --timeout 0.5",
        ));
        assert_eq!(
            options.destination,
            Destination::Partner("localhost:7".parse().unwrap())
        );
        assert_eq!(
            (options.size, options.iterations, options.consecutive),
            (32763, 5, 3)
        );
        assert!(options.one_way);
        assert_eq!(options.lu, "APINGX");
        assert_eq!(options.backend, Kind::Poll);
        assert_eq!(options.limit, Duration::from_millis(500));
        assert_eq!(run(aping("--local")).destination, Destination::Local);
        assert_eq!(run(aping("-s100")).size, 100);
        assert_eq!(aping("-h").unwrap_err().kind(), ErrorKind::DisplayHelp);
    }

    #[test]
    fn network_qualified_lu_names_are_taken() {
        assert_eq!(run(aping("--lu netid.apingsrv")).lu, "NETID.APINGSRV");
        assert_eq!(run(aping("--lu NETWORK1.APINGSRV")).lu, "NETWORK1.APINGSRV");
        assert_eq!(apingd("--lu n.lu1").unwrap().lu, "N.LU1");
        for bad in [
            "9LU",
            "TOOLONGNAME",
            "NET.9LU",
            ".LU",
            "NET.",
            "A.B.C",
            "NETWORK12.LU",
        ] {
            let err = aping(&format!("--lu {bad}")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{bad}");
        }
    }

    #[test]
    fn mistakes_are_usage_errors() {
        for (line, kind) in [
            ("--bogus", ErrorKind::UnknownArgument),
            ("-s 0", ErrorKind::ValueValidation),
            ("-s 32764", ErrorKind::ValueValidation),
            ("-s x", ErrorKind::ValueValidation),
            ("-i", ErrorKind::InvalidValue),
            ("--partner nohost", ErrorKind::ValueValidation),
            ("--partner 1.2.3.4:5 --local", ErrorKind::ArgumentConflict),
            ("--backend iocp2", ErrorKind::InvalidValue),
            ("--timeout 0", ErrorKind::ValueValidation),
            ("-1=yes", ErrorKind::UnknownArgument),
            ("-s 5 -s 6", ErrorKind::ArgumentConflict),
            ("somehost", ErrorKind::UnknownArgument),
        ] {
            let err = aping(line).expect_err(line);
            assert_eq!(err.kind(), kind, "{line}: {err}");
            assert_eq!(err.exit_code(), 2, "{line}");
        }
        assert_eq!(
            apingd("-s 5").unwrap_err().kind(),
            ErrorKind::UnknownArgument
        );
    }

    #[test]
    fn apingd_flags() {
        let options = apingd("--listen localhost:0 --lu=node1 --backend uring").unwrap();
        assert_eq!(options.listen, "localhost:0".parse().unwrap());
        assert_eq!(
            (options.lu.as_str(), options.backend),
            ("NODE1", Kind::Uring)
        );
    }

    #[cfg(unix)]
    #[test]
    fn arguments_that_are_not_utf8_are_refused() {
        use std::os::unix::ffi::OsStringExt;
        let args = [
            OsString::from("aping"),
            OsString::from_vec(vec![b'-', 0xff]),
        ];
        let err = parse::<Aping, ClientOptions, _, _>(args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        let args = [
            "apingd".into(),
            "--lu".into(),
            OsString::from_vec(vec![0xff]),
        ];
        let err = parse::<Apingd, DaemonOptions, _, _>(args).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
    }
}
