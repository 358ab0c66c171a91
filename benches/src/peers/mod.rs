//! The peers: what a Rust engineer would build instead of the engine.
//!
//! The engine keeps a table of outstanding asynchronous requests. Each request
//! is finished exactly once, by whichever of the transport (complete) and the
//! application (cancel) gets there first; the loser is told so; the result is
//! delivered to the application, which consumes it and frees the entry; and a
//! stale handle never touches a newer request. Every peer below does that same
//! work per request, and no more:
//!
//! 1. **create** a request record holding the [`Verb`] and get a handle;
//! 2. **finish** it: one state transition *pending → finished* that sets the
//!    verb's `primary_rc` (`AP_OK` for a completion, `AP_CANCELLED` for a
//!    cancel) and reports whether it won ([`Finish`]);
//! 3. **consume** it: take the finished verb out and free the record.
//!
//! | peer | record | finish | consume |
//! |------|--------|--------|---------|
//! | [`MutexSlab`] | `parking_lot::Mutex<slab::Slab>` entry; handle = (index, per-slot generation) | lock, check generation, flip state | lock, check, `remove` |
//! | [`DashMapTable`] | `DashMap<u64, _>` entry keyed by an `AtomicU64` sequence number | shard write lock, flip state | `remove_if` finished |
//! | [`ShardedSlab`] | `sharded_slab::Slab` entry (its keys carry a generation) | `get` + CAS on an `AtomicU32` state | `get` + `take` |
//! | [`tokio_oneshot`] | a `tokio::sync::oneshot` channel per request | `send` | `try_recv` / `blocking_recv` |
//! | [`tokio_spawn`] | a tokio task per request | the task returns | await the `JoinHandle` |
//!
//! Fairness notes, so the numbers are read right:
//!
//! - The three tables implement [`Table`]; they are consumed **by handle**,
//!   as the engine's `Target::Event` + `collect` is. The engine's
//!   `Target::Queue` additionally pushes the finished task onto a queue that
//!   the application pumps; when a peer needs such a delivery path (the
//!   cross-thread group, where thread A must learn what B finished) it gets a
//!   `crossbeam-channel`, the queue a Rust engineer would pick.
//! - No peer allocates per request except where that is inherent to the peer
//!   (the oneshot channel, the tokio task): tables reuse their storage.
//! - The tokio peers are the "just use async" answer: the runtime's task is
//!   the request record and `abort` is the cancel. They are run on runtimes
//!   built without the I/O and time drivers, the cheapest tokio gets.

mod dash_map;
mod mutex_slab;
mod sharded;
pub mod tokio_oneshot;
pub mod tokio_spawn;

pub use dash_map::DashMapTable;
pub use mutex_slab::{MutexSlab, SlabHandle};
pub use sharded::ShardedSlab;

use appc_engine::{Verb, AP_CANCELLED, AP_OK};

/// What a finishing call (complete or cancel) found; the peers' analogue of
/// the engine's `CompleteOutcome` / `CancelOutcome`.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    /// The request was pending and this call finished it.
    Won,
    /// The request had already been finished (and maybe consumed).
    Already,
    /// The table cannot tell this handle apart from one it never issued.
    Invalid,
}

/// A table of asynchronous requests: the part of the engine a peer replaces.
pub trait Table: Send + Sync + 'static {
    /// What `submit` hands out.
    type Handle: Copy + Send + 'static;

    /// Creates a pending request record.
    fn submit(&self, verb: Verb) -> Self::Handle;

    /// Finishes the request with `primary_rc` if it is still pending.
    fn finish(&self, handle: Self::Handle, primary_rc: u16) -> Finish;

    /// Takes the verb out of a finished request and frees its record;
    /// `None` if it is pending or gone.
    fn consume(&self, handle: Self::Handle) -> Option<Verb>;

    /// The transport finished the verb successfully.
    fn complete(&self, handle: Self::Handle) -> Finish {
        self.finish(handle, AP_OK)
    }

    /// The application cancels the verb.
    fn cancel(&self, handle: Self::Handle) -> Finish {
        self.finish(handle, AP_CANCELLED)
    }
}

/// A request record as the lock-based tables keep it.
#[derive(Debug)]
struct Record {
    finished: bool,
    verb: Verb,
}

impl Record {
    fn pending(verb: Verb) -> Self {
        Self {
            finished: false,
            verb,
        }
    }

    /// The pending → finished transition.
    fn finish(&mut self, primary_rc: u16) -> Finish {
        if self.finished {
            return Finish::Already;
        }
        self.finished = true;
        self.verb.primary_rc = primary_rc;
        Finish::Won
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use appc_engine::Opcode;

    fn verb(tag: u64) -> Verb {
        Verb::new(Opcode::ReceiveAndWait, tag)
    }

    /// The contract every table must meet, checked on each of them.
    fn contract<T: Table>(table: &T) {
        let done = table.submit(verb(1));
        assert_eq!(table.consume(done), None, "pending requests stay put");
        assert_eq!(table.complete(done), Finish::Won);
        assert_eq!(
            table.cancel(done),
            Finish::Already,
            "a cancel after completion loses"
        );
        assert_eq!(
            table.complete(done),
            Finish::Already,
            "completion happens once"
        );
        let out = table.consume(done).expect("finished requests are consumed");
        assert_eq!((out.tag, out.primary_rc), (1, AP_OK));
        assert_eq!(table.consume(done), None, "consumed once");

        let cancelled = table.submit(verb(2));
        assert_eq!(table.cancel(cancelled), Finish::Won);
        assert_eq!(
            table.complete(cancelled),
            Finish::Already,
            "a late completion is dropped"
        );
        let out = table.consume(cancelled).unwrap();
        assert_eq!((out.tag, out.primary_rc), (2, AP_CANCELLED));

        // The freed record is reused; the stale handles must not reach it.
        let fresh = table.submit(verb(3));
        assert_ne!(table.cancel(done), Finish::Won);
        assert_eq!(table.consume(cancelled), None);
        assert_eq!(table.complete(fresh), Finish::Won);
        assert_eq!(table.consume(fresh).unwrap().tag, 3);
    }

    #[test]
    fn mutex_slab_meets_the_contract() {
        contract(&MutexSlab::default());
    }

    #[test]
    fn dashmap_meets_the_contract() {
        contract(&DashMapTable::default());
    }

    #[test]
    fn sharded_slab_meets_the_contract() {
        contract(&ShardedSlab::default());
    }
}
