//! The error of a verb: its name and return codes.

use super::NOT_ACCEPTED;
use crate::rc::{return_code_text, PrimaryRc, SecondaryRc};
use std::fmt;

/// A verb that did not end `AP_OK`: which verb, and its documented
/// `primary_rc` / `secondary_rc`. A verb the engine would not accept at all
/// (its application cleaned up, or its table full) reports
/// `AP_COMM_SUBSYSTEM_NOT_LOADED`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerbError {
    /// The verb, as the documentation names it.
    pub verb: &'static str,
    /// `primary_rc`.
    pub primary_rc: PrimaryRc,
    /// `secondary_rc`.
    pub secondary_rc: SecondaryRc,
}

impl VerbError {
    pub(super) fn new(
        verb: &'static str,
        primary_rc: PrimaryRc,
        secondary_rc: SecondaryRc,
    ) -> Self {
        Self {
            verb,
            primary_rc,
            secondary_rc,
        }
    }

    pub(super) fn not_accepted(verb: &'static str) -> Self {
        Self::new(verb, NOT_ACCEPTED.0, NOT_ACCEPTED.1)
    }

    /// `AP_DEALLOC_NORMAL`: the partner ended the conversation normally
    /// (how a receive learns the conversation is over; not a failure).
    pub fn is_dealloc_normal(&self) -> bool {
        self.primary_rc == PrimaryRc::DEALLOC_NORMAL
    }

    /// `AP_CANCELLED`: the verb was cancelled (by a drop elsewhere, a
    /// `WinAPPCCancelAsyncRequest`, or its application's cleanup).
    pub fn is_cancelled(&self) -> bool {
        self.primary_rc == PrimaryRc::CANCELLED
    }
}

impl fmt::Display for VerbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} failed with {:?}/{:?}: {}",
            self.verb,
            self.primary_rc,
            self.secondary_rc,
            return_code_text(self.primary_rc, self.secondary_rc)
        )
    }
}

impl std::error::Error for VerbError {}
