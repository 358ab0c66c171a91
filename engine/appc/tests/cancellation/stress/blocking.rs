//! A [`Blocking`] driver: pairs driven through the blocking entry point,
//! each call's hook offering its handle to the canceller and cancelling
//! the call itself once it has waited a little.

use super::*;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S};
use appc::verbs::{self, values, Body, Conv, Verb};
use appc_engine::{WAPPCCANCEL, WAPPCINVALID};

impl Blocking<'_> {
    /// One blocking call; the finished verb.
    pub(super) fn call(&mut self, app: AppIx, verb: Verb) -> Verb {
        self.calls += 1;
        let patience = self.rng.below(3);
        let (mut seen, mut hooks, mut answer) = (None, 0, None);
        let engine = self.apps[app];
        let recent = self.recent;
        let verb = engine
            .call_with_hook(verb, |handle| {
                if seen.is_none() {
                    seen = Some(handle);
                    share(recent, app, handle);
                }
                hooks += 1;
                if hooks > patience && answer.is_none() {
                    assert!(engine.is_blocking());
                    answer = Some(engine.cancel_blocking_call());
                }
                true
            })
            .expect("accepted");
        if let Some(handle) = seen {
            let key = (app, u64::from(handle));
            self.tally.submitted += 1;
            self.tally.accepted.insert(key);
            self.tally
                .completions
                .entry(key)
                .or_default()
                .push(verb.primary_rc);
            if let Some(answer) = answer {
                assert!(answer == 0 || answer == WAPPCINVALID, "{answer:#x}");
                if answer == 0 {
                    Goals::count(&GOALS.hook_wins);
                }
                self.hook_cancels.insert(key, answer);
            }
        }
        let post = match &verb.body {
            Body::ReceiveAndPost(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::PostOnReceipt(v) => v.post.map(|p| (p, v.sema.clone())),
            Body::TestRtsAndPost(v) => v.post.map(|p| (p, v.handle.clone())),
            _ => None,
        };
        if let Some((post, event)) = post {
            self.tally.submitted += 1;
            self.tally.accepted.insert((app, u64::from(post)));
            share(self.recent, app, post);
            self.posts.push((app, post, event));
        }
        verb
    }

    pub(super) fn collect_posts(&mut self) {
        let mut i = 0;
        while i < self.posts.len() {
            let (app, post, ref event) = self.posts[i];
            if event.is_set() {
                self.posts.swap_remove(i);
                let verb = self.apps[app].collect(post).expect("a signalled post");
                self.tally
                    .completions
                    .entry((app, u64::from(post)))
                    .or_default()
                    .push(verb.primary_rc);
            } else {
                i += 1;
            }
        }
    }

    pub(super) fn step(&mut self) {
        self.collect_posts();
        let i = self.rng.below(self.pairs.len());
        let (name, req_tp, req, resp, resp_tp) = self.pairs[i].clone();
        match (req, resp) {
            (None, None) => {
                if let Some(tp_id) = resp_tp {
                    let end = Verb::mapped(Body::TpEnded(verbs::TpEnded {
                        tp_id,
                        tp_type: values::HARD,
                    }));
                    self.call(1, end);
                    self.pairs[i].4 = None;
                }
                let allocate = self.call(
                    0,
                    Verb::mapped(Body::Allocate(verbs::Allocate {
                        tp_id: req_tp,
                        conv_type: values::MAPPED_CONVERSATION,
                        sync_level: values::SYNC_CONFIRM,
                        tp_name: verbs::name(&name),
                        ..Default::default()
                    })),
                );
                let Body::Allocate(v) = &allocate.body else {
                    unreachable!()
                };
                assert_eq!(allocate.primary_rc, P::OK);
                let conv = Conv {
                    tp_id: req_tp,
                    conv_id: v.conv_id,
                };
                let flush = self.call(0, Verb::mapped(Body::Flush(conv)));
                assert_eq!(flush.primary_rc, P::OK, "{flush:?}");
                self.pairs[i].2 = Some(conv);
                self.pairs[i].3 = None;
                self.receive_allocate(i);
            }
            (_, None) => self.receive_allocate(i),
            _ => {
                let side = self.rng.below(2);
                let Some(conv) = (if side == 0 { req } else { resp }) else {
                    return;
                };
                let verb = random_verb(&mut self.rng, conv);
                let verb = self.call(side, verb);
                if verb.primary_rc == P::PARAMETER_CHECK
                    && matches!(verb.secondary_rc, S::BAD_CONV_ID | S::BAD_TP_ID)
                {
                    if side == 0 {
                        self.pairs[i].2 = None;
                    } else {
                        self.pairs[i].3 = None;
                    }
                }
            }
        }
    }

    /// RECEIVE_ALLOCATE for pair `i`'s name: its attach is queued, so it
    /// completes at once unless a cancel gets it first (then retried later).
    pub(super) fn receive_allocate(&mut self, i: usize) {
        let verb = self.call(1, receive_allocate_verb(&self.pairs[i].0.clone()));
        if verb.primary_rc == P::OK {
            let Body::ReceiveAllocate(v) = &verb.body else {
                unreachable!()
            };
            self.pairs[i].3 = Some(Conv {
                tp_id: v.tp_id,
                conv_id: v.conv_id,
            });
            self.pairs[i].4 = Some(v.tp_id);
        } else {
            assert!(
                verb.primary_rc == P::CANCELLED || verb.primary_rc == P(WAPPCCANCEL as u16),
                "{verb:?}"
            );
        }
    }
}
