//! Cleanup of one application while its partner keeps issuing and
//! cancelling verbs on the same conversations from another thread.

use super::*;
use crate::connect;
use crate::support::*;
use appc::rc::PrimaryRc as P;
use appc::verbs::{Body, Conv, Verb};
use appc::Appc;
use appc_engine::{CancelOutcome, Event, Handle, Receiver, Target};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// One application's share of a concurrent load: random asynchronous verbs
/// on its ends of some conversations, with its own cancels, and the tally
/// of what it accepted, what completed and what its cancels answered.
struct Load {
    target: Target<Verb>,
    rx: Receiver<Verb>,
    posts: Vec<(Handle, Event)>,
    accepted: HashSet<u64>,
    completions: HashMap<u64, Vec<P>>,
    cancels: HashMap<u64, Vec<CancelOutcome>>,
    recent: VecDeque<Handle>,
    rng: Rng,
}

impl Load {
    fn new(app: &Appc, seed: u64) -> Self {
        let (tx, rx) = app.queue();
        Load {
            target: Target::Queue(tx),
            rx,
            posts: Vec::new(),
            accepted: HashSet::new(),
            completions: HashMap::new(),
            cancels: HashMap::new(),
            recent: VecDeque::new(),
            rng: Rng(seed),
        }
    }

    /// One step: a random verb on a random conversation, or a cancel of a
    /// recent task; then whatever completed.
    fn step(&mut self, app: &Appc, convs: &[Conv]) {
        if self.rng.below(6) == 0 && !self.recent.is_empty() {
            let handle = self.recent[self.rng.below(self.recent.len())];
            let outcome = app.cancel(handle);
            self.cancels
                .entry(u64::from(handle))
                .or_default()
                .push(outcome);
        } else {
            let conv = convs[self.rng.below(convs.len())];
            let verb = random_verb(&mut self.rng, conv);
            let handle = app.submit(verb, &self.target).expect("accepted");
            assert!(self.accepted.insert(u64::from(handle)));
            if self.recent.len() == 64 {
                self.recent.pop_front();
            }
            self.recent.push_back(handle);
        }
        self.pump(app);
    }

    fn pump(&mut self, app: &Appc) {
        while let Some(done) = self.rx.try_recv() {
            self.completed(done.handle, &done.verb);
        }
        let mut i = 0;
        while i < self.posts.len() {
            if self.posts[i].1.is_set() {
                let (post, _) = self.posts.swap_remove(i);
                let verb = app.collect(post).expect("a signalled post");
                self.completed(post, &verb);
            } else {
                i += 1;
            }
        }
    }

    fn completed(&mut self, handle: Handle, verb: &Verb) {
        self.completions
            .entry(u64::from(handle))
            .or_default()
            .push(verb.primary_rc);
        let post = match &verb.body {
            Body::ReceiveAndPost(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::PostOnReceipt(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::TestRtsAndPost(v) => v.post.map(|p| (p, v.handle.clone())),
            _ => None,
        };
        // A collected post carries the same `post` field as its initial
        // completion; only the initial one introduces the task.
        if let Some((post, event)) = post {
            if post != handle && self.accepted.insert(u64::from(post)) {
                self.posts.push((post, event));
            }
        }
    }

    /// After cleanup, with every completion in: checks the tally.
    fn check(mut self, app: &Appc) {
        self.pump(app);
        assert!(self.posts.is_empty(), "posts never signalled");
        for key in &self.accepted {
            let got = self.completions.get(key).map_or(0, Vec::len);
            assert_eq!(got, 1, "task {key:#x}: {:?}", self.completions.get(key));
        }
        for key in self.completions.keys() {
            assert!(
                self.accepted.contains(key),
                "completion of unknown {key:#x}"
            );
        }
        for (key, outcomes) in &self.cancels {
            let wins = outcomes
                .iter()
                .filter(|&&o| o == CancelOutcome::Cancelled)
                .count();
            assert!(wins <= 1 && !outcomes.contains(&CancelOutcome::Invalid));
            if wins == 1 {
                assert_eq!(self.completions[key][0], P::CANCELLED, "{key:#x}");
            }
        }
        assert_eq!(app.stats().live_tasks, 0);
    }
}

/// Cleanup of one application while its partner application keeps issuing
/// and cancelling verbs on the same conversations from another thread: no
/// deadlock, exactly one completion per task on both sides, every one of
/// the partner's conversations ends, and both engines drain.
#[test]
fn cleanup_while_the_partner_application_is_busy() {
    let (done_tx, done_rx) = mpsc::channel();
    let runner = thread::spawn(move || {
        for round in 0..20 {
            cleanup_under_load(round);
        }
        let _ = done_tx.send(());
    });
    match done_rx.recv_timeout(Duration::from_secs(120)) {
        Ok(()) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = runner.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("cleanup under load hung (deadlock?)"),
    }
}

fn cleanup_under_load(round: u64) {
    let (node, mut a, mut b) = setup();
    let (reqs, resps): (Vec<Conv>, Vec<Conv>) = (0..16)
        .map(|_| {
            let (req, resp) = connect(&a, &b, MAPPED, SYNC_CONFIRM);
            (req.conv, resp.conv)
        })
        .unzip();
    let cleaned = AtomicBool::new(false);
    let mut a_load = Load::new(&a, 0x5A5A + round);
    let b_load = thread::scope(|s| {
        let (b, resps, cleaned, node) = (&b, &resps, &cleaned, &node);
        let partner = s.spawn(move || {
            let mut load = Load::new(b, 0xA5A5 + round);
            // Until the other application is cleaned up and every
            // conversation has ended on this side too.
            let mut steps = 0u64;
            loop {
                load.step(b, resps);
                steps += 1;
                if steps % 64 == 0
                    && cleaned.load(Ordering::Acquire)
                    && format!("{node:?}").ends_with("conversations: 0 }")
                {
                    return load;
                }
            }
        });
        let until = Instant::now() + Duration::from_millis(30);
        while Instant::now() < until {
            a_load.step(&a, &reqs);
        }
        // In the middle of the partner's traffic.
        assert!(a.cleanup());
        cleaned.store(true, Ordering::Release);
        partner.join().expect("partner panicked")
    });
    a_load.check(&a);
    assert!(b.cleanup());
    b_load.check(&b);
}
