//! The stress run: drivers, a blocking driver and a canceller on several
//! threads until the goals are met, then the exactly-once checks over
//! everything they saw.

use super::*;
use crate::support::*;
use appc::rc::PrimaryRc as P;
use appc::verbs::{Body, Verb};
use appc::{Appc, Node};
use appc_engine::{CancelOutcome, Handle, Target, WAPPCCANCEL, WINAPPC_VERSION};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Many conversations on several threads run random asynchronous verbs
/// while a canceller cancels random recent handles (live and stale) and
/// random numbers. Afterwards, once everything is cleaned up and drained:
/// every accepted task (posts included) had exactly one completion; every
/// cancel that answered 0 matches an `AP_CANCELLED` completion, at most once
/// per task; no cancel of a real task answered `WAPPCINVALID`; no garbage
/// cancel succeeded; nothing is left live. A hang fails the test.
#[test]
fn stress_cancels_race_random_conversations() {
    let (done_tx, done_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        let summary = stress_run();
        let _ = done_tx.send(summary);
    });
    match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(summary) => {
            runner.join().unwrap();
            eprintln!("{summary}");
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The run panicked: report its panic.
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
            unreachable!("the runner ended without a summary");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the stress run hung (deadlock?)"),
    }
}

fn stress_run() -> String {
    let node = Node::new();
    let (mut a, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    let (mut b, _) = Appc::startup(WINAPPC_VERSION, &node).unwrap();
    for i in 0..PAIRS {
        node.define_tp(&format!("P{i}"));
    }
    for i in 0..BLOCKING_PAIRS {
        node.define_tp(&format!("B{i}"));
    }
    let recent = Mutex::new(VecDeque::with_capacity(RECENT));
    let stop = AtomicBool::new(false);
    let cap = Instant::now() + RUN_CAP;
    let running = || !GOALS.met() && Instant::now() < cap;

    let (drivers, canceller, blocking) = thread::scope(|s| {
        let drivers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (apps, recent) = ([&a, &b], &recent);
                s.spawn(move || {
                    let (tx_a, rx_a) = apps[0].queue();
                    let (tx_b, rx_b) = apps[1].queue();
                    let pairs = (t..PAIRS)
                        .step_by(THREADS)
                        .map(|i| PairState {
                            name: format!("P{i}"),
                            req_tp: Tp::started(apps[0], MAPPED).tp_id,
                            req: None,
                            resp: None,
                            resp_tp: None,
                            allocating: false,
                            receive_allocate: false,
                            req_gone: false,
                            resp_gone: false,
                            inflight: VecDeque::new(),
                            last_progress: Instant::now(),
                            rounds: 0,
                        })
                        .collect();
                    let mut driver = Driver {
                        apps,
                        targets: [Target::Queue(tx_a), Target::Queue(tx_b)],
                        receivers: [rx_a, rx_b],
                        recent,
                        meta: HashMap::new(),
                        posts: Vec::new(),
                        pairs,
                        tally: Tally::default(),
                        rng: Rng(0x9E37_79B9_7F4A_7C15 ^ ((t as u64 + 1) * 0x1000_0001)),
                    };
                    while running() {
                        driver.pump();
                        for i in 0..driver.pairs.len() {
                            driver.tick(i);
                        }
                        thread::yield_now();
                    }
                    // Let the last completions in, then hand over what is
                    // still outstanding (cleanup cancels it).
                    driver.pump();
                    driver
                })
            })
            .collect();
        let blocking = s.spawn(|| {
            let mut driver = Blocking {
                apps: [&a, &b],
                recent: &recent,
                pairs: (0..BLOCKING_PAIRS)
                    .map(|i| {
                        (
                            format!("B{i}"),
                            Tp::started(&a, MAPPED).tp_id,
                            None,
                            None,
                            None,
                        )
                    })
                    .collect(),
                tally: Tally::default(),
                hook_cancels: HashMap::new(),
                posts: Vec::new(),
                rng: Rng(0x2545_F491_4F6C_DD1D),
                calls: 0,
            };
            while running() {
                driver.step();
            }
            driver.collect_posts();
            let posts: Vec<_> = driver.posts.iter().map(|&(app, h, _)| (app, h)).collect();
            (driver.tally, driver.hook_cancels, posts, driver.calls)
        });
        let canceller = s.spawn(|| {
            let mut rng = Rng(0xD1B5_4A32_D192_ED03);
            let mut tally = Tally::default();
            let (mut garbage, mut hits) = (0usize, 0usize);
            while running() && !stop.load(Ordering::Relaxed) {
                let pick = {
                    let recent = recent.lock().unwrap();
                    // Half the time one of the newest handles, which are
                    // the likeliest to be still pending.
                    let len = recent.len();
                    let from = if rng.below(2) == 0 {
                        len.saturating_sub(8)
                    } else {
                        0
                    };
                    (len > 0).then(|| recent[from + rng.below(len - from)])
                };
                if rng.below(8) == 0 {
                    // Garbage: random numbers, and a real handle given to
                    // the other application.
                    let random = rng.next();
                    for app in [&a, &b] {
                        assert_ne!(app.cancel(random), CancelOutcome::Cancelled);
                    }
                    if let Some((app, handle)) = pick {
                        let other = [&a, &b][1 - app];
                        assert_eq!(other.cancel(handle), CancelOutcome::Invalid);
                    }
                    garbage += 1;
                } else if let Some((app, handle)) = pick {
                    let outcome = [&a, &b][app].cancel(handle);
                    if outcome == CancelOutcome::Cancelled {
                        hits += 1;
                        Goals::count(&GOALS.cancel_wins);
                    }
                    tally
                        .cancels
                        .entry((app, handle))
                        .or_default()
                        .push(outcome);
                }
                if rng.below(16) == 0 {
                    thread::sleep(Duration::from_micros(20));
                }
            }
            (tally, garbage, hits)
        });
        let drivers: Vec<Driver<'_>> = drivers
            .into_iter()
            .map(|d| d.join().expect("driver panicked"))
            .collect();
        stop.store(true, Ordering::Relaxed);
        let canceller = canceller.join().expect("canceller panicked");
        let blocking = blocking.join().expect("blocking driver panicked");
        // Detach the drivers from the borrowed applications.
        let drivers: Vec<_> = drivers
            .into_iter()
            .map(|d| (d.receivers, d.meta, d.posts, d.tally, rounds(&d.pairs)))
            .collect();
        (drivers, canceller, blocking)
    });

    // Everything still outstanding is cancelled by the cleanups.
    assert!(a.cleanup());
    assert!(b.cleanup());
    let apps = [&a, &b];
    let mut total = Tally::default();
    let mut outstanding_at_end = 0;
    let mut reconnections = 0;
    for (mut receivers, mut meta, posts, tally, rounds) in drivers {
        outstanding_at_end += meta.len();
        reconnections += rounds;
        total.merge(tally);
        let mut record = |app: AppIx, handle: Handle, verb: &Verb, total: &mut Tally| {
            total
                .completions
                .entry((app, u64::from(handle)))
                .or_default()
                .push(verb.primary_rc);
            meta.remove(&(app, handle))
                .expect("a completion for a task the driver issued");
        };
        let mut posts: Vec<_> = posts.into_iter().map(|(app, h, _)| (app, h)).collect();
        for (app, receiver) in receivers.iter_mut().enumerate() {
            while let Some(done) = receiver.try_recv() {
                record(app, done.handle, &done.verb, &mut total);
                // A posting verb completed at the very end: its post too.
                let post = match &done.verb.body {
                    Body::ReceiveAndPost(v) => v.post,
                    Body::PostOnReceipt(v) => v.post,
                    Body::TestRtsAndPost(v) => v.post,
                    _ => None,
                };
                if let Some(post) = post {
                    total.accepted.insert((app, u64::from(post)));
                    posts.push((app, post));
                }
            }
        }
        for (app, post) in posts {
            let verb = apps[app].collect(post).expect("every post is finished");
            total
                .completions
                .entry((app, u64::from(post)))
                .or_default()
                .push(verb.primary_rc);
            meta.remove(&(app, post));
        }
        assert!(
            meta.is_empty(),
            "tasks without a completion: {}",
            meta.len()
        );
    }
    let (cancel_tally, garbage, hits) = canceller;
    total.merge(cancel_tally);
    let (blocking_tally, hook_cancels, blocking_posts, blocking_calls) = blocking;
    total.merge(blocking_tally);
    for (app, post) in blocking_posts {
        let verb = apps[app].collect(post).expect("every post is finished");
        total
            .completions
            .entry((app, u64::from(post)))
            .or_default()
            .push(verb.primary_rc);
    }
    // A blocking call cancelled from its hook returned WAPPCCANCEL, unless
    // the canceller's cancel won first (then AP_CANCELLED); never both.
    let mut hook_wins = 0;
    for (key, &answer) in &hook_cancels {
        let async_wins = total.cancels.get(key).map_or(0, |outcomes| {
            outcomes
                .iter()
                .filter(|&&o| o == CancelOutcome::Cancelled)
                .count()
        });
        let rc = total.completions[key][0];
        if answer == 0 {
            hook_wins += 1;
            assert_eq!(async_wins, 0, "{key:?} cancelled by both");
            assert_eq!(rc, P(WAPPCCANCEL as u16), "{key:?}");
        } else {
            assert_ne!(rc, P(WAPPCCANCEL as u16), "{key:?}");
        }
    }
    assert!(
        hook_wins >= Goals::HOOK_WINS,
        "{hook_wins} blocking calls cancelled from their hook in {RUN_CAP:?}"
    );

    // Exactly one completion per accepted task, and none for anything else.
    for key in &total.accepted {
        let got = total.completions.get(key).map_or(0, Vec::len);
        assert_eq!(got, 1, "task {key:?}: {:?}", total.completions.get(key));
    }
    for key in total.completions.keys() {
        assert!(
            total.accepted.contains(key),
            "completion of unknown {key:?}"
        );
    }
    // Every cancel answer agrees with what was delivered.
    let mut cancelled = 0;
    for (key, outcomes) in &total.cancels {
        assert!(total.accepted.contains(key), "cancel of unknown {key:?}");
        let wins = outcomes
            .iter()
            .filter(|&&o| o == CancelOutcome::Cancelled)
            .count();
        assert!(wins <= 1, "task {key:?} cancelled twice: {outcomes:?}");
        assert!(
            !outcomes.contains(&CancelOutcome::Invalid),
            "a real task was WAPPCINVALID: {key:?}"
        );
        let rc = total.completions[key][0];
        if wins == 1 {
            cancelled += 1;
            assert_eq!(
                rc,
                P::CANCELLED,
                "task {key:?} cancelled but completed {rc:?}"
            );
        }
    }
    assert_eq!(a.stats().live_tasks, 0);
    assert_eq!(b.stats().live_tasks, 0);
    assert!(
        total.submitted >= Goals::SUBMITTED,
        "{} tasks in {RUN_CAP:?}",
        total.submitted
    );
    assert!(
        hits >= Goals::CANCEL_WINS && cancelled >= hits,
        "{hits} cancels won in {RUN_CAP:?}"
    );
    let count = |rc: P| {
        total
            .completions
            .values()
            .filter(|rcs| rcs[0] == rc)
            .count()
    };
    let failures = count(P::CONV_FAILURE_RETRY);
    assert!(
        failures >= Goals::RETRY_FAILURES,
        "{failures} partners saw a cancel's session failure in {RUN_CAP:?}"
    );
    format!(
        "stress: {} tasks, {} cancels ({cancelled} won), {garbage} garbage cancels, \
         {reconnections} conversations, {outstanding_at_end} outstanding at the end; \
         completions: {} AP_OK, {} AP_CANCELLED, {failures} AP_CONV_FAILURE_RETRY",
        total.submitted,
        total.cancels.values().map(Vec::len).sum::<usize>(),
        count(P::OK),
        count(P::CANCELLED),
    ) + &format!("; {blocking_calls} blocking calls, {hook_wins} cancelled from the hook")
}

fn rounds(pairs: &[PairState]) -> usize {
    pairs.iter().map(|p| p.rounds).sum()
}
