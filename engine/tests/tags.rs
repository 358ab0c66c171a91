//! Engine tags: every live engine holds its own, so a handle of one live
//! engine is never taken for another's, however many engines came and went;
//! at most 255 engines live at once; and a handle kept from an engine that
//! is gone never touches the task of a later engine that holds its tag.
//! (Its own test binary, so that holding every tag cannot starve tests
//! running beside it; its tests take turns for the same reason.) Not run
//! under Miri: a thousand startups take minutes there, and the tag registry
//! is a plain mutex with no unsafe code to check.
#![cfg(not(miri))]

use appc_engine::{
    CancelOutcome, CompleteOutcome, Engine, Handle, Opcode, StartupError, Target, Verb,
    WAPPCSYSNOTREADY, WINAPPC_VERSION,
};
use std::sync::{Mutex, MutexGuard};

fn engine() -> Result<Engine, StartupError> {
    Engine::startup(WINAPPC_VERSION).map(|(engine, _)| engine)
}

/// One test at a time: one holds every tag.
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn tags_of_live_engines_are_never_shared() {
    let _turn = turn();
    let first = engine().unwrap();
    let (tx, mut rx) = first.queue();
    let handle = first
        .submit(Verb::new(Opcode::ReceiveAndWait, 1), &Target::Queue(tx))
        .unwrap();
    // Far more startups than there are tags, each engine issuing a handle at
    // the same slot and generation as `handle`.
    for _ in 0..600 {
        let other = engine().unwrap();
        assert_eq!(other.cancel(handle), CancelOutcome::Invalid);
        assert_eq!(other.complete(handle, |_| {}), CompleteOutcome::Invalid);
        let (tx, _rx) = other.queue();
        let theirs = other
            .submit(Verb::new(Opcode::ReceiveAndWait, 2), &Target::Queue(tx))
            .unwrap();
        assert_ne!(theirs, handle, "two live engines issued the same handle");
    }
    assert_eq!(first.complete(handle, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(rx.try_recv().unwrap().handle, handle);

    // 255 live engines hold every tag; the 256th startup is refused, and a
    // tag comes back when an engine goes.
    let mut live = vec![first];
    while live.len() < 255 {
        live.push(engine().unwrap());
    }
    let refused = engine().unwrap_err();
    assert_eq!(
        (refused, refused.code()),
        (StartupError::TooManyEngines, WAPPCSYSNOTREADY)
    );
    live.pop();
    assert!(engine().is_ok());
}

/// Startup → Cleanup, 600 times (each of the 255 tags comes back twice or
/// more): every engine issues tasks at the slots a fresh engine hands out
/// first, where the handles of the engines before it point too, and every
/// handle of every gone engine is cancelled and completed against it. None
/// may reach a live task; each engine's own tasks are still pending after.
#[test]
fn handles_of_gone_engines_never_touch_a_later_engines_task() {
    let _turn = turn();
    let mut gone: Vec<Handle> = Vec::new();
    for cycle in 0..600 {
        let engine = engine().unwrap();
        let (tx, mut rx) = engine.queue();
        let mine: Vec<Handle> = (0..4)
            .map(|tag| {
                engine
                    .submit(
                        Verb::new(Opcode::ReceiveAndWait, tag),
                        &Target::Queue(tx.clone()),
                    )
                    .unwrap()
            })
            .collect();
        for &old in &gone {
            let cancelled = engine.cancel(old);
            assert_ne!(
                cancelled,
                CancelOutcome::Cancelled,
                "cycle {cycle}: {old} of a gone engine cancelled a live task"
            );
            assert_ne!(engine.complete(old, |_| {}), CompleteOutcome::Delivered);
        }
        assert!(rx.try_recv().is_none(), "cycle {cycle}: a task finished");
        for &handle in &mine {
            assert_eq!(engine.cancel(handle), CancelOutcome::Cancelled);
        }
        // Consumed, so the next tasks reuse these slots at later generations.
        for _ in &mine {
            rx.try_recv().unwrap();
        }
        let reused = engine
            .submit(Verb::new(Opcode::ReceiveAndWait, 9), &Target::Queue(tx))
            .unwrap();
        gone.extend(mine);
        gone.push(reused);
    }
}
