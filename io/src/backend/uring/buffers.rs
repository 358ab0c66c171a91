//! The provided buffer ring that multishot receives draw from.
//!
//! With a buffer ring the kernel picks a free buffer only when data arrives,
//! so an idle link pins no memory: `COUNT` buffers serve every link of the
//! reactor. The completion names the buffer (`IORING_CQE_F_BUFFER`); the
//! reactor hands its bytes to the `received` callback and gives it back at
//! once ([`BufRing::recycle`]). When every buffer is out the kernel ends the
//! multishot receive with `ENOBUFS`, and the reactor re-arms it after the
//! batch has given buffers back.
//!
//! Memory: the ring of `io_uring_buf` entries (page-aligned, as the kernel
//! requires) and one block holding the buffers, both allocated here. The
//! kernel may write into the buffers for as long as the group is registered,
//! so they are freed only after [`BufRing::unregister`]; a ring dropped
//! while still registered leaks them rather than risk a write to freed
//! memory.

use std::alloc::{self, Layout};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;
use io_uring::Submitter;

const PAGE: usize = 4096;

/// See the module docs.
#[derive(Debug)]
pub(super) struct BufRing {
    entries: NonNull<BufRingEntry>,
    entries_layout: Layout,
    data: NonNull<u8>,
    data_layout: Layout,
    count: u16,
    size: usize,
    /// Our copy of the tail; the kernel reads the published one.
    tail: u16,
    group: u16,
    registered: bool,
}

// SAFETY: the ring is plain memory shared only with the kernel; the
// pointers are owned by this value and used from one thread at a time.
unsafe impl Send for BufRing {}

impl BufRing {
    /// Allocates `count` (a power of two) buffers of `size` bytes, registers
    /// them as buffer group `group` and makes them all available.
    pub(super) fn register(
        submitter: &Submitter<'_>,
        group: u16,
        count: u16,
        size: usize,
    ) -> io::Result<Self> {
        assert!(count.is_power_of_two() && size > 0 && size <= u32::MAX as usize);
        let entries_bytes = (usize::from(count) * size_of::<BufRingEntry>()).next_multiple_of(PAGE);
        let entries_layout =
            Layout::from_size_align(entries_bytes, PAGE).map_err(io::Error::other)?;
        let data_layout =
            Layout::from_size_align(usize::from(count) * size, PAGE).map_err(io::Error::other)?;
        // SAFETY: both layouts have a non-zero size.
        let (entries, data) = unsafe {
            (
                alloc::alloc_zeroed(entries_layout).cast::<BufRingEntry>(),
                alloc::alloc(data_layout),
            )
        };
        let (Some(entries), Some(data)) = (NonNull::new(entries), NonNull::new(data)) else {
            alloc::handle_alloc_error(entries_layout);
        };
        let mut ring = Self {
            entries,
            entries_layout,
            data,
            data_layout,
            count,
            size,
            tail: 0,
            group,
            registered: false,
        };
        // SAFETY: `entries` is page-aligned and holds `count` entries; it
        // stays allocated until unregistered (see `Drop`).
        unsafe {
            submitter.register_buf_ring_with_flags(entries.as_ptr() as u64, count, group, 0)?;
        }
        ring.registered = true;
        for bid in 0..count {
            ring.push(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// The buffer group id receives name.
    pub(super) fn group(&self) -> u16 {
        self.group
    }

    /// The first `len` bytes of buffer `bid`, which a completion handed us.
    pub(super) fn get(&self, bid: u16, len: usize) -> &[u8] {
        assert!(bid < self.count && len <= self.size);
        // SAFETY: the range lies inside `data`. The kernel filled this buffer
        // and will not touch it again until `recycle` puts it back in the
        // ring, which needs `&mut self`, so not while the slice lives.
        unsafe {
            std::slice::from_raw_parts(self.data.as_ptr().add(usize::from(bid) * self.size), len)
        }
    }

    /// Gives buffer `bid` back to the kernel.
    pub(super) fn recycle(&mut self, bid: u16) {
        assert!(bid < self.count);
        self.push(bid);
        self.publish();
    }

    fn push(&mut self, bid: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        // SAFETY: `index < count`, inside the entries allocation; the kernel
        // reads entries only below the published tail, and this one is past
        // it until `publish`.
        let entry = unsafe { &mut *self.entries.as_ptr().add(index) };
        // SAFETY: `bid < count`, so the address is inside `data`.
        let addr = unsafe { self.data.as_ptr().add(usize::from(bid) * self.size) };
        entry.set_addr(addr as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the pushed entries visible to the kernel.
    fn publish(&self) {
        // SAFETY: `entries` is the ring's first entry, so `tail` points at
        // the shared tail field, a naturally aligned u16 that the kernel
        // only reads; the release store orders the entry writes before it.
        unsafe {
            let tail = BufRingEntry::tail(self.entries.as_ptr()).cast_mut();
            AtomicU16::from_ptr(tail).store(self.tail, Ordering::Release);
        }
    }

    /// Unregisters the group; call only with no receive in flight.
    pub(super) fn unregister(&mut self, submitter: &Submitter<'_>) {
        if self.registered && submitter.unregister_buf_ring(self.group).is_ok() {
            self.registered = false;
        }
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.registered {
            // The kernel may still write here: leak (see the module docs).
            return;
        }
        // SAFETY: allocated in `register` with these layouts, and the
        // kernel no longer knows the addresses.
        unsafe {
            alloc::dealloc(self.entries.as_ptr().cast(), self.entries_layout);
            alloc::dealloc(self.data.as_ptr(), self.data_layout);
        }
    }
}
