//! The per-slot state word: one `AtomicU64` holding the slot's generation and
//! its task's state, so that one compare-and-swap both checks "this handle is
//! still the live task" and moves the state.
//!
//! # Bit table
//!
//! | bits   | field        | values                                                   |
//! |--------|--------------|----------------------------------------------------------|
//! | 0..3   | `LIFECYCLE`  | `FREE` 0, `PENDING` 1, `FINISHING` 2, `READY` 3, `RETIRED` 4 |
//! | 3      | `CANCELLED`  | set by a cancel that won `PENDING -> FINISHING`          |
//! | 4      | `ABANDONED`  | the task's future was dropped while `FINISHING`          |
//! | 5..7   | `KIND`       | completion target: `QUEUE` 0, `PORT` 1, `EVENT` 2, `FUTURE` 3 |
//! | 7      | `TAKEN`      | a consumer took the `READY` task (`FINISHING` again, on its way to `FREE`) |
//! | 32..64 | `GENERATION` | the same field as in a [`Handle`](crate::Handle)         |
//!
//! # Who owns what
//!
//! The slot's verb and target cells are owned by exactly one party at a time,
//! and the state word says which:
//!
//! * `FREE`: the allocator that popped the slot off a free list (nobody else
//!   can reach it: every other transition expects a non-`FREE` word).
//! * `PENDING`: nobody writes the verb. The target is read-only; a future's
//!   waker cell is shared through its own protocol ([`crate::completion::waker`]).
//! * `FINISHING`: the party whose CAS moved the word here: the completer, a
//!   winning canceller, or a consumer that took a `READY` task. For the queue
//!   and port kinds, `FINISHING` lasts while the slot sits in the completion
//!   queue: the queue owns it and its consumer frees it.
//! * `READY`: nobody writes; the event/future consumer may take it.
//! * `RETIRED`: the slot reached [`LAST_GENERATION`] and is never reused.
//!
//! # Transitions
//!
//! | transition                        | by          | how                      | ordering (success / failure) |
//! |-----------------------------------|-------------|--------------------------|------------------------------|
//! | `FREE(g) -> PENDING(g)`           | allocator   | store ([`StateCell::claim`]) | `Release`                |
//! | `PENDING(g) -> FINISHING(g)`      | completer   | CAS ([`StateCell::finish`])  | `AcqRel` / `Acquire`     |
//! | `PENDING(g) -> FINISHING+CANCELLED(g)` | canceller | CAS ([`StateCell::finish`]) | `AcqRel` / `Acquire`   |
//! | `FINISHING(g) -> READY(g)`, future | finisher   | CAS ([`StateCell::publish`]) | `AcqRel` / `Acquire`     |
//! | `FINISHING(g) -> READY(g)`, event | finisher    | store ([`StateCell::publish_unshared`]) | `Release`     |
//! | `READY(g) -> FINISHING+TAKEN(g)`  | consumer    | CAS ([`StateCell::take`])    | `AcqRel` / `Acquire`     |
//! | `FINISHING(g) -> +ABANDONED`      | future drop | CAS ([`StateCell::abandon`]) | `AcqRel` / `Acquire`     |
//! | `FINISHING(g) -> FREE(g+1)` or `RETIRED(g)` | owner | store ([`StateCell::release`]) | `Release`        |
//!
//! The release half of `claim` publishes the verb and target written by the
//! submitter to whoever wins the next CAS with `Acquire`; `publish` releases
//! the finisher's writes to the verb to the consumer's `take`. Every
//! transition that can race is a single read-modify-write, so the word has one
//! modification order and the first RMW wins:
//!
//! * **complete vs cancel**: both CAS from `PENDING(g)`; exactly one succeeds.
//!   The loser sees `FINISHING` (or later) at generation `g` and backs off: the
//!   completer drops its result, the canceller reports `WAPPCALREADY`.
//! * **cancel vs cancel**: the same CAS; one wins (returns 0), the other sees
//!   `FINISHING` and reports `WAPPCALREADY`.
//! * **complete or cancel vs reuse** (ABA): the expected word carries the
//!   generation, and a released slot's generation has moved on, so a late
//!   completer or a stale cancel can never move a reused slot.
//! * **finisher vs future drop**: `publish` and `abandon` both CAS from
//!   `FINISHING`; if the drop wins, `publish` fails and the finisher frees the
//!   slot; otherwise the drop finds `READY` and takes it itself. An event
//!   task has no such race (nothing but a future is abandoned, and every
//!   other transition expects `PENDING` or `READY`), so its finisher
//!   publishes with a plain store.
//!
//! A handle's cancel outcome is a pure function of the word it observed
//! ([`State::verdict`]): an older generation, or the same generation
//! past `PENDING`, is `WAPPCALREADY`; a newer generation, or the same one while
//! `FREE` (not yet issued), is `WAPPCINVALID`.

