//! The completion targets: queues, ports, events and futures, how they
//! deliver, what they refuse, what dropping them frees, how they describe
//! themselves, and a completion that panics or waits for ever.

use crate::{engine, verb};
use appc_engine::{
    CancelOutcome, CollectError, CompleteOutcome, Event, Reason, Target, AP_CANCELLED, AP_OK,
    WAPPCALREADY,
};
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

#[test]
fn queue_delivers_handle_and_finished_verb() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let h = engine.submit(verb(1), &Target::Queue(tx)).unwrap();
    assert!(rx.try_recv().is_none());
    let outcome = engine.complete(h, |v| v.secondary_rc = 0x1234);
    assert_eq!(outcome, CompleteOutcome::Delivered);
    let done = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(done.handle, h);
    assert_eq!(
        (done.verb.tag, done.verb.primary_rc, done.verb.secondary_rc),
        (1, AP_OK, 0x1234)
    );
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn queue_is_fifo_within_a_batch() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let handles: Vec<_> = (0..100)
        .map(|i| engine.submit(verb(i), &target).unwrap())
        .collect();
    for h in &handles {
        assert_eq!(engine.complete(*h, |_| {}), CompleteOutcome::Delivered);
    }
    let received: Vec<_> = std::iter::from_fn(|| rx.try_recv())
        .map(|c| c.verb.tag)
        .collect();
    assert_eq!(received, (0..100).collect::<Vec<_>>());
}

#[test]
fn port_returns_key_token_and_bytes_untouched() {
    let engine = engine();
    let port = engine.port();
    let target = Target::Port {
        port: port.clone(),
        key: 0xDEAD_BEEF,
        token: usize::MAX - 7,
        bytes: 4096,
    };
    let h = engine.submit(verb(5), &target).unwrap();
    let cancelled = engine.submit(verb(6), &target).unwrap();
    assert_eq!(engine.complete(h, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(engine.cancel(cancelled), CancelOutcome::Cancelled);
    let first = port.get(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        (
            first.key,
            first.token,
            first.bytes,
            first.handle,
            first.verb.tag
        ),
        (0xDEAD_BEEF, usize::MAX - 7, 4096, h, 5)
    );
    let second = port.try_get().unwrap();
    assert_eq!(
        (second.handle, second.verb.primary_rc),
        (cancelled, AP_CANCELLED)
    );
    assert!(port.get(Some(Duration::from_millis(10))).is_none());
}

#[test]
fn event_signals_then_collect_hands_back_the_verb() {
    let engine = engine();
    let event = Event::new(false);
    let target = Target::Event(event.clone());
    let h = engine.submit(verb(3), &target).unwrap();
    assert_eq!(engine.collect(h).unwrap_err(), CollectError::NotReady);
    assert!(!event.wait_timeout(Duration::from_millis(1)));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(
                engine.complete(h, |v| v.secondary_rc = 7),
                CompleteOutcome::Delivered
            );
        });
        event.wait();
    });
    assert!(!event.is_set(), "auto-reset");
    assert_eq!(
        engine.cancel(h).code(),
        WAPPCALREADY,
        "completed, not yet collected"
    );
    let v = engine.collect(h).unwrap();
    assert_eq!((v.tag, v.secondary_rc), (3, 7));
    assert_eq!(engine.collect(h).unwrap_err(), CollectError::Collected);
    assert_eq!(engine.cancel(h).code(), WAPPCALREADY, "collected");
    assert_eq!(
        engine
            .collect(appc_engine::Handle::from_raw(1).unwrap())
            .unwrap_err(),
        CollectError::Invalid
    );
}

#[test]
fn manual_reset_event_stays_signalled() {
    let engine = engine();
    let event = Event::new(true);
    let target = Target::Event(event.clone());
    let a = engine.submit(verb(1), &target).unwrap();
    let b = engine.submit(verb(2), &target).unwrap();
    assert_eq!(engine.cancel(a), CancelOutcome::Cancelled);
    assert!(
        event.try_wait() && event.try_wait(),
        "manual reset keeps the signal"
    );
    event.reset();
    assert!(!event.is_set());
    assert_eq!(engine.complete(b, |_| {}), CompleteOutcome::Delivered);
    assert!(event.wait_timeout(Duration::from_secs(5)));
    assert_eq!(engine.collect(a).unwrap().primary_rc, AP_CANCELLED);
    assert_eq!(engine.collect(b).unwrap().primary_rc, AP_OK);
}

