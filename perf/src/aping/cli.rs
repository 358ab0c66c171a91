//! The command lines of `aping` and `apingd`.
//!
//! Hand-written rather than a parser crate: two small flag sets do not
//! justify another dependency on a 2-core build machine. Flags are taken
//! as `--flag value`, `--flag=value`, `-s value` or `-s100` (the original
//! aping's getopt style). Every mistake is one [`UsageError`], which
//! [`main`] prints as one line followed by the usage, exiting 2.

use super::client::{Destination, Options as ClientOptions};
use super::daemon::Options as DaemonOptions;
use super::{DAEMON_LU, DEFAULT_ADDR, MAX_BLOCK};
use appc_io::backend::Kind;
use std::error::Error;
use std::fmt;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// `aping`'s usage.
pub const APING_USAGE: &str = "\
usage: aping [--partner ADDR | --local] [--lu NAME] [-s size] [-i iterations]
             [-c consecutive] [-1] [--backend auto|uring|epoll] [--timeout SECS]
  --partner ADDR   the apingd node to ping (default 127.0.0.1:6200)
  --local          start an apingd in this process, on loopback, and ping it
  --lu NAME        the apingd node's LU name (default APINGSRV)
  -s size          bytes per block, 1..=32763 (default 100)
  -i iterations    round trips (default 2)
  -c consecutive   blocks sent per round trip (default 1)
  -1               one-way: the partner confirms instead of echoing
  --backend KIND   socket backend (default auto: io_uring, else epoll)
  --timeout SECS   longest wait for any one verb (default 10)";

/// `apingd`'s usage.
pub const APINGD_USAGE: &str = "\
usage: apingd [--listen ADDR] [--lu NAME] [--backend auto|uring|epoll]
  --listen ADDR    where to accept links (default 127.0.0.1:6200; port 0 picks one)
  --lu NAME        this node's LU name (default APINGSRV)
  --backend KIND   socket backend (default auto: io_uring, else epoll)";

/// A command line that does not parse.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for UsageError {}

/// What a command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<T> {
    /// Run with these options.
    Run(T),
    /// Print the usage (`-h`, `--help`).
    Help,
}

/// The `main` of both binaries: parse, then run. A usage error exits 2
/// with one line and the usage; a failed run exits 1 with one line.
pub fn main<T>(
    tool: &str,
    usage: &str,
    parse: fn(Vec<String>) -> Result<Parsed<T>, UsageError>,
    run: fn(T) -> Result<(), Box<dyn Error>>,
) -> ExitCode {
    crate::malloc::tune();
    match parse(std::env::args().skip(1).collect()) {
        Ok(Parsed::Help) => {
            println!("{usage}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{tool}: {error}\n{usage}");
            ExitCode::from(2)
        }
        Ok(Parsed::Run(options)) => match run(options) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{tool}: {error}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Parses `aping`'s arguments.
pub fn parse_aping(args: Vec<String>) -> Result<Parsed<ClientOptions>, UsageError> {
    let mut options = ClientOptions {
        destination: Destination::Partner(default_addr()),
        lu: DAEMON_LU.to_owned(),
        size: 100,
        iterations: 2,
        consecutive: 1,
        one_way: false,
        backend: Kind::Auto,
        limit: Duration::from_secs(10),
    };
    let (mut partner, mut local) = (false, false);
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--partner" => {
                options.destination = Destination::Partner(flags.parse(&flag)?);
                partner = true;
            }
            "--local" => {
                options.destination = Destination::Local;
                local = true;
            }
            "--lu" => options.lu = lu_name(&flags.value(&flag)?)?,
            "-s" => options.size = flags.in_range(&flag, 1, MAX_BLOCK)?,
            "-i" => options.iterations = flags.in_range(&flag, 1, u32::MAX as usize)?,
            "-c" => options.consecutive = flags.in_range(&flag, 1, u32::MAX as usize)?,
            "-1" => options.one_way = true,
            "--backend" => options.backend = backend(&flags.value(&flag)?)?,
            "--timeout" => {
                let secs: f64 = flags.parse(&flag)?;
                options.limit = Duration::try_from_secs_f64(secs)
                    .ok()
                    .filter(|limit| !limit.is_zero())
                    .ok_or_else(|| {
                        UsageError(format!("--timeout: {secs} is not a positive time"))
                    })?;
            }
            _ => return Err(unknown(&flag)),
        }
    }
    if partner && local {
        return Err(UsageError(
            "--partner and --local exclude each other".into(),
        ));
    }
    Ok(Parsed::Run(options))
}

