//! A gateway under tokio: TCP clients speak lines on one side; each line
//! is one LU 6.2 conversation to a service TP on a partner node on the
//! other; the service's reply line goes back to the client. A client that
//! disconnects while its request is in flight has the request's
//! conversation cancelled (its pending verb's future dropped:
//! `WinAPPCCancelAsyncRequest`), which the partner sees as
//! `AP_CONV_FAILURE_RETRY`.
//!
//! Run it all in one command (gateway, partner node and a load of clients,
//! on loopback):
//!
//! ```text
//! cargo run --release -p appc-perf --example gateway
//! cargo run --release -p appc-perf --example gateway -- --clients 64 --requests 500
//! cargo run --release -p appc-perf --example gateway -- --serve   # then: nc 127.0.0.1 PORT
//! ```
//!
//! Pieces, each a few lines over `appc::tp_async`:
//!
//! * the partner node (LU `GWPART`, a `TcpNode`) serves TP `GWSVC`: each
//!   attach is a task that receives the request, waits for the direction,
//!   replies with the line upper-cased and deallocates; a request `HOLD`
//!   is answered only after a second, and its client walks away as soon
//!   as the service holds it;
//! * the gateway node (LU `GWGATE`) has the partner over TCP; the gateway
//!   accepts clients with tokio, starts one TP per client connection and
//!   allocates one conversation per request line (`SEND_DATA` with
//!   `PREPARE_TO_RECEIVE`, then receives until the partner deallocates);
//! * the load: `--clients` connections each send `--requests` lines and
//!   check every reply; one extra client sends `HOLD` and disconnects.
//!
//! The report gives requests per second (each request a whole
//! conversation: ALLOCATE, the attach and the BIND's session reuse, data
//! both ways, deallocation, both TPs' verbs) and confirms the cancellation.

use appc::rc::PrimaryRc;
use appc::tp_async::{Allocation, Conversation, Tp, VerbError};
use appc::verbs::values;
use appc::{Appc, Node};
use appc_engine::WINAPPC_VERSION;
use appc_io::backend::Kind;
use appc_io::node::{NodeConfig, TcpNode};
use std::error::Error;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The partner node's LU (the gateway's partner alias too).
const PARTNER_LU: &str = "GWPART";
/// The gateway node's LU.
const GATEWAY_LU: &str = "GWGATE";
/// The service TP on the partner.
const SERVICE: &str = "GWSVC";
/// The longest request line.
const MAX_LINE: u16 = 4096;

/// An error that may cross tasks.
type BoxError = Box<dyn Error + Send + Sync>;

