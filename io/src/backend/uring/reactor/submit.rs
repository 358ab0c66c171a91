//! The ops a reactor submits: the doorbell's read, accepts (and the
//! timeout that pauses them), and per link its connect, receive and send,
//! and cancels. Each pushes one entry whose memory (buffer, address,
//! timespec) is owned by the reactor and outlives the op (see the `SAFETY`
//! notes).

use std::os::fd::AsRawFd;

use io_uring::opcode;
use io_uring::types::{Fd, Timespec};

use super::Reactor;
use crate::backend::uring::op::{link_op, other_op, Tag};
use crate::backend::uring::ring::LINK_RECV_BUFFER_SIZE;

impl Reactor {
    pub(super) fn arm_doorbell(&mut self) {
        let read = opcode::Read::new(
            Fd(self.doorbell.as_raw_fd()),
            (&mut *self.doorbell_count as *mut u64).cast(),
            8,
        )
        .build()
        .user_data(other_op(Tag::Wake, 0));
        // SAFETY: the eventfd and the boxed counter belong to `self`, which
        // outlives the op (see `shutdown`), and nothing reads the counter.
        unsafe { self.ring.push(&read) };
    }

    pub(super) fn arm_accept(&mut self, listener: usize) {
        let entry = &mut self.listeners[listener];
        let fd = Fd(entry.socket.as_raw_fd());
        let accept = if self.features.multishot_accept {
            opcode::AcceptMulti::new(fd)
                .flags(libc::SOCK_CLOEXEC)
                .build()
        } else {
            opcode::Accept::new(fd, std::ptr::null_mut(), std::ptr::null_mut())
                .flags(libc::SOCK_CLOEXEC)
                .build()
        };
        entry.armed = true;
        let accept = accept.user_data(other_op(Tag::Accept, listener as u32));
        // SAFETY: no memory is passed (the peer address is read later) and
        // the listener lives as long as `self`.
        unsafe { self.ring.push(&accept) };
    }

    pub(super) fn arm_recv(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.receiving || link.closing.is_some() {
            return;
        }
        let fd = Fd(link.socket.as_raw_fd());
        let recv = match self.ring.recv_group() {
            Some(group) => opcode::RecvMulti::new(fd, group).build(),
            None => {
                let buffer = link
                    .recv_buffer
                    .get_or_insert_with(|| vec![0; LINK_RECV_BUFFER_SIZE].into_boxed_slice());
                opcode::Recv::new(fd, buffer.as_mut_ptr(), buffer.len() as u32).build()
            }
        };
        link.receiving = true;
        let recv = recv.user_data(link_op(Tag::Recv, link.id));
        // SAFETY: the socket and the boxed receive buffer belong to the link,
        // which stays in `links` (untouched by us) until this op completes.
        unsafe { self.ring.push(&recv) };
    }

    pub(super) fn arm_send(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.sending || link.target.is_some() || link.closing.is_some() {
            return;
        }
        let bytes = link.output.next();
        if bytes.is_empty() {
            return;
        }
        // At most 4 GiB a send: the rest goes with the next.
        let len = bytes.len().min(u32::MAX as usize) as u32;
        let send = opcode::Send::new(Fd(link.socket.as_raw_fd()), bytes.as_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(link_op(Tag::Send, link.id));
        link.sending = true;
        // SAFETY: the bytes are the output's flight buffer, which nothing
        // changes, moves or drops while `sending` is set (appends go to the
        // other buffer), and the link stays in `links` until the op
        // completes.
        unsafe { self.ring.push(&send) };
    }

    pub(super) fn arm_connect(&mut self, slot: u32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        let Some(target) = &link.target else {
            return;
        };
        let connect = opcode::Connect::new(
            Fd(link.socket.as_raw_fd()),
            target.as_ptr().cast(),
            target.len(),
        )
        .build()
        .user_data(link_op(Tag::Connect, link.id));
        // SAFETY: the boxed address is kept in `link.target` until the
        // connect completes, and the link stays in `links` until then.
        unsafe { self.ring.push(&connect) };
    }

    pub(super) fn cancel(&mut self, user_data: u64) {
        let cancel = opcode::AsyncCancel::new(user_data)
            .build()
            .user_data(other_op(Tag::Cancel, 0));
        // SAFETY: a cancel names its target by `user_data` only.
        unsafe { self.ring.push(&cancel) };
    }

    /// Stops accepting on `listener` for its backoff's wait (see
    /// `backoff.rs`): cancels its accept if still `armed` (multishot), and
    /// sets a timeout whose completion arms it again.
    pub(super) fn pause(&mut self, listener: usize, armed: bool) {
        if armed {
            self.cancel(other_op(Tag::Accept, listener as u32));
        }
        let l = &mut self.listeners[listener];
        l.paused = true;
        *l.wait = Timespec::from(l.backoff.failed());
        let timeout = opcode::Timeout::new(&*l.wait)
            .build()
            .user_data(other_op(Tag::AcceptRetry, listener as u32));
        // SAFETY: the timespec is boxed in the listener, which lives as
        // long as `self`, and is not changed while `paused` (until this
        // op completes).
        unsafe { self.ring.push(&timeout) };
    }
}
