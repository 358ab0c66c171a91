//! The task table: startup versions, the three cancel outcomes, handles
//! good, bad and forged, capacity and reservations, cleanup, the slots of
//! exited threads, live tasks, stats and error texts.

use crate::{engine, verb};
use appc_engine::{
    CancelOutcome, CollectError, CompleteOutcome, Engine, Event, Reason, StartupError, Target,
    Verb, AP_CANCELLED, AP_OK, WAPPCALREADY, WAPPCINVALID, WAPPCVERNOTSUPPORTED, WINAPPC_VERSION,
};
use std::sync::Arc;

#[test]
fn startup_versions() {
    let (_, data) = Engine::<Verb>::startup(0x0001).unwrap();
    assert_eq!(data.version, 0x0001);
    assert!(data.description.len() <= 127);
    // 1.5 (minor in the high byte) is granted as 1.0.
    assert_eq!(Engine::<Verb>::startup(0x0501).unwrap().1.version, 0x0001);
    for below in [0x0000, 0x0100, 0xFF00] {
        let err = Engine::<Verb>::startup(below).unwrap_err();
        assert_eq!((err, err.code()), (StartupError::Invalid, WAPPCINVALID));
    }
    for above in [0x0002, 0x0102, 0x00FF] {
        let err = Engine::<Verb>::startup(above).unwrap_err();
        assert_eq!(err.code(), WAPPCVERNOTSUPPORTED);
    }
}

