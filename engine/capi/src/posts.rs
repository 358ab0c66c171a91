//! The second completion of the posting verbs (`RECEIVE_AND_POST`,
//! `POST_ON_RECEIPT`, `TEST_RTS_AND_POST`): a relay from the engine's post
//! tasks to the caller's own event.
//!
//! The engine completes a post by signalling the event in the verb and
//! leaves the finished verb to be collected by its handle. Every posting
//! verb of the process is given the relay's one event; the relay thread
//! waits on it, collects every watched post that is ready, writes it into
//! its VCB, and sets the caller's event (the VCB's `sema` or `handle`,
//! never the entry point's completion object: KB Q194082's bug kept out).
//!
//! # Ordering contract
//!
//! A post can finish before it is watched (a `TEST_RTS_AND_POST` whose
//! RTS already arrived): its signal may then be consumed by a relay pass
//! that did not know it yet. So [`Posts::watch`] tries to collect the post
//! itself right after adding it. `collect` succeeds once per task, so
//! exactly one of the watcher and the relay finishes each post, whichever
//! collects it.

use crate::call::VcbPtr;
use crate::encode::encode;
use crate::notify::Notify;
use appc::Appc;
use appc_engine::{Event, Handle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;

/// A post being watched: its task, its VCB and the caller's event.
#[derive(Debug)]
struct Watched {
    handle: Handle,
    vcb: VcbPtr,
    event: usize,
}

/// The relay of one application.
#[derive(Debug)]
pub(crate) struct Posts {
    event: Event,
    watched: Mutex<Vec<Watched>>,
    app: Weak<Appc>,
    stop: AtomicBool,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Posts {
    /// A relay for the application `app` (its thread starts with the first
    /// post).
    pub(crate) fn new(app: Weak<Appc>) -> Arc<Self> {
        Arc::new(Self {
            event: Event::new(false),
            watched: Mutex::new(Vec::new()),
            app,
            stop: AtomicBool::new(false),
            thread: Mutex::new(None),
        })
    }

    /// The event every posting verb is given.
    pub(crate) fn event(&self) -> &Event {
        &self.event
    }

    /// Watches post `handle` of the VCB `vcb`, whose caller waits on
    /// `event`.
    pub(crate) fn watch(self: &Arc<Self>, handle: Handle, vcb: VcbPtr, event: usize) {
        self.start();
        lock(&self.watched).push(Watched { handle, vcb, event });
        self.relay();
    }

    /// Starts the relay thread once.
    fn start(self: &Arc<Self>) {
        let mut thread = lock(&self.thread);
        if thread.is_none() {
            let me = Arc::downgrade(self);
            *thread = Some(std::thread::spawn(move || relay_thread(me)));
        }
    }

    /// Finishes every watched post that is ready.
    fn relay(&self) {
        let Some(app) = self.app.upgrade() else {
            return;
        };
        let mut ready = Vec::new();
        lock(&self.watched).retain(|w| match app.collect(w.handle) {
            Ok(verb) => {
                ready.push((verb, w.vcb, w.event));
                false
            }
            Err(_) => true,
        });
        for (mut verb, vcb, event) in ready {
            // SAFETY: the post's VCB stays the library's until its final
            // completion, which is this one.
            unsafe { encode(vcb.0, &mut verb, None) };
            Notify::Event(event).send(0, vcb.0);
        }
    }

    /// Stops the relay thread; posts still watched are dropped (the
    /// application is gone, and with it every task).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.event.set();
        if let Some(thread) = lock(&self.thread).take() {
            let _ = thread.join();
        }
    }
}

fn relay_thread(posts: Weak<Posts>) {
    loop {
        let Some(me) = posts.upgrade() else { return };
        if me.stop.load(Ordering::Acquire) {
            return;
        }
        let event = me.event.clone();
        drop(me);
        event.wait();
        let Some(me) = posts.upgrade() else { return };
        if me.stop.load(Ordering::Acquire) {
            return;
        }
        me.relay();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
