//! What each completion means: an accept adopts its socket, a connect
//! announces its link, a receive hands its bytes to the handler, a send
//! advances the output; and the two phases of a close (cancel the link's
//! ops, then end it once the last has completed).

use std::io::{self};
use std::net::TcpStream;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::atomic::Ordering;

use io_uring::cqueue;

use super::{os_error, Link, LinkIo, Reactor, BULK, BULK_TURNS};
use crate::backend::backoff;
use crate::backend::links::split;
use crate::backend::uring::op::{link_op, Op, Tag};
use crate::backend::uring::ring::Completion;
use crate::backend::Handler;
use crate::diag::limited;

impl Reactor {
    pub(super) fn complete(&mut self, handler: &mut dyn Handler, completion: Completion) {
        let Some(op) = Op::decode(completion.user_data) else {
            return;
        };
        match op.tag {
            // The mailbox and the handler's inbox are looked at every turn.
            Tag::Wake => self.arm_doorbell(),
            Tag::Accept => self.accepted(handler, op.slot as usize, completion),
            Tag::AcceptRetry => {
                let listener = op.slot as usize;
                self.listeners[listener].paused = false;
                if !self.listeners[listener].armed {
                    self.arm_accept(listener);
                }
            }
            Tag::Cancel => {}
            Tag::Connect | Tag::Recv | Tag::Send => {
                let live = self
                    .links
                    .get(&op.slot)
                    .is_some_and(|link| op.is_for(link.id));
                if !live {
                    if let Some(bid) = cqueue::buffer_select(completion.flags) {
                        self.ring.recycle(bid);
                    }
                    return;
                }
                match op.tag {
                    Tag::Connect => self.connected(handler, op.slot, completion.result),
                    Tag::Recv => self.received(handler, op.slot, completion),
                    _ => self.sent(op.slot, completion.result),
                }
                self.effects(handler);
                self.maybe_finish(handler, op.slot);
            }
        }
    }

    pub(super) fn accepted(
        &mut self,
        handler: &mut dyn Handler,
        listener: usize,
        completion: Completion,
    ) {
        let more = cqueue::more(completion.flags);
        if completion.result >= 0 {
            // SAFETY: a successful accept returns a new descriptor that
            // nothing else owns.
            let socket = TcpStream::from(unsafe { OwnedFd::from_raw_fd(completion.result) });
            self.listeners[listener].backoff.reset();
            self.adopt(handler, socket);
        } else if completion.result == -libc::EINVAL && self.features.multishot_accept {
            // Probed, but refused: accept one at a time from now on.
            self.features.multishot_accept = false;
        } else if completion.result != -libc::ECANCELED {
            let error = os_error(completion.result);
            self.sink.accept_errors.fetch_add(1, Ordering::Relaxed);
            let starved = backoff::starved(&error);
            let l = &mut self.listeners[listener];
            limited!(warn, &mut l.log, "accept", %error, starved, "accept failed");
            if starved && !l.paused {
                self.pause(listener, more);
            }
        }
        if !more {
            self.listeners[listener].armed = false;
            if !self.listeners[listener].paused {
                self.arm_accept(listener);
            }
        }
    }

    pub(super) fn adopt(&mut self, handler: &mut dyn Handler, socket: TcpStream) {
        // A peer that already reset has no address: drop it unannounced.
        let Ok(peer) = socket.peer_addr() else {
            return;
        };
        let _ = socket.set_nodelay(true);
        let id = self.sink.links.open(self.index);
        let slot = split(id).0;
        self.links.insert(slot, Link::new(id, socket, peer));
        handler.connected(&mut self.io(), id, peer);
        self.arm_recv(slot);
        self.effects(handler);
    }

    pub(super) fn connected(&mut self, handler: &mut dyn Handler, slot: u32, result: i32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        link.target = None;
        if link.closing.is_some() {
            return;
        }
        if result < 0 {
            return self.begin_close(slot, Some(os_error(result)));
        }
        let (id, peer) = (link.id, link.peer);
        handler.connected(&mut self.io(), id, peer);
        self.arm_recv(slot);
        self.arm_send(slot);
    }

    pub(super) fn received(
        &mut self,
        handler: &mut dyn Handler,
        slot: u32,
        completion: Completion,
    ) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if !cqueue::more(completion.flags) {
            link.receiving = false;
        }
        let bid = cqueue::buffer_select(completion.flags);
        match completion.result {
            n if n > 0 => {
                if n as usize >= BULK {
                    self.bulk = BULK_TURNS;
                }
                if link.closing.is_none() {
                    let id = link.id;
                    // The received bytes live in the ring's buffer or the
                    // link's; the handler sees the links through `io`.
                    let mut single = None;
                    let data = match bid {
                        Some(bid) => self.ring.buffer(bid, n as usize),
                        None => {
                            single = link.recv_buffer.take();
                            single.as_deref().map_or(&[][..], |b| &b[..n as usize])
                        }
                    };
                    let mut io = LinkIo {
                        index: self.index,
                        links: &mut self.links,
                        effects: &mut self.effects,
                        sink: &self.sink,
                        max_queued: self.max_queued,
                    };
                    handler.received(&mut io, id, data);
                    if let (Some(buffer), Some(link)) = (single, self.links.get_mut(&slot)) {
                        link.recv_buffer = Some(buffer);
                    }
                }
                if let Some(bid) = bid {
                    self.ring.recycle(bid);
                }
                self.arm_recv(slot);
            }
            0 => self.begin_close(slot, None),
            // Every provided buffer was out; this batch gave them back.
            n if n == -libc::ENOBUFS => self.arm_recv(slot),
            n if n == -libc::ECANCELED => {}
            n => self.begin_close(slot, Some(os_error(n))),
        }
    }

    pub(super) fn sent(&mut self, slot: u32, result: i32) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        link.sending = false;
        if result < 0 {
            if result != -libc::ECANCELED {
                self.begin_close(slot, Some(os_error(result)));
            }
            return;
        }
        let n = result as usize;
        if n >= BULK {
            self.bulk = BULK_TURNS;
        }
        link.output.advance(n);
        self.arm_send(slot);
    }

    /// Starts closing `slot` (the first reason wins): drops its unsent
    /// output and cancels its ops; [`maybe_finish`](Self::maybe_finish)
    /// ends it.
    pub(super) fn begin_close(&mut self, slot: u32, reason: Option<io::Error>) {
        let Some(link) = self.links.get_mut(&slot) else {
            return;
        };
        if link.closing.is_some() {
            return;
        }
        link.closing = Some(reason);
        // The flight stays until its send completes (the kernel reads it).
        link.output.drop_pending();
        let id = link.id;
        let ops = [
            (link.target.is_some(), Tag::Connect),
            (link.receiving, Tag::Recv),
            (link.sending, Tag::Send),
        ];
        for (inflight, tag) in ops {
            if inflight {
                self.cancel(link_op(tag, id));
            }
        }
    }

    /// Ends a closing link whose ops have all completed, exactly once.
    pub(super) fn maybe_finish(&mut self, handler: &mut dyn Handler, slot: u32) {
        let done = self
            .links
            .get(&slot)
            .is_some_and(|link| link.closing.is_some() && link.idle());
        if !done {
            return;
        }
        if let Some(mut link) = self.links.remove(&slot) {
            let reason = link.closing.take().flatten();
            let id = link.id;
            drop(link);
            self.sink.links.release(id);
            handler.closed(&mut self.io(), id, reason);
            self.effects(handler);
        }
    }
}
