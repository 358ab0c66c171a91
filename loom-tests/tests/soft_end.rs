//! `TP_ENDED(AP_SOFT)` against the TP's last active verb (the
//! `appc_engine::activity` protocol): the soft end stores `ending` and loads the
//! active count, while the last verb decrements the count and loads
//! `ending`, with no lock between them.
//!
//! Asserted in every execution: the TP is ended exactly once, by one side
//! or the other; never by both, and never by neither (a lost end would leave
//! TP_ENDED waiting forever).
//!
//! Outcomes that must both occur: the soft end found no active verb and
//! ended the TP itself; the last verb finished after the end was requested
//! and ended it (through `on_idle`).

#![cfg(loom)]

use appc_engine::activity::Activity;
use appc_loom_tests::Outcomes;
use loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use loom::sync::Arc;
use loom::thread;

static WHO_ENDED: Outcomes<2> = Outcomes::new(["the soft end", "the last verb"]);

#[test]
fn soft_end_vs_last_active_verb() {
    loom::model(|| {
        let ended_by_verb = Arc::new(AtomicUsize::new(0));
        let activity = {
            let ended_by_verb = ended_by_verb.clone();
            Activity::new(move || {
                ended_by_verb.fetch_add(1, SeqCst);
            })
        };
        let active = Activity::begin(&activity);
        let verb = thread::spawn(move || drop(active));
        let ended_by_request = activity.request_end();
        verb.join().unwrap();
        let by_verb = ended_by_verb.load(SeqCst);
        assert_eq!(
            usize::from(ended_by_request) + by_verb,
            1,
            "ended exactly once"
        );
        WHO_ENDED.record(if by_verb == 1 {
            "the last verb"
        } else {
            "the soft end"
        });
    });
    WHO_ENDED.assert_all_seen();
}
