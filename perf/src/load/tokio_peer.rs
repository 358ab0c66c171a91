//! The peer: the same request/response written the way a Rust engineer
//! would without this library, on tokio.
//!
//! Same framing as the LU 6.2 link carries (a 4-byte big-endian length
//! prefix, then the bytes) and the same request size, over loopback TCP
//! with `TCP_NODELAY` and buffered reads (one read
//! syscall per frame, not one for the prefix and one for the bytes). One task per connection owns its socket and serves
//! requests from an `mpsc` queue, answering each through its `oneshot`;
//! each request is its own spawned task, so that it can be cancelled the
//! tokio way, with `JoinHandle::abort`, at the same fraction as our cancels
//! (after a yield, so the request has had a chance to run: an abort that
//! loses finds the task finished, the `WAPPCALREADY` case). The echo server
//! is one task per accepted connection. The runtime is tokio's default
//! multi-threaded one (a worker per core), in the same process, so both
//! sides share the same two cores the same way.
//!
//! Its buffers are reused as our client's are, so that the allocation
//! counts compare the two designs and not two habits: a driver's one
//! request buffer goes out with each request and comes back holding the
//! echo (zeroed in between, so that the check sees only what the socket
//! brought), is checked in place and restamped for the next; each
//! connection task and each echo task writes its frames out of one buffer
//! of its own. What is left per request is the design's own: the request
//! task, its `oneshot`, and (for an aborted request) the buffer the abort
//! drops.

use super::payload::{self, payload};
use super::sampler::{Limit, Sampler};
use super::Side;
use crate::workload::CancelCounts;
use hdrhistogram::Histogram;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// What the peer's requests came to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerTally {
    /// Request tasks spawned.
    pub spawned: u64,
    /// Tasks joined (each exactly once: `spawned == joined`).
    pub joined: u64,
    /// Echoes that differed from their request.
    pub echo_mismatch: u64,
    /// Requests that failed (connection lost).
    pub failures: u64,
}

/// A request's bytes, and where its echo goes back (in the same buffer).
type Request = (Vec<u8>, oneshot::Sender<Vec<u8>>);

/// Runs the tokio load: `sessions` connections, `size`-byte requests,
/// `cancel_fraction` of them aborted, until `limit`.
pub fn run(
    sessions: usize,
    size: usize,
    cancel_fraction: f64,
    limit: Limit,
) -> Result<(Side, PeerTally), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    runtime
        .block_on(load(sessions, size, cancel_fraction, limit))
        .map_err(|e| format!("tokio peer: {e}"))
}

async fn load(
    sessions: usize,
    size: usize,
    cancel_fraction: f64,
    limit: Limit,
) -> io::Result<(Side, PeerTally)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(echo(stream));
        }
    });
    let mut connections = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (tx, rx) = mpsc::channel::<Request>(16);
        tokio::spawn(connection(stream, rx));
        connections.push(tx);
    }
    let done = Arc::new(AtomicU64::new(0));
    let sampler = Sampler::start("tokio", "requests", Arc::clone(&done), limit);
    let start = Instant::now();
    let drivers: Vec<_> = connections
        .into_iter()
        .enumerate()
        .map(|(i, tx)| {
            let done = Arc::clone(&done);
            tokio::spawn(drive(
                tx,
                size,
                cancel_fraction,
                limit,
                start,
                done,
                i as u64,
            ))
        })
        .collect();
    let mut latency = super::histogram();
    let mut cancels = CancelCounts::default();
    let mut tally = PeerTally::default();
    for driver in drivers {
        let (h, c, t) = driver.await.map_err(io::Error::other)?;
        latency.add(&h).map_err(io::Error::other)?;
        cancels.cancelled += c.cancelled;
        cancels.already += c.already;
        tally.spawned += t.spawned;
        tally.joined += t.joined;
        tally.echo_mismatch += t.echo_mismatch;
        tally.failures += t.failures;
    }
    let elapsed = start.elapsed();
    let sampled = sampler.finish();
    let side = Side {
        requests: done.load(Ordering::Relaxed),
        elapsed,
        latency,
        points: sampled.points,
        cancels,
        window: sampled.window,
    };
    Ok((side, tally))
}

/// The echo server's task for one connection.
async fn echo(stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut stream = BufReader::new(stream);
    let mut frame = Vec::new();
    loop {
        let len = stream.read_u32().await? as usize;
        frame.clear();
        frame.extend_from_slice(&(len as u32).to_be_bytes());
        frame.resize(4 + len, 0);
        stream.read_exact(&mut frame[4..]).await?;
        stream.write_all(&frame).await?;
    }
}

/// The client's task for one connection: one request at a time.
async fn connection(stream: TcpStream, mut requests: mpsc::Receiver<Request>) {
    let mut stream = BufReader::new(stream);
    // Prefix and bytes go out in one write, from one buffer for all.
    let mut frame = Vec::new();
    while let Some((mut data, reply)) = requests.recv().await {
        frame.clear();
        frame.extend_from_slice(&(data.len() as u32).to_be_bytes());
        frame.extend_from_slice(&data);
        if stream.write_all(&frame).await.is_err() {
            return;
        }
        let Ok(len) = stream.read_u32().await else {
            return;
        };
        // The echo lands in the request's buffer, zeroed first.
        data.clear();
        data.resize(len as usize, 0);
        if stream.read_exact(&mut data).await.is_err() {
            return;
        }
        // The requester may have been aborted: its answer is dropped.
        let _ = reply.send(data);
    }
}

/// Issues requests on one connection until the limit.
async fn drive(
    connection: mpsc::Sender<Request>,
    size: usize,
    cancel_fraction: f64,
    limit: Limit,
    start: Instant,
    done: Arc<AtomicU64>,
    seed: u64,
) -> (Histogram<u64>, CancelCounts, PeerTally) {
    let mut rng = fastrand::Rng::with_seed(0x7014_0000 + seed);
    let mut latency = super::histogram();
    let mut cancels = CancelCounts::default();
    let mut tally = PeerTally::default();
    let mut seq = 0u64;
    let mut data = payload(seq, size);
    while !limit.reached(start.elapsed(), done.load(Ordering::Relaxed)) {
        seq += 1;
        payload::refill(&mut data, seq, size);
        let sent = Instant::now();
        let connection = connection.clone();
        let request = tokio::spawn(async move {
            let (tx, rx) = oneshot::channel();
            connection.send((data, tx)).await.ok()?;
            rx.await.ok()
        });
        tally.spawned += 1;
        let cancel = rng.f64() < cancel_fraction;
        if cancel {
            tokio::task::yield_now().await;
            request.abort();
        }
        let joined = request.await;
        tally.joined += 1;
        match joined {
            Ok(Some(mut echo)) => {
                if cancel {
                    cancels.already += 1;
                }
                let _ = latency.record((sent.elapsed().as_nanos() as u64).max(1));
                if echo.len() != size || !payload::matches(seq, 0, &echo) {
                    tally.echo_mismatch += 1;
                    echo.clear();
                }
                done.fetch_add(1, Ordering::Relaxed);
                data = echo;
            }
            Err(e) if e.is_cancelled() => {
                cancels.cancelled += 1;
                // The abort dropped the buffer with the task.
                data = Vec::with_capacity(size);
            }
            _ => {
                tally.failures += 1;
                break;
            }
        }
    }
    (latency, cancels, tally)
}
