//! A [`Driver`]: conversation pairs driven with asynchronous verbs on one
//! thread, their completions checked and tallied as they come.

use super::*;
use crate::support::*;
use appc::rc::{PrimaryRc as P, SecondaryRc as S};
use appc::verbs::{self, values, Body, Conv, Verb};
use appc_engine::Handle;
use std::time::Instant;

impl<'a> Driver<'a> {
    pub(super) fn submit(&mut self, app: AppIx, verb: Verb, meta: Meta) {
        // Offer the canceller the verbs that may wait, and a sample of the
        // rest (stale handles by the time it gets to them).
        let may_wait = match &verb.body {
            Body::ReceiveAndWait(_) | Body::Confirm(_) | Body::ReceiveAllocate(_) => true,
            Body::SendData(v) => v.send_type == values::SEND_DATA_CONFIRM,
            Body::PrepareToReceive(v) => v.ptr_type == values::SYNC_LEVEL,
            Body::Deallocate(v) => v.dealloc_type == values::SYNC_LEVEL,
            _ => false,
        };
        let handle = self.apps[app]
            .submit(verb, &self.targets[app])
            .expect("the engine accepts every verb during the run");
        let share = may_wait || self.rng.below(8) == 0;
        self.accept(app, handle, meta, share);
        self.pairs[meta.pair].inflight.push_back((app, handle));
    }

    pub(super) fn accept(&mut self, app: AppIx, handle: Handle, meta: Meta, offer: bool) {
        self.tally.submitted += 1;
        Goals::count(&GOALS.submitted);
        assert!(self.tally.accepted.insert((app, u64::from(handle))));
        self.meta.insert((app, handle), meta);
        if offer {
            share(self.recent, app, handle);
        }
    }

    /// Handles every queued completion and every signalled post.
    pub(super) fn pump(&mut self) {
        for app in 0..2 {
            while let Some(done) = self.receivers[app].try_recv() {
                self.completed(app, done.handle, done.verb);
            }
        }
        let mut i = 0;
        while i < self.posts.len() {
            let (app, handle, ref event) = self.posts[i];
            if event.is_set() {
                self.posts.swap_remove(i);
                let verb = self.apps[app].collect(handle).expect("a signalled post");
                self.completed(app, handle, verb);
            } else {
                i += 1;
            }
        }
    }

    pub(super) fn completed(&mut self, app: AppIx, handle: Handle, verb: Verb) {
        let rc = verb.primary_rc;
        if rc == P::CONV_FAILURE_RETRY {
            Goals::count(&GOALS.retry_failures);
        }
        self.tally
            .completions
            .entry((app, u64::from(handle)))
            .or_default()
            .push(rc);
        let meta = self
            .meta
            .remove(&(app, handle))
            .expect("a completion for a task of this driver");
        let now = Instant::now();
        let pair = &mut self.pairs[meta.pair];
        pair.inflight.retain(|&(a, h)| (a, h) != (app, handle));
        pair.last_progress = now;
        match meta.kind {
            Kind::Allocate => {
                pair.allocating = false;
                let Body::Allocate(v) = &verb.body else {
                    unreachable!()
                };
                assert_eq!(rc, P::OK, "ALLOCATE: {verb:?}");
                let conv = Conv {
                    tp_id: pair.req_tp,
                    conv_id: v.conv_id,
                };
                pair.req = Some(conv);
                pair.req_gone = false;
                // Send the attach at once, so the responder always gets it.
                let flush = Verb::mapped(Body::Flush(conv));
                let meta = Meta {
                    kind: Kind::Conversation,
                    conv,
                    ..meta
                };
                self.submit(0, flush, meta);
            }
            Kind::ReceiveAllocate => {
                pair.receive_allocate = false;
                if rc == P::OK {
                    let Body::ReceiveAllocate(v) = &verb.body else {
                        unreachable!()
                    };
                    pair.resp = Some(Conv {
                        tp_id: v.tp_id,
                        conv_id: v.conv_id,
                    });
                    pair.resp_tp = Some(v.tp_id);
                    pair.resp_gone = false;
                } else {
                    assert_eq!(rc, P::CANCELLED, "RECEIVE_ALLOCATE: {verb:?}");
                }
            }
            Kind::TpEnded => {}
            Kind::Conversation | Kind::Post => {
                // A conversation id that is no longer valid: that end is gone.
                let current = if meta.side == 0 { pair.req } else { pair.resp };
                if rc == P::PARAMETER_CHECK
                    && matches!(verb.secondary_rc, S::BAD_CONV_ID | S::BAD_TP_ID)
                    && current == Some(meta.conv)
                {
                    if meta.side == 0 {
                        pair.req_gone = true;
                    } else {
                        pair.resp_gone = true;
                    }
                }
                let post = match &verb.body {
                    Body::ReceiveAndPost(v) if meta.kind == Kind::Conversation => {
                        v.post.map(|p| (p, v.sema.clone()))
                    }
                    Body::PostOnReceipt(v) if meta.kind == Kind::Conversation => {
                        v.post.map(|p| (p, v.sema.clone()))
                    }
                    Body::TestRtsAndPost(v) if meta.kind == Kind::Conversation => {
                        v.post.map(|p| (p, v.handle.clone()))
                    }
                    _ => None,
                };
                if let Some((post, event)) = post {
                    assert_eq!(rc, P::OK, "a post only comes with AP_OK");
                    let meta = Meta {
                        kind: Kind::Post,
                        ..meta
                    };
                    self.accept(app, post, meta, true);
                    self.pairs[meta.pair].inflight.push_back((app, post));
                    self.posts.push((app, post, event));
                }
            }
        }
    }

