//! Merging a link's queued sends: a backend has one write in flight per
//! link, so every small buffer queued meanwhile (a PIU each) would cost its
//! own write and completion, one after the other; merged, a burst goes out
//! in one. Shared by the io_uring and epoll reactors.

use std::collections::VecDeque;

/// The most bytes [`coalesce`] merges into one send.
pub(crate) const COALESCE_LIMIT: usize = 256 << 10;

/// Merges the queued buffers at the front of `queue` into one (up to
/// [`COALESCE_LIMIT`] bytes), unless the front one is part-sent (`head` >
/// 0).
pub(crate) fn coalesce(queue: &mut VecDeque<Vec<u8>>, head: usize) {
    if head != 0 || queue.len() < 2 || queue[0].len() + queue[1].len() > COALESCE_LIMIT {
        return;
    }
    let mut merged = queue.pop_front().unwrap_or_default();
    while let Some(next) = queue.front() {
        if merged.len() + next.len() > COALESCE_LIMIT {
            break;
        }
        merged.extend_from_slice(next);
        queue.pop_front();
    }
    queue.push_front(merged);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalesce_merges_whole_buffers_up_to_the_limit() {
        let mut queue: VecDeque<Vec<u8>> = [vec![1, 2], vec![3], vec![4, 5]].into();
        coalesce(&mut queue, 1);
        assert_eq!(queue.len(), 3, "a part-sent front stays as it is");
        coalesce(&mut queue, 0);
        assert_eq!(queue, [vec![1, 2, 3, 4, 5]]);
        let big = vec![0; COALESCE_LIMIT - 1];
        let mut queue: VecDeque<Vec<u8>> = [big.clone(), vec![1], vec![2]].into();
        coalesce(&mut queue, 0);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue[0].len(), COALESCE_LIMIT);
        assert_eq!(queue[1], [2]);
    }
}