use crate::handle::{Field, Generation, GENERATION, LAST_GENERATION};
use crate::sync::{AtomicU64, Ordering::*};
use std::fmt;

const LIFECYCLE: Field = Field::first(3);
const CANCELLED: u64 = 1 << 3;
const ABANDONED: u64 = 1 << 4;
const KIND: Field = Field { len: 2, shift: 5 };
const TAKEN: u64 = 1 << 7;

const FREE: u64 = 0;
const PENDING: u64 = 1;
const FINISHING: u64 = 2;
const READY: u64 = 3;
const RETIRED: u64 = 4;

/// Which completion target a task reports to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Queue = 0,
    Port = 1,
    Event = 2,
    Future = 3,
}

impl Kind {
    #[inline]
    fn from_bits(bits: u64) -> Self {
        match bits {
            0 => Kind::Queue,
            1 => Kind::Port,
            2 => Kind::Event,
            _ => Kind::Future,
        }
    }
}

/// A snapshot of a state word.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct State(u64);

/// What a cancel concluded from the word it observed, before any CAS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The handle's task is pending: try the CAS.
    Pending,
    /// The handle's task finished (and may have been consumed and its slot reused).
    Already,
    /// The handle was never issued for this slot.
    Invalid,
}

impl State {
    #[inline]
    fn lifecycle(self) -> u64 {
        LIFECYCLE.get(self.0)
    }

    #[inline]
    pub(crate) fn generation(self) -> Generation {
        GENERATION.get(self.0) as Generation
    }

    #[inline]
    pub(crate) fn kind(self) -> Kind {
        Kind::from_bits(KIND.get(self.0))
    }

    #[inline]
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }

    #[inline]
    pub(crate) fn is_pending(self) -> bool {
        self.lifecycle() == PENDING
    }

    #[inline]
    pub(crate) fn is_ready(self) -> bool {
        self.lifecycle() == READY
    }

    /// True once a consumer has taken the finished task (see [`StateCell::take`]).
    #[inline]
    pub(crate) fn is_taken(self) -> bool {
        self.0 & TAKEN != 0
    }

    /// True while the slot holds a task that has not been freed.
    #[inline]
    pub(crate) fn is_live(self) -> bool {
        !matches!(self.lifecycle(), FREE | RETIRED)
    }

    /// The cancel outcome for a handle of generation `generation` against this
    /// word (see the module docs).
    #[inline]
    pub(crate) fn verdict(self, generation: Generation) -> Verdict {
        use std::cmp::Ordering::*;
        match generation.cmp(&self.generation()) {
            Less => Verdict::Already,
            Greater => Verdict::Invalid,
            Equal => match self.lifecycle() {
                FREE => Verdict::Invalid,
                PENDING => Verdict::Pending,
                _ => Verdict::Already,
            },
        }
    }

    #[inline]
    fn with_lifecycle(self, lifecycle: u64) -> Self {
        Self(LIFECYCLE.set(self.0, lifecycle))
    }

    #[inline]
    fn at(generation: Generation, lifecycle: u64) -> Self {
        Self(GENERATION.set(lifecycle, u64::from(generation)))
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lifecycle = match self.lifecycle() {
            FREE => "FREE",
            PENDING => "PENDING",
            FINISHING => "FINISHING",
            READY => "READY",
            _ => "RETIRED",
        };
        f.debug_struct("State")
            .field("generation", &self.generation())
            .field("lifecycle", &lifecycle)
            .field("kind", &self.kind())
            .field("cancelled", &self.is_cancelled())
            .field("abandoned", &(self.0 & ABANDONED != 0))
            .field("taken", &self.is_taken())
            .finish()
    }
}

/// Who is finishing a pending task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finisher {
    Completer,
    Canceller,
}

/// Outcome of [`StateCell::publish`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Published {
    /// The task is `READY` for its consumer.
    Ready,
    /// Its future was dropped meanwhile: the finisher must free the slot.
    Abandoned,
}

/// Outcome of [`StateCell::abandon`].
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abandon {
    /// The task was pending and is now cancelled by us: we own and free it.
    Cancelled,
    /// The task was ready and is now taken by us: we own and free it.
    Taken,
    /// A finisher owns it and will free it when it tries to publish.
    HandedOver,
}

/// The atomic state word of one slot.
pub(crate) struct StateCell(AtomicU64);

impl StateCell {
    /// A never-used slot: `FREE` at `generation` (its table's first, see
    /// [`crate::tags`]).
    #[inline]
    pub(crate) fn new(generation: Generation) -> Self {
        Self(AtomicU64::new(State::at(generation, FREE).0))
    }

