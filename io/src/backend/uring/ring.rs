//! One io_uring instance: setup and feature probing, op submission with an
//! in-flight count, completion reaping, and the provided buffer ring.
//!
//! What is probed (never the kernel version):
//! * the opcodes the backend cannot do without (read, accept, connect,
//!   sendmsg, recv, async cancel), with `IORING_REGISTER_PROBE`: a kernel or a
//!   seccomp policy lacking one makes setup fail, and `Kind::Auto` falls
//!   back to epoll;
//! * multishot accept: offered by kernels that also know `IORING_OP_SOCKET`
//!   (they came together), so that opcode stands for it;
//! * multishot receive: needs a provided buffer ring (registering one is the
//!   probe: it fails with `EINVAL` where unsupported) and a kernel that also
//!   knows `IORING_OP_SEND_ZC` (they came together). Without it every link
//!   keeps one receive buffer of its own and re-arms a single-shot `Recv`.
//!
//! Submission is batched: [`Ring::push`] only fills the submission queue
//! (submitting early only when it is full) and [`Ring::wait`] submits the
//! whole batch and waits in one `io_uring_enter`.
//!
//! Task work is deferred (`IORING_SETUP_DEFER_TASKRUN`, which requires
//! `SINGLE_ISSUER`): the kernel finishes the reactor's receives and sends
//! and posts their completions only when the reactor enters the ring asking
//! for events, in one batch. By default it does that work whenever the
//! reactor returns from any system call, its poll's yields included, and
//! interrupts it to do so. A ring with deferred work is bound to one
//! thread: it is created disabled and enabled by its reactor
//! ([`Ring::enable`]); `IORING_SETUP_TASKRUN_FLAG` tells the reactor's poll
//! ([`Ring::ready`]) when such work waits. A kernel before 6.1 refuses
//! these flags, and gets a ring without them. What deferring changed (one
//! session's bandwidth and round trip; the many-session load unchanged) is
//! measured in `docs/design.md#io_uring-deferred-task-work`.

use std::io;
use std::time::Duration;

use io_uring::register::Probe;
use io_uring::types::{SubmitArgs, Timespec};
use io_uring::{cqueue, opcode, squeue, IoUring};

use super::buffers::BufRing;

const SQ_ENTRIES: u32 = 1024;
const CQ_ENTRIES: u32 = 4096;
/// Provided buffers per ring, and their size: 4 MiB per reactor. A 64 KiB
/// record travels in a PIU of 72 KiB; a buffer smaller than what a receive
/// finds waiting cuts PIUs, and the node gathers each cut one in a buffer
/// of its own (a copy of every byte). Larger buffers raised one session's
/// bandwidth and left the many-session load as it was
/// (`docs/design.md#receive-buffers-and-frame-size`).
const RECV_BUFFERS: u16 = 16;
const RECV_BUFFER_SIZE: usize = 256 * 1024;
/// A link's own receive buffer where the ring has no provided buffers
/// (kernels without multishot receive): one per link, so smaller.
pub(super) const LINK_RECV_BUFFER_SIZE: usize = 64 * 1024;
const RECV_GROUP: u16 = 0;

/// What the kernel offers beyond the required opcodes. (Multishot receive
/// is on exactly when the ring has a buffer ring: [`Ring::recv_group`].)
#[derive(Clone, Copy, Debug)]
pub(super) struct Features {
    pub(super) multishot_accept: bool,
}

/// A completion, copied out of the queue so the reactor can submit while it
/// handles it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Completion {
    pub(super) user_data: u64,
    pub(super) result: i32,
    pub(super) flags: u32,
}