/// Parses `apingd`'s arguments.
pub fn parse_apingd(args: Vec<String>) -> Result<Parsed<DaemonOptions>, UsageError> {
    let mut options = DaemonOptions {
        listen: default_addr(),
        lu: DAEMON_LU.to_owned(),
        backend: Kind::Auto,
    };
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag()? {
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--listen" => options.listen = flags.parse(&flag)?,
            "--lu" => options.lu = lu_name(&flags.value(&flag)?)?,
            "--backend" => options.backend = backend(&flags.value(&flag)?)?,
            _ => return Err(unknown(&flag)),
        }
    }
    Ok(Parsed::Run(options))
}

fn default_addr() -> std::net::SocketAddr {
    DEFAULT_ADDR.parse().expect("a valid address")
}

fn unknown(flag: &str) -> UsageError {
    UsageError(format!("unknown flag {flag}"))
}

/// A backend name.
fn backend(value: &str) -> Result<Kind, UsageError> {
    match value {
        "auto" => Ok(Kind::Auto),
        "uring" | "io_uring" => Ok(Kind::Uring),
        "epoll" | "poll" => Ok(Kind::Poll),
        _ => Err(UsageError(format!(
            "--backend: {value:?} is not one of auto, uring, epoll"
        ))),
    }
}

/// An LU name as a VCB's 8-byte `plu_alias` can hold it: 1 to 8 of
/// `A-Z 0-9 $ # @`, not starting with a digit; lower case is raised.
fn lu_name(value: &str) -> Result<String, UsageError> {
    let upper = value.to_ascii_uppercase();
    let valid = (1..=8).contains(&upper.len())
        && !upper.starts_with(|c: char| c.is_ascii_digit())
        && upper
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "$#@".contains(c));
    if valid {
        Ok(upper)
    } else {
        Err(UsageError(format!(
            "--lu: {value:?} is not an LU name (1-8 of A-Z 0-9 $ # @, not starting with a digit)"
        )))
    }
}

/// The arguments, one flag at a time.
struct Flags {
    args: std::vec::IntoIter<String>,
    /// The flag just returned, and the value written into it (`--f=v`, `-fv`).
    current: Option<(String, Option<String>)>,
}

impl Flags {
    fn new(args: Vec<String>) -> Self {
        Self {
            args: args.into_iter(),
            current: None,
        }
    }

    /// The next flag; `None` at the end.
    fn next_flag(&mut self) -> Result<Option<String>, UsageError> {
        if let Some((flag, Some(value))) = self.current.take() {
            return Err(UsageError(format!("{flag} takes no value (got {value:?})")));
        }
        let Some(arg) = self.args.next() else {
            return Ok(None);
        };
        let (flag, inline) = if let Some((flag, value)) = arg.split_once('=') {
            (flag.to_owned(), Some(value.to_owned()))
        } else if arg.starts_with('-')
            && !arg.starts_with("--")
            && arg.len() > 2
            && arg.is_char_boundary(2)
        {
            (arg[..2].to_owned(), Some(arg[2..].to_owned()))
        } else {
            (arg, None)
        };
        if !flag.starts_with('-') || flag == "-" || flag == "--" {
            return Err(UsageError(format!("unexpected argument {flag:?}")));
        }
        self.current = Some((flag.clone(), inline));
        Ok(Some(flag))
    }