    #[inline]
    pub(crate) fn load(&self) -> State {
        State(self.0.load(Acquire))
    }

    /// `FREE(g) -> PENDING(g)`. The caller popped the slot off a free list, so
    /// it is the only party that can reach the word: a plain store. (Nothing
    /// races a submission but completers and cancellers of *other* tasks:
    /// [`Engine::cleanup`](crate::Engine::cleanup) takes `&mut Engine`, so it
    /// never runs beside a submit.)
    #[inline]
    pub(crate) fn claim(&self, kind: Kind) -> Generation {
        let current = State(self.0.load(Relaxed));
        debug_assert_eq!(current.lifecycle(), FREE, "claimed a busy slot");
        let next = State(KIND.set(current.with_lifecycle(PENDING).0, kind as u64));
        self.0.store(next.0, Release);
        current.generation()
    }

    /// `PENDING(g) -> FINISHING(g)`, the race between completer and canceller.
    /// On success the caller owns the verb; on failure it gets the word that
    /// beat it.
    #[inline]
    pub(crate) fn finish(&self, generation: Generation, who: Finisher) -> Result<State, State> {
        let current = self.load();
        if current.verdict(generation) != Verdict::Pending {
            return Err(current);
        }
        let mut next = current.with_lifecycle(FINISHING).0;
        if who == Finisher::Canceller {
            next |= CANCELLED;
        }
        match self.0.compare_exchange(current.0, next, AcqRel, Acquire) {
            Ok(_) => Ok(State(next)),
            Err(actual) => Err(State(actual)),
        }
    }

    /// `FINISHING(g) -> READY(g)` for event and future tasks.
    #[inline]
    pub(crate) fn publish(&self, owned: State) -> Published {
        debug_assert_eq!(owned.lifecycle(), FINISHING);
        let ready = owned.with_lifecycle(READY);
        match self.0.compare_exchange(owned.0, ready.0, AcqRel, Acquire) {
            Ok(_) => Published::Ready,
            Err(actual) => {
                debug_assert_eq!(actual, owned.0 | ABANDONED, "lost a FINISHING slot");
                Published::Abandoned
            }
        }
    }

    /// `FINISHING(g) -> READY(g)` for event tasks: a store, because no other
    /// party moves an event task's word out of `FINISHING` (only futures are
    /// abandoned; completers, cancellers and collectors all expect another
    /// state).
    #[inline]
    pub(crate) fn publish_unshared(&self, owned: State) {
        debug_assert_eq!(owned.lifecycle(), FINISHING);
        debug_assert_ne!(owned.kind(), Kind::Future, "a future may be abandoned");
        self.0.store(owned.with_lifecycle(READY).0, Release);
    }

    /// `READY(g) -> FINISHING+TAKEN(g)`: a consumer takes a finished task.
    /// `TAKEN` tells a second consumer racing for the same task "collected"
    /// rather than "not finished yet".
    #[inline]
    pub(crate) fn take(&self, generation: Generation) -> Result<State, State> {
        self.take_from(self.load(), generation)
    }

    /// [`StateCell::take`] from a word the caller just loaded.
    #[inline]
    pub(crate) fn take_from(&self, current: State, generation: Generation) -> Result<State, State> {
        if current.generation() != generation || !current.is_ready() {
            return Err(current);
        }
        let owned = State(current.with_lifecycle(FINISHING).0 | TAKEN);
        self.0
            .compare_exchange(current.0, owned.0, AcqRel, Acquire)
            .map(|_| owned)
            .map_err(State)
    }

    /// A dropped future gives up its task, whatever state it is in. Each
    /// failed CAS means the word moved forward (`PENDING -> FINISHING ->
    /// READY`), so the loop runs at most three times.
    #[inline]
    pub(crate) fn abandon(&self, generation: Generation) -> Abandon {
        let mut current = self.load();
        loop {
            debug_assert_eq!(current.generation(), generation, "future outlived its slot");
            let (next, outcome) = match current.lifecycle() {
                PENDING => (
                    current.with_lifecycle(FINISHING).0 | CANCELLED,
                    Abandon::Cancelled,
                ),
                FINISHING => (current.0 | ABANDONED, Abandon::HandedOver),
                _ => (current.with_lifecycle(FINISHING).0 | TAKEN, Abandon::Taken),
            };
            match self.0.compare_exchange(current.0, next, AcqRel, Acquire) {
                Ok(_) => return outcome,
                Err(actual) => current = State(actual),
            }
        }
    }

