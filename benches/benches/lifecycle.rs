//! The engine against its peers (see `appc_benches::peers` for what each
//! peer is and why it is a fair match). Every group reports time per request
//! (`Throughput::Elements(1)`), and every contestant asserts the outcome it
//! claims to measure (a cancel that should win did win, and so on).
//!
//! - `lifecycle_1thread`: submit → complete → consume on one thread. The table
//!   peers consume by handle, like `engine/event_collect`; `engine/queue` also
//!   posts to and pops from its completion queue.
//! - `lifecycle_cross_thread`: submit on A, complete on B, consume on A, in
//!   batches of `BATCH`. The hand-off A → B is the same bounded crossbeam
//!   channel for every contestant but tokio's spawn, whose scheduler is the
//!   hand-off; the table peers get a second channel B → A for delivery.
//! - `cancel_wins`: a cancel on a pending request, alone in the timed section
//!   (submitting before it and consuming after it are not timed).
//! - `cancel_loses`: a cancel on a request that already completed:
//!   `*/completed` with the result not yet consumed (the engine's completion
//!   still queued, the tokio task's output not yet joined), `*/consumed` with
//!   the handle stale.
//!
//! Quick run: `cargo bench -p appc-benches -- --warm-up-time 0.5 --measurement-time 2`.

use appc_benches::harness::{timed_batches, timed_op, Worker, BATCH};
use appc_benches::peers::{
    tokio_oneshot, tokio_spawn, DashMapTable, Finish, MutexSlab, ShardedSlab, Table,
};
use appc_engine::{
    CancelOutcome, CompleteOutcome, Engine, Event, Handle, Opcode, Target, Verb, AP_CANCELLED,
    AP_OK, WINAPPC_VERSION,
};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn verb() -> Verb {
    Verb::new(Opcode::ReceiveAndWait, 0)
}

fn engine() -> Engine {
    Engine::startup(WINAPPC_VERSION).expect("startup").0
}

fn complete(engine: &Engine, handle: Handle) {
    let outcome = engine.complete(handle, |v| v.primary_rc = AP_OK);
    assert_eq!(outcome, CompleteOutcome::Delivered);
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group
}

fn lifecycle_1thread(c: &mut Criterion) {
    let mut g = group(c, "lifecycle_1thread");
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let queue = Target::Queue(tx);
    g.bench_function("engine/queue", |b| {
        b.iter(|| {
            complete(&engine, engine.submit(verb(), &queue).unwrap());
            rx.try_recv().expect("completed above")
        })
    });
    let event = Event::new(false);
    let signalled = Target::Event(event.clone());
    g.bench_function("engine/event_collect", |b| {
        b.iter(|| {
            let handle = engine.submit(verb(), &signalled).unwrap();
            complete(&engine, handle);
            assert!(event.try_wait());
            engine.collect(handle).expect("completed above")
        })
    });
    table_1thread(&mut g, "mutex_slab", MutexSlab::default());
    table_1thread(&mut g, "dashmap", DashMapTable::default());
    table_1thread(&mut g, "sharded_slab", ShardedSlab::default());
    g.bench_function("tokio_oneshot", |b| {
        b.iter(|| tokio_oneshot::lifecycle(verb()))
    });
    let rt = tokio_spawn::current_thread();
    g.bench_function("tokio_spawn", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(tokio_spawn::lifecycle(verb()).await);
                }
                start.elapsed()
            })
        })
    });
    g.finish();
}

fn table_1thread<T: Table>(g: &mut Group<'_>, name: &str, table: T) {
    g.bench_function(name, |b| {
        b.iter(|| {
            let handle = table.submit(verb());
            assert_eq!(table.complete(handle), Finish::Won);
            table.consume(handle).expect("completed above")
        })
    });
}

