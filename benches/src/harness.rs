//! Scaffolding shared by every contestant of a group, so that it costs the
//! same for the engine and for each peer.
//!
//! - [`Worker`] is thread B of the cross-thread group: it receives requests
//!   over one bounded `crossbeam-channel` and finishes them. The engine and the
//!   table peers send it a handle; the `oneshot` peer sends it the sender half.
//!   Either way the hand-off A → B is the same channel. The worker polls
//!   an empty channel for [`POLL`] before it blocks, so that the stream of
//!   batches never puts it to sleep: the group then measures what the
//!   contestants do, not how fast the scheduler wakes a thread. (With a
//!   blocking receive a run made about one context switch per batch, and
//!   every contestant's figure swung widely between runs:
//!   `docs/design.md#small-things-measured`.)
//! - [`timed_batches`] runs a cross-thread workload in batches of [`BATCH`]
//!   requests (submit a batch, then consume it) and times the whole run, so
//!   that a criterion "iteration" is one request.
//! - [`timed_op`] times one operation (a cancel) on prepared items, with the
//!   preparation and the clean-up outside the timed section, in batches so
//!   that reading the clock is amortised and the untimed work stays cheap
//!   enough for criterion's time budget.

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::fmt;
use std::hint::black_box;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Requests per batch: enough to amortise reading the clock and to keep both
/// threads busy, few enough to stay in cache.
pub const BATCH: usize = 128;

/// A persistent completer thread that applies a closure to every item it is
/// sent.
pub struct Worker<T> {
    tx: Option<Sender<T>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts the thread; `finish` runs on it for every item sent.
    pub fn spawn(mut finish: impl FnMut(T) + Send + 'static) -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<T>(BATCH);
        let thread = thread::Builder::new()
            .name("completer".into())
            .spawn(move || {
                while let Some(item) = next(&rx) {
                    finish(item);
                }
            })
            .expect("spawning the completer thread");
        Self {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// Hands `item` to the completer thread.
    pub fn send(&self, item: T) {
        self.tx
            .as_ref()
            .expect("the sender lives until drop")
            .send(item)
            .expect("the completer thread died");
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        self.tx = None; // ends the thread's loop
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() && !thread::panicking() {
                panic!("the completer thread panicked");
            }
        }
    }
}

impl<T> fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

/// How long the completer polls an empty channel before it blocks: far
/// longer than the gap between two batches, short enough that an idle
/// worker stops burning its core.
pub const POLL: Duration = Duration::from_micros(200);

/// The next item, polling for up to [`POLL`] before blocking; `None` once
/// every sender is gone.
fn next<T>(rx: &Receiver<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(item) => return Some(item),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if start.elapsed() < POLL => std::hint::spin_loop(),
            Err(TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

/// Runs `iters` requests as calls `batch(n)` with `n <= BATCH` (summing to
/// `iters`) and returns the total time.
pub fn timed_batches(iters: u64, mut batch: impl FnMut(usize)) -> Duration {
    let start = Instant::now();
    for n in batch_sizes(iters) {
        batch(n);
    }
    start.elapsed()
}

/// Times `op` on `iters` items. Per batch, `fill(items, n)` pushes `n` items
/// and `clean(items)` must empty the vector; neither is timed.
pub fn timed_op<I, O>(
    iters: u64,
    mut fill: impl FnMut(&mut Vec<I>, usize),
    mut op: impl FnMut(&I) -> O,
    mut clean: impl FnMut(&mut Vec<I>),
) -> Duration {
    let mut items = Vec::with_capacity(BATCH);
    let mut total = Duration::ZERO;
    for n in batch_sizes(iters) {
        fill(&mut items, n);
        assert_eq!(items.len(), n, "fill must push exactly n items");
        let start = Instant::now();
        for item in &items {
            black_box(op(item));
        }
        total += start.elapsed();
        clean(&mut items);
        assert!(items.is_empty(), "clean must empty the batch");
    }
    total
}

fn batch_sizes(iters: u64) -> impl Iterator<Item = usize> {
    let full = iters / BATCH as u64;
    let rest = (iters % BATCH as u64) as usize;
    (0..full).map(|_| BATCH).chain((rest > 0).then_some(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn batches_cover_every_iteration() {
        for iters in [0, 1, BATCH as u64, BATCH as u64 + 1, 1000] {
            let mut seen = 0;
            timed_batches(iters, |n| {
                assert!((1..=BATCH).contains(&n));
                seen += n as u64;
            });
            assert_eq!(seen, iters);
        }
    }

    #[test]
    fn timed_op_runs_op_once_per_item() {
        let mut ops = 0u64;
        timed_op(
            300,
            |items, n| items.extend(0..n),
            |_| ops += 1,
            |items| items.clear(),
        );
        assert_eq!(ops, 300);
    }

    #[test]
    fn worker_finishes_every_item() {
        let (done, results) = mpsc::channel();
        let worker = Worker::spawn(move |x: u32| done.send(x * 2).unwrap());
        (0..10).for_each(|x| worker.send(x));
        drop(worker);
        assert_eq!(results.iter().sum::<u32>(), 90);
    }
}
