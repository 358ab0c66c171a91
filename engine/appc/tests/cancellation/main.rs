//! Cancellation and cleanup of APPC verbs (`docs/api.md#cancel`, `docs/api.md#known-problems-in-his-that-the-tests-guard-against`):
//! `WinAPPCCancelAsyncRequest` purges the verb and closes the session
//! (no flush, no wait for confirmation; the partner sees
//! `AP_CONV_FAILURE_RETRY`), withdraws a waiting RECEIVE_ALLOCATE, and posts
//! the `AP_CANCELLED` completion before it returns;
//! `WinAPPCCancelBlockingCall` / `WinAPPCIsBlocking`; `WinAPPCCleanup` ends
//! every TP of the application; and a stress run of cancels racing
//! completions (exactly one completion per task, KB Q153523).
//!
//! One test binary, by topic:
//!
//! * `conversation_verbs`: `WinAPPCCancelAsyncRequest` on conversation verbs;
//! * `tp_verbs`: on TP verbs, on completed verbs and on bad handles;
//! * `blocking`: `WinAPPCCancelBlockingCall` and `WinAPPCIsBlocking`;
//! * `cleanup`: `WinAPPCCleanup`;
//! * `attaches`: attaches whose conversation ends before a
//!   RECEIVE_ALLOCATE takes them;
//! * `stress`: cancels racing completions, and cleanup under load.
//!
//! The helpers every topic shares are here.
#![cfg(not(loom))]

#[path = "../support/mod.rs"]
mod support;

mod attaches;
mod blocking;
mod cleanup;
mod conversation_verbs;
mod stress;
mod tp_verbs;

use appc::rc::{PrimaryRc as P, SecondaryRc as S};
use appc::verbs::{self, values, Body, Conv, Verb};
use appc::Appc;
use appc_engine::{Handle, Receiver, Target, TaskFuture};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};
use support::*;

/// Generous bound on any single wait: a test that needs it has hung.
const WAIT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A requester (on `a`) and a responder (on `b`) with a live conversation
/// to [`RESP`]: the attach has flowed and the responder accepted it.
fn connect<'a, 'b>(a: &'a Appc, b: &'b Appc, mapped: bool, sync_level: u8) -> (Tp<'a>, Tp<'b>) {
    let mut req = Tp::started(a, mapped);
    req.allocate(RESP, sync_level).ok();
    req.flush().ok();
    let resp = Tp::receive_allocate(b, RESP);
    (req, resp)
}

fn receive_body(conv: Conv, max_len: u16) -> verbs::Receive {
    verbs::Receive {
        conv,
        fill: values::FILL_LL,
        max_len,
        ..Default::default()
    }
}

/// An asynchronous RECEIVE_AND_WAIT of `tp` to `target`.
fn submit_receive(tp: &Tp<'_>, target: &Target<Verb>) -> Handle {
    tp.app
        .submit(
            tp.verb(Body::ReceiveAndWait(receive_body(tp.conv, 1000))),
            target,
        )
        .expect("accepted")
}

fn receive_data(verb: &Verb) -> &[u8] {
    match &verb.body {
        Body::ReceiveAndWait(r) | Body::ReceiveImmediate(r) => &r.data,
        Body::ReceiveAndPost(r) => &r.receive.data,
        _ => &[],
    }
}

/// The one completion already queued on `rx` (asserts there is exactly one).
#[track_caller]
fn only_completion(rx: &mut Receiver<Verb>) -> (Handle, Verb) {
    let done = rx.try_recv().expect("a completion is queued");
    assert!(rx.try_recv().is_none(), "a second completion was queued");
    (done.handle, done.verb)
}

/// Asserts `PARAMETER_CHECK` / `BAD_CONV_ID`: the conversation is gone.
#[track_caller]
fn gone(res: Res) {
    res.rc2(P::PARAMETER_CHECK, S::BAD_CONV_ID);
}

struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` on this thread until it resolves (at most [`WAIT`]).
fn block_on(future: TaskFuture<Verb>) -> Verb {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Poll::Ready(verb) = future.as_mut().poll(&mut cx) {
            return verb;
        }
        assert!(Instant::now() < deadline, "future never resolved");
        thread::park_timeout(Duration::from_millis(10));
    }
}

/// Whether `future` has resolved yet (one poll).
fn poll_once(future: &mut std::pin::Pin<&mut TaskFuture<Verb>>) -> Option<Verb> {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    match future.as_mut().poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(verb) => Some(verb),
        Poll::Pending => None,
    }
}
