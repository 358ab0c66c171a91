//! What a completion is for: the `user_data` layout.
//!
//! ```text
//!  63      56 55             32 31                    0
//! +----------+-----------------+-----------------------+
//! |   tag    | generation (24) |  slot / listener (32) |
//! +----------+-----------------+-----------------------+
//! ```
//!
//! For link ops the low 56 bits are the [`LinkId`] with its generation cut
//! to 24 bits. A link stays in its reactor's table until every op it issued
//! has completed, so a slot cannot be reused under an in-flight op; the
//! generation is checked anyway, and a completion that names no live link
//! only gives back the provided buffer it may carry. Each tag has at most
//! one op in flight per link, so `user_data` also names the op to cancel.

use crate::backend::links::split;
use crate::backend::LinkId;

/// The kind of op a completion belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tag {
    /// The doorbell eventfd's read.
    Wake = 1,
    /// An accept on listener `slot`.
    Accept,
    Connect,
    Recv,
    Send,
    /// An `AsyncCancel`; its own completion carries nothing.
    Cancel,
    /// The timeout after which listener `slot` accepts again (`backoff`).
    AcceptRetry,
}

const GENERATION_MASK: u64 = (1 << 24) - 1;

/// `user_data` for an op of `tag` on link `id`.
pub(super) fn link_op(tag: Tag, id: LinkId) -> u64 {
    let (slot, generation) = split(id);
    encode(tag, u64::from(generation) & GENERATION_MASK, slot)
}

/// `user_data` for an op not tied to a link (`slot` is a listener index or 0).
pub(super) fn other_op(tag: Tag, slot: u32) -> u64 {
    encode(tag, 0, slot)
}

fn encode(tag: Tag, generation: u64, slot: u32) -> u64 {
    (tag as u64) << 56 | generation << 32 | u64::from(slot)
}

/// A decoded `user_data`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Op {
    pub(super) tag: Tag,
    pub(super) slot: u32,
    generation: u32,
}

impl Op {
    pub(super) fn decode(user_data: u64) -> Option<Self> {
        let tag = match user_data >> 56 {
            1 => Tag::Wake,
            2 => Tag::Accept,
            3 => Tag::Connect,
            4 => Tag::Recv,
            5 => Tag::Send,
            6 => Tag::Cancel,
            7 => Tag::AcceptRetry,
            _ => return None,
        };
        Some(Self {
            tag,
            slot: user_data as u32,
            generation: ((user_data >> 32) & GENERATION_MASK) as u32,
        })
    }

    /// Whether this op was issued for `id` (and not an older link in its slot).
    pub(super) fn is_for(&self, id: LinkId) -> bool {
        let (slot, generation) = split(id);
        self.slot == slot && u64::from(self.generation) == u64::from(generation) & GENERATION_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = LinkId(0x0123_4567_89ab_cdef);
        let op = Op::decode(link_op(Tag::Send, id)).unwrap();
        assert_eq!(op.tag, Tag::Send);
        assert!(op.is_for(id));
        assert!(!op.is_for(LinkId(id.0 + (1 << 32))));
        let accept = Op::decode(other_op(Tag::Accept, 7)).unwrap();
        assert_eq!((accept.tag, accept.slot), (Tag::Accept, 7));
        assert_eq!(Op::decode(0), None);
    }
}
