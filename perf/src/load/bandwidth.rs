//! `--mode bandwidth`: how much of loopback TCP one LU 6.2 session gets.
//!
//! A gateway also moves bulk data (file transfer TPs, large replies), where
//! what matters is not round trips but how close one conversation comes to
//! what its socket could carry. The target: 64 KiB messages on one session
//! reach at least 90% of the bandwidth of a single raw TCP stream on
//! loopback, both measured in the same run.
//!
//! *appc*: the partner node and the client node are started as in the load
//! mode ([`Nodes`]). One client TP allocates one mapped conversation to
//! the partner's `SINK` TP ([`partner`]) and sends `--size`-byte records
//! (MC_SEND_DATA, default 65,535 bytes: "64 KiB" is the largest record one
//! MC_SEND_DATA can carry, its length being 16 bits) back to back for
//! `--duration`; each record starts with its sequence number. The last
//! one carries the change of direction (`P_TO_R_FLUSH`), and the client's
//! MC_RECEIVE_AND_WAIT gets the sink's [`SinkSummary`]: records and bytes
//! received, and how many were out of order. The clock runs from the
//! first SEND_DATA to that answer, so it stops only after the partner TP
//! has received the last byte. One record goes out and is answered before
//! the clock starts, so the TCP connect and the BIND are not timed.
//!
//! *TCP*: the same on raw `std::net` sockets: one thread writes
//! `--size`-byte buffers with `write_all` and shuts its side down, one
//! thread reads into a 64 KiB buffer until the end and writes back the byte
//! count; the clock stops when the writer has that count. Both sockets have
//! `TCP_NODELAY`, as the backends set it.
//!
//! The two take turns, [`SLICES`] slices each of `--duration` / [`SLICES`]
//! (appc, TCP, appc, ...), and each figure sums its slices: the VM's speed
//! drifts over seconds (raw TCP alone varies by a factor of about three from
//! one run to the next on a shared VM; `docs/design.md` has the figures),
//! and one stream timed after the other put them in different stretches;
//! alternating puts both in the same ones.
//!
//! Correctness decides the exit status: every record arrived once and in
//! order, every verb on both nodes completed exactly once, nothing is left
//! anywhere (the load mode's checks, [`session_checks`]), and the
//! raw stream lost nothing. The 90% target is reported, not a check, as the
//! load mode reports its 3x target against tokio.

use super::client::ClientTally;
use super::partner::{self, SinkSummary};
use super::payload::{payload, stamp};
use super::report::{rounded, session_checks, to_json, MachineJson};
use super::sampler::{Limit, Sampler};
use super::{verbs, Nodes, Stopped};
use crate::args::Config;
use crate::sysinfo::Machine;
use crate::units::grouped;
use crate::workload::{checks_text, verdict_text, Check};
use appc_io::appc::rc::{PrimaryRc, WhatRcvd};
use appc_io::appc::verbs::{values, Body, Conv, SendData, TpId, Verb};
use appc_io::appc::Appc;
use appc_io::engine::{Port, Target};
use serde::Serialize;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The target: appc's bandwidth over raw TCP's.
pub const TARGET: f64 = 0.9;
/// How long one verb may take before the run gives up on it.
const VERB_LIMIT: Duration = Duration::from_secs(30);
/// The raw reader's buffer.
const READ_BUFFER: usize = 64 << 10;
/// Turns each stream takes (see the module docs).
pub const SLICES: u32 = 5;

/// One stream's figures.
#[derive(Clone, Copy, Debug, Default)]
struct Stream {
    /// Records (appc) or buffers (TCP) sent.
    records: u64,
    /// Their bytes.
    bytes: u64,
    /// From the first send to the receiver's acknowledgement of the last byte.
    elapsed: Duration,
}

impl Stream {
    fn add_up(&mut self, slice: Stream) {
        self.records += slice.records;
        self.bytes += slice.bytes;
        self.elapsed += slice.elapsed;
    }

