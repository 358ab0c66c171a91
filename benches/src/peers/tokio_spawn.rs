//! A tokio task per request: the "just use async" answer.
//!
//! The task is the request record (one allocation), its returning is the
//! state transition, awaiting its `JoinHandle` consumes the result, and
//! `AbortHandle::abort` is the cancel. Runtimes are built without the I/O and
//! time drivers: the cheapest tokio gets, and nothing the workload needs.
//!
//! For the cancel groups the tasks are brought to the state the engine's
//! tasks are in before the timed cancel: parked on a poll that returned
//! `Pending` (cancel wins), or finished with the output not yet taken
//! (cancel loses). [`reap`] then collects them outside the timed section.

use appc_engine::{Verb, AP_OK};
use std::future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use tokio::runtime::{Builder, Runtime};
use tokio::task::{self, AbortHandle, JoinHandle};

/// A spawned request: the handle to await and the handle to abort.
pub type Spawned<T> = (JoinHandle<T>, AbortHandle);

/// A single-threaded runtime: the task runs on the thread that awaits it.
pub fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .build()
        .expect("building a runtime")
}

/// A runtime with one worker thread: tasks run there, off the awaiting thread.
pub fn one_worker() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("building a runtime")
}

/// Spawns a request that completes `verb` (call within a runtime).
pub fn spawn_completion(mut verb: Verb) -> JoinHandle<Verb> {
    tokio::spawn(async move {
        verb.primary_rc = AP_OK;
        verb
    })
}

/// One request: spawn, let it complete, await the result.
pub async fn lifecycle(verb: Verb) -> Verb {
    spawn_completion(verb).await.expect("the task completes")
}

/// Pushes `n` tasks that are parked forever, each polled once already.
pub fn spawn_parked(rt: &Runtime, n: usize, out: &mut Vec<Spawned<()>>) {
    let parked = Arc::new(AtomicUsize::new(0));
    rt.block_on(async {
        for _ in 0..n {
            let parked = parked.clone();
            let task = tokio::spawn(async move {
                parked.fetch_add(1, Relaxed);
                future::pending::<()>().await;
            });
            out.push(with_abort(task));
        }
        while parked.load(Relaxed) < n {
            task::yield_now().await;
        }
    });
}

/// Pushes `n` tasks that have completed `verb`, their output not yet taken.
pub fn spawn_finished(rt: &Runtime, n: usize, verb: &Verb, out: &mut Vec<Spawned<Verb>>) {
    let first = out.len();
    rt.block_on(async {
        out.extend((0..n).map(|_| with_abort(spawn_completion(verb.clone()))));
        while !out[first..].iter().all(|(task, _)| task.is_finished()) {
            task::yield_now().await;
        }
    });
}

/// Awaits and empties `tasks`; returns how many of them were cancelled.
pub fn reap<T: Send + 'static>(rt: &Runtime, tasks: &mut Vec<Spawned<T>>) -> usize {
    rt.block_on(async {
        let mut cancelled = 0;
        for (task, _) in tasks.drain(..) {
            if task.await.is_err_and(|e| e.is_cancelled()) {
                cancelled += 1;
            }
        }
        cancelled
    })
}

fn with_abort<T>(task: JoinHandle<T>) -> Spawned<T> {
    let abort = task.abort_handle();
    (task, abort)
}

#[cfg(test)]
mod tests {
    use super::*;
    use appc_engine::Opcode;

    fn verb() -> Verb {
        Verb::new(Opcode::ReceiveAndWait, 5)
    }

    #[test]
    fn lifecycle_returns_the_completed_verb() {
        let out = current_thread().block_on(lifecycle(verb()));
        assert_eq!((out.tag, out.primary_rc), (5, AP_OK));
    }

    #[test]
    fn abort_cancels_parked_tasks_and_spares_finished_ones() {
        let rt = current_thread();
        let mut parked = Vec::new();
        spawn_parked(&rt, 3, &mut parked);
        assert!(parked.iter().all(|(task, _)| !task.is_finished()));
        parked.iter().for_each(|(_, abort)| abort.abort());
        assert_eq!(reap(&rt, &mut parked), 3);

        let mut finished = Vec::new();
        spawn_finished(&rt, 3, &verb(), &mut finished);
        finished.iter().for_each(|(_, abort)| abort.abort());
        assert_eq!(reap(&rt, &mut finished), 0);
        assert!(finished.is_empty());
    }
}