    /// Moves pair `i` on: (re)connects it, issues a random verb, or cancels
    /// a verb that has waited too long.
    pub(super) fn tick(&mut self, i: usize) {
        let now = Instant::now();
        let pair = &mut self.pairs[i];
        if let Some(&(app, handle)) = pair.inflight.front() {
            if now.duration_since(pair.last_progress) > STUCK {
                pair.last_progress = now;
                let outcome = self.apps[app].cancel(handle);
                self.tally
                    .cancels
                    .entry((app, u64::from(handle)))
                    .or_default()
                    .push(outcome);
                return;
            }
        }
        let req_dead = pair.req.is_none() || pair.req_gone;
        let resp_dead = pair.resp.is_none() || pair.resp_gone;
        if req_dead && resp_dead && pair.inflight.is_empty() {
            // Reconnect: end the old responder TP, then ALLOCATE + FLUSH and
            // a RECEIVE_ALLOCATE.
            pair.rounds += 1;
            pair.req = None;
            pair.resp = None;
            pair.allocating = true;
            pair.receive_allocate = true;
            let meta = Meta {
                pair: i,
                side: 1,
                kind: Kind::TpEnded,
                conv: Conv::default(),
            };
            let old = pair.resp_tp.take();
            let req_tp = pair.req_tp;
            let name = pair.name.clone();
            if let Some(tp_id) = old {
                let end = Verb::mapped(Body::TpEnded(verbs::TpEnded {
                    tp_id,
                    tp_type: values::HARD,
                }));
                self.submit(1, end, meta);
            }
            let ra = receive_allocate_verb(&name);
            self.submit(
                1,
                ra,
                Meta {
                    kind: Kind::ReceiveAllocate,
                    ..meta
                },
            );
            let allocate = Verb::mapped(Body::Allocate(verbs::Allocate {
                tp_id: req_tp,
                conv_type: values::MAPPED_CONVERSATION,
                sync_level: values::SYNC_CONFIRM,
                plu_alias: verbs::name("LU2"),
                mode_name: verbs::name("#INTER"),
                tp_name: verbs::name(&name),
                ..Default::default()
            }));
            self.submit(
                0,
                allocate,
                Meta {
                    side: 0,
                    kind: Kind::Allocate,
                    ..meta
                },
            );
            return;
        }
        if pair.req.is_none() && !pair.allocating {
            unreachable!("a requester end is always allocated or allocating");
        }
        if pair.resp.is_none() && !pair.receive_allocate {
            // The RECEIVE_ALLOCATE was cancelled: issue another; the attach
            // waits for it.
            pair.receive_allocate = true;
            let name = pair.name.clone();
            let meta = Meta {
                pair: i,
                side: 1,
                kind: Kind::ReceiveAllocate,
                conv: Conv::default(),
            };
            self.submit(1, receive_allocate_verb(&name), meta);
            return;
        }
        if pair.inflight.len() >= 4 {
            return;
        }
        if let (Some(tp_id), false, 0) = (pair.resp_tp, resp_dead, self.rng.below(500)) {
            // Now and then the responder TP ends (AP_HARD) under whatever
            // is going on; its verbs then find the TP gone.
            let end = Verb::mapped(Body::TpEnded(verbs::TpEnded {
                tp_id,
                tp_type: values::HARD,
            }));
            let meta = Meta {
                pair: i,
                side: 1,
                kind: Kind::TpEnded,
                conv: Conv::default(),
            };
            self.submit(1, end, meta);
            return;
        }
        let side = self.rng.below(2);
        let conv = if side == 0 { pair.req } else { pair.resp };
        let Some(conv) = conv else {
            return;
        };
        let verb = random_verb(&mut self.rng, conv);
        let meta = Meta {
            pair: i,
            side,
            kind: Kind::Conversation,
            conv,
        };
        self.submit(side, verb, meta);
    }
}