/// See the module docs.
pub(super) struct Ring {
    uring: IoUring,
    buffers: Option<BufRing>,
    /// Ops pushed whose final completion (one without `F_MORE`) has not
    /// been reaped: while non-zero, the kernel may touch their memory.
    inflight: usize,
    /// Set up with deferred task work and not yet enabled by its issuer
    /// ([`Ring::enable`]).
    disabled: bool,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("buffers", &self.buffers)
            .field("inflight", &self.inflight)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl Ring {
    /// Sets up a ring; `multishot` false forces what a kernel before 6.0
    /// gets: the single-shot paths and a ring without deferred task work.
    pub(super) fn new(multishot: bool) -> io::Result<(Self, Features)> {
        let deferred = if multishot {
            match IoUring::builder()
                .setup_cqsize(CQ_ENTRIES)
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag()
                .setup_r_disabled()
                .build(SQ_ENTRIES)
            {
                Ok(uring) => Some(uring),
                // A kernel before 6.1 refuses the flags.
                Err(error) if error.raw_os_error() == Some(libc::EINVAL) => None,
                Err(error) => return Err(error),
            }
        } else {
            None
        };
        let (uring, disabled) = match deferred {
            Some(uring) => (uring, true),
            None => (
                IoUring::builder()
                    .setup_cqsize(CQ_ENTRIES)
                    .build(SQ_ENTRIES)?,
                false,
            ),
        };
        let mut probe = Probe::new();
        uring.submitter().register_probe(&mut probe)?;
        let required = [
            (opcode::Read::CODE, "read"),
            (opcode::Accept::CODE, "accept"),
            (opcode::Connect::CODE, "connect"),
            (opcode::SendMsg::CODE, "sendmsg"),
            (opcode::Recv::CODE, "recv"),
            (opcode::AsyncCancel::CODE, "async cancel"),
        ];
        for (code, name) in required {
            if !probe.is_supported(code) {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("io_uring lacks the {name} op"),
                ));
            }
        }
        let buffers = if multishot && probe.is_supported(opcode::SendZc::CODE) {
            BufRing::register(
                &uring.submitter(),
                RECV_GROUP,
                RECV_BUFFERS,
                RECV_BUFFER_SIZE,
            )
            .ok()
        } else {
            None
        };
        let features = Features {
            multishot_accept: multishot && probe.is_supported(opcode::Socket::CODE),
        };
        let ring = Self {
            uring,
            buffers,
            inflight: 0,
            disabled,
        };
        Ok((ring, features))
    }

    /// Queues `entry` for the next submission.
    ///
    /// # Safety
    ///
    /// Every buffer, address and descriptor `entry` points to must stay
    /// valid, and a buffer the kernel writes must not be read or moved,
    /// until the op's final completion has been reaped.
    pub(super) unsafe fn push(&mut self, entry: &squeue::Entry) {
        loop {
            // SAFETY: forwarded to our caller (see above).
            if unsafe { self.uring.submission().push(entry) }.is_ok() {
                break;
            }
            // Full: hand the batch to the kernel and retry. An error here
            // (EBUSY with completions backed up) is retried on the next turn.
            let _ = self.uring.submit();
        }
        self.inflight += 1;
    }

    /// Submits the batch and waits for at least one completion.
    pub(super) fn wait(&mut self) -> io::Result<()> {
        match self.uring.submit_and_wait(1) {
            Ok(_) => Ok(()),
            Err(error) if is_transient(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Hands the batch to the kernel without waiting.
    pub(super) fn submit(&mut self) {
        // An error (EBUSY with completions backed up) is left for `wait`.
        let _ = self.uring.submit();
    }

    /// Makes the calling thread the ring's only issuer (a ring with
    /// deferred task work starts disabled); call it on the reactor thread
    /// before anything is pushed.
    pub(super) fn enable(&mut self) -> io::Result<()> {
        if self.disabled {
            self.uring.submitter().register_enable_rings()?;
            self.disabled = false;
        }
        Ok(())
    }

    /// Whether a completion is waiting to be reaped. Deferred task work
    /// (completions the kernel has not posted yet) counts: it is run here,
    /// by an enter that asks for events (`submit` does when the ring's
    /// `IORING_SQ_TASKRUN` flag is up).
    pub(super) fn ready(&mut self) -> bool {
        if !self.uring.completion().is_empty() {
            return true;
        }
        if self.uring.submission().taskrun() {
            let _ = self.uring.submit();
            return !self.uring.completion().is_empty();
        }
        false
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`.
    pub(super) fn wait_for(&mut self, timeout: Duration) -> io::Result<()> {
        let timespec = Timespec::from(timeout);
        let args = SubmitArgs::new().timespec(&timespec);
        match self.uring.submitter().submit_with_args(1, &args) {
            Ok(_) => Ok(()),
            Err(error) if is_transient(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Moves the available completions to `into`.
    pub(super) fn reap(&mut self, into: &mut Vec<Completion>) {
        for cqe in self.uring.completion() {
            if !cqueue::more(cqe.flags()) {
                self.inflight -= 1;
            }
            into.push(Completion {
                user_data: cqe.user_data(),
                result: cqe.result(),
                flags: cqe.flags(),
            });
        }
    }

    pub(super) fn inflight(&self) -> usize {
        self.inflight
    }

    /// The provided buffer group, when multishot receive is on.
    pub(super) fn recv_group(&self) -> Option<u16> {
        self.buffers.as_ref().map(BufRing::group)
    }

    /// The first `len` bytes of provided buffer `bid`.
    pub(super) fn buffer(&self, bid: u16, len: usize) -> &[u8] {
        self.buffers
            .as_ref()
            .expect("a buffer id without a buffer ring")
            .get(bid, len)
    }

    /// Gives provided buffer `bid` back to the kernel.
    pub(super) fn recycle(&mut self, bid: u16) {
        if let Some(buffers) = &mut self.buffers {
            buffers.recycle(bid);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // Only with nothing in flight is it certain that no receive still
        // owns a provided buffer; otherwise `BufRing` leaks its memory.
        if self.inflight == 0 {
            if let Some(buffers) = &mut self.buffers {
                buffers.unregister(&self.uring.submitter());
            }
        }
    }
}

/// Errors of `io_uring_enter` that only mean "look at the queue again".
fn is_transient(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINTR | libc::EBUSY | libc::ETIME | libc::EAGAIN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel that accepts deferred task work (6.1 and later) also has
    /// multishot receive (6.0): its provided buffers must have been
    /// registered on the still-disabled ring, or every link would silently
    /// fall back to single-shot receives.
    #[test]
    fn a_deferred_ring_gets_its_provided_buffers() {
        let (mut ring, _) = Ring::new(true).expect("io_uring setup");
        if ring.disabled {
            assert!(ring.recv_group().is_some(), "no buffer ring: {ring:?}");
        }
        ring.enable().expect("the creating thread enables the ring");
        assert!(!ring.disabled);
        ring.submit();
        assert!(!ring.ready(), "nothing was pushed");
    }
}
