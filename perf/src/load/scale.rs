//! `--mode scale`: a million RECEIVE_AND_WAITs outstanding over real LU 6.2
//! sessions, then one mass cancel.
//!
//! A gateway's cost is dominated by requests that wait (a RECEIVE_AND_WAIT
//! can sit for hours), so this mode measures what each waiting verb costs
//! and how fast a gateway can shed them all. The client allocates
//! `--outstanding` conversations (64 per TP), each on its own session (a
//! session carries one conversation at a time), spread over `--links` TCP
//! links: one per partner LU alias, all reaching one partner node, which
//! accepts every attach and never answers. Each conversation's
//! RECEIVE_AND_WAIT flushes its attach and hands the partner the
//! direction, so every verb really waits on the wire.
//!
//! Then every handle is cancelled, from two threads per core: each cancel
//! must return 0 with its `AP_CANCELLED` already on the port (its session's
//! UNBIND handed to the node, which sends it after), each handle must
//! complete exactly once, and the engine must be empty afterwards. Session ids are 16 bits, so one link carries at most
//! 65,535 sessions: a million needs at least 16 links.

use super::partner::{self, Partner};
use super::report::{rounded, to_json};
use super::sampler::{Limit, Sampler};
use super::verbs;
use crate::args::Config;
use crate::memory::budget_check;
use crate::sysinfo::proc_status_bytes;
use crate::units::{grouped, mib, per_item};
use crate::workload::{checks_text, verdict_text, CancelCounts, Check};
use appc_io::appc::rc::PrimaryRc;
use appc_io::appc::verbs::{Body, Conv, TpId};
use appc_io::appc::{Appc, Node};
use appc_io::backend::Kind;
use appc_io::engine::{Handle, Target, WINAPPC_VERSION};
use appc_io::node::{NodeConfig, TcpNode};
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// Sessions one link can carry (16-bit session ids, 0 unused).
const SESSIONS_PER_LINK: usize = 65_535;
/// Conversations per client TP. A TP's conversation list is searched when
/// one of its conversations ends, so one TP holding a million would make
/// the mass cancel quadratic; a gateway spreads them over many TPs anyway.
const CONVS_PER_TP: usize = 64;
/// How long the partner may take to receive every attach.
const ATTACH_LIMIT: Duration = Duration::from_secs(300);

/// What the scale run measured.
#[derive(Clone, Debug, Default)]
struct Scale {
    outstanding: usize,
    links: usize,
    setup: Duration,
    arrived: u64,
    live_tasks: usize,
    state_bytes: usize,
    table_bytes: usize,
    slot_overhead_bytes: usize,
    rss_before: Option<u64>,
    rss_held: Option<u64>,
    cancel_time: Duration,
    /// From the first cancel until the client node's driver held no
    /// conversation (every UNBIND sent).
    unbound_time: Duration,
    /// Conversations the client node's driver still held after that.
    conversations_left: u64,
    /// The partner node's conversations left once its sessions were
    /// unbound (none: each queued attach leaves as its session goes).
    partner_queued: u64,
    cancel: CancelCounts,
    received_cancelled: usize,
    received_wrong: usize,
    missing: usize,
    live_after: usize,
    peak_rss: Option<u64>,
}

