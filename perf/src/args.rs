//! Command-line flags, parsed by hand.
//!
//! Five flags do not justify a parser dependency. Every failure is a
//! one-line [`ArgError`] that `main` prints above the usage text before
//! exiting with status 2; nothing here panics, whatever the input.

use appc_engine::{Engine, Verb};
use std::fmt;

/// The usage text printed by `--help` and after a bad flag.
pub const USAGE: &str = "\
usage: appc-demo [--requests N] [--threads N] [--cancel-fraction F] [--outstanding N]

  --requests N         requests pushed through submit/complete/cancel (default 4000000)
  --threads N          submitter threads, each with its own completion queue (default 2);
                       one completer and one canceller thread run beside them
  --cancel-fraction F  fraction of requests the canceller also cancels, 0..=1 (default 0.1)
  --outstanding N      tasks held outstanding at once in the memory phase (default 1000000)
  -h, --help           print this help

Numbers may use '_' separators (4_000_000).";

/// The most submitter threads accepted: far more than are useful, few enough
/// that a typo cannot ask for a million threads.
pub const MAX_THREADS: usize = 256;

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Requests in the throughput phase.
    pub requests: u64,
    /// Submitter threads.
    pub submitters: usize,
    /// Probability that a request's handle is also sent to the canceller.
    pub cancel_fraction: f64,
    /// Tasks held outstanding in the memory phase.
    pub outstanding: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            requests: 4_000_000,
            submitters: 2,
            cancel_fraction: 0.1,
            outstanding: 1_000_000,
        }
    }
}

/// The outcome of parsing: run with a config, or print help.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Run the demo.
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
        if !matches!(
            flag.as_str(),
            "--requests" | "--threads" | "--cancel-fraction" | "--outstanding"
        ) {
            return Err(ArgError(format!("unknown argument '{flag}'")));
        }
        let value = match inline.or_else(|| args.next()) {
            Some(value) => value,
            None => return Err(ArgError(format!("{flag} needs a value"))),
        };
        match flag.as_str() {
            "--requests" => config.requests = integer(&flag, &value, 1, u64::MAX)?,
            "--threads" => {
                config.submitters = integer(&flag, &value, 1, MAX_THREADS as u64)? as usize;
            }
            "--cancel-fraction" => config.cancel_fraction = fraction(&flag, &value)?,
            _ => {
                let max = Engine::<Verb>::MAX_CAPACITY as u64;
                config.outstanding = integer(&flag, &value, 1, max)? as usize;
            }
        }
    }
    Ok(Command::Run(config))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Command, ArgError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults() {
        assert_eq!(run(&[]), Ok(Command::Run(Config::default())));
    }

    #[test]
    fn every_flag_both_spellings() {
        let expected = Config {
            requests: 1_000,
            submitters: 3,
            cancel_fraction: 0.5,
            outstanding: 20_000,
        };
        let separate = [
            "--requests",
            "1_000",
            "--threads",
            "3",
            "--cancel-fraction",
            "0.5",
            "--outstanding",
            "20000",
        ];
        assert_eq!(run(&separate), Ok(Command::Run(expected.clone())));
        let inline = [
            "--requests=1000",
            "--threads=3",
            "--cancel-fraction=0.5",
            "--outstanding=20_000",
        ];
        assert_eq!(run(&inline), Ok(Command::Run(expected)));
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
