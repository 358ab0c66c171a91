//! The bytes of request number `seq`: its number (little-endian) over the
//! first (up to 8) bytes, then a filler, `size` bytes in all.
//!
//! Every contestant sends these and checks its echoes against them, and
//! the sink checks each record's number. A request is a function of its
//! number, so nothing keeps a copy to compare against: a sender restamps
//! its one buffer in place for each request ([`refill`]) and an echo is
//! checked piece by piece where it landed ([`matches()`]), which is how the
//! load generators keep to no allocation per request.

/// What follows the number.
const FILLER: u8 = 0x5A;

/// The number's bytes.
const STAMP: usize = 8;

/// Request `seq`, in a new buffer (for a buffer's first use).
pub fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(size);
    refill(&mut data, seq, size);
    data
}

/// Makes `data`, which holds a request of `size` bytes or is empty (a
/// buffer that came back cleared), request `seq`, in place: only the
/// number is written when it holds one. Allocates only if `data` has less
/// than `size` in capacity.
pub fn refill(data: &mut Vec<u8>, seq: u64, size: usize) {
    if data.len() != size {
        data.clear();
        data.resize(size, FILLER);
    }
    stamp(data, seq);
}

/// Writes `seq` over the first (up to 8) bytes of a [`payload`].
pub fn stamp(data: &mut [u8], seq: u64) {
    let n = data.len().min(STAMP);
    data[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

/// Whether `piece` is what request `seq` holds from byte `at` on (a whole
/// echo is one piece at 0 whose length is the request's size).
pub fn matches(seq: u64, at: usize, piece: &[u8]) -> bool {
    let number = seq.to_le_bytes();
    piece.iter().enumerate().all(|(i, &byte)| {
        let expected = number.get(at + i).copied().unwrap_or(FILLER);
        byte == expected
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_its_number_then_filler() {
        let p = payload(0x0102, 12);
        assert_eq!(p, [2, 1, 0, 0, 0, 0, 0, 0, 0x5A, 0x5A, 0x5A, 0x5A]);
        assert_eq!(payload(0x0102, 3), [2, 1, 0]);
        assert!(matches(0x0102, 0, &p));
        assert!(matches(0x0102, 1, &p[1..5]), "a piece at its offset");
        assert!(matches(0x0102, 7, &p[7..]));
        assert!(!matches(0x0103, 0, &p), "another number");
        let mut flipped = p.clone();
        flipped[10] = 0;
        assert!(!matches(0x0102, 0, &flipped), "a wrong filler byte");
    }

    #[test]
    fn refill_restamps_in_place_and_fills_an_emptied_buffer() {
        let mut data = payload(1, 64);
        let at = data.as_ptr();
        refill(&mut data, 2, 64);
        assert_eq!((data.as_ptr(), &data), (at, &payload(2, 64)));
        data.clear();
        refill(&mut data, 3, 64);
        assert_eq!((data.as_ptr(), data), (at, payload(3, 64)));
        let mut short = vec![1, 2, 3];
        refill(&mut short, 7, 16);
        assert_eq!(short, payload(7, 16));
    }
}