#[test]
fn collect_refuses_tasks_of_other_targets() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let h = engine.submit(verb(1), &Target::Queue(tx)).unwrap();
    assert_eq!(engine.complete(h, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(engine.collect(h).unwrap_err(), CollectError::NotAnEventTask);
    assert_eq!(rx.try_recv().unwrap().handle, h, "the queue still owns it");
}

struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn future_resolves_on_completion_and_on_cancel() {
    let engine = engine();
    let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
    let waker = Waker::from(counter.clone());
    let mut cx = Context::from_waker(&waker);

    let mut fut = pin!(engine.submit_future(verb(8)).unwrap());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(counter.0.load(Ordering::SeqCst), 0, "registered, not woken");
    let h = fut.handle();
    assert_eq!(
        engine.complete(h, |v| v.secondary_rc = 1),
        CompleteOutcome::Delivered
    );
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken once");
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => assert_eq!((v.tag, v.secondary_rc), (8, 1)),
        Poll::Pending => panic!("completed future is pending"),
    }

    let mut fut = pin!(engine.submit_future(verb(9)).unwrap());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(engine.cancel(fut.handle()), CancelOutcome::Cancelled);
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => assert_eq!(v.primary_rc, AP_CANCELLED),
        Poll::Pending => panic!("cancelled future is pending"),
    }
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn a_future_polled_again_wakes_its_newest_waker() {
    let engine = engine();
    let counters = [0, 1].map(|_| Arc::new(CountingWaker(AtomicUsize::new(0))));
    let wakers = counters.clone().map(Waker::from);
    let mut fut = pin!(engine.submit_future(verb(8)).unwrap());
    assert!(format!("{fut:?}").starts_with("TaskFuture { handle: "));
    for waker in &wakers {
        let mut cx = Context::from_waker(waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(
        engine.complete(fut.handle(), |_| {}),
        CompleteOutcome::Delivered
    );
    let woken = counters.map(|c| c.0.load(Ordering::SeqCst));
    assert_eq!(woken, [0, 1], "the waker of the last poll, once");
}

#[test]
fn dropping_a_future_cancels_or_frees() {
    let engine = engine();
    let pending = engine.submit_future(verb(1)).unwrap();
    let h = pending.handle();
    drop(pending);
    assert_eq!(engine.complete(h, |_| {}), CompleteOutcome::Late);
    assert_eq!(engine.cancel(h).code(), WAPPCALREADY);

    let finished = engine.submit_future(verb(2)).unwrap();
    assert_eq!(
        engine.complete(finished.handle(), |_| {}),
        CompleteOutcome::Delivered
    );
    drop(finished);
    assert_eq!(engine.stats().live_tasks, 0, "no slot leaked");
}

#[test]
fn foreign_target_is_rejected() {
    let engine = engine();
    let other = self::engine();
    let (other_tx, _rx) = other.queue();
    let err = engine
        .submit(verb(1), &Target::Queue(other_tx))
        .unwrap_err();
    assert_eq!(err.reason, Reason::ForeignTarget);
    let port = other.port();
    let target = Target::Port {
        port,
        key: 0,
        token: 0,
        bytes: 0,
    };
    assert_eq!(
        engine.submit(verb(1), &target).unwrap_err().reason,
        Reason::ForeignTarget
    );
}

#[test]
fn dropped_receiver_frees_queued_and_later_completions() {
    let engine = engine();
    let (tx, rx) = engine.queue();
    let target = Target::Queue(tx);
    let a = engine.submit(verb(1), &target).unwrap();
    let b = engine.submit(verb(2), &target).unwrap();
    assert_eq!(engine.complete(a, |_| {}), CompleteOutcome::Delivered);
    drop(rx);
    assert_eq!(engine.complete(b, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn dropping_the_last_port_frees_what_it_holds_and_refuses_the_rest() {
    let engine = engine();
    let port = engine.port();
    assert_eq!(format!("{port:?}"), "Port { .. }");
    let target = Target::Port {
        port: port.clone(),
        key: 1,
        token: 2,
        bytes: 3,
    };
    let queued = engine.submit(verb(1), &target).unwrap();
    let pending = engine.submit(verb(2), &target).unwrap();
    assert_eq!(engine.complete(queued, |_| {}), CompleteOutcome::Delivered);
    drop((port, target));
    assert_eq!(engine.stats().live_tasks, 1, "the queued packet is freed");
    assert_eq!(engine.complete(pending, |_| {}), CompleteOutcome::Delivered);
    assert_eq!(engine.stats().live_tasks, 0, "refused by the closed port");
    // The freed slots went back where they belong: new tasks each get a
    // slot of their own.
    let (tx, mut rx) = engine.queue();
    let target = Target::Queue(tx);
    let handles: Vec<_> = (0..64)
        .map(|i| engine.submit(verb(i), &target).unwrap())
        .collect();
    for &h in &handles {
        assert_eq!(engine.complete(h, |_| {}), CompleteOutcome::Delivered);
    }
    for (i, &h) in (0..).zip(&handles) {
        let done = rx.try_recv().unwrap();
        assert_eq!((done.handle, done.verb.tag), (h, i));
    }
}

#[test]
fn a_queue_describes_itself() {
    let engine = engine();
    let (tx, rx) = engine.queue();
    assert_eq!(
        (format!("{tx:?}"), format!("{rx:?}")),
        ("Sender { .. }".to_owned(), "Receiver { .. }".to_owned())
    );
}

#[test]
fn an_event_describes_itself() {
    let event = Event::new(true);
    assert_eq!(
        format!("{event:?}"),
        "Event { signalled: false, manual_reset: true }"
    );
    event.set();
    assert_eq!(
        format!("{event:?}"),
        "Event { signalled: true, manual_reset: true }"
    );
}

#[test]
fn a_panicking_completion_still_delivers_exactly_once() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let h = engine.submit(verb(1), &Target::Queue(tx)).unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = engine.complete(h, |v| {
            v.secondary_rc = 5;
            panic!("transport bug");
        });
    }));
    assert!(panicked.is_err());
    let done = rx.try_recv().expect("delivered on unwind");
    assert_eq!((done.handle, done.verb.secondary_rc), (h, 5));
    assert!(rx.try_recv().is_none());
    assert_eq!(engine.cancel(h).code(), WAPPCALREADY);
    assert_eq!(engine.stats().live_tasks, 0);
}

#[test]
fn huge_timeouts_mean_no_timeout_not_a_panic() {
    let engine = engine();
    let (tx, mut rx) = engine.queue();
    let h = engine.submit(verb(1), &Target::Queue(tx)).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(engine.complete(h, |_| {}), CompleteOutcome::Delivered);
        });
        assert_eq!(rx.recv_timeout(Duration::MAX).unwrap().handle, h);
    });
    let event = Event::new(false);
    event.set();
    assert!(event.wait_timeout(Duration::MAX));
}