/// Counters the report reads.
#[derive(Default, Debug)]
struct Counters {
    served: AtomicU64,
    /// Service conversations that ended in a conversation failure (the
    /// gateway cancelled them).
    broken: AtomicU64,
    /// Requests the gateway cancelled because their client left.
    cancelled: AtomicU64,
    /// `HOLD` requests the service has received (and sits on).
    holding: AtomicU64,
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut clients = 16usize;
    let mut requests = 200usize;
    let mut serve = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize, Box<dyn Error>> {
            let value = args.next().ok_or(format!("{name} needs a number"))?;
            Ok(value
                .parse()
                .map_err(|_| format!("{name}: not a number: {value}"))?)
        };
        match arg.as_str() {
            "--clients" => clients = number("--clients")?.max(1),
            "--requests" => requests = number("--requests")?.max(1),
            "--serve" => serve = true,
            other => {
                return Err(format!("unknown argument {other:?} (see the example's docs)").into())
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_io()
        .build()?;
    let counters = Arc::new(Counters::default());

    // The partner node and its service.
    let partner_engine = Node::new();
    partner_engine.define_tp(SERVICE);
    let partner = TcpNode::start(
        PARTNER_LU,
        partner_engine.clone(),
        Kind::Auto,
        NodeConfig::default(),
    )?;
    let partner_addr = partner.listen(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let partner_app = Arc::new(Appc::startup(WINAPPC_VERSION, &partner_engine)?.0);
    runtime.spawn(service(partner_app.clone(), counters.clone()));

    // The gateway node and its client listener.
    let gateway_engine = Node::new();
    let gateway = TcpNode::start(
        GATEWAY_LU,
        gateway_engine.clone(),
        Kind::Auto,
        NodeConfig::default(),
    )?;
    gateway.add_partner(PARTNER_LU, partner_addr);
    let gateway_app = Arc::new(Appc::startup(WINAPPC_VERSION, &gateway_engine)?.0);
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0"))?;
    let client_addr = listener.local_addr()?;
    runtime.spawn(accept(listener, gateway_app.clone(), counters.clone()));
    println!(
        "gateway: clients on {client_addr}, partner LU {PARTNER_LU} at {partner_addr} ({})",
        gateway.backend_name()
    );

    if serve {
        println!(
            "serving; send lines with e.g. `nc {}`; Ctrl-C ends",
            client_addr.to_string().replace(':', " ")
        );
        loop {
            std::thread::park();
        }
    }
    runtime.block_on(load(client_addr, clients, requests, &counters))
}

/// The partner's service: one task per attach.
async fn service(app: Arc<Appc>, counters: Arc<Counters>) {
    loop {
        let (tp, conv) = match Tp::receive_allocate(&app, SERVICE).await {
            Ok(attached) => attached,
            Err(error) => return eprintln!("service: {error}"),
        };
        let counters = counters.clone();
        tokio::spawn(async move {
            match answer(&conv, &counters).await {
                Ok(()) => counters.served.fetch_add(1, Ordering::Relaxed),
                Err(error) if is_conversation_failure(&error) => {
                    counters.broken.fetch_add(1, Ordering::Relaxed)
                }
                Err(error) => return eprintln!("service: {error}"),
            };
            let _ = tp.end(false).await;
        });
    }
}

/// One request: its line, then the direction; the reply, then the end.
async fn answer(conv: &Conversation, counters: &Counters) -> Result<(), VerbError> {
    let request = conv.receive(MAX_LINE).await?;
    conv.receive(MAX_LINE).await?; // AP_SEND: the direction is ours
    if request.data == b"HOLD" {
        // A slow answer: by the time it comes, the client has gone and the
        // gateway has cancelled the conversation.
        counters.holding.fetch_add(1, Ordering::Relaxed);
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_secs(1)))
            .await
            .expect("the sleep does not panic");
    }
    let reply = request.data.to_ascii_uppercase();
    conv.send_data_then(reply, values::SEND_DATA_DEALLOC_FLUSH)
        .await?;
    Ok(())
}

fn is_conversation_failure(error: &VerbError) -> bool {
    matches!(
        error.primary_rc,
        PrimaryRc::CONV_FAILURE_RETRY | PrimaryRc::CONV_FAILURE_NO_RETRY
    )
}

/// The gateway's client side: a task per connection.
async fn accept(listener: TcpListener, app: Arc<Appc>, counters: Arc<Counters>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (app, counters) = (app.clone(), counters.clone());
        tokio::spawn(async move {
            if let Err(error) = client(stream, app, counters).await {
                eprintln!("gateway: client: {error}");
            }
        });
    }
}

/// One client connection: one TP, one conversation per line.
async fn client(
    stream: TcpStream,
    app: Arc<Appc>,
    counters: Arc<Counters>,
) -> Result<(), BoxError> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let tp = Tp::start(&app, "", "GATEWAY").await?;
    let mut line = Vec::new();
    let result = loop {
        line.clear();
        if read.read_until(b'\n', &mut line).await? == 0 {
            break Ok(());
        }
        let request = line.strip_suffix(b"\n").unwrap_or(&line).to_vec();
        // The request races the client's departure: a client that leaves
        // (EOF) drops the request, which cancels its pending verb.
        let reply = match until_gone(request_reply(&tp, request), &mut read).await {
            Some(reply) => reply,
            None => {
                counters.cancelled.fetch_add(1, Ordering::Relaxed);
                break Ok(());
            }
        };
        match reply {
            Ok(mut reply) => {
                reply.push(b'\n');
                write.write_all(&reply).await?;
            }
            Err(error) => {
                write
                    .write_all(format!("ERROR {error}\n").as_bytes())
                    .await?
            }
        }
    };
    tp.end(true).await?;
    result
}