fn lifecycle_cross_thread(c: &mut Criterion) {
    let mut g = group(c, "lifecycle_cross_thread");
    engine_cross_thread(&mut g);
    table_cross_thread(&mut g, "mutex_slab", MutexSlab::default());
    table_cross_thread(&mut g, "dashmap", DashMapTable::default());
    table_cross_thread(&mut g, "sharded_slab", ShardedSlab::default());
    oneshot_cross_thread(&mut g);
    spawn_cross_thread(&mut g);
    g.finish();
}

fn engine_cross_thread(g: &mut Group<'_>) {
    let engine = Arc::new(engine());
    let (tx, mut rx) = engine.queue();
    let queue = Target::Queue(tx);
    let completer = {
        let engine = engine.clone();
        Worker::spawn(move |handle| complete(&engine, handle))
    };
    g.bench_function("engine/queue", |b| {
        b.iter_custom(|iters| {
            timed_batches(iters, |n| {
                for _ in 0..n {
                    completer.send(engine.submit(verb(), &queue).unwrap());
                }
                for _ in 0..n {
                    black_box(rx.recv());
                }
            })
        })
    });
}

/// The sender half travels to B with the verb; the channel brings it back.
fn oneshot_cross_thread(g: &mut Group<'_>) {
    let completer = Worker::spawn(|(tx, verb)| tokio_oneshot::complete(tx, verb));
    let mut waiting = Vec::with_capacity(BATCH);
    g.bench_function("tokio_oneshot", |b| {
        b.iter_custom(|iters| {
            timed_batches(iters, |n| {
                for _ in 0..n {
                    let (tx, rx) = oneshot::channel();
                    completer.send((tx, verb()));
                    waiting.push(rx);
                }
                for rx in waiting.drain(..) {
                    black_box(rx.blocking_recv().expect("completed"));
                }
            })
        })
    });
}

/// The runtime's one worker is thread B; its scheduler is the hand-off.
fn spawn_cross_thread(g: &mut Group<'_>) {
    let rt = tokio_spawn::one_worker();
    let mut tasks = Vec::with_capacity(BATCH);
    g.bench_function("tokio_spawn", |b| {
        b.iter_custom(|iters| {
            timed_batches(iters, |n| {
                rt.block_on(async {
                    tasks.extend((0..n).map(|_| tokio_spawn::spawn_completion(verb())));
                    for task in tasks.drain(..) {
                        black_box(task.await.expect("completed"));
                    }
                })
            })
        })
    });
}

/// B completes and hands the handle back to A over a second channel: the
/// delivery path the engine's queue target provides built in.
fn table_cross_thread<T: Table>(g: &mut Group<'_>, name: &str, table: T) {
    let table = Arc::new(table);
    let (done_tx, done_rx) = crossbeam_channel::bounded(BATCH);
    let completer = {
        let table = table.clone();
        Worker::spawn(move |handle| {
            assert_eq!(table.complete(handle), Finish::Won);
            done_tx.send(handle).expect("the requester is waiting");
        })
    };
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed_batches(iters, |n| {
                for _ in 0..n {
                    completer.send(table.submit(verb()));
                }
                for _ in 0..n {
                    let handle = done_rx.recv().expect("the completer is alive");
                    black_box(table.consume(handle).expect("completed"));
                }
            })
        })
    });
}

/// What a request has been through before the timed cancel.
#[derive(Clone, Copy, PartialEq)]
enum Before {
    /// Nothing: it is pending, so the cancel wins.
    Pending,
    /// Completed, the result not yet consumed (the engine's completion sits
    /// in the queue).
    Completed,
    /// Completed and consumed: the handle is stale.
    Consumed,
}

impl Before {
    /// The `primary_rc` the consumer finds, if the result is still there.
    fn rc_left(self) -> Option<u16> {
        match self {
            Before::Pending => Some(AP_CANCELLED),
            Before::Completed => Some(AP_OK),
            Before::Consumed => None,
        }
    }
}