    /// `FINISHING(g) -> FREE(g+1)`, or `RETIRED(g)` when `g` is the last
    /// generation. Returns whether the slot may go back on a free list.
    #[must_use]
    #[inline]
    pub(crate) fn release(&self, owned: State) -> bool {
        let generation = owned.generation();
        let (next, reusable) = if generation == LAST_GENERATION {
            (State::at(generation, RETIRED), false)
        } else {
            (State::at(generation + 1, FREE), true)
        };
        self.0.store(next.0, Release);
        reusable
    }
}

impl fmt::Debug for StateCell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.load().fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn pending(kind: Kind) -> (StateCell, Generation) {
        let cell = StateCell::new(0);
        let generation = cell.claim(kind);
        (cell, generation)
    }

    #[test]
    fn pending_and_taken_are_read_from_the_word() {
        let (cell, g) = pending(Kind::Event);
        assert!(cell.load().is_pending() && !cell.load().is_taken());
        let owned = cell.finish(g, Finisher::Completer).unwrap();
        assert!(!owned.is_pending() && !owned.is_taken());
        assert_eq!(cell.publish(owned), Published::Ready);
        assert!(!cell.load().is_pending() && !cell.load().is_taken());
        let taken = cell.take(g).unwrap();
        // A second consumer racing for the task reads "taken": collected,
        // not "not finished yet".
        assert!(taken.is_taken() && cell.load().is_taken());
        assert!(!cell.load().is_pending());
    }

    #[test]
    fn debug_shows_every_field() {
        let show = |word: u64| format!("{:?}", State(word));
        for (lifecycle, name) in [
            (FREE, "FREE"),
            (PENDING, "PENDING"),
            (FINISHING, "FINISHING"),
            (READY, "READY"),
            (RETIRED, "RETIRED"),
        ] {
            assert_eq!(
                show(State::at(5, lifecycle).0),
                format!(
                    "State {{ generation: 5, lifecycle: {name:?}, kind: Queue, \
                     cancelled: false, abandoned: false, taken: false }}"
                )
            );
        }
        let (cell, g) = pending(Kind::Queue);
        assert_eq!(format!("{cell:?}"), format!("{:?}", State::at(g, PENDING)));
        let flags = State::at(5, FINISHING).0 | CANCELLED | ABANDONED | TAKEN;
        assert_eq!(
            show(flags),
            "State { generation: 5, lifecycle: \"FINISHING\", kind: Queue, \
             cancelled: true, abandoned: true, taken: true }"
        );
    }

    #[test]
    fn complete_then_cancel_is_already() {
        let (cell, g) = pending(Kind::Event);
        let owned = cell.finish(g, Finisher::Completer).unwrap();
        assert!(!owned.is_cancelled());
        assert_eq!(
            cell.finish(g, Finisher::Canceller).unwrap_err().verdict(g),
            Verdict::Already
        );
        assert_eq!(cell.publish(owned), Published::Ready);
        let taken = cell.take(g).unwrap();
        assert!(cell.release(taken));
        assert_eq!(cell.load().verdict(g), Verdict::Already);
        assert_eq!(cell.load().verdict(g + 1), Verdict::Invalid);
        assert_eq!(cell.load().verdict(g + 2), Verdict::Invalid);
    }

    #[test]
    fn cancel_then_complete_is_refused() {
        let (cell, g) = pending(Kind::Queue);
        let owned = cell.finish(g, Finisher::Canceller).unwrap();
        assert!(owned.is_cancelled());
        assert!(cell.finish(g, Finisher::Completer).is_err());
        assert_eq!(owned.kind(), Kind::Queue);
    }

    #[test]
    fn abandon_in_each_state() {
        let (cell, g) = pending(Kind::Future);
        assert_eq!(cell.abandon(g), Abandon::Cancelled);

        let (cell, g) = pending(Kind::Future);
        let owned = cell.finish(g, Finisher::Completer).unwrap();
        assert_eq!(cell.abandon(g), Abandon::HandedOver);
        assert_eq!(cell.publish(owned), Published::Abandoned);

        let (cell, g) = pending(Kind::Future);
        let owned = cell.finish(g, Finisher::Completer).unwrap();
        assert_eq!(cell.publish(owned), Published::Ready);
        assert_eq!(cell.abandon(g), Abandon::Taken);
    }

    #[test]
    fn last_generation_retires() {
        let cell = StateCell(AtomicU64::new(State::at(LAST_GENERATION, FREE).0));
        let g = cell.claim(Kind::Event);
        let owned = cell.finish(g, Finisher::Completer).unwrap();
        assert!(!cell.release(owned));
        assert_eq!(cell.load().verdict(g), Verdict::Already);
        assert!(!cell.load().is_live());
    }
}