    /// MiB (2^20 bytes) per second.
    fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Everything a bandwidth run measured.
#[derive(Clone, Debug)]
struct Bandwidth {
    machine: Machine,
    size: usize,
    duration: Duration,
    appc: Stream,
    /// What the sink answered for the timed stream.
    summary: SinkSummary,
    client: ClientTally,
    stopped: Stopped,
    tcp: Stream,
    /// What the raw reader counted.
    tcp_read: u64,
}

impl Bandwidth {
    fn ratio(&self) -> f64 {
        self.appc.mib_per_s() / self.tcp.mib_per_s().max(1e-9)
    }
}

/// Runs both streams and prints the report; true if every check held.
pub fn run(config: &Config) -> Result<bool, String> {
    let (size, duration) = (config.size(), config.duration());
    let nodes = Nodes::start(config, config.node_config())?;
    let result = streams(&nodes.app, size, duration);
    let stopped = nodes.stop();
    let Streams {
        appc,
        summary,
        client,
        tcp,
        tcp_read,
    } = result?;
    let b = Bandwidth {
        machine: Machine::detect(),
        size,
        duration,
        appc,
        summary,
        client,
        stopped,
        tcp,
        tcp_read,
    };
    let checks = checks(&b);
    if config.json {
        println!("{}", json(&b, &checks));
    } else {
        print!("{}", text(&b, &checks));
    }
    Ok(checks.iter().all(|c| c.ok))
}

/// The client TP: one verb at a time on its port, each checked to complete
/// once, for its handle.
struct Sender<'a> {
    app: &'a Appc,
    port: Port<Verb>,
    tally: ClientTally,
    /// Records sent by either stream, for the progress bar.
    done: &'a AtomicU64,
}

impl Sender<'_> {
    /// Submits `verb` and waits for its completion; `Err` if it was refused,
    /// took longer than [`VERB_LIMIT`] or did not end `AP_OK`.
    fn verb(&mut self, verb: Verb) -> Result<Verb, String> {
        let target = Target::Port {
            port: self.port.clone(),
            key: 0,
            token: 0,
            bytes: 0,
        };
        let handle = self.app.submit(verb, &target).map_err(|e| {
            self.tally.rejected += 1;
            format!("a verb was refused: {:?}", e.reason)
        })?;
        self.tally.accepted += 1;
        let Some(packet) = self.port.get(Some(VERB_LIMIT)) else {
            self.tally.stuck += 1;
            return Err(format!("a verb did not complete in {VERB_LIMIT:?}"));
        };
        self.tally.completions += 1;
        if packet.handle != handle {
            self.tally.unexpected += 1;
        }
        let verb = packet.verb;
        if verb.primary_rc != PrimaryRc::OK {
            self.tally.failures += 1;
            return Err(format!(
                "the conversation failed: {:?}, secondary {:#010X}",
                verb.primary_rc, verb.secondary_rc.0
            ));
        }
        Ok(verb)
    }

    /// Sends records 1, 2, ... until `more()` (asked before each record)
    /// says no: that record is the last and carries the change of
    /// direction. Then receives the sink's answer. Returns the records sent
    /// and the answer.
    fn burst(
        &mut self,
        conv: Conv,
        size: usize,
        mut more: impl FnMut() -> bool,
    ) -> Result<(u64, SinkSummary), String> {
        let mut seq = 1;
        let mut data = payload(seq, size);
        loop {
            let last = !more();
            let send_type = if last {
                values::SEND_DATA_P_TO_R_FLUSH
            } else {
                values::SEND_DATA_NONE
            };
            let sent = self.verb(Verb::mapped(Body::SendData(SendData {
                conv,
                send_type,
                data,
                rts_rcvd: false,
            })))?;
            self.done.fetch_add(1, Ordering::Relaxed);
            if last {
                break;
            }
            seq += 1;
            // The verb hands its buffer back: the next record goes out of
            // it, as the raw stream writes one buffer over and over.
            data = match sent.body {
                Body::SendData(s) => s.data,
                _ => return Err("SEND_DATA came back as another verb".into()),
            };
            stamp(&mut data, seq);
        }
        let mut answer = Vec::new();
        loop {
            let verb = self.verb(verbs::receive(conv, SinkSummary::LEN, Vec::new()))?;
            let Body::ReceiveAndWait(r) = verb.body else {
                return Err("RECEIVE_AND_WAIT came back as another verb".into());
            };
            answer.extend_from_slice(&r.data);
            if r.what_rcvd.status_part() == WhatRcvd::SEND {
                break;
            }
        }
        let summary = SinkSummary::decode(&answer)
            .ok_or_else(|| format!("the sink answered {} bytes", answer.len()))?;
        Ok((seq, summary))
    }

    /// ALLOCATE to the sink and the untimed warm-up record (the first
    /// flush opens the link and BINDs the session).
    fn open(&mut self, tp_id: TpId, size: usize) -> Result<Conv, String> {
        let allocate = self.verb(verbs::allocate(tp_id, partner::LU, partner::SINK_TP))?;
        let Body::Allocate(a) = allocate.body else {
            return Err("ALLOCATE came back as another verb".into());
        };
        let conv = Conv {
            tp_id,
            conv_id: a.conv_id,
        };
        self.burst(conv, size, || false)?;
        Ok(conv)
    }

    /// One timed slice: records for `duration`, up to the sink's answer.
    fn slice(
        &mut self,
        conv: Conv,
        size: usize,
        duration: Duration,
    ) -> Result<(Stream, SinkSummary), String> {
        let start = Instant::now();
        let (records, summary) = self.burst(conv, size, || start.elapsed() < duration)?;
        let appc = Stream {
            records,
            bytes: records * size as u64,
            elapsed: start.elapsed(),
        };
        Ok((appc, summary))
    }
}