fn cancel_wins(c: &mut Criterion) {
    let mut g = group(c, "cancel_wins");
    engine_cancel(&mut g, "engine", Before::Pending);
    tables_cancel(&mut g, "", Before::Pending);
    let rt = tokio_spawn::current_thread();
    g.bench_function("tokio_abort", |b| {
        b.iter_custom(|iters| {
            timed_op(
                iters,
                |tasks, n| tokio_spawn::spawn_parked(&rt, n, tasks),
                |(_, abort)| abort.abort(),
                |tasks| {
                    let n = tasks.len();
                    assert_eq!(tokio_spawn::reap(&rt, tasks), n);
                },
            )
        })
    });
    g.finish();
}

fn cancel_loses(c: &mut Criterion) {
    let mut g = group(c, "cancel_loses");
    for (suffix, before) in [
        ("/completed", Before::Completed),
        ("/consumed", Before::Consumed),
    ] {
        engine_cancel(&mut g, &format!("engine{suffix}"), before);
        tables_cancel(&mut g, suffix, before);
    }
    let rt = tokio_spawn::current_thread();
    g.bench_function("tokio_abort/completed", |b| {
        b.iter_custom(|iters| {
            timed_op(
                iters,
                |tasks, n| tokio_spawn::spawn_finished(&rt, n, &verb(), tasks),
                |(_, abort)| abort.abort(),
                |tasks| assert_eq!(tokio_spawn::reap(&rt, tasks), 0),
            )
        })
    });
    g.finish();
}

fn engine_cancel(g: &mut Group<'_>, name: &str, before: Before) {
    let engine = engine();
    let (tx, rx) = engine.queue();
    let (queue, rx) = (Target::Queue(tx), RefCell::new(rx));
    let expected = match before {
        Before::Pending => CancelOutcome::Cancelled,
        Before::Completed | Before::Consumed => CancelOutcome::AlreadyCompleted,
    };
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed_op(
                iters,
                |handles, n| {
                    for _ in 0..n {
                        let handle = engine.submit(verb(), &queue).unwrap();
                        if before != Before::Pending {
                            complete(&engine, handle);
                        }
                        if before == Before::Consumed {
                            rx.borrow_mut().try_recv().expect("completed above");
                        }
                        handles.push(handle);
                    }
                },
                |&handle| assert_eq!(engine.cancel(handle), expected),
                |handles| {
                    if let Some(rc) = before.rc_left() {
                        let mut rx = rx.borrow_mut();
                        for _ in handles.iter() {
                            let done = rx.try_recv().expect("one completion per task");
                            assert_eq!(done.verb.primary_rc, rc);
                        }
                    }
                    handles.clear();
                },
            )
        })
    });
}

/// Each table peer, fresh, named with `suffix`.
fn tables_cancel(g: &mut Group<'_>, suffix: &str, before: Before) {
    let name = |peer: &str| format!("{peer}{suffix}");
    table_cancel(g, &name("mutex_slab"), MutexSlab::default(), before);
    table_cancel(g, &name("dashmap"), DashMapTable::default(), before);
    table_cancel(g, &name("sharded_slab"), ShardedSlab::default(), before);
}

fn table_cancel<T: Table>(g: &mut Group<'_>, name: &str, table: T, before: Before) {
    // Losing is `Already`, or `Invalid` where a table cannot tell a stale
    // handle from a foreign one (sharded-slab).
    let wins = before == Before::Pending;
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed_op(
                iters,
                |handles, n| {
                    for _ in 0..n {
                        let handle = table.submit(verb());
                        if before != Before::Pending {
                            assert_eq!(table.complete(handle), Finish::Won);
                        }
                        if before == Before::Consumed {
                            table.consume(handle).expect("completed above");
                        }
                        handles.push(handle);
                    }
                },
                |&handle| assert_eq!(table.cancel(handle) == Finish::Won, wins),
                |handles| {
                    for handle in handles.drain(..) {
                        let rc = table.consume(handle).map(|verb| verb.primary_rc);
                        assert_eq!(rc, before.rc_left());
                    }
                },
            )
        })
    });
}

criterion_group!(
    benches,
    lifecycle_1thread,
    lifecycle_cross_thread,
    cancel_wins,
    cancel_loses
);
criterion_main!(benches);
