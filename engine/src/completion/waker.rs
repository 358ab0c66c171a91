//! A one-shot waker cell for the `Future` target, living inside the slot.
//!
//! The future registers its waker while its task is pending; the finisher
//! *closes* the cell before it publishes the task as `READY`, and wakes the
//! waker it took out only after publishing. Once the cell is closed the
//! finisher never touches it again, so after `READY` the future may free and
//! reuse the slot without racing a late `wake`.
//!
//! | state         | meaning                                         |
//! |---------------|-------------------------------------------------|
//! | `EMPTY`       | no waker stored                                 |
//! | `SET`         | a waker is stored; nobody is touching the cell  |
//! | `REGISTERING` | the future is writing the cell                  |
//! | `CLOSED`      | the finisher has taken the cell for good        |
//!
//! * `register`: CAS `EMPTY|SET -> REGISTERING` (`Acquire`), write the waker,
//!   CAS `REGISTERING -> SET` (`AcqRel`). If that second CAS fails, the
//!   finisher closed the cell meanwhile; the future takes its waker back and
//!   reports [`Registration::Closed`], meaning "the task is about to be ready:
//!   poll again".
//! * `close`: one `swap(CLOSED)` (`AcqRel`). Only a previous `SET` means the
//!   finisher owns a stored waker; during `REGISTERING` the future keeps
//!   ownership (see above). Wait-free.
//!
//! Lost wake-ups cannot happen: a registration that succeeds before `close`
//! is woken by the finisher; one that starts after `close` sees `CLOSED`.

use crate::sync::{AtomicUsize, Ordering::*, UnsafeCell};
use std::task::Waker;

const EMPTY: usize = 0;
const SET: usize = 1;
const REGISTERING: usize = 2;
const CLOSED: usize = 3;

pub(crate) struct WakerCell {
    state: AtomicUsize,
    waker: UnsafeCell<Option<Waker>>,
}

/// Outcome of [`WakerCell::register`].
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Registration {
    /// The finisher will wake this waker.
    Registered,
    /// The finisher has already closed the cell; the task is about to be ready.
    Closed,
}

impl WakerCell {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(EMPTY),
            waker: UnsafeCell::new(None),
        }
    }

    #[inline]
    pub(crate) fn register(&self, waker: &Waker) -> Registration {
        let mut current = self.state.load(Acquire);
        loop {
            if current == CLOSED {
                return Registration::Closed;
            }
            debug_assert_ne!(current, REGISTERING, "one future registers at a time");
            match self
                .state
                .compare_exchange(current, REGISTERING, Acquire, Acquire)
            {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        // SAFETY: `REGISTERING` gives us the cell: `close` never touches it in
        // that state and only the owning future registers.
        self.waker.with_mut(|cell| unsafe {
            match &mut *cell {
                Some(old) if old.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        });
        match self
            .state
            .compare_exchange(REGISTERING, SET, AcqRel, Acquire)
        {
            Ok(_) => Registration::Registered,
            Err(_) => {
                // SAFETY: `close` saw `REGISTERING` and left the cell to us.
                drop(self.waker.with_mut(|cell| unsafe { (*cell).take() }));
                Registration::Closed
            }
        }
    }

    /// Closes the cell and returns the waker to wake once the task is `READY`.
    #[inline]
    pub(crate) fn close(&self) -> Option<Waker> {
        match self.state.swap(CLOSED, AcqRel) {
            // SAFETY: `SET` means the registrant finished writing the cell
            // (its `AcqRel` CAS happens-before our `AcqRel` swap) and, the cell
            // now being `CLOSED`, will never touch it again.
            SET => self.waker.with_mut(|cell| unsafe { (*cell).take() }),
            _ => None,
        }
    }
}
