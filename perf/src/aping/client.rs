//! The APING side: allocate, exchange versions, run the iterations, and
//! report in the original's layout.
//!
//! The report keeps the original's lines and columns (Linux-SNA
//! `aping.c`: "Allocate duration", "Program startup and Confirm
//! duration", the Duration / Data Sent / Data Rate / Data Rate table,
//! "Totals", "Duration statistics") so that it reads like every other
//! APING. Two deliberate differences: durations are milliseconds with
//! three decimals, because a loopback round trip is tens of microseconds
//! and the original's whole milliseconds would all print 0; and the rates
//! are exact (`bytes / 1024 / s` for KB/s, `bits / 10^6 / s` for Mb/s)
//! instead of the original's integer arithmetic. "Data Sent" counts both
//! directions when the partner echoes, as the original does.
//!
//! `ALLOCATE` only reserves the conversation (its attach waits for the
//! first flush, as on Windows), so "Allocate duration" is short; the TCP
//! connect, BIND, Attach and the daemon's TP start are inside "Program
//! startup and Confirm duration", the version exchange. A partner that is
//! not there fails that exchange with `AP_ALLOCATION_ERROR`.

use super::daemon;
use super::tp::{Failure, Tp, Turn};
use super::version::{self, Partner, ONE_WAY, OURS};
use super::{CLIENT_LU, MAX_BLOCK};
use crate::flags::HostPort;
use appc_io::appc::verbs::{values, Conv};
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::WINAPPC_VERSION;
use appc_io::node::{NodeConfig, TcpNode};
use std::error::Error;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where the daemon is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A node listening at this address (resolved when the run starts).
    Partner(HostPort),
    /// An APINGD started in this process on loopback (`--local`).
    Local,
}

/// What `aping` was asked to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Where the daemon is.
    pub destination: Destination,
    /// The daemon node's LU name.
    pub lu: String,
    /// Bytes per block (1..=[`MAX_BLOCK`]).
    pub size: usize,
    /// Round trips.
    pub iterations: u32,
    /// Blocks sent per round trip.
    pub consecutive: u32,
    /// The partner confirms instead of echoing.
    pub one_way: bool,
    /// The socket backend (of both nodes with `--local`).
    pub backend: Kind,
    /// The longest wait for any one verb.
    pub limit: Duration,
}

/// `aping`: runs the exchange, printing the report to stdout as it goes.
pub fn run(options: Options) -> Result<(), Box<dyn Error>> {
    let addr = match &options.destination {
        Destination::Partner(addr) => addr.resolve()?,
        Destination::Local => {
            daemon::spawn_local(&options.lu, options.backend, NodeConfig::default())?
        }
    };
    ping(&options, addr, &mut io::stdout().lock())
}

/// A node of LU [`CLIENT_LU`] on a backend of `kind` with `config`, whose
/// partner LU `lu` listens at `addr`, and an application on it.
pub fn connect(
    lu: &str,
    addr: SocketAddr,
    kind: Kind,
    config: NodeConfig,
) -> Result<(TcpNode, Appc), Box<dyn Error>> {
    let engine = Node::new();
    let node = TcpNode::start(CLIENT_LU, engine.clone(), kind, config)?;
    node.add_partner(lu, addr);
    let (app, _) = Appc::startup(WINAPPC_VERSION, &engine)?;
    Ok((node, app))
}

