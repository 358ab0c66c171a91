//! Flag values the binaries share, for their `clap` command lines: the
//! socket backend, a `HOST:PORT` that is resolved only when it is used, and
//! whole numbers written with `_` separators.
//!
//! The line between a bad flag and a failed run follows the usual
//! convention: what the command line alone shows to be wrong (a port that
//! is not a number, a backend nobody has) is a usage error, exit 2; what
//! depends on the world (a host name that does not resolve, a partner that
//! does not answer) is a runtime failure, exit 1.

use appc_io::backend::Kind;
use clap::ValueEnum;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

/// The socket backend a node runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// io_uring if a ring can be set up, else epoll.
    #[default]
    Auto,
    /// io_uring.
    #[value(alias = "io_uring")]
    Uring,
    /// epoll.
    #[value(alias = "poll")]
    Epoll,
}

impl From<Backend> for Kind {
    fn from(backend: Backend) -> Kind {
        match backend {
            Backend::Auto => Kind::Auto,
            Backend::Uring => Kind::Uring,
            Backend::Epoll => Kind::Poll,
        }
    }
}

/// A `HOST:PORT` (a host name, an IPv4 address, or an IPv6 one in
/// brackets), checked for its form when the flag is parsed and resolved
/// only when the address is needed, so that a name that does not resolve
/// is a failed run, not a bad flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort(String);

impl FromStr for HostPort {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, String> {
        let (host, port) = value
            .rsplit_once(':')
            .ok_or_else(|| "expected HOST:PORT".to_owned())?;
        if host.is_empty() {
            return Err("the host is missing (HOST:PORT)".into());
        }
        port.parse::<u16>()
            .map_err(|_| format!("{port:?} is not a port (0..=65535)"))?;
        Ok(HostPort(value.to_owned()))
    }
}

impl HostPort {
    /// The first address the host resolves to.
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        let unresolved = |why: String| format!("cannot resolve {}: {why}", self.0);
        self.0
            .to_socket_addrs()
            .map_err(|e| unresolved(e.to_string()))?
            .next()
            .ok_or_else(|| unresolved("no address".into()))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> Self {
        HostPort(addr.to_string())
    }
}

/// A whole number, `_` separators allowed (`1_000_000`).
pub fn number(value: &str) -> Result<u64, String> {
    let digits: String = value.chars().filter(|&c| c != '_').collect();
    digits
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))
}

/// [`number`], within `min..=max`.
pub fn number_in(value: &str, min: u64, max: u64) -> Result<u64, String> {
    let n = number(value)?;
    if (min..=max).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is outside {min}..={max}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_are_checked_for_form_and_resolved_later() {
        for good in [
            "127.0.0.1:6200",
            "localhost:6200",
            "[::1]:0",
            "no.such.host.invalid:1",
        ] {
            assert!(good.parse::<HostPort>().is_ok(), "{good}");
        }
        for bad in ["nohost", ":6200", "host:", "host:65536", "host:port"] {
            assert!(bad.parse::<HostPort>().is_err(), "{bad}");
        }
        let local: HostPort = "localhost:6200".parse().unwrap();
        assert_eq!(local.resolve().unwrap().port(), 6200);
        let nowhere: HostPort = "no.such.host.invalid:1".parse().unwrap();
        assert!(nowhere.resolve().unwrap_err().starts_with("cannot resolve"));
    }

    #[test]
    fn numbers_take_separators_and_ranges() {
        assert_eq!(number("1_000_000"), Ok(1_000_000));
        assert!(number("-3").is_err() && number("lots").is_err());
        assert_eq!(number_in("5", 1, 5), Ok(5));
        assert_eq!(number_in("6", 1, 5), Err("6 is outside 1..=5".into()));
    }
}
