//! The flat combiner (`appc_engine::combiner`) that session layers use to
//! run work from many threads one thread at a time: two threads push one
//! item each while a third is already running the queue.
//!
//! Asserted in every execution: each item runs exactly once; runs never
//! overlap; a thread's items run in its push order.
//!
//! Outcomes that must both occur: a pusher found the queue running and
//! left its item to the runner; a pusher found it idle (the runner had
//! finished) and ran its item itself.
//!
//! Model 2, order: one thread pushes two items (running the queue when its
//! push finds it idle) while another pushes one. Asserted in every
//! execution: all three run once, the first thread's in its push order.
//! Outcomes that must all occur: the other thread's item ran before, between
//! and after the first thread's two; the other thread ran a batch, and the
//! first thread ran every batch.

#![cfg(loom)]

use appc_engine::combiner::Combiner;
use appc_loom_tests::Outcomes;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

static PUSHER: Outcomes<2> = Outcomes::new(["left it to the runner", "ran it itself"]);

static ORDER: Outcomes<5> = Outcomes::new([
    "the other's item ran first",
    "the other's item ran between",
    "the other's item ran last",
    "the other thread ran a batch",
    "the first thread ran every batch",
]);

/// Runs a batch, checking that no other batch runs at the same time, and
/// counts each item.
fn run(combiner: &Combiner<usize>, inside: &AtomicBool, runs: &[AtomicUsize; 3]) {
    combiner.run(|batch| {
        assert!(!inside.swap(true, SeqCst), "two runners at once");
        for item in batch {
            runs[item].fetch_add(1, SeqCst);
        }
        inside.store(false, SeqCst);
    });
}

#[test]
fn pushers_race_the_runner() {
    loom::model(|| {
        let combiner = Arc::new(Combiner::new());
        let inside = Arc::new(AtomicBool::new(false));
        let runs = Arc::new([0, 0, 0].map(AtomicUsize::new));
        assert!(combiner.push([0]));
        let pushers: Vec<_> = [1, 2]
            .into_iter()
            .map(|item| {
                let (combiner, inside, runs) = (combiner.clone(), inside.clone(), runs.clone());
                thread::spawn(move || {
                    let runner = combiner.push([item]);
                    if runner {
                        run(&combiner, &inside, &runs);
                    }
                    runner
                })
            })
            .collect();
        run(&combiner, &inside, &runs);
        for pusher in pushers {
            PUSHER.record(if pusher.join().unwrap() {
                "ran it itself"
            } else {
                "left it to the runner"
            });
        }
        for (item, count) in runs.iter().enumerate() {
            assert_eq!(count.load(SeqCst), 1, "item {item} ran once");
        }
    });
    PUSHER.assert_all_seen();
}

#[test]
fn one_pushers_items_run_in_order() {
    loom::model(|| {
        let combiner = Arc::new(Combiner::new());
        let seen = Arc::new(loom::sync::Mutex::new(Vec::new()));
        let other = {
            let (combiner, seen) = (combiner.clone(), seen.clone());
            thread::spawn(move || {
                let runner = combiner.push([10]);
                if runner {
                    combiner.run(|batch| seen.lock().unwrap().extend(batch));
                }
                runner
            })
        };
        for item in [1, 2] {
            if combiner.push([item]) {
                combiner.run(|batch| seen.lock().unwrap().extend(batch));
            }
        }
        let other_ran = other.join().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        let mine: Vec<_> = seen.iter().filter(|&&i| i != 10).collect();
        assert_eq!(mine, [&1, &2], "push order kept");
        ORDER.record(match seen.iter().position(|&i| i == 10) {
            Some(0) => "the other's item ran first",
            Some(1) => "the other's item ran between",
            Some(2) => "the other's item ran last",
            _ => panic!("the other's item did not run: {seen:?}"),
        });
        ORDER.record(if other_ran {
            "the other thread ran a batch"
        } else {
            "the first thread ran every batch"
        });
    });
    ORDER.assert_all_seen();
}