/// Both streams' sums over their slices.
#[derive(Default)]
struct Streams {
    appc: Stream,
    /// What the sink answered, summed over the slices.
    summary: SinkSummary,
    client: ClientTally,
    tcp: Stream,
    /// What the raw reader counted.
    tcp_read: u64,
}

/// The appc stream (one TP, one conversation to the sink, a warm-up
/// record) and the raw one, taking turns for `duration` each.
fn streams(app: &Appc, size: usize, duration: Duration) -> Result<Streams, String> {
    // Both streams count their records for the bar (drawn on stderr when
    // it is a terminal).
    let done = Arc::new(AtomicU64::new(0));
    let bar = Sampler::start(
        "stream",
        "records",
        Arc::clone(&done),
        Limit::Time(2 * duration),
    );
    let mut sender = Sender {
        app,
        port: app.port(),
        tally: ClientTally::default(),
        done: &done,
    };
    let tp_id = verbs::start_tp(app)?;
    sender.tally.conversations += 1;
    let mut sums = Streams::default();
    let result = sender.open(tp_id, size).and_then(|conv| {
        let slice = duration / SLICES;
        for _ in 0..SLICES {
            let (appc, summary) = sender.slice(conv, size, slice)?;
            sums.appc.add_up(appc);
            sums.summary.add_up(&summary);
            let (raw, read) =
                raw_tcp(size, slice, &done).map_err(|e| format!("raw TCP stream: {e}"))?;
            sums.tcp.add_up(raw);
            sums.tcp_read += read;
        }
        Ok(())
    });
    let _ = bar.finish();
    // In SEND at a record boundary: a normal deallocation.
    let _ = app.call(verbs::end_tp(tp_id));
    sender.tally.live_after = app.stats().live_tasks;
    result?;
    sums.client = sender.tally;
    Ok(sums)
}

/// One slice of the baseline: one loopback TCP stream, `size`-byte writes
/// for `duration`; returns the writer's figures and the byte count the
/// reader acknowledged. Each write counts one in `done`.
fn raw_tcp(size: usize, duration: Duration, done: &AtomicU64) -> io::Result<(Stream, u64)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = thread::spawn(move || -> io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        let mut buffer = vec![0; READ_BUFFER];
        let mut read = 0u64;
        loop {
            match socket.read(&mut buffer)? {
                0 => break,
                n => read += n as u64,
            }
        }
        socket.write_all(&read.to_le_bytes())
    });
    let mut socket = TcpStream::connect(addr)?;
    socket.set_nodelay(true)?;
    let data = payload(1, size);
    let mut stream = Stream::default();
    let start = Instant::now();
    while stream.records == 0 || start.elapsed() < duration {
        socket.write_all(&data)?;
        stream.records += 1;
        done.fetch_add(1, Ordering::Relaxed);
    }
    socket.shutdown(Shutdown::Write)?;
    let mut count = [0; 8];
    socket.read_exact(&mut count)?;
    stream.elapsed = start.elapsed();
    stream.bytes = stream.records * size as u64;
    reader
        .join()
        .map_err(|_| io::Error::other("the reader panicked"))??;
    Ok((stream, u64::from_le_bytes(count)))
}

