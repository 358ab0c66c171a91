//! The event target: the `WinAsyncAPPCEx` model.
//!
//! An [`Event`] is a Win32-style event object, auto-reset or manual-reset. A
//! finished task signals it; the application then fetches the finished verb
//! with [`Engine::collect`](crate::Engine::collect). One event may serve many
//! tasks, as `WaitForMultipleObjects` users do.
//!
//! `set` is one `SeqCst` swap (the RMW [`Notify`] pairs with) plus, only when
//! a thread sleeps, a lock to wake it. An auto-reset wait consumes the signal with one CAS.
//! `set` swaps even when the event is signalled already: the wait's CAS
//! reads the newest swap, and that is what makes this task's `READY`
//! visible to the waiter. A `set` that found the flag true and skipped could
//! let a waiter consume an earlier task's signal, find this task not ready,
//! and wait for a signal that never comes.
//!
//! # References that cost no read-modify-write
//!
//! A delivery signals the event *after* it publishes the task `READY`, so
//! that whoever the signal wakes finds the verb ready; by then a `collect`
//! may have freed the slot and a submit re-aimed it at another event. So the
//! delivery signals through a reference of its own, not the slot's. Taking
//! and dropping a reference are read-modify-writes of the reference count,
//! and a single-thread lifecycle is paced by its read-modify-writes. Two
//! places keep references so that the common path takes none:
//!
//! * **the slot**: a collected task's slot keeps its event
//!   ([`SlotTarget`](super::SlotTarget)), and a submit aimed at the event
//!   the slot already holds clones nothing;
//! * **each thread**: a delivery signals through the one spare reference
//!   its thread keeps ([`publish_and_set`]), which stays the spare
//!   afterwards; so a completer that keeps signalling one event clones and
//!   drops nothing.
//!
//! Both only ever replace a clone and a drop by a move, so no path takes more
//! read-modify-writes than before. The price is memory: an event can outlive
//! its last clone outside the engine, held by free slots until they are
//! re-aimed and by a thread's spare until that thread delivers to another
//! event or exits. Dropping an event does nothing but free it, so nothing
//! observable waits for it.

use super::notify::Notify;
use crate::sync::{Arc, AtomicBool, Ordering::*};
use std::fmt;
use std::time::Duration;

struct Inner {
    signalled: AtomicBool,
    manual_reset: bool,
    notify: Notify,
}

/// A Win32-style event. Cheap to clone; clones are the same event. Its
/// memory may outlive the last clone for a while (the engine's slots and
/// completing threads keep references; see the module doc), which nothing
/// can observe.
#[derive(Clone)]
pub struct Event(Arc<Inner>);

impl Default for Event {
    /// A non-signalled auto-reset event (what the SDK samples create).
    fn default() -> Self {
        Self::new(false)
    }
}

impl Event {
    /// A non-signalled event; `manual_reset` as `CreateEvent`'s `bManualReset`.
    #[inline]
    pub fn new(manual_reset: bool) -> Self {
        Self(Arc::new(Inner {
            signalled: AtomicBool::new(false),
            manual_reset,
            notify: Notify::new(),
        }))
    }

    /// Signals the event (`SetEvent`).
    #[inline]
    pub fn set(&self) {
        if !self.0.signalled.swap(true, SeqCst) {
            self.0.notify.notify();
        }
    }

    /// Clears the signal (`ResetEvent`).
    #[inline]
    pub fn reset(&self) {
        self.0.signalled.store(false, Release);
    }

    /// True if signalled; does not consume an auto-reset signal.
    #[inline]
    pub fn is_set(&self) -> bool {
        self.0.signalled.load(Acquire)
    }

    /// Consumes the signal if there is one (a wait with timeout 0).
    #[inline]
    pub fn try_wait(&self) -> bool {
        if self.0.manual_reset {
            self.is_set()
        } else {
            self.0
                .signalled
                .compare_exchange(true, false, AcqRel, Relaxed)
                .is_ok()
        }
    }

    /// Waits until signalled (`WaitForSingleObject(h, INFINITE)`).
    #[inline]
    pub fn wait(&self) {
        self.0.notify.wait(None, || self.try_wait().then_some(()));
    }

    /// Waits at most `timeout`; false if it passed unsignalled.
    #[inline]
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.0
            .notify
            .wait(Some(timeout), || self.try_wait().then_some(()))
            .is_some()
    }
}

