//! Pooled data buffers, so that a verb costs no allocation in steady state.
//!
//! The engine's verbs carry their data in a `Vec<u8>`: a send's bytes,
//! a receive's buffer (which the engine fills and hands back with the
//! completion). The ABI copies the caller's `dptr` into one on the way in
//! and out of one on the way back; the vectors themselves come from a
//! small per-thread pool and return to the pool of whichever thread
//! finished the verb, so threads that submit and threads that complete
//! trade buffers without a lock.

use std::cell::RefCell;

/// Buffers a thread keeps at most.
const KEEP: usize = 64;
/// Buffers larger than this are freed rather than kept.
const LARGEST_KEPT: usize = 64 << 10;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for `len` bytes.
pub(crate) fn take(len: usize) -> Vec<u8> {
    let mut buf = POOL
        .try_with(|pool| pool.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_default();
    buf.clear();
    buf.reserve(len);
    buf
}

/// Returns `buf` to this thread's pool.
pub(crate) fn give(buf: Vec<u8>) {
    if buf.capacity() == 0 || buf.capacity() > LARGEST_KEPT {
        return;
    }
    let _ = POOL.try_with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < KEEP {
            pool.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_taken_again_empty() {
        let mut buf = take(100);
        buf.extend_from_slice(b"abc");
        let at = buf.as_ptr();
        give(buf);
        let again = take(10);
        assert!(again.is_empty());
        assert_eq!(again.as_ptr(), at);
        assert!(again.capacity() >= 100);
    }
}
