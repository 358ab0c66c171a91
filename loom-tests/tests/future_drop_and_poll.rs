//! The `Future` target: a `TaskFuture` against the transport's completion.
//!
//! Model 1, drop vs complete: one thread drops the unresolved future (which
//! abandons the task: cancels it if pending, takes it if ready, or hands it to
//! a finisher in the middle of delivery) while the main thread completes it.
//! Asserted in every execution: the completion is `Delivered` or `Late`
//! (never `Invalid`); whatever the order, the slot is freed once the threads
//! are joined (`live_tasks == 0`, and loom finds no leaked `Arc`);
//! the handle is stale afterwards (`AlreadyCompleted` / `Late`). Outcomes that
//! must all occur: the drop cancelled the task (`Late`); the drop started after
//! `complete` returned (delivered, then dropped); the drop started while
//! `complete` was running and the completion still won. And each of the
//! drop's three paths, as taken (not inferred from where it started): it
//! cancelled the pending task and freed it; it took the ready task and freed
//! it; it found the task being delivered and left it to the finisher. A
//! `Late` completion must coincide with the first.
//!
//! Model 2, poll vs complete: one thread drives the future with
//! `loom::future::block_on` while the main thread completes the task. The
//! future resolves exactly once, with the transport's verb; no wake-up is
//! lost (loom reports a deadlock otherwise); the slot is freed. Outcomes that
//! must all occur: ready at the first poll; pending, then woken by the
//! completer; pending because the waker cell was already closed, then woken by
//! the future itself (told apart by a waker wrapper that notes the waking
//! thread, and checked against the path taken: the registration found the
//! cell closed exactly when the future woke itself).
//!
//! When a poll finds the waker cell already closed (the completer is between
//! closing it and publishing `READY`), the future wakes itself and returns
//! `Pending`: the executor re-polls at once, a spin on the completer's next
//! step. Loom does not schedule fairly, so a spin needs a yield to let the
//! completer run; the engine has none on that path, so the model's executor
//! yields after each `Pending` poll, as a real executor thread would
//! eventually be preempted.
//!
//! The completer is the main thread and the future's side is spawned, so that
//! loom moves the future's reads of the state word before each step of the
//! completion; where the drop started is read from a `std` flag the completer
//! sets (see the crate docs' conventions).

#![cfg(loom)]

use appc_engine::loom_paths::Path;
use appc_engine::{CancelOutcome, CompleteOutcome, Opcode, Verb, AP_OK};
use appc_loom_tests::{start, Outcomes, Took};
use loom::thread::{self, ThreadId};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::task::{Context, Wake, Waker};

static DROP_VS_COMPLETE: Outcomes<6> = Outcomes::new([
    "cancelled by the drop",
    "delivered, then dropped",
    "dropped during a delivery",
    "the drop cancelled the pending task",
    "the drop took the ready task",
    "the drop left the task to its finisher",
]);

static POLL_VS_COMPLETE: Outcomes<3> = Outcomes::new([
    "ready at the first poll",
    "woken by the completer",
    "woke itself: the cell was closed mid-completion",
]);

/// Set when the poller's waker is woken on the poller's own thread.
static SELF_WOKEN: AtomicBool = AtomicBool::new(false);

/// Wraps the executor's waker to tell who woke it.
struct WhoWakes {
    inner: Waker,
    poller: ThreadId,
}

impl Wake for WhoWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        if thread::current().id() == self.poller {
            SELF_WOKEN.store(true, Relaxed);
        }
        self.inner.wake_by_ref();
    }
}

/// Set by the completer once `complete` has returned.
static COMPLETE_RETURNED: AtomicBool = AtomicBool::new(false);

const TRANSPORT_RC: u32 = 0x99;