fn checks(b: &Bandwidth) -> Vec<Check> {
    let s = &b.summary;
    let mut checks = vec![Check {
        claim: "every record arrived at the sink once and in order",
        ok: s.records == b.appc.records
            && s.bytes == b.appc.bytes
            && s.out_of_order == 0
            && b.appc.records > 0,
        detail: format!(
            "{} records ({} bytes) sent, {} ({} bytes) received, {} out of order",
            grouped(b.appc.records),
            grouped(b.appc.bytes),
            grouped(s.records),
            grouped(s.bytes),
            s.out_of_order
        ),
    }];
    let st = &b.stopped;
    checks.extend(session_checks(
        &b.client,
        st.node,
        st.node_conversations_left,
        st.partner.as_ref(),
    ));
    checks.push(Check {
        claim: "raw TCP: every byte written was read",
        ok: b.tcp_read == b.tcp.bytes,
        detail: format!(
            "{} written, {} read",
            grouped(b.tcp.bytes),
            grouped(b.tcp_read)
        ),
    });
    checks
}

fn met(b: &Bandwidth) -> &'static str {
    if b.ratio() >= TARGET {
        "met"
    } else {
        "NOT met"
    }
}

fn text(b: &Bandwidth, checks: &[Check]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "appc-load --mode bandwidth: one LU 6.2 session against one raw TCP stream, on loopback"
    );
    let _ = writeln!(out, "machine: {}", b.machine);
    let _ = writeln!(
        out,
        "run: backend {}, {} B records (MC_SEND_DATA) / writes, {:.1} s each, in {SLICES} alternating slices",
        b.stopped.backend,
        grouped(b.size as u64),
        b.duration.as_secs_f64()
    );
    let _ = writeln!(out, "\n== bandwidth (MiB/s = 2^20 bytes per second, to the receiver's acknowledgement of the last byte)");
    for (name, s) in [("appc", &b.appc), ("raw TCP", &b.tcp)] {
        let _ = writeln!(
            out,
            "  {name:<10}{:>10.1} MiB/s  {:>12} records {:>18} bytes in {:.3} s",
            s.mib_per_s(),
            grouped(s.records),
            grouped(s.bytes),
            s.elapsed.as_secs_f64()
        );
    }
    let _ = writeln!(out, "  ratio     {:>10.1} %", b.ratio() * 100.0);
    let _ = writeln!(
        out,
        "  target    appc >= {:.0}% of raw TCP: {}",
        TARGET * 100.0,
        met(b)
    );
    let _ = writeln!(out, "\n== exactly once");
    out += &checks_text(checks);
    out += &verdict_text(checks.iter().all(|c| c.ok));
    out
}

/// One stream in the JSON report.
#[derive(Debug, Serialize)]
struct StreamJson {
    records: u64,
    bytes: u64,
    elapsed_s: f64,
    mib_per_s: f64,
}

impl StreamJson {
    fn of(s: &Stream) -> Self {
        StreamJson {
            records: s.records,
            bytes: s.bytes,
            elapsed_s: rounded(s.elapsed.as_secs_f64(), 6),
            mib_per_s: rounded(s.mib_per_s(), 1),
        }
    }
}

/// The bandwidth report's JSON, field for field.
#[derive(Debug, Serialize)]
struct BandwidthJson<'a> {
    mode: &'static str,
    machine: MachineJson<'a>,
    backend: &'a str,
    size: usize,
    duration_s: f64,
    appc: StreamJson,
    tcp: StreamJson,
    ratio: f64,
    target: f64,
    target_met: bool,
    checks: &'a [Check],
    all_checks_passed: bool,
}

fn json(b: &Bandwidth, checks: &[Check]) -> String {
    to_json(&BandwidthJson {
        mode: "bandwidth",
        machine: MachineJson::of(&b.machine),
        backend: b.stopped.backend,
        size: b.size,
        duration_s: rounded(b.duration.as_secs_f64(), 3),
        appc: StreamJson::of(&b.appc),
        tcp: StreamJson::of(&b.tcp),
        ratio: rounded(b.ratio(), 4),
        target: TARGET,
        target_met: b.ratio() >= TARGET,
        checks,
        all_checks_passed: checks.iter().all(|c| c.ok),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Mode;

    #[test]
    fn a_short_run_delivers_every_record() {
        let config = Config {
            mode: Mode::Bandwidth,
            duration: Some(Duration::from_millis(300)),
            size: Some(20_000),
            ..Config::default()
        };
        assert_eq!(run(&config), Ok(true));
    }

    #[test]
    fn the_sink_summary_round_trips() {
        let s = SinkSummary {
            records: 3,
            bytes: 1 << 40,
            out_of_order: 1,
        };
        let mut wire = vec![7; 40];
        s.encode_into(&mut wire);
        assert_eq!(SinkSummary::decode(&wire), Some(s));
        assert_eq!(SinkSummary::decode(&[0; 23]), None);
    }
}
