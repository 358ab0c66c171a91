//! The memory of one overlapped operation ([`OpMem`]): its `OVERLAPPED`
//! at the start of a heap block, with the buffers the kernel reads or
//! writes. The block has a fixed address for its whole life, so the
//! `OVERLAPPED` pointer a packet carries also names the operation
//! (compared by address, never dereferenced as a guess). At most one
//! operation per block is in flight; while one is, nothing touches the
//! block through a Rust reference, and it is freed only once the
//! operation's packet has been dequeued. A block dropped with its
//! operation still in flight (a reactor that could not wait it out) is
//! leaked, never freed.

use std::ptr::{self, NonNull};

use windows_sys::Win32::System::IO::OVERLAPPED;

#[repr(C)]
struct Op<T> {
    /// First field: the OVERLAPPED pointer given to the kernel is the
    /// block's address.
    ov: OVERLAPPED,
    data: T,
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct OpMem<T> {
    ptr: NonNull<Op<T>>,
    pending: bool,
}

impl<T> OpMem<T> {
    pub(super) fn new(data: T) -> Self {
        let op = Box::new(Op {
            ov: OVERLAPPED::default(),
            data,
        });
        Self {
            ptr: NonNull::from(Box::leak(op)),
            pending: false,
        }
    }

    /// The operation's OVERLAPPED pointer (also its identity).
    pub(super) fn ov(&self) -> *mut OVERLAPPED {
        // SAFETY: `ptr` is a live allocation (freed only in `drop`);
        // `addr_of_mut!` makes no reference, so a pending write by the
        // kernel is not aliased.
        unsafe { ptr::addr_of_mut!((*self.ptr.as_ptr()).ov) }
    }

    /// Whether an operation is in flight.
    pub(super) fn pending(&self) -> bool {
        self.pending
    }

    /// The buffers, for an operation that is not in flight.
    pub(super) fn data(&mut self) -> &mut T {
        assert!(!self.pending, "operation memory touched while in flight");
        // SAFETY: live allocation, not pending: the kernel holds no pointer
        // into it, and `&mut self` makes this the only reference.
        unsafe { &mut (*self.ptr.as_ptr()).data }
    }

    /// Readies the block for a new operation: a zeroed OVERLAPPED.
    pub(super) fn arm(&mut self) -> (*mut OVERLAPPED, &mut T) {
        assert!(!self.pending, "a second operation on one OVERLAPPED");
        let ov = self.ov();
        // SAFETY: live allocation and not pending: nothing else accesses it.
        unsafe { ov.write(OVERLAPPED::default()) };
        (ov, self.data())
    }

    /// The operation just started is in flight: its packet will come.
    pub(super) fn started(&mut self) {
        self.pending = true;
    }

    /// If `ov` is this block's and its operation was in flight: its packet
    /// was dequeued, the kernel is done with the block. False otherwise.
    pub(super) fn completed(&mut self, ov: *mut OVERLAPPED) -> bool {
        let mine = self.pending && ov == self.ov();
        if mine {
            self.pending = false;
        }
        mine
    }
}

impl<T> Drop for OpMem<T> {
    fn drop(&mut self) {
        if self.pending {
            // The kernel may still write here: leak rather than free.
            return;
        }
        // SAFETY: allocated by `Box` in `new`, not pending (no kernel
        // pointer), freed once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}
