//! A link's send queue, written gathered: one `sendmsg` (epoll) or one
//! `SendMsg` op (io_uring) takes up to [`MAX_IOV`] queued buffers as they
//! lie, so a large RU goes from the node's buffer to the socket without
//! being copied into a bigger one first. Shared by the io_uring and epoll
//! reactors.
//!
//! Small parts are still merged as they are queued ([`SendQueue::push`]):
//! a link with many sessions queues one small buffer per step (a PIU or
//! a few), and one iovec each would end a gathered write after
//! [`MAX_IOV`] of them. Copying a small part is cheaper than a write of
//! its own; copying a large one is what gathering avoids (on one session's
//! 64 KiB records, the copies into merged buffers cost the sending reactor
//! a copy of every byte).
//!
//! A buffer a write in flight reads (io_uring: the kernel holds pointers
//! into it until the op completes) is *pinned* ([`SendQueue::pin`]) and
//! neither moved, changed nor dropped until [`SendQueue::advance`] or
//! [`SendQueue::truncate_to_pinned`] unpins it.

use std::collections::VecDeque;

/// The most buffers one gathered write takes.
pub(crate) const MAX_IOV: usize = 64;
/// A part shorter than this is appended to a queued buffer shorter than
/// this (one not pinned) instead of being queued on its own.
const MERGE_BELOW: usize = 16 << 10;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    bufs: VecDeque<Vec<u8>>,
    /// Bytes of the front buffer already written.
    head: usize,
    /// Front buffers a write in flight reads.
    pinned: usize,
}

impl SendQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.bufs.is_empty()
    }

    /// Queues `part` after everything queued (an empty one is dropped).
    pub(crate) fn push(&mut self, part: Vec<u8>) {
        if part.is_empty() {
            return;
        }
        if part.len() < MERGE_BELOW && self.bufs.len() > self.pinned {
            if let Some(last) = self.bufs.back_mut().filter(|b| b.len() < MERGE_BELOW) {
                last.extend_from_slice(&part);
                return;
            }
        }
        self.bufs.push_back(part);
    }

    /// The unwritten bytes of the first [`MAX_IOV`] buffers, in order.
    pub(crate) fn slices(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs.iter().take(MAX_IOV).enumerate().map(|(i, b)| {
            if i == 0 {
                &b[self.head..]
            } else {
                &b[..]
            }
        })
    }

    /// Marks the first `n` buffers as read by a write in flight.
    pub(crate) fn pin(&mut self, n: usize) {
        self.pinned = n.min(self.bufs.len());
    }

    /// `n` bytes were written: drops the buffers they finish and unpins.
    pub(crate) fn advance(&mut self, mut n: usize) {
        self.pinned = 0;
        while let Some(front) = self.bufs.front() {
            let left = front.len() - self.head;
            if n < left {
                self.head += n;
                return;
            }
            n -= left;
            self.bufs.pop_front();
            self.head = 0;
        }
    }

    /// Drops every buffer but the pinned ones (a closing link).
    pub(crate) fn truncate_to_pinned(&mut self) {
        self.bufs.truncate(self.pinned);
        if self.pinned == 0 {
            self.head = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(q: &SendQueue) -> Vec<u8> {
        q.slices().flatten().copied().collect()
    }

    #[test]
    fn small_parts_merge_large_ones_stay_whole() {
        let mut q = SendQueue::default();
        q.push(vec![1, 2]);
        q.push(Vec::new());
        q.push(vec![3]);
        assert_eq!(q.bufs.len(), 1, "small parts share a buffer");
        let big = vec![9; MERGE_BELOW];
        let at = big.as_ptr();
        q.push(big);
        q.push(vec![4]);
        assert_eq!(q.bufs.len(), 3);
        assert_eq!(q.bufs[1].as_ptr(), at, "a large part is queued as it is");
        q.push(vec![5; MERGE_BELOW]);
        assert_eq!(q.bufs.len(), 4, "nothing is appended to a large buffer");
        let mut want = vec![1, 2, 3];
        want.extend([9; MERGE_BELOW]);
        want.push(4);
        want.extend([5; MERGE_BELOW]);
        assert_eq!(contents(&q), want);
    }

    #[test]
    fn advance_drops_what_was_written_and_keeps_order() {
        let mut q = SendQueue::default();
        q.push(vec![0; MERGE_BELOW]);
        q.push((0..=255).collect());
        q.advance(MERGE_BELOW - 1);
        assert_eq!(q.slices().map(<[u8]>::len).collect::<Vec<_>>(), [1, 256]);
        q.advance(11);
        assert_eq!(contents(&q), (10..=255).collect::<Vec<u8>>());
        q.advance(246);
        assert!(q.is_empty());
    }

    #[test]
    fn pinned_buffers_are_not_changed() {
        let mut q = SendQueue::default();
        q.push(vec![1]);
        q.pin(1);
        q.push(vec![2]);
        assert_eq!(q.bufs.len(), 2, "a pinned buffer is not appended to");
        q.push(vec![3]);
        assert_eq!(q.bufs.len(), 2, "an unpinned one is");
        q.truncate_to_pinned();
        assert_eq!(contents(&q), [1]);
        q.advance(1);
        assert!(q.is_empty());
    }

    #[test]
    fn truncating_unpinned_drops_everything() {
        let mut q = SendQueue::default();
        q.push(vec![7; 10]);
        q.advance(4);
        q.truncate_to_pinned();
        assert!(q.is_empty());
        q.push(vec![8; 3]);
        assert_eq!(
            contents(&q),
            [8; 3],
            "a fresh buffer starts at its first byte"
        );
    }

    #[test]
    fn one_gathered_write_takes_at_most_max_iov_buffers() {
        let mut q = SendQueue::default();
        for i in 0..MAX_IOV + 5 {
            q.push(vec![i as u8; MERGE_BELOW]);
        }
        assert_eq!(q.slices().count(), MAX_IOV);
    }
}