#[test]
fn drop_vs_complete() {
    loom::model(|| {
        COMPLETE_RETURNED.store(false, Relaxed);
        let cancelled = Took::start(Path::AbandonCancelled);
        let took_ready = Took::start(Path::AbandonTookReady);
        let left = Took::start(Path::AbandonLeftToFinisher);
        let engine = start();
        let future = engine
            .submit_future(Verb::new(Opcode::ReceiveAndWait, 8))
            .unwrap();
        let handle = future.handle();

        let dropper = thread::spawn(move || {
            let after_complete = COMPLETE_RETURNED.load(Relaxed);
            drop(future);
            after_complete
        });
        let completed = engine.complete(handle, |verb| verb.secondary_rc = TRANSPORT_RC);
        COMPLETE_RETURNED.store(true, Relaxed);
        let after_complete = dropper.join().unwrap();

        DROP_VS_COMPLETE.record(match (completed, after_complete) {
            (CompleteOutcome::Late, false) => "cancelled by the drop",
            (CompleteOutcome::Delivered, true) => "delivered, then dropped",
            (CompleteOutcome::Delivered, false) => "dropped during a delivery",
            other => panic!("impossible outcome {other:?}"),
        });
        let paths = [
            (cancelled.taken(), "the drop cancelled the pending task"),
            (took_ready.taken(), "the drop took the ready task"),
            (left.taken(), "the drop left the task to its finisher"),
        ];
        let taken: Vec<&str> = paths.iter().filter(|(t, _)| *t).map(|(_, n)| *n).collect();
        assert_eq!(taken.len(), 1, "the drop took one path: {taken:?}");
        DROP_VS_COMPLETE.record(taken[0]);
        assert_eq!(
            completed == CompleteOutcome::Late,
            cancelled.taken(),
            "a Late completion must mean the drop cancelled the task"
        );
        assert_eq!(
            engine.stats().live_tasks,
            0,
            "the abandoned task's slot leaked"
        );
        assert_eq!(engine.cancel(handle), CancelOutcome::AlreadyCompleted);
        assert_eq!(
            engine.complete(handle, |_| unreachable!()),
            CompleteOutcome::Late
        );
    });
    DROP_VS_COMPLETE.assert_all_seen();
}

#[test]
fn poll_vs_complete() {
    loom::model(|| {
        SELF_WOKEN.store(false, Relaxed);
        let found_closed = Took::start(Path::RegistrationFoundClosed);
        let engine = start();
        let future = engine
            .submit_future(Verb::new(Opcode::ReceiveAndWait, 8))
            .unwrap();
        let handle = future.handle();

        let poller = thread::spawn(move || {
            let mut future = pin!(future);
            let mut polls = 0;
            let verb = loom::future::block_on(poll_fn(|cx| {
                polls += 1;
                let waker = Waker::from(std::sync::Arc::new(WhoWakes {
                    inner: cx.waker().clone(),
                    poller: thread::current().id(),
                }));
                let poll = future.as_mut().poll(&mut Context::from_waker(&waker));
                if poll.is_pending() {
                    // An executor thread gives up the CPU between polls; see
                    // the module docs.
                    thread::yield_now();
                }
                poll
            }));
            (verb, polls)
        });
        let completed = engine.complete(handle, |verb| {
            verb.primary_rc = AP_OK;
            verb.secondary_rc = TRANSPORT_RC;
        });
        let (verb, polls) = poller.join().unwrap();

        assert_eq!(completed, CompleteOutcome::Delivered);
        assert_eq!(
            (verb.opcode, verb.tag, verb.primary_rc, verb.secondary_rc),
            (Opcode::ReceiveAndWait, 8, AP_OK, TRANSPORT_RC)
        );
        assert_eq!(
            found_closed.taken(),
            SELF_WOKEN.load(Relaxed),
            "the future woke itself exactly when its registration found the cell closed"
        );
        POLL_VS_COMPLETE.record(match (polls, SELF_WOKEN.load(Relaxed)) {
            (1, _) => "ready at the first poll",
            (_, false) => "woken by the completer",
            (_, true) => "woke itself: the cell was closed mid-completion",
        });
        assert_eq!(engine.stats().live_tasks, 0);
        assert_eq!(engine.cancel(handle), CancelOutcome::AlreadyCompleted);
    });
    POLL_VS_COMPLETE.assert_all_seen();
}
