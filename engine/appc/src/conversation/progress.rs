//! What moves a conversation end besides its own verbs: flows arriving from
//! the partner, the waiting verb they complete, a failed session, a
//! cancelled verb, the end of its TP.

use super::end::{End, Held, Status};
use super::input::ReceiveParams;
use super::wait::{Wait, WaitKind};
use crate::node::Registrar;
use crate::outcome::Out;
use crate::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use crate::records::{RecordWriter, Take};
use crate::session::{Confirmation, Flow, Peer, TpEnd};
use crate::states::{self, ConvState};
use crate::verbs::values;

impl End {
    /// A flow from the partner arrived. `counted`: the peer counts its data
    /// against what this end's TP consumes ([`Peer::consumed`]).
    #[inline]
    pub(crate) fn arrive(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        flow: Flow<'_>,
        counted: bool,
    ) {
        if !self.admits(node, peer, &flow) {
            return;
        }
        let wanted = self.wants(&flow);
        if let (Flow::Data(data), true) = (flow, counted) {
            // Purged data counts as consumed at once (pacing).
            self.delivered += data.len();
        }
        if wanted {
            self.hold(flow);
        }
        self.progress(node, peer);
    }

    /// Completes the waiting verb if what it waits for is there, and tells
    /// the peer what the TP consumed (before the completion is delivered,
    /// so the TP never sees data whose consumption its peer has not heard
    /// of).
    pub(crate) fn progress(&mut self, node: &dyn Registrar, peer: &mut dyn Peer) {
        // The wait is out of `self` while it is worked on: a step that
        // ends the conversation must not complete it as well.
        let arrived = self.arrived();
        if let Some(wait) = self.wait.take_if(|_| arrived) {
            self.wait = self.finish_or_keep(node, peer, wait);
            if self.wait.is_none() {
                return;
            }
        }
        self.settle(peer);
    }

    /// Whether anything a waiting verb could wait for is there (see
    /// [`End::finish_wait`]); a verb that has just begun to wait usually
    /// finds nothing.
    #[inline]
    pub(super) fn arrived(&self) -> bool {
        !(self.inbound.is_empty()
            && self.reader_is_empty()
            && self.broken.is_none()
            && !self.writable)
    }

    /// Completes `wait` if what it waits for is there (after telling the
    /// peer what the TP consumed), or gives it back.
    #[inline]
    pub(super) fn finish_or_keep(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        mut wait: Wait,
    ) -> Option<Wait> {
        let mut out = Out::ok();
        if !self.finish_wait(node, peer, &mut wait, &mut out) {
            return Some(wait);
        }
        wait.hand_back(&mut out);
        let handle = wait.handle;
        drop(wait);
        self.settle(peer);
        self.complete_with(handle, &mut out);
        None
    }

    /// The waiting verb's completion, into `out`, if what it waits for is
    /// there (true). (Results are written in place, here and in
    /// [`End::try_receive`]: a result returned in an `Option` was copied
    /// field by field on its way to the completion.)
    #[inline(always)]
    fn finish_wait(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        wait: &mut Wait,
        out: &mut Out,
    ) -> bool {
        let found = match wait.kind {
            WaitKind::Receive { params, .. } => {
                return self.try_receive(node, peer, params, false, &mut wait.buf, out)
            }
            WaitKind::Confirm(c) => self.try_confirmed(node, peer, c),
            WaitKind::PostOnReceipt { max_len } => self.try_post_on_receipt(node, peer, max_len),
            WaitKind::Writable => match self.report_broken(node, peer) {
                Some(out) => Some(out),
                None if std::mem::take(&mut self.writable) => Some(self.rts_out()),
                None => None,
            },
        };
        found.map(|found| *out = found).is_some()
    }