    /// The value of `flag`: written into it, or the next argument.
    fn value(&mut self, flag: &str) -> Result<String, UsageError> {
        self.current
            .as_mut()
            .and_then(|(_, inline)| inline.take())
            .or_else(|| self.args.next())
            .ok_or_else(|| UsageError(format!("{flag} needs a value")))
    }

    /// The value of `flag`, parsed.
    fn parse<T: FromStr>(&mut self, flag: &str) -> Result<T, UsageError>
    where
        T::Err: fmt::Display,
    {
        let value = self.value(flag)?;
        value
            .parse()
            .map_err(|e| UsageError(format!("{flag}: {value:?} is not valid: {e}")))
    }

    /// The value of `flag`, a whole number in `min..=max`.
    fn in_range<T: TryFrom<usize>>(
        &mut self,
        flag: &str,
        min: usize,
        max: usize,
    ) -> Result<T, UsageError> {
        let n: usize = self.parse(flag)?;
        if !(min..=max).contains(&n) {
            return Err(UsageError(format!("{flag}: {n} is outside {min}..={max}")));
        }
        T::try_from(n).map_err(|_| UsageError(format!("{flag}: {n} is too large")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aping(line: &str) -> Result<Parsed<ClientOptions>, UsageError> {
        parse_aping(line.split_whitespace().map(str::to_owned).collect())
    }

    fn run(parsed: Result<Parsed<ClientOptions>, UsageError>) -> ClientOptions {
        match parsed {
            Ok(Parsed::Run(options)) => options,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_originals() {
        let options = run(aping(""));
        assert_eq!(
            (options.size, options.iterations, options.consecutive),
            (100, 2, 1)
        );
        assert_eq!(options.destination, Destination::Partner(default_addr()));
        assert_eq!(options.lu, "APINGSRV");
    }

    #[test]
    fn every_flag_form() {
        let options = run(aping(
            "--partner=10.0.0.1:7 -s 32763 -i5 -c=3 -1 --lu apingx --backend epoll --timeout 0.5",
        ));
        assert_eq!(
            options.destination,
            Destination::Partner("10.0.0.1:7".parse().unwrap())
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
        assert_eq!(aping("-h"), Ok(Parsed::Help));
    }

    #[test]
    fn mistakes_are_one_line_each() {
        for (line, expect) in [
            ("--bogus", "unknown flag --bogus"),
            ("-s 0", "-s: 0 is outside 1..=32763"),
            ("-s 32764", "-s: 32764 is outside"),
            ("-s x", "-s: \"x\" is not valid"),
            ("-i", "-i needs a value"),
            ("--partner nohost", "--partner: \"nohost\" is not valid"),
            (
                "--partner 1.2.3.4:5 --local",
                "--partner and --local exclude each other",
            ),
            ("--lu 9LU", "--lu: \"9LU\" is not an LU name"),
            (
                "--lu TOOLONGNAME",
                "--lu: \"TOOLONGNAME\" is not an LU name",
            ),
            ("--backend iocp2", "--backend: \"iocp2\""),
            ("--timeout 0", "--timeout: 0 is not a positive time"),
            ("-1=yes", "-1 takes no value"),
            ("somehost", "unexpected argument \"somehost\""),
        ] {
            let error = aping(line).expect_err(line).0;
            assert!(error.starts_with(expect), "{line}: {error}");
            assert!(!error.contains('\n'), "{line}: {error}");
        }
    }

    #[test]
    fn apingd_flags() {
        let parsed = parse_apingd(
            ["--listen", "0.0.0.0:0", "--lu=node1", "--backend", "uring"]
                .map(str::to_owned)
                .to_vec(),
        );
        let Ok(Parsed::Run(options)) = parsed else {
            panic!("{parsed:?}")
        };
        assert_eq!(options.listen, "0.0.0.0:0".parse().unwrap());
        assert_eq!(
            (options.lu.as_str(), options.backend),
            ("NODE1", Kind::Uring)
        );
        let error = parse_apingd(vec!["-s".into(), "5".into()]).unwrap_err();
        assert_eq!(error.0, "unknown flag -s");
    }
}