#[test]
fn cancel_outcomes_pending_completed_consumed_reused() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);

    // Pending: cancelled, and the AP_CANCELLED completion is already posted.
    let h = engine.submit(verb(1), &target).unwrap();
    assert_eq!(engine.cancel(h), CancelOutcome::Cancelled);
    assert_eq!(
        engine.cancel(h).code(),
        WAPPCALREADY,
        "cancel of a cancelled task"
    );
    let done = rx.try_recv().expect("posted before cancel returned");
    assert_eq!((done.handle, done.verb.primary_rc), (h, AP_CANCELLED));
    // A completion arriving after the cancel is dropped.
    assert_eq!(engine.complete(h, |v| v.tag = 99), CompleteOutcome::Late);
    assert!(rx.try_recv().is_none());

    // Completed, not yet consumed: ALREADY (Q108071: not INVALID).
    let h2 = engine.submit(verb(2), &target).unwrap();
    assert_eq!(engine.complete(h2, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(engine.cancel(h2).code(), WAPPCALREADY);
    // Consumed: still ALREADY.
    assert_eq!(rx.try_recv().unwrap().verb.primary_rc, AP_OK);
    assert_eq!(engine.cancel(h2).code(), WAPPCALREADY);

    // Slot reused many times: the old handles stay ALREADY and never touch
    // the new task.
    let mut old = vec![h, h2];
    for i in 0..if cfg!(miri) { 50 } else { 1000 } {
        let live = engine.submit(verb(i), &target).unwrap();
        for stale in &old {
            assert_eq!(engine.cancel(*stale), CancelOutcome::AlreadyCompleted);
            assert_eq!(
                engine.complete(*stale, |v| v.tag = 666),
                CompleteOutcome::Late
            );
        }
        assert_eq!(engine.complete(live, |_| {}), CompleteOutcome::Delivered);
        let done = rx.try_recv().unwrap();
        assert_eq!((done.handle, done.verb.tag), (live, i));
        old.push(live);
        old.truncate(50);
    }
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn invalid_handles() {
    let engine = engine();
    let other = self::engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let live = engine.submit(verb(1), &target).unwrap();

    assert_eq!(engine.cancel(0u64).code(), WAPPCINVALID);
    // A never-issued generation of a live slot, and of a fresh slot.
    let next_generation = live.raw() + (1 << 32);
    assert_eq!(engine.cancel(next_generation).code(), WAPPCINVALID);
    assert_eq!(engine.cancel(live.raw() + 1).code(), WAPPCINVALID);
    // Out-of-range index / shard bits and bits outside every field.
    assert_eq!(engine.cancel(live.raw() | 0xFFFFF).code(), WAPPCINVALID);
    assert_eq!(engine.cancel(u64::MAX).code(), WAPPCINVALID);
    // The same value in another engine is another engine's handle.
    assert_eq!(other.cancel(live).code(), WAPPCINVALID);
    let (other_tx, _other_rx) = other.queue();
    let foreign = other.submit(verb(2), &Target::Queue(other_tx)).unwrap();
    assert_eq!(engine.cancel(foreign).code(), WAPPCINVALID);
    assert_eq!(engine.complete(foreign, |_| {}), CompleteOutcome::Invalid);

    // None of that disturbed the live task.
    assert_eq!(engine.complete(live, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(rx.try_recv().unwrap().handle, live);
}

#[test]
fn any_u64_gets_a_defined_answer() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let live: Vec<_> = (0..64)
        .map(|i| engine.submit(verb(i), &target).unwrap())
        .collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut hits = 0;
    for _ in 0..if cfg!(miri) { 2_000 } else { 200_000 } {
        // xorshift: deterministic, covers every bit pattern class.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if engine.cancel(x) != CancelOutcome::Invalid {
            hits += 1;
        }
    }
    assert_eq!(hits, 0, "a random u64 hit a task");
    for h in &live {
        assert_eq!(engine.complete(*h, |_| {}), CompleteOutcome::Delivered);
    }
    assert_eq!(std::iter::from_fn(|| rx.try_recv()).count(), live.len());
}

#[test]
fn full_table_rejects_with_a_reason_and_the_verb() {
    let (engine, _) = Engine::<Verb>::startup_with_capacity(WINAPPC_VERSION, 32).unwrap();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let mut accepted = Vec::new();
    let rejected = loop {
        match engine.submit(verb(accepted.len() as u64), &target) {
            Ok(h) => accepted.push(h),
            Err(rejected) => break rejected,
        }
    };
    assert_eq!(accepted.len(), 32);
    assert_eq!(rejected.reason, Reason::Full);
    assert_eq!(rejected.verb.tag, 32, "the verb comes back");
    // Nothing else was disturbed, and freed slots are reusable.
    assert_eq!(
        engine.complete(accepted[0], |_| {}),
        CompleteOutcome::Delivered
    );
    assert_eq!(rx.try_recv().unwrap().handle, accepted[0]);
    assert!(engine.submit(verb(99), &target).is_ok());
}

#[test]
fn a_reservation_is_a_submit_in_two_steps() {
    let (engine, _) = Engine::<Verb>::startup_with_capacity(WINAPPC_VERSION, 32).unwrap();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    // Reservations dropped unfilled give their slots back: a full table's
    // worth of them, twice over, leaves every slot free.
    for _ in 0..2 {
        let held: Vec<_> = (0..32).map(|_| engine.reserve(&target).unwrap()).collect();
        assert_eq!(engine.reserve(&target).unwrap_err(), Reason::Full);
        drop(held);
    }
    assert_eq!(engine.stats().live_tasks, 0);
    let handle = engine.reserve(&target).unwrap().fill(verb(5));
    assert_eq!(engine.stats().live_tasks, 1);
    assert_eq!(engine.cancel(handle), CancelOutcome::Cancelled);
    let done = rx.try_recv().unwrap();
    assert_eq!((done.handle, done.verb.tag), (handle, 5));
    assert_eq!(done.verb.primary_rc, AP_CANCELLED);
    let other = self::engine();
    let (other_tx, _other_rx) = other.queue();
    assert_eq!(
        engine.reserve(&Target::Queue(other_tx)).unwrap_err(),
        Reason::ForeignTarget
    );
}

#[test]
fn cleanup_cancels_everything_pending_and_refuses_new_work() {
    let mut engine = engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let pending: Vec<_> = (0..10)
        .map(|i| engine.submit(verb(i), &target).unwrap())
        .collect();
    assert_eq!(
        engine.complete(pending[0], |_| {}),
        CompleteOutcome::Delivered
    );
    assert!(engine.cleanup());
    assert!(!engine.cleanup(), "second cleanup");
    let err = engine.submit(verb(100), &target).unwrap_err();
    assert_eq!((err.reason, err.verb.tag), (Reason::CleanedUp, 100));
    let mut got: Vec<_> = std::iter::from_fn(|| rx.try_recv()).collect();
    got.sort_by_key(|c| c.verb.tag);
    assert_eq!(got.len(), 10, "exactly one completion each");
    assert_eq!(got[0].verb.primary_rc, AP_OK);
    assert!(got[1..].iter().all(|c| c.verb.primary_rc == AP_CANCELLED));
    // Startup -> Cleanup -> Startup works (KB Q236797).
    drop(engine);
    let again = self::engine();
    let (tx, mut rx) = again.queue();
    let h = again.submit(verb(1), &Target::Queue(tx)).unwrap();
    assert_eq!(again.complete(h, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(rx.try_recv().unwrap().handle, h);
}

#[test]
fn slot_overhead_is_within_budget() {
    let stats = engine().stats();
    assert!(stats.slot_overhead_bytes <= 64, "{stats:?}");
}

#[test]
fn an_exited_threads_free_slots_are_not_lost() {
    // Two slots per shard. A thread that submits and consumes its own tasks
    // keeps the freed slots on its shard's private free list; when it exits,
    // they must return to the shared list, or the table shrinks for good.
    let engine = Arc::new(
        Engine::<Verb>::startup_with_capacity(WINAPPC_VERSION, 32)
            .unwrap()
            .0,
    );
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    // A plain `join` (not a scoped thread's) returns only after the thread's
    // thread-local destructors ran.
    let worker = Arc::clone(&engine);
    std::thread::spawn(move || {
        let (tx, mut rx) = worker.queue();
        let target = Target::Queue(tx);
        for i in 0..4 {
            let h = worker.submit(verb(i), &target).unwrap();
            assert_eq!(worker.complete(h, |_| {}), CompleteOutcome::Delivered);
            assert_eq!(rx.try_recv().unwrap().handle, h);
        }
    })
    .join()
    .unwrap();
    let held: Vec<_> = std::iter::from_fn(|| engine.submit(verb(0), &target).ok()).collect();
    assert_eq!(
        held.len(),
        32,
        "slots stranded on a dead thread's free list"
    );
    for h in held {
        assert_eq!(engine.cancel(h), CancelOutcome::Cancelled);
    }
    assert_eq!(std::iter::from_fn(|| rx.try_recv()).count(), 32);
}

#[test]
fn an_exited_threads_slots_return_though_it_used_other_engines_after() {
    // As above, but the thread goes on to own a shard in other engines
    // after this one: each registration prunes the thread's exit hooks of
    // engines that are gone, and must keep this live engine's.
    let engine = Arc::new(
        Engine::<Verb>::startup_with_capacity(WINAPPC_VERSION, 32)
            .unwrap()
            .0,
    );
    let worker = Arc::clone(&engine);
    std::thread::spawn(move || {
        let (tx, mut rx) = worker.queue();
        let target = Target::Queue(tx);
        for i in 0..4 {
            let h = worker.submit(verb(i), &target).unwrap();
            assert_eq!(worker.complete(h, |_| {}), CompleteOutcome::Delivered);
            assert_eq!(rx.try_recv().unwrap().handle, h);
        }
        for _ in 0..2 {
            let other = Engine::<Verb>::startup(WINAPPC_VERSION).unwrap().0;
            let (tx, mut rx) = other.queue();
            let h = other.submit(verb(9), &Target::Queue(tx)).unwrap();
            assert_eq!(other.cancel(h), CancelOutcome::Cancelled);
            assert_eq!(rx.try_recv().unwrap().handle, h);
        }
    })
    .join()
    .unwrap();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let held: Vec<_> = std::iter::from_fn(|| engine.submit(verb(0), &target).ok()).collect();
    assert_eq!(
        held.len(),
        32,
        "slots stranded on a dead thread's free list"
    );
    for h in held {
        assert_eq!(engine.cancel(h), CancelOutcome::Cancelled);
    }
    assert_eq!(std::iter::from_fn(|| rx.try_recv()).count(), 32);
}

#[test]
fn live_tasks_counts_accepted_tasks_not_yet_consumed() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    assert_eq!(engine.stats().live_tasks, 0);
    let handles: Vec<_> = (0..3)
        .map(|i| engine.submit(verb(i), &target).unwrap())
        .collect();
    assert_eq!(engine.stats().live_tasks, 3);
    assert_eq!(
        engine.complete(handles[0], |_| {}),
        CompleteOutcome::Delivered
    );
    assert_eq!(engine.stats().live_tasks, 3, "delivered, not yet consumed");
    assert_eq!(rx.try_recv().unwrap().handle, handles[0]);
    assert_eq!(engine.stats().live_tasks, 2);
}

#[test]
fn collect_tells_forged_stale_and_collected_handles_apart() {
    let engine = engine();
    let event = Event::new(true);
    let target = Target::Event(event.clone());
    let first = engine.submit(verb(1), &target).unwrap();
    // The same slot at a generation never issued: invalid, not collected.
    let forged = appc_engine::Handle::from_raw(first.raw() + (1 << 32)).unwrap();
    assert_eq!(engine.collect(forged).unwrap_err(), CollectError::Invalid);
    assert_eq!(engine.complete(first, |_| {}), CompleteOutcome::Delivered);
    engine.collect(first).unwrap();
    // The slot is reused (a thread's freed slot is its next) by a pending
    // event task: the old handle is collected, not "not ready".
    let second = engine.submit(verb(2), &target).unwrap();
    assert_eq!(
        second.raw() & 0xFFFF_FFFF,
        first.raw() & 0xFFFF_FFFF,
        "same slot"
    );
    assert_eq!(engine.collect(first).unwrap_err(), CollectError::Collected);
    assert_eq!(engine.collect(second).unwrap_err(), CollectError::NotReady);
    assert_eq!(engine.cancel(second), CancelOutcome::Cancelled);
}

#[test]
fn dropping_the_engine_cancels_what_is_pending() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let h = engine.submit(verb(4), &Target::Queue(tx)).unwrap();
    drop(engine);
    let done = rx.try_recv().expect("cancelled and posted by the drop");
    assert_eq!((done.handle, done.verb.primary_rc), (h, AP_CANCELLED));
}

#[test]
fn stats_count_allocated_slots_in_bytes() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let handles: Vec<_> = (0..1000)
        .map(|i| engine.submit(verb(i), &target).unwrap())
        .collect();
    let s = engine.stats();
    assert_eq!(s.live_tasks, 1000);
    assert!(s.slot_bytes > s.slot_overhead_bytes && s.slot_overhead_bytes > 0);
    assert_eq!(s.table_bytes % s.slot_bytes, 0);
    assert_eq!(s.state_bytes % s.slot_overhead_bytes, 0);
    let slots = s.table_bytes / s.slot_bytes;
    assert_eq!(s.state_bytes / s.slot_overhead_bytes, slots);
    assert!(slots >= 1000, "{slots} slots for 1000 tasks");
    for h in handles {
        assert_eq!(engine.cancel(h), CancelOutcome::Cancelled);
    }
    assert_eq!(std::iter::from_fn(|| rx.try_recv()).count(), 1000);
}

#[test]
fn errors_and_the_engine_describe_themselves() {
    let texts = [
        StartupError::Invalid,
        StartupError::VersionNotSupported,
        StartupError::TooManyEngines,
    ]
    .map(|e| e.to_string());
    assert_eq!(
        texts,
        [
            "requested version is below 1.0 (WAPPCINVALID)",
            "requested major version is not supported (WAPPCVERNOTSUPPORTED)",
            "no engine tag is free in this process (WAPPCSYSNOTREADY)",
        ]
    );
    let mut engine = engine();
    assert!(format!("{engine:?}").starts_with("Engine { tag: "));
    assert!(engine.cleanup());
    let (tx, _rx) = engine.queue();
    let rejected = engine.submit(verb(1), &Target::Queue(tx)).unwrap_err();
    assert_eq!(
        rejected.to_string(),
        "submission refused: the engine was cleaned up"
    );
    assert_eq!(
        format!("{rejected:?}"),
        "Rejected { reason: CleanedUp, .. }"
    );
}