    /// A receive's result, into `out` (true), or false to keep waiting
    /// (never for an immediate receive, which gets `AP_UNSUCCESSFUL` from
    /// its caller). Data goes into `buf` (the verb's buffer; a post has
    /// none yet).
    #[inline]
    pub(super) fn try_receive(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        params: ReceiveParams,
        immediate: bool,
        buf: &mut Option<Vec<u8>>,
        out: &mut Out,
    ) -> bool {
        self.feed();
        if let Some(broken) = self.report_broken(node, peer) {
            *out = broken;
            return true;
        }
        let status = self.inbound.front().map(|held| match held {
            Held::Status(Status::ChangeDirection) => Some(WhatRcvd::SEND),
            Held::Status(Status::ConfirmRequest(c)) => Some(c.what()),
            _ => None,
        });
        let complete_input = immediate || status.is_some();
        let data = buf.get_or_insert_with(Vec::new);
        *out = match self.take_data(params.fill, params.max_len, complete_input, data) {
            Take::Data { mut what } => {
                if let (true, Some(Some(status))) =
                    (params.rtn_status && self.reader_is_empty(), status)
                {
                    if what != WhatRcvd::DATA_INCOMPLETE {
                        self.inbound.pop_status();
                        what = WhatRcvd::combine(what, status);
                    }
                }
                self.state = states::after_receive(what);
                Out::received(buf.take().unwrap_or_default(), what)
            }
            Take::NeedMore => return false,
            Take::Empty => match self.inbound.pop_status() {
                None => return false,
                Some(Status::ChangeDirection) => {
                    self.state = ConvState::Send;
                    Out::received(cleared(buf), WhatRcvd::SEND)
                }
                Some(Status::ConfirmRequest(c)) => {
                    self.state = states::after_receive(c.what());
                    Out::received(cleared(buf), c.what())
                }
                Some(Status::Error(code)) => {
                    self.purge_reader();
                    self.state = ConvState::Receive;
                    Out::rc(code, SecondaryRc(0))
                }
                Some(Status::Deallocate(code)) => {
                    self.end_conversation(node, peer);
                    Out::rc(code, SecondaryRc(0))
                }
                Some(Status::Confirmed) => {
                    // A CONFIRMED nobody asked for: the partner broke the
                    // protocol.
                    self.end_conversation(node, peer);
                    Out::rc(PrimaryRc::CONV_FAILURE_NO_RETRY, SecondaryRc(0))
                }
            },
        };
        out.rts_rcvd = Some(self.take_rts());
        true
    }

    /// The reply to a confirmation request, or `None` to keep waiting.
    fn try_confirmed(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        c: Confirmation,
    ) -> Option<Out> {
        if let Some(out) = self.report_broken(node, peer) {
            return Some(out);
        }
        let out = match self.inbound.front()? {
            Held::Status(Status::Confirmed) => {
                self.inbound.pop_status();
                match c {
                    Confirmation::Plain => self.state = ConvState::Send,
                    Confirmation::Send => self.state = ConvState::Receive,
                    Confirmation::Deallocate => self.end_conversation(node, peer),
                }
                Out::ok()
            }
            Held::Status(Status::Error(code)) => {
                self.inbound.pop_status();
                self.writer = RecordWriter::new();
                self.state = ConvState::Receive;
                Out::rc(code, SecondaryRc(0))
            }
            Held::Status(Status::Deallocate(code)) => {
                self.inbound.pop_status();
                self.end_conversation(node, peer);
                Out::rc(code, SecondaryRc(0))
            }
            // Nothing else can come while the partner owes a reply.
            _ => return None,
        };
        Some(Out {
            rts_rcvd: Some(self.take_rts()),
            ..out
        })
    }

    /// POST_ON_RECEIPT's post: `AP_OK` with `AP_DATA` once `max_len` bytes
    /// (or a whole mapped record) are waiting, with `AP_NOT_DATA` when a
    /// status is next; the session failure if the session failed.
    fn try_post_on_receipt(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        max_len: u16,
    ) -> Option<Out> {
        self.feed();
        if let Some(out) = self.report_broken(node, peer) {
            return Some(out);
        }
        let buffered = self.reader_buffered();
        let enough = buffered >= usize::from(max_len.max(1)) || (self.mapped && buffered > 0);
        let status_next = !self.inbound.is_empty();
        if enough || (!self.reader_is_empty() && status_next) {
            Some(Out::rc(
                PrimaryRc::OK,
                SecondaryRc(u32::from(WhatRcvd::DATA.0)),
            ))
        } else if status_next {
            Some(Out::rc(
                PrimaryRc::OK,
                SecondaryRc(u32::from(WhatRcvd::NOT_DATA.0)),
            ))
        } else {
            None
        }
    }

    /// A broken session's code, reported once: the conversation ends.
    pub(super) fn report_broken(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
    ) -> Option<Out> {
        let (primary, secondary) = self.broken?;
        self.end_conversation(node, peer);
        Some(Out::rc(primary, secondary))
    }

    /// The session reported its backlog drained: a send waiting for it
    /// completes.
    pub(crate) fn writable(&mut self, node: &dyn Registrar, peer: &mut dyn Peer) {
        if self.live {
            self.writable = true;
            self.progress(node, peer);
        }
    }