/// The exchange with the daemon at `addr`, reported to `out`.
fn ping(options: &Options, addr: SocketAddr, out: &mut impl Write) -> Result<(), Box<dyn Error>> {
    let (node, app) = connect(&options.lu, addr, options.backend, NodeConfig::default())?;
    let mut tp = Tp::new(&app, Some(options.limit));
    writeln!(
        out,
        "APING version {OURS}: APPC echo test with timings, to TP {} at LU {} ({addr}) over {}\n",
        super::TP_NAME,
        options.lu,
        node.backend_name()
    )?;
    let unreachable = |failure: Failure| {
        format!(
            "no conversation with {} at LU {} ({addr}): {failure}",
            super::TP_NAME,
            options.lu
        )
    };
    let tp_id = tp.tp_started()?;
    let started = Instant::now();
    let conv = tp.allocate(tp_id, &options.lu).map_err(unreachable)?;
    writeln!(out, "Allocate duration: {} ms\n", ms(started.elapsed()))?;

    let started = Instant::now();
    let partner = exchange_versions(&mut tp, conv).map_err(unreachable)?;
    let startup = started.elapsed();
    if !partner.os.is_empty() {
        writeln!(out, "Connected to a partner running on: {}\n", partner.os)?;
    }
    let one_way = options.one_way && partner.version >= ONE_WAY;
    if options.one_way && !one_way {
        writeln!(
            out,
            "One way data transfer is not supported by partner.\nPartner will echo data."
        )?;
    }
    writeln!(
        out,
        "Program startup and Confirm duration: {} ms\n",
        ms(startup)
    )?;

    write!(out, "{HEADER}")?;
    let count = options.consecutive as usize;
    let block: Vec<u8> = (0..options.size).map(|i| i as u8).collect();
    let bytes = (options.size * count * if one_way { 1 } else { 2 }) as u64;
    let mut times = Vec::with_capacity(options.iterations as usize);
    let mut wrong = 0;
    for _ in 0..options.iterations {
        let started = Instant::now();
        if one_way {
            tp.send_blocks(conv, &block, count, values::SEND_DATA_CONFIRM)?;
        } else {
            let echo = round_trip(&mut tp, conv, &block, count)?;
            if !echo.is_exact(count) {
                writeln!(
                    out,
                    "ERROR:  Partner did not send the expected number of records \
                     ({} of {count}, intact: {}).",
                    echo.blocks, echo.intact
                )?;
                wrong += 1;
            }
        }
        let elapsed = started.elapsed();
        writeln!(
            out,
            "{:>16}{:>17}{}",
            ms(elapsed),
            bytes,
            rates(bytes, elapsed)
        )?;
        times.push(elapsed);
    }
    tp.deallocate(conv)?;
    tp.tp_ended(tp_id)?;

    let total: Duration = times.iter().sum();
    let all = bytes * u64::from(options.iterations);
    writeln!(
        out,
        "Totals:{:>9}{:>17}{}",
        ms(total),
        all,
        rates(all, total)
    )?;
    let min = times.iter().min().copied().unwrap_or_default();
    let max = times.iter().max().copied().unwrap_or_default();
    let avg = total / options.iterations.max(1);
    writeln!(
        out,
        "Duration statistics:  Min = {}   Avg = {}   Max = {}",
        ms(min),
        ms(avg),
        ms(max)
    )?;
    if wrong > 0 {
        return Err(format!(
            "{wrong} of {} iterations came back wrong",
            options.iterations
        )
        .into());
    }
    Ok(())
}

/// The version exchange, from the client's side: our record out with
/// the direction, the partner's record back with the direction.
pub fn exchange_versions(tp: &mut Tp<'_>, conv: Conv) -> Result<Partner, Failure> {
    let ours = version::encode(OURS, &version::os_name());
    tp.send_blocks(conv, &ours, 1, values::SEND_DATA_P_TO_R_FLUSH)?;
    let mut partner = Partner::default();
    match tp.receive_turn(conv, MAX_BLOCK, |record| partner = version::decode(&record))? {
        Turn::Send => Ok(partner),
        turn => Err(Failure::Protocol(format!(
            "the partner answered the version record with {turn:?}"
        ))),
    }
}

/// What came back in one echo iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Echo {
    /// Blocks received before the partner handed the direction back.
    pub blocks: usize,
    /// Every one of them equal to the block sent.
    pub intact: bool,
}

impl Echo {
    /// The echo of `count` blocks, exactly.
    pub fn is_exact(&self, count: usize) -> bool {
        self.blocks == count && self.intact
    }
}

/// One echo iteration: `count` copies of `block` out, the last with
/// PREPARE_TO_RECEIVE, and the partner's blocks back until it hands the
/// direction back.
pub fn round_trip(
    tp: &mut Tp<'_>,
    conv: Conv,
    block: &[u8],
    count: usize,
) -> Result<Echo, Failure> {
    tp.send_blocks(conv, block, count, values::SEND_DATA_P_TO_R_FLUSH)?;
    let mut echo = Echo {
        blocks: 0,
        intact: true,
    };
    match tp.receive_turn(conv, block.len(), |back| {
        echo.blocks += 1;
        echo.intact &= back == block;
    })? {
        Turn::Send => Ok(echo),
        turn => Err(Failure::Protocol(format!(
            "the partner ended its echo with {turn:?}"
        ))),
    }
}

const HEADER: &str = "        Duration        Data Sent        Data Rate        Data Rate
        (msec)          (bytes)          (KB/s)           (Mb/s)
        --------        ---------        ---------        ---------
";

/// Milliseconds with microsecond resolution.
fn ms(duration: Duration) -> String {
    format!("{:.3}", duration.as_secs_f64() * 1e3)
}

/// The two rate columns for `bytes` in `elapsed` (none for no time).
fn rates(bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if secs == 0.0 {
        return String::new();
    }
    let per_sec = bytes as f64 / secs;
    format!("{:>17.1}{:>17.3}", per_sec / 1024.0, per_sec * 8.0 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_with_the_header() {
        let row = format!(
            "{:>16}{:>17}{}",
            ms(Duration::from_micros(52)),
            200,
            rates(200, Duration::from_micros(52))
        );
        let header = HEADER.lines().next().unwrap();
        assert_eq!(row.len(), header.len(), "{row}\n{header}");
        assert!(row.ends_with("3756.0           30.769"), "{row}");
        assert_eq!(rates(1, Duration::ZERO), "");
    }
}