/// Runs the scale mode and prints its report; true if every check held.
pub fn run(config: &Config) -> Result<bool, String> {
    let n = config.outstanding;
    let links = config.links;
    let per_link = n.div_ceil(links);
    if per_link > SESSIONS_PER_LINK {
        return Err(format!(
            "{} outstanding verbs need at least {} links (a link carries at most {SESSIONS_PER_LINK} sessions); use --links",
            grouped(n as u64),
            n.div_ceil(SESSIONS_PER_LINK)
        ));
    }
    // The node sizes each link's send queue for its sessions' control
    // bursts (`NodeConfig::backend_config`): 62,500 sessions a link BIND,
    // attach and, at the cancel-all, UNBIND at once.
    let node_config = NodeConfig {
        max_sessions_per_link: per_link,
        ..config.node_config()
    };
    let kind = Kind::from(config.backend);
    let listen = config.listen_addr(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    let partner = Partner::start(kind, listen, node_config.clone(), None)
        .map_err(|e| format!("cannot start the partner node: {e}"))?;
    let engine = Node::new();
    let node = TcpNode::start(super::CLIENT_LU, engine.clone(), kind, node_config)
        .map_err(|e| format!("cannot start the client node: {e}"))?;
    let aliases: Vec<String> = (0..links).map(|i| format!("ECHO{i:04}")).collect();
    for alias in &aliases {
        node.add_partner_as(alias, super::partner::LU, partner.addr());
    }
    let (mut app, _) =
        Appc::startup(WINAPPC_VERSION, &engine).map_err(|e| format!("WinAPPCStartup: {e:?}"))?;
    if !config.json {
        println!(
            "appc-load --mode scale: {} RECEIVE_AND_WAITs over {} sessions on {links} links ({}), then cancel all",
            grouped(n as u64),
            grouped(n as u64),
            node.backend_name()
        );
    }

    let mut scale = Scale {
        outstanding: n,
        links,
        rss_before: proc_status_bytes("VmRSS"),
        ..Scale::default()
    };
    let port = app.port();
    let mut tps = Vec::with_capacity(n.div_ceil(CONVS_PER_TP));
    let at_partner = Arc::new(AtomicU64::new(0));
    let sampler = Sampler::start(
        "hold",
        "held",
        Arc::clone(&at_partner),
        Limit::Requests(n as u64),
    );
    let start = Instant::now();
    let mut handles: Vec<Handle> = Vec::with_capacity(n);
    for i in 0..n {
        if i % CONVS_PER_TP == 0 {
            tps.push(verbs::start_tp(&app)?);
        }
        let conv = allocate(&app, tps[i / CONVS_PER_TP], &aliases[i % links])?;
        let receive = verbs::receive(conv, 64, Vec::new());
        let target = Target::Port {
            port: port.clone(),
            key: 0,
            token: i,
            bytes: 0,
        };
        let handle = app
            .submit(receive, &target)
            .map_err(|e| format!("RECEIVE_AND_WAIT {i} refused: {:?}", e.reason))?;
        handles.push(handle);
        if i % 4096 == 0 {
            at_partner.store(partner.stats().live().0, Ordering::Relaxed);
        }
    }
    // Every verb waits on the wire once the partner's node holds every
    // conversation: its session bound and its attach arrived.
    let deadline = Instant::now() + ATTACH_LIMIT;
    loop {
        let arrived = partner.stats().live().0;
        at_partner.store(arrived, Ordering::Relaxed);
        if arrived >= n as u64 || Instant::now() > deadline {
            break;
        }
        if let Some(early) = port.try_get() {
            return Err(format!(
                "a RECEIVE_AND_WAIT completed while holding: {:?}",
                early.verb.primary_rc
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
    scale.setup = start.elapsed();
    let _ = sampler.finish();
    scale.arrived = at_partner.load(Ordering::Relaxed);
    let held = app.stats();
    scale.live_tasks = held.live_tasks;
    scale.state_bytes = held.state_bytes;
    scale.table_bytes = held.table_bytes;
    scale.slot_overhead_bytes = held.slot_overhead_bytes;
    scale.rss_held = proc_status_bytes("VmRSS");

    let start = Instant::now();
    // Two cancelling threads per core, as a gateway's worker pool would
    // cancel. Each cancel posts its UNBIND to the client node, whose helper
    // thread runs them in batches beside the cancellers, on the same
    // cores; the reactors and the partner finish the UNBIND exchange after
    // the last cancel returns. (With one canceller per core the helper
    // takes a larger share of the CPU and the cancel-all is slower;
    // `docs/design.md` has the measurement.)
    let threads = 2 * thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = handles.len().div_ceil(threads).max(1);
    let counts: Vec<CancelCounts> = thread::scope(|s| {
        let workers: Vec<_> = handles
            .chunks(chunk)
            .map(|part| {
                let app = &app;
                s.spawn(move || {
                    let mut counts = CancelCounts::default();
                    for &handle in part {
                        counts.add(app.cancel(handle));
                    }
                    counts
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    scale.cancel_time = start.elapsed();
    // The client node has sent every UNBIND once its driver holds no
    // conversation.
    scale.conversations_left = super::settle(node.stats()).0;
    scale.unbound_time = start.elapsed();
    // The partner never took its ends with RECEIVE_ALLOCATE: each leaves
    // its TP name's queue as the UNBIND of its session fails it.
    scale.partner_queued = super::settle(partner.stats()).0;
    for c in counts {
        scale.cancel.cancelled += c.cancelled;
        scale.cancel.already += c.already;
        scale.cancel.invalid += c.invalid;
    }
    let mut seen = vec![false; n];
    while let Some(packet) = port.try_get() {
        let first = handles.get(packet.token) == Some(&packet.handle)
            && seen
                .get_mut(packet.token)
                .is_some_and(|seen| !std::mem::replace(seen, true));
        if first && packet.verb.primary_rc == PrimaryRc::CANCELLED {
            scale.received_cancelled += 1;
        } else {
            scale.received_wrong += 1;
        }
    }
    scale.missing = seen.iter().filter(|&&seen| !seen).count();
    for tp_id in tps {
        let _ = app.call(verbs::end_tp(tp_id));
    }
    scale.live_after = app.stats().live_tasks;
    scale.peak_rss = proc_status_bytes("VmHWM");
    app.cleanup();
    drop(node);
    let _ = partner.stop();

    let checks = checks(&scale);
    if config.json {
        println!("{}", json(&scale, &checks));
    } else {
        print!("{}", text(&scale, &checks));
    }
    Ok(checks.iter().all(|c| c.ok))
}

/// A blocking ALLOCATE of the partner's TP at `alias`.
fn allocate(app: &Appc, tp_id: TpId, alias: &str) -> Result<Conv, String> {
    let verb = app
        .call(verbs::allocate(tp_id, alias, partner::TP))
        .map_err(|e| format!("ALLOCATE refused: {:?}", e.reason))?;
    match verb.body {
        Body::Allocate(a) if verb.primary_rc == PrimaryRc::OK => Ok(Conv {
            tp_id,
            conv_id: a.conv_id,
        }),
        _ => Err(format!(
            "ALLOCATE failed: {:?} {:?}",
            verb.primary_rc, verb.secondary_rc
        )),
    }
}

fn checks(s: &Scale) -> Vec<Check> {
    let n = s.outstanding;
    vec![
        Check {
            claim: "every verb held on a bound session, its attach at the partner",
            ok: s.arrived >= n as u64 && s.live_tasks >= n,
            detail: format!(
                "{} conversations at the partner, {} tasks live",
                grouped(s.arrived),
                grouped(s.live_tasks as u64)
            ),
        },
        budget_check(
            n,
            s.state_bytes,
            s.slot_overhead_bytes,
            "engine state per outstanding verb within budget",
        ),
        Check {
            claim: "cancel-all within 0.5 s",
            ok: s.cancel_time <= Duration::from_millis(500),
            detail: per_item(s.cancel_time, n.max(1) as f64, "cancel"),
        },
        Check {
            claim: "every cancel returned 0",
            ok: s.cancel.cancelled == n as u64,
            detail: format!(
                "{} x 0, {} x WAPPCALREADY, {} x WAPPCINVALID",
                grouped(s.cancel.cancelled),
                grouped(s.cancel.already),
                grouped(s.cancel.invalid)
            ),
        },
        Check {
            claim: "each verb completed exactly once, with AP_CANCELLED",
            ok: s.received_cancelled == n && s.received_wrong == 0 && s.missing == 0,
            detail: format!(
                "{} AP_CANCELLED, {} wrong or repeated, {} missing",
                grouped(s.received_cancelled as u64),
                grouped(s.received_wrong as u64),
                grouped(s.missing as u64)
            ),
        },
        Check {
            claim: "no task left in the engine, no conversation left in either node",
            ok: s.live_after == 0 && s.conversations_left == 0 && s.partner_queued == 0,
            detail: format!(
                "live_tasks = {}, {} client and {} partner conversations left",
                s.live_after, s.conversations_left, s.partner_queued
            ),
        },
    ]
}

fn rss_per_verb(s: &Scale) -> Option<f64> {
    Some((s.rss_held?.saturating_sub(s.rss_before?)) as f64 / s.outstanding.max(1) as f64)
}

fn text(s: &Scale, checks: &[Check]) -> String {
    let n = s.outstanding.max(1) as f64;
    let mut out = format!(
        "  setup          {:.1} s for {} ALLOCATE + RECEIVE_AND_WAIT and their BINDs ({:.1} us per conversation)\n",
        s.setup.as_secs_f64(),
        grouped(s.outstanding as u64),
        s.setup.as_secs_f64() * 1e6 / n
    );
    out += &format!(
        "  engine state   {:.1} bytes per outstanding verb (Stats::state_bytes), {:.1} with the verb (table_bytes)\n",
        s.state_bytes as f64 / n,
        s.table_bytes as f64 / n
    );
    if let (Some(per), Some(peak)) = (rss_per_verb(s), s.peak_rss) {
        out += &format!(
            "  process RSS    {per:.0} bytes per held conversation: both nodes' sessions, conversation records and the verb; peak (VmHWM) {:.1} MiB\n",
            mib(peak)
        );
    }
    out += &format!(
        "  cancel all     {}\n",
        per_item(s.cancel_time, n, "cancel")
    );
    out += &format!(
        "  unbound        {:.1} ms after the first cancel, the client node holds no conversation (its UNBINDs go out after the cancels return)\n",
        s.unbound_time.as_secs_f64() * 1e3
    );
    out += &format!(
        "  partner        {} conversations left once its sessions were unbound (each queued attach leaves when its allocator's session goes)\n",
        grouped(s.partner_queued)
    );
    out += "  checks\n";
    out += &checks_text(checks);
    out += &verdict_text(checks.iter().all(|c| c.ok));
    out
}

/// The scale report's JSON, field for field.
#[derive(Debug, Serialize)]
struct ScaleJson<'a> {
    mode: &'static str,
    outstanding: usize,
    links: usize,
    setup_s: f64,
    engine_state_bytes_per_verb: f64,
    table_bytes_per_verb: f64,
    rss_bytes_per_conversation: Option<f64>,
    peak_rss_bytes: u64,
    cancel_all_s: f64,
    unbound_s: f64,
    node_conversations_left: u64,
    partner_queued: u64,
    cancels: &'a CancelCounts,
    completed_cancelled: usize,
    wrong: usize,
    missing: usize,
    live_after: usize,
    exactly_once: bool,
    all_checks_passed: bool,
}

fn json(s: &Scale, checks: &[Check]) -> String {
    let n = s.outstanding.max(1) as f64;
    to_json(&ScaleJson {
        mode: "scale",
        outstanding: s.outstanding,
        links: s.links,
        setup_s: rounded(s.setup.as_secs_f64(), 3),
        engine_state_bytes_per_verb: rounded(s.state_bytes as f64 / n, 1),
        table_bytes_per_verb: rounded(s.table_bytes as f64 / n, 1),
        rss_bytes_per_conversation: rss_per_verb(s).map(f64::round),
        peak_rss_bytes: s.peak_rss.unwrap_or(0),
        cancel_all_s: rounded(s.cancel_time.as_secs_f64(), 4),
        unbound_s: rounded(s.unbound_time.as_secs_f64(), 4),
        node_conversations_left: s.conversations_left,
        partner_queued: s.partner_queued,
        cancels: &s.cancel,
        completed_cancelled: s.received_cancelled,
        wrong: s.received_wrong,
        missing: s.missing,
        live_after: s.live_after,
        exactly_once: s.received_cancelled == s.outstanding
            && s.received_wrong == 0
            && s.missing == 0
            && s.live_after == 0
            && s.conversations_left == 0,
        all_checks_passed: checks.iter().all(|c| c.ok),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_hold_and_cancel_all_passes() {
        let config = Config {
            outstanding: 3_000,
            links: 2,
            ..Config::default()
        };
        assert_eq!(run(&config), Ok(true));
    }

    #[test]
    fn too_few_links_is_refused() {
        let config = Config {
            outstanding: 200_000,
            links: 2,
            ..Config::default()
        };
        let err = run(&config).expect_err("65,535 sessions per link at most");
        assert!(err.contains("at least 4 links"), "{err}");
    }
}