impl Event {
    /// True if `self` and `other` are clones of one event.
    #[inline]
    pub(crate) fn same(&self, other: &Event) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// `spare` if it is a reference to this event, else a clone (and
    /// `spare` is dropped).
    #[inline]
    pub(crate) fn or_clone(&self, spare: Option<Event>) -> Event {
        match spare {
            Some(spare) if spare.same(self) => spare,
            _ => self.clone(),
        }
    }
}

/// Publishes an event task and signals its event through a reference of the
/// calling thread's own, since once `publish` has run the slot may be
/// re-aimed and the event freed (see the module doc). `aim` gets the
/// thread's spare and returns the reference to signal through: the spare
/// itself when it is one to the task's event ([`Event::or_clone`]). That
/// reference is the thread's spare afterwards. One access to the
/// thread-local, and no read-modify-write of the reference count while a
/// thread keeps delivering to one event.
#[inline]
pub(crate) fn publish_and_set(aim: impl FnOnce(Option<Event>) -> Event, publish: impl FnOnce()) {
    let steps = Some((aim, publish));
    // Nothing in the closure touches the spare cell but the closure itself
    // (`aim` may drop another event, `set` may wake a sleeper; neither runs
    // engine code), so taking the spare out and putting it back cannot
    // interleave with another use of it.
    #[cfg(not(loom))]
    let steps = {
        let mut steps = steps;
        let _ = SPARE.try_with(|spare| {
            let (aim, publish) = steps.take().expect("runs once");
            let event = aim(spare.take());
            publish();
            event.set();
            spare.set(Some(event));
        });
        steps
    };
    // Under loom, and on a thread whose thread-locals are being torn down:
    // a reference of this delivery's own. (The three steps are written out
    // twice on purpose: folded into one helper they cost 13-16 more
    // instructions per event lifecycle, by callgrind.)
    if let Some((aim, publish)) = steps {
        let event = aim(None);
        publish();
        event.set();
    }
}