/// Runs `work` until it finishes (`Some`) or the client's side of the
/// connection ends (`None`, `work` dropped). Bytes the client sends
/// meanwhile are not read: a client sends its next line after its reply.
async fn until_gone<F: Future>(
    work: F,
    read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<F::Output> {
    let mut work = pin!(work);
    let mut probe = [0u8; 1];
    let gone = async {
        // Only EOF (or an error) ends the wait; a byte read here would be
        // the start of a pipelined line, which this protocol does not do.
        loop {
            match read.get_mut().peek(&mut probe).await {
                Ok(0) | Err(_) => return,
                Ok(_) => std::future::pending::<()>().await,
            }
        }
    };
    let mut gone = pin!(gone);
    poll_fn(|cx| {
        if let Poll::Ready(output) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        match gone.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// One request as one conversation: allocate, send with
/// PREPARE_TO_RECEIVE, and receive the reply until the partner
/// deallocates.
async fn request_reply(tp: &Tp, request: Vec<u8>) -> Result<Vec<u8>, VerbError> {
    let conv = tp
        .allocate(&Allocation::mapped(PARTNER_LU, SERVICE))
        .await?;
    conv.send_data_then(request, values::SEND_DATA_P_TO_R_FLUSH)
        .await?;
    let mut reply = Vec::new();
    loop {
        match conv.receive(MAX_LINE).await {
            Ok(received) => reply.extend_from_slice(&received.data),
            Err(end) if end.is_dealloc_normal() => return Ok(reply),
            Err(error) => return Err(error),
        }
    }
}

/// The built-in load: `clients` connections of `requests` lines each, and
/// one client that sends `HOLD` and leaves.
async fn load(
    addr: SocketAddr,
    clients: usize,
    requests: usize,
    counters: &Counters,
) -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (read, mut write) = stream.into_split();
                let mut read = BufReader::new(read);
                let mut reply = String::new();
                for r in 0..requests {
                    let line = format!("client {c} request {r}");
                    write.write_all(format!("{line}\n").as_bytes()).await?;
                    reply.clear();
                    read.read_line(&mut reply).await?;
                    if reply.trim_end() != line.to_uppercase() {
                        return Err(format!("request {line:?} got {reply:?}").into());
                    }
                }
                Ok::<_, BoxError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await?.map_err(|e| e.to_string())?;
    }
    let elapsed = started.elapsed();
    let total = clients * requests;
    println!(
        "{total} requests ({clients} clients x {requests}), each one conversation: {:.2} s, {:.0} requests/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );

    // A client that walks away from its request.
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(b"HOLD\n").await?;
    let broken_before = counters.broken.load(Ordering::Relaxed);
    // Leave once the service holds the request.
    let deadline = Instant::now() + Duration::from_secs(10);
    while counters.holding.load(Ordering::Relaxed) == 0 && Instant::now() < deadline {
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(5))).await?;
    }
    drop(stream);
    while (counters.cancelled.load(Ordering::Relaxed) == 0
        || counters.broken.load(Ordering::Relaxed) == broken_before)
        && Instant::now() < deadline
    {
        tokio::task::spawn_blocking(|| std::thread::sleep(Duration::from_millis(5))).await?;
    }
    let (cancelled, broken) = (
        counters.cancelled.load(Ordering::Relaxed),
        counters.broken.load(Ordering::Relaxed) - broken_before,
    );
    println!(
        "a client that left mid-request: {cancelled} request cancelled by the gateway, \
         {broken} service conversation failed at the partner (AP_CONV_FAILURE_RETRY)"
    );
    if cancelled != 1 || broken != 1 {
        return Err("the departed client's request was not cancelled".into());
    }
    Ok(())
}
