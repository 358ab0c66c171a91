//! One asynchronous verb of a C caller, from submission to the
//! notification: the bridge between the engine's future target and the
//! caller's VCB and completion object.
//!
//! A verb is submitted with [`Appc::submit_future`]; its [`Call`] owns the
//! future and is itself the future's waker. Whichever thread finishes the
//! task (a reactor, a cancelling thread, or the submitter when the verb
//! completes at once) wakes the call, which polls the future on that
//! thread, writes the verb's results into the VCB ([`crate::encode`]) and
//! then notifies the caller ([`crate::notify`]). No thread of the ABI's own
//! stands between the engine and the caller.
//!
//! # Ordering contract
//!
//! Exactly one thread polls the future at a time and exactly one finishes
//! the call, decided by one atomic `state`:
//!
//! * `RUNNING` is held by the thread polling. The submitter starts as the
//!   runner. A wake that finds the call idle takes `RUNNING` by CAS and
//!   polls; a wake that finds it running sets `NOTIFIED` instead.
//! * A runner whose poll is `Pending` leaves by CAS `RUNNING -> IDLE`; if
//!   that fails, a wake came meanwhile (`NOTIFIED`), so it clears the flag
//!   and polls again. No wake is lost: every wake either polls or leaves
//!   `NOTIFIED` for the runner, on the same atomic.
//! * The runner whose poll is `Ready` stores `DONE` before it writes the
//!   VCB; later wakes see `DONE` and return. The VCB is written, and the
//!   caller notified, once.
//!
//! The engine's own contract (the task completes once, and the future
//! resolves once) makes the `Ready` unique; the state word only keeps two
//! threads from polling at once. The mutex around the future is never
//! contended (only the runner locks it): it is there so the future can be
//! reached from `&self` without `unsafe`.

use crate::decode::Refusal;
use crate::encode::encode;
use crate::notify::Notify;
use crate::posts::Posts;
use appc::verbs::Verb;
use appc::Appc;
use appc_engine::TaskFuture;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering::AcqRel, Ordering::Acquire, Ordering::Release};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

const IDLE: u8 = 0;
const RUNNING: u8 = 1;
const NOTIFIED: u8 = 2;
const DONE: u8 = 4;

/// The caller's VCB, handed between threads: the caller gave it to the
/// library until the completion (the API's contract), so whichever thread
/// finishes the verb may write it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct VcbPtr(pub(crate) *mut u8);

// SAFETY: the VCB belongs to the library from submission to completion;
// only the one thread that finishes the call touches it.
unsafe impl Send for VcbPtr {}

/// What to do with a finished verb besides notifying.
#[derive(Debug)]
pub(crate) struct Finish {
    /// The VCB to write.
    pub(crate) vcb: VcbPtr,
    /// Codes that replace the engine's (a VCB the ABI refused).
    pub(crate) refusal: Option<Refusal>,
    /// For a posting verb: the relay and the caller's own event.
    pub(crate) post: Option<(Arc<Posts>, usize)>,
}

impl Finish {
    /// Writes `verb` into the VCB and hands a posting verb's post to the
    /// relay. Returns after the VCB is complete.
    pub(crate) fn complete(self, verb: &mut Verb) {
        let post = self.post.as_ref().and_then(|_| verb_post(verb));
        // SAFETY: the VCB this call was decoded from, still the library's.
        unsafe { encode(self.vcb.0, verb, self.refusal) };
        if let (Some(handle), Some((posts, event))) = (post, self.post) {
            posts.watch(handle, self.vcb, event);
        }
    }
}

/// The post task an initial completion carries.
fn verb_post(verb: &Verb) -> Option<appc_engine::Handle> {
    use appc::verbs::Body;
    match &verb.body {
        Body::ReceiveAndPost(v) => v.post,
        Body::PostOnReceipt(v) => v.post,
        Body::TestRtsAndPost(v) => v.post,
        _ => None,
    }
}

/// One asynchronous verb in flight.
pub(crate) struct Call {
    state: AtomicU8,
    task: u64,
    future: Mutex<Option<TaskFuture<Verb>>>,
    finish: Mutex<Option<Finish>>,
    notify: Notify,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}

/// Submits `verb` on `app`; its completion is written per `finish` and
/// announced to `notify`. Returns the task handle, or `None` if the engine
/// refused the submission (the API's handle 0).
pub(crate) fn submit(app: &Appc, verb: Verb, finish: Finish, notify: Notify) -> Option<u64> {
    let future = app.submit_future(verb).ok()?;
    let task = u64::from(future.handle());
    let call = Arc::new(Call {
        state: AtomicU8::new(RUNNING),
        task,
        future: Mutex::new(Some(future)),
        finish: Mutex::new(Some(finish)),
        notify,
    });
    call.run();
    Some(task)
}

impl Call {
    /// Polls as the runner until the future is pending with no wake
    /// outstanding, or ready.
    fn run(self: &Arc<Self>) {
        loop {
            if let Some(mut verb) = self.poll() {
                self.state.store(DONE, Release);
                let finish = self
                    .finish
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some(finish) = finish {
                    let vcb = finish.vcb;
                    finish.complete(&mut verb);
                    self.notify.send(self.task, vcb.0);
                }
                return;
            }
            match self.state.compare_exchange(RUNNING, IDLE, AcqRel, Acquire) {
                Ok(_) => return,
                // NOTIFIED came in while polling: poll again.
                Err(_) => self.state.store(RUNNING, Release),
            }
        }
    }

    /// One poll of the future with this call as the waker.
    fn poll(self: &Arc<Self>) -> Option<Verb> {
        let mut slot = self.future.lock().unwrap_or_else(PoisonError::into_inner);
        let future = slot.as_mut()?;
        let waker = Waker::from(self.clone());
        match Pin::new(future).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(verb) => {
                *slot = None;
                Some(verb)
            }
            Poll::Pending => None,
        }
    }

    /// A wake: poll here if the call is idle, else leave the runner a note.
    fn schedule(self: &Arc<Self>) {
        let mut state = self.state.load(Acquire);
        loop {
            let next = match state {
                IDLE => RUNNING,
                s if s & DONE != 0 || s & NOTIFIED != 0 => return,
                s => s | NOTIFIED,
            };
            match self.state.compare_exchange(state, next, AcqRel, Acquire) {
                Ok(_) if next == RUNNING => return self.run(),
                Ok(_) => return,
                Err(current) => state = current,
            }
        }
    }
}

impl Wake for Call {
    fn wake(self: Arc<Self>) {
        self.schedule();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.schedule();
    }
}
