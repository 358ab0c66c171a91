//! Engine tags: every live engine holds its own, so a handle of one live
//! engine is never taken for another's, however many engines came and went;
//! at most 255 engines live at once. (Its own test binary, so that holding
//! every tag cannot starve tests running beside it.) Not run under Miri:
//! a thousand startups take minutes there, and the tag registry is a plain
//! mutex with no unsafe code to check.
#![cfg(not(miri))]

use appc_engine::{
    CancelOutcome, CompleteOutcome, Engine, Opcode, StartupError, Target, Verb, WAPPCSYSNOTREADY,
    WINAPPC_VERSION,
};

fn engine() -> Result<Engine, StartupError> {
    Engine::startup(WINAPPC_VERSION).map(|(engine, _)| engine)
}

#[test]
fn tags_of_live_engines_are_never_shared() {
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