// Loom has its own thread-locals and nothing to check here: the spare never
// leaves its thread. Under loom every delivery clones and drops.
#[cfg(not(loom))]
std::thread_local!(static SPARE: std::cell::Cell<Option<Event>> = const { std::cell::Cell::new(None) });

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("signalled", &self.is_set())
            .field("manual_reset", &self.0.manual_reset)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::{CompleteOutcome, Engine, Opcode, Target, Verb, WINAPPC_VERSION};

    fn references(event: &Event) -> usize {
        Arc::strong_count(&event.0)
    }

    #[test]
    fn tasks_reuse_the_references_of_slots_and_completers() {
        let engine = Arc::new(Engine::startup(WINAPPC_VERSION).unwrap().0);
        let submit = |target: &Target<Verb>| {
            engine
                .submit(Verb::new(Opcode::ReceiveAndWait, 1), target)
                .unwrap()
        };
        let run = |target: &Target<Verb>| {
            let handle = submit(target);
            assert_eq!(engine.complete(handle, |_| {}), CompleteOutcome::Delivered);
            engine.collect(handle).unwrap();
        };
        let event = Event::new(false);
        let target = Target::Event(event.clone());
        run(&target);
        // `event`, `target`, the slot's and this thread's spare.
        assert_eq!(references(&event), 4);
        for _ in 0..100 {
            run(&target);
        }
        assert_eq!(references(&event), 4, "a task took a reference");

        // A completer on another thread signals through a clone of its own,
        // which it drops when it exits (`join` returns after its
        // thread-locals are gone).
        let handle = submit(&target);
        let completer = engine.clone();
        std::thread::spawn(move || completer.complete(handle, |_| {}))
            .join()
            .map(|outcome| assert_eq!(outcome, CompleteOutcome::Delivered))
            .unwrap();
        assert!(event.try_wait());
        engine.collect(handle).unwrap();
        assert_eq!(references(&event), 4, "an exited thread kept its spare");

        // The thread reuses the slot; aimed at another event, it lets go of
        // this one, and so does the spare.
        let other = Event::new(false);
        run(&Target::Event(other.clone()));
        assert_eq!(references(&event), 2);
        assert_eq!(references(&other), 3);
        drop(Arc::into_inner(engine));
        assert_eq!(references(&other), 2, "the engine's slots let go");
    }

    /// Stress for the slot-kept references and the completers' spares:
    /// collectors submit to two events of their own in random order (so
    /// their slots keep being re-aimed), completers on other threads
    /// complete (so their spares keep changing events) while the
    /// collectors cancel some tasks. Each event has one task outstanding at
    /// a time, so a wait that missed its signal would hang, and a signal
    /// seen before its task was published would fail the collect. Every
    /// task is collected once, with the codes of whoever won; once the
    /// threads and the engine are gone, no reference but the test's is
    /// left.
    #[test]
    fn events_stay_exact_under_concurrent_completion_and_reaim() {
        const COLLECTORS: usize = 2;
        const COMPLETERS: usize = 2;
        const COMPLETED: u32 = 7;
        let rounds: u64 = if cfg!(miri) { 30 } else { 100_000 };
        let engine: Arc<Engine<Verb>> = Arc::new(Engine::startup(WINAPPC_VERSION).unwrap().0);
        let events: Vec<[Event; 2]> = (0..COLLECTORS)
            .map(|_| [Event::new(false), Event::new(false)])
            .collect();

        let (senders, completers): (Vec<_>, Vec<_>) = (0..COMPLETERS)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel::<crate::Handle>();
                let engine = engine.clone();
                let completer = std::thread::spawn(move || {
                    let (mut delivered, mut late) = (0u64, 0u64);
                    for handle in rx {
                        match engine.complete(handle, |verb| verb.secondary_rc = COMPLETED) {
                            CompleteOutcome::Delivered => delivered += 1,
                            CompleteOutcome::Late => late += 1,
                            CompleteOutcome::Invalid => panic!("a live handle was invalid"),
                        }
                    }
                    (delivered, late)
                });
                (tx, completer)
            })
            .unzip();

        let collectors: Vec<_> = events
            .iter()
            .enumerate()
            .map(|(me, pair)| {
                let engine = engine.clone();
                let pair = pair.clone();
                let senders = senders.clone();
                std::thread::spawn(move || {
                    let targets = pair.clone().map(Target::Event);
                    let mut rng = 0x9E37_79B9_7F4A_7C15_u64 ^ me as u64;
                    let mut next = move || {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng
                    };
                    let mut cancelled = 0u64;
                    for round in 0..rounds {
                        let first = (next() & 1) as usize;
                        let tasks = [first, 1 - first].map(|e| {
                            let tag = round * 2 + e as u64;
                            let verb = Verb::new(Opcode::ReceiveAndWait, tag);
                            let handle = engine.submit(verb, &targets[e]).unwrap();
                            senders[(next() % COMPLETERS as u64) as usize]
                                .send(handle)
                                .unwrap();
                            (e, handle, tag)
                        });
                        let won = tasks.map(|(_, handle, _)| {
                            next() % 4 == 0
                                && engine.cancel(handle) == crate::CancelOutcome::Cancelled
                        });
                        for ((e, handle, tag), won) in tasks.into_iter().zip(won) {
                            pair[e].wait();
                            let verb = engine.collect(handle).expect("signalled, so ready");
                            assert_eq!(verb.tag, tag);
                            if won {
                                cancelled += 1;
                                assert_eq!(
                                    (verb.primary_rc, verb.secondary_rc),
                                    (crate::AP_CANCELLED, 0)
                                );
                            } else {
                                assert_eq!(
                                    (verb.primary_rc, verb.secondary_rc),
                                    (crate::AP_OK, COMPLETED)
                                );
                            }
                            assert_eq!(
                                engine.collect(handle).unwrap_err(),
                                crate::CollectError::Collected
                            );
                        }
                    }
                    cancelled
                })
            })
            .collect();

        let cancelled: u64 = collectors.into_iter().map(|c| c.join().unwrap()).sum();
        drop(senders);
        let (delivered, late) = completers
            .into_iter()
            .map(|c| c.join().unwrap())
            .fold((0, 0), |(d, l), (d2, l2)| (d + d2, l + l2));
        let tasks = rounds * 2 * COLLECTORS as u64;
        assert_eq!(
            delivered + cancelled,
            tasks,
            "a task finished twice or never"
        );
        assert_eq!(
            late, cancelled,
            "a won cancel and its late completion disagree"
        );
        assert!(
            events.iter().flatten().all(|event| !event.is_set()),
            "a stray signal"
        );

        assert_eq!(engine.stats().live_tasks, 0);
        drop(Arc::into_inner(engine).expect("every thread is gone"));
        for event in events.iter().flatten() {
            assert_eq!(references(event), 1, "a slot or a spare kept an event");
        }
    }
}
