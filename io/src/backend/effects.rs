//! What a handler asks of a completion-based reactor (io_uring, IOCP)
//! during a callback: outputs that grew, links to close, connects to
//! issue. The callback only records them (it holds `&mut dyn Io`, not the
//! reactor); the reactor acts on them once the callback has returned,
//! then hands the drained lists back so that their capacity serves the
//! next turn and a steady-state turn allocates nothing.
//!
//! epoll's reactor writes from readiness instead and keeps its own record
//! (`poll.rs`).

use std::io;

use super::output::Output;
use super::LinkId;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    /// Links (by slot) whose output grew.
    pub(crate) dirty: Vec<u32>,
    /// Links to close, with the error to report.
    pub(crate) closes: Vec<(LinkId, Option<io::Error>)>,
    /// Links (by slot) whose connect is to be issued.
    pub(crate) connects: Vec<u32>,
}

impl Effects {
    /// Nothing asked for.
    pub(crate) fn is_empty(&self) -> bool {
        self.dirty.is_empty() && self.closes.is_empty() && self.connects.is_empty()
    }

    /// Whether `id` is to be closed at the end of the callback.
    pub(crate) fn closing(&self, id: LinkId) -> bool {
        self.closes.iter().any(|(closing, _)| *closing == id)
    }

    /// Gives `drained`'s lists back for the next turn, where no callback
    /// has started new ones meanwhile.
    pub(crate) fn recycle(&mut self, drained: Effects) {
        if self.dirty.is_empty() {
            self.dirty = drained.dirty;
        }
        if self.closes.is_empty() {
            self.closes = drained.closes;
        }
        if self.connects.is_empty() {
            self.connects = drained.connects;
        }
    }

    /// [`Io::output`](super::Io::output) for the live link `id` in `slot`
    /// with this `output` and `dirty` flag: `None` if the link is being
    /// closed; once `max` bytes are unwritten, the link is closed (its
    /// peer stopped reading) and `None`; otherwise the buffer, with the
    /// link marked to be written at the end of the turn.
    pub(crate) fn output<'o>(
        &mut self,
        id: LinkId,
        slot: u32,
        output: &'o mut Output,
        dirty: &mut bool,
        max: usize,
    ) -> Option<&'o mut Vec<u8>> {
        if self.closing(id) {
            return None;
        }
        if output.unwritten() >= max {
            self.closes.push((id, Some(Output::full())));
            return None;
        }
        if !*dirty {
            *dirty = true;
            self.dirty.push(slot);
        }
        output.buffer(max)
    }
}
