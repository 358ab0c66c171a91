//! A link's output: two buffers that trade places. The handler appends to
//! `pending`; the reactor writes `flight`, and when that is all written
//! (or was empty) the two swap. Both keep their capacity, so a link in its
//! steady state allocates nothing, and a buffer a write in flight reads
//! (io_uring: the kernel holds a pointer into it until the op completes)
//! is never touched by an append.

use std::io;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pending: Vec<u8>,
    flight: Vec<u8>,
    /// Bytes of `flight` already written.
    written: usize,
}

impl Output {
    /// The buffer to append to; `None` once `max` bytes or more are
    /// unwritten (a peer that stopped reading).
    pub(crate) fn buffer(&mut self, max: usize) -> Option<&mut Vec<u8>> {
        (self.unwritten() < max).then_some(&mut self.pending)
    }

    /// The error a link whose output filled up is closed with.
    pub(crate) fn full() -> io::Error {
        io::Error::new(
            io::ErrorKind::WouldBlock,
            "the peer stopped reading: its link's output is full",
        )
    }

    /// Bytes appended and not yet written.
    pub(crate) fn unwritten(&self) -> usize {
        self.pending.len() + self.flight.len() - self.written
    }

    /// The bytes to write next: the rest of the flight, or (once it is all
    /// written) what was appended since, which becomes the flight. Empty if
    /// nothing is left to write.
    pub(crate) fn next(&mut self) -> &[u8] {
        if self.written == self.flight.len() {
            self.flight.clear();
            self.written = 0;
            std::mem::swap(&mut self.flight, &mut self.pending);
        }
        &self.flight[self.written..]
    }

    /// `n` bytes of what [`Output::next`] gave were written.
    pub(crate) fn advance(&mut self, n: usize) {
        self.written = (self.written + n).min(self.flight.len());
    }

    /// Drops what was appended and not yet in flight (the link is closing;
    /// the flight stays until its write completes).
    pub(crate) fn drop_pending(&mut self) {
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_go_out_in_order_and_the_buffers_are_reused() {
        let mut out = Output::default();
        out.buffer(100).unwrap().extend_from_slice(b"hello");
        assert_eq!(out.next(), b"hello");
        out.buffer(100).unwrap().extend_from_slice(b" world");
        // A partial write: the rest of the flight first, the append after.
        out.advance(3);
        assert_eq!(out.next(), b"lo");
        assert_eq!(out.unwritten(), 8);
        out.advance(2);
        assert_eq!(out.next(), b" world");
        out.advance(6);
        assert!(out.next().is_empty());
        let capacity = out.pending.capacity() + out.flight.capacity();
        out.buffer(100).unwrap().extend_from_slice(b"again");
        assert_eq!(out.next(), b"again");
        assert_eq!(out.pending.capacity() + out.flight.capacity(), capacity);
    }

    #[test]
    fn a_full_output_refuses_more() {
        let mut out = Output::default();
        out.buffer(4).unwrap().extend_from_slice(b"1234");
        assert!(out.buffer(4).is_none());
        assert_eq!(out.next(), b"1234");
        out.advance(4);
        assert!(out.buffer(4).is_some());
    }
}