    /// The session is gone (or the attach was rejected): the waiting verb,
    /// or the next verb, reports `primary` / `secondary`. An invoked end
    /// whose attach still waits for a RECEIVE_ALLOCATE goes with its
    /// attach instead (see [`End::withdraw_unclaimed`]).
    pub(crate) fn fail(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        primary: PrimaryRc,
        secondary: SecondaryRc,
    ) {
        if !self.live || self.withdraw_unclaimed(node, peer) {
            return;
        }
        self.broken = Some((primary, secondary));
        // An outstanding TEST_RTS_AND_POST post reports the failure (it is
        // the partner's doing, not a local cancel); the next verb still does.
        if let Some(post) = self.rts_post.take() {
            self.complete(post, Out::rc(primary, secondary));
        }
        self.progress(node, peer);
    }

    /// A verb of this end was cancelled (`WinAPPCCancelAsyncRequest`):
    /// purge without flushing, close the session at once, end. The
    /// cancelled task is the wait or a post; completing it finds the
    /// cancel's win and does nothing. Any other waiting task gets
    /// `AP_CANCELLED`.
    pub(crate) fn abort(&mut self, node: &dyn Registrar, peer: &mut dyn Peer) {
        self.cancel_waiting();
        self.attach = None;
        self.drop_out();
        self.close_peer(peer, true);
        self.end_conversation(node, peer);
    }

    /// Completes a waiting verb with `AP_CANCELLED` (it was cancelled, or
    /// its TP ended), whatever it waited for.
    fn cancel_waiting(&mut self) {
        if let Some(wait) = self.wait.take() {
            let handle = wait.handle;
            self.complete(handle, wait.cancelled());
        }
    }

    /// This end's TP ended (TP_ENDED, a cancelled TP verb, cleanup): its
    /// outstanding verbs end with `AP_CANCELLED`. If `how` is
    /// [`TpEnd::Ended`] and the end is in SEND at a record boundary, the
    /// conversation is deallocated normally (flushing); in any other case
    /// abnormally, what it buffered dropped.
    pub(crate) fn end_tp(&mut self, node: &dyn Registrar, peer: &mut dyn Peer, how: TpEnd) {
        self.cancel_waiting();
        if !self.live {
            return;
        }
        let at_boundary = self.mapped || self.writer.at_boundary();
        if how == TpEnd::Ended && self.sending() && at_boundary {
            self.send(peer, Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL));
        } else {
            let code = self.abend_code(values::ABEND_PROG);
            let _ = self.purge_inbound();
            self.attach = None;
            self.deliver(peer, Flow::Deallocate(code));
        }
        self.end_conversation(node, peer);
    }

    /// Whether a flow from the partner reaches this end: not once the end
    /// is over, nor when the flow ends the conversation abnormally before
    /// a RECEIVE_ALLOCATE took the end's attach (the end goes with its
    /// attach, see [`End::withdraw_unclaimed`]).
    pub(super) fn admits(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        flow: &Flow<'_>,
    ) -> bool {
        self.live && !(flow.ends_abnormally() && self.withdraw_unclaimed(node, peer))
    }

    /// An invoked end whose attach still waits for a RECEIVE_ALLOCATE,
    /// and whose conversation just failed or was ended abnormally by its
    /// allocator: the attach leaves the queue and the end goes with it,
    /// since a TP would be started only to learn that the conversation is
    /// over. True if it did; false for an end a RECEIVE_ALLOCATE has taken
    /// (its TP learns of the end on its next verb).
    fn withdraw_unclaimed(&mut self, node: &dyn Registrar, peer: &mut dyn Peer) -> bool {
        let unclaimed = self.tasks.is_none() && node.withdraw_attach(self.ids);
        if unclaimed {
            self.end_conversation(node, peer);
        }
        unclaimed
    }

    /// SEND_CONVERSATION on a conversation just allocated: the data, then
    /// DEALLOCATE(FLUSH). Whatever the partner LU makes of the attach is
    /// not reported.
    pub(crate) fn send_conversation(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        data: &[u8],
    ) -> Out {
        if !self.mapped {
            match self.writer.after_write(data) {
                Err(secondary) => return Out::rc(PrimaryRc::PARAMETER_CHECK, secondary),
                Ok(writer) if !writer.at_boundary() => {
                    return Out::rc(PrimaryRc::STATE_CHECK, SecondaryRc::DEALLOC_NOT_LL_BDY)
                }
                Ok(writer) => self.writer = writer,
            }
        }
        let buffers = self.buffers();
        buffers.out.extend_from_slice(data);
        buffers.out_lens.push(data.len());
        self.send(peer, Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL));
        self.end_conversation(node, peer);
        Out::ok()
    }
}

/// The receive buffer, emptied (a status received with no data).
fn cleared(buf: &mut Option<Vec<u8>>) -> Vec<u8> {
    let mut buf = buf.take().unwrap_or_default();
    buf.clear();
    buf
}
