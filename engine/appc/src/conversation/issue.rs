//! A conversation verb on its end: the checks that refuse it, what it
//! reports instead of running, and what it does.

use super::end::{End, Held, Status};
use super::input::{Input, IssuedVerb, ReceiveParams};
use super::wait::{Act, Wait, WaitKind};
use super::SEND_BUFFER;
use crate::node::Registrar;
use crate::outcome::{Extra, Out};
use crate::param::Refusal;
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::records::RecordWriter;
use crate::session::{Confirmation, Flow, Peer};
use crate::states::{self, Concurrent, ConvState, DeallocKind, Entry, SendKind, Step};
use crate::verbs::values;
use appc_engine::activity::Activity;
use appc_engine::{Handle, Reason, Rejected};

impl End {
    /// Runs conversation verb `request` on this end (see the module docs):
    /// its task gets its one completion here, at once or when what it waits
    /// for arrives.
    pub(crate) fn issue(&mut self, request: IssuedVerb, node: &dyn Registrar, peer: &mut dyn Peer) {
        let IssuedVerb {
            handle,
            step,
            entry,
            mapped,
            input,
            ..
        } = request;
        if let Err((primary, secondary)) = self.admit(step, entry, mapped, &input) {
            return self.refuse(handle, input, Out::rc(primary, secondary));
        }
        if let Some(out) = self.reported_first(node, peer, step) {
            return self.refuse(handle, input, out);
        }
        // The common verbs here; the others out of line, so that this
        // path is not made to carry their state.
        match (step, input) {
            (Step::SendData(kind), Input::Send { data, send_type }) => {
                let act = self.send_data_verb(node, peer, kind, send_type, &data);
                self.conclude(node, peer, handle, act, Some(data));
            }
            (Step::ReceiveAndWait, Input::Receive { params, buf }) => {
                let kind = self.receive_and_wait(peer, entry, params);
                self.start_wait(node, peer, handle, kind, Some(buf));
            }
            (step, input) => {
                let mut buf = None;
                let act = self.act(node, peer, step, input, &mut buf);
                self.conclude(node, peer, handle, act, buf);
            }
        }
    }

    /// A verb refused by its checks, or answered with what was reported
    /// first: it did not run, and its buffer goes back with it.
    #[cold]
    fn refuse(&self, handle: Handle, input: Input, out: Out) {
        self.complete(handle, input.back(out));
    }

    /// What a verb does once past its checks: finish (its buffer back in
    /// its completion, after the peer heard what the TP consumed), or
    /// wait.
    #[inline(always)]
    fn conclude(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        handle: Handle,
        act: Act,
        buf: Option<Vec<u8>>,
    ) {
        match act {
            Act::Finish(mut out) => {
                if out.data.is_none() {
                    out.data = buf;
                }
                self.settle(peer);
                self.complete_with(handle, &mut out);
            }
            Act::Wait(kind) => self.start_wait(node, peer, handle, kind, buf),
        }
    }

    /// Task `handle` waits for `kind`, unless what it waits for is there.
    #[inline(always)]
    fn start_wait(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        handle: Handle,
        kind: WaitKind,
        buf: Option<Vec<u8>>,
    ) {
        let wait = Wait {
            handle,
            kind,
            buf,
            active: None,
        };
        // A verb that finds what it waits for has not waited: its TP never
        // counts it as active.
        let kept = match self.arrived() {
            true => self.finish_or_keep(node, peer, wait),
            false => Some(wait),
        };
        if let Some(mut wait) = kept {
            wait.active = self.activity.as_ref().map(Activity::begin);
            self.wait = Some(wait);
            self.settle(peer);
        }
    }

    /// The checks that refuse a verb with nothing changed.
    fn admit(&self, step: Step, entry: Entry, mapped: bool, input: &Input) -> Result<(), Refusal> {
        if let Some(wait) = &self.wait {
            let busy = match wait.kind.pending() {
                None => true,
                Some(pending) => states::during_pending(pending, step) == Concurrent::Busy,
            };
            if busy {
                return Err((PrimaryRc::CONV_BUSY, SecondaryRc(0)));
            }
        }
        if !matches!(step, Step::GetType | Step::GetState) && mapped != self.mapped {
            return Err((PrimaryRc::CONVERSATION_TYPE_MIXED, SecondaryRc(0)));
        }
        states::check(self.state, step, entry, self.attrs.sync_level)
            .map_err(|secondary| (PrimaryRc::STATE_CHECK, secondary))?;
        let sync_none = self.attrs.sync_level == values::SYNC_NONE;
        let parameter = |secondary| Err((PrimaryRc::PARAMETER_CHECK, secondary));
        let not_ll_bdy = |secondary| Err((PrimaryRc::STATE_CHECK, secondary));
        let boundary = self.mapped || self.writer.at_boundary();
        let sending = self.sending();
        match (step, input) {
            (Step::Confirm, _) if sync_none => parameter(SecondaryRc::CONFIRM_ON_SYNC_LEVEL_NONE),
            (Step::SendData(SendKind::Confirm), _) if sync_none => {
                parameter(SecondaryRc::SEND_DATA_CONFIRM_SYNC_NONE)
            }
            (Step::SendData(kind), Input::Send { data, .. }) if !self.mapped => {
                let after = self
                    .writer
                    .after_write(data)
                    .map_err(|secondary| (PrimaryRc::PARAMETER_CHECK, secondary))?;
                if kind != SendKind::Plain && kind != SendKind::Flush && !after.at_boundary() {
                    return not_ll_bdy(SecondaryRc::SEND_DATA_NOT_LL_BDY);
                }
                Ok(())
            }
            (Step::Confirm, _) if !boundary => not_ll_bdy(SecondaryRc::CONFIRM_NOT_LL_BDY),
            (Step::Deallocate(DeallocKind::Flush | DeallocKind::SyncLevel), _) if !boundary => {
                not_ll_bdy(SecondaryRc::DEALLOC_NOT_LL_BDY)
            }
            (Step::PrepareToReceive, _) if !boundary => not_ll_bdy(SecondaryRc::P_TO_R_NOT_LL_BDY),
            (Step::ReceiveAndWait, _) if sending && !boundary => {
                not_ll_bdy(SecondaryRc::RCV_AND_WAIT_NOT_LL_BDY)
            }
            (Step::ReceiveAndPost, _) if sending && !boundary => {
                not_ll_bdy(SecondaryRc::RCV_AND_POST_NOT_LL_BDY)
            }
            _ => Ok(()),
        }
    }

    /// What a verb that passed [`End::admit`] reports instead of running:
    /// the session failure, or (for a verb issued while sending) the
    /// partner's SEND_ERROR or abend that arrived meanwhile.
    fn reported_first(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        step: Step,
    ) -> Option<Out> {
        if matches!(step, Step::GetType | Step::GetState | Step::GetAttributes) {
            return None;
        }
        if let Some(out) = self.report_broken(node, peer) {
            return Some(out);
        }
        let abend = matches!(
            step,
            Step::Deallocate(DeallocKind::Abend)
                | Step::SendData(SendKind::DeallocateAbend)
                | Step::RequestToSend
                | Step::TestRts
                | Step::TestRtsAndPost
        );
        if !self.sending() || abend {
            return None;
        }
        match self.inbound.front() {
            Some(Held::Status(Status::Error(code))) => {
                self.inbound.pop_status();
                self.drop_out();
                self.writer = RecordWriter::new();
                self.state = ConvState::Receive;
                let rts = self.take_rts();
                Some(Out {
                    rts_rcvd: Some(rts),
                    ..Out::rc(code, SecondaryRc(0))
                })
            }
            Some(Held::Status(Status::Deallocate(code))) => {
                self.inbound.pop_status();
                self.end_conversation(node, peer);
                Some(Out::rc(code, SecondaryRc(0)))
            }
            _ => None,
        }
    }

    /// SEND_DATA, past its checks.
    fn send_data_verb(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        kind: SendKind,
        send_type: u8,
        data: &[u8],
    ) -> Act {
        let sync_confirm = self.attrs.sync_level != values::SYNC_NONE;
        self.state = ConvState::Send;
        if !self.mapped {
            // `admit` validated the LLs.
            let _ = self.writer.write(data);
        }
        self.send_data(peer, kind, data);
        match kind {
            SendKind::Plain | SendKind::Flush => self.sent(peer),
            SendKind::Confirm => self.confirm(peer, Confirmation::Plain),
            SendKind::PrepareToReceive => {
                let sync = send_type == values::SEND_DATA_P_TO_R_SYNC_LEVEL;
                self.prepare_to_receive(peer, sync && sync_confirm)
            }
            SendKind::Deallocate => {
                let sync = send_type == values::SEND_DATA_DEALLOC_SYNC_LEVEL;
                self.deallocate(node, peer, sync && sync_confirm)
            }
            SendKind::DeallocateAbend => {
                let code = self.abend_code(values::ABEND_PROG);
                self.abend(node, peer, code);
                Act::Finish(Out::ok())
            }
        }
    }

    /// RECEIVE_AND_WAIT, past its checks: what it waits for.
    fn receive_and_wait(
        &mut self,
        peer: &mut dyn Peer,
        entry: Entry,
        params: ReceiveParams,
    ) -> WaitKind {
        self.cancel_wait();
        let issued_in = self.turn_to_receive(peer);
        let posting = (entry == Entry::Async).then_some(issued_in);
        if posting.is_some() {
            self.state = ConvState::PendingPost;
        }
        WaitKind::Receive { params, posting }
    }

    /// The effect of a verb other than SEND_DATA and RECEIVE_AND_WAIT,
    /// once it passed its checks. A send's data buffer is left in `buf`,
    /// to go back with the verb.
    #[inline(never)]
    fn act(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        step: Step,
        input: Input,
        buf: &mut Option<Vec<u8>>,
    ) -> Act {
        let sync_confirm = self.attrs.sync_level != values::SYNC_NONE;
        match (step, input) {
            (Step::Flush, _) => {
                self.state = ConvState::Send;
                self.put_out(peer);
                if peer.backlogged() {
                    self.writable = false;
                    Act::Wait(WaitKind::Writable)
                } else {
                    Act::Finish(Out::ok())
                }
            }
            (Step::Confirm, _) => self.confirm(peer, Confirmation::Plain),
            (Step::PrepareToReceive, Input::PrepareToReceive { ptr_type }) => {
                let sync = ptr_type == values::SYNC_LEVEL;
                self.prepare_to_receive(peer, sync && sync_confirm)
            }
            (Step::Deallocate(DeallocKind::Abend), Input::Deallocate { dealloc_type }) => {
                let code = self.abend_code(dealloc_type);
                self.abend(node, peer, code);
                Act::Finish(Out::ok())
            }
            (Step::Deallocate(kind), _) => {
                let sync = kind == DeallocKind::SyncLevel && sync_confirm;
                self.cancel_wait();
                self.deallocate(node, peer, sync)
            }
            (Step::Confirmed, _) => {
                let next = states::after_ok(self.state, step);
                self.deliver(peer, Flow::Confirmed);
                if next == ConvState::Reset {
                    self.end_conversation(node, peer);
                } else {
                    self.state = next;
                }
                Act::Finish(Out::ok())
            }
            (Step::ReceiveImmediate, Input::Receive { params, buf: data }) => {
                self.cancel_wait();
                *buf = Some(data);
                let mut out = Out::ok();
                if !self.try_receive(node, peer, params, true, buf, &mut out) {
                    out = Out::rc(PrimaryRc::UNSUCCESSFUL, SecondaryRc(0));
                }
                Act::Finish(out)
            }
            (Step::ReceiveAndPost, Input::Post { verb, sema, params }) => {
                let post = match self.post(*verb, &sema) {
                    Ok(post) => post,
                    Err(out) => return Act::Finish(out),
                };
                let issued_in = self.turn_to_receive(peer);
                self.state = ConvState::PendingPost;
                let kind = WaitKind::Receive {
                    params,
                    posting: Some(issued_in),
                };
                self.wait_for_post(post, kind);
                self.progress(node, peer);
                Act::Finish(Out::with(Extra::Post(post)))
            }
            (Step::PostOnReceipt, Input::Post { verb, sema, params }) => {
                let post = match self.post(*verb, &sema) {
                    Ok(post) => post,
                    Err(out) => return Act::Finish(out),
                };
                self.cancel_wait();
                let kind = WaitKind::PostOnReceipt {
                    max_len: params.max_len,
                };
                self.wait_for_post(post, kind);
                self.progress(node, peer);
                Act::Finish(Out::with(Extra::Post(post)))
            }
            (Step::TestRtsAndPost, Input::Post { verb, sema, .. }) => {
                let post = match self.post(*verb, &sema) {
                    Ok(post) => post,
                    Err(out) => return Act::Finish(out),
                };
                if let Some(old) = self.rts_post.take() {
                    self.complete(old, Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)));
                }
                if self.take_rts() {
                    // The post may fire before the initial call returns.
                    self.complete(post, Out::ok());
                } else {
                    self.rts_post = Some(post);
                }
                Act::Finish(Out::with(Extra::Post(post)))
            }
            (Step::RequestToSend, _) => {
                peer.send(Flow::RequestToSend);
                Act::Finish(Out::ok())
            }
            (Step::SendError, Input::SendError { err_type, err_dir }) => {
                Act::Finish(self.send_error(node, peer, err_type, err_dir))
            }
            (Step::TestRts, _) => Act::Finish(if self.take_rts() {
                Out::ok()
            } else {
                Out::rc(PrimaryRc::UNSUCCESSFUL, SecondaryRc(0))
            }),
            (Step::GetAttributes, _) => {
                Act::Finish(Out::with(Extra::Attributes(Box::new(self.attrs))))
            }
            (Step::GetType, _) => Act::Finish(Out::with(Extra::ConvType(u8::from(self.mapped)))),
            (Step::GetState, _) => Act::Finish(Out::with(Extra::ConvState(self.state.code()))),
            // TP-level verbs are the node's; the inputs always match their
            // step.
            _ => Act::Finish(Out::rc(PrimaryRc::INVALID_VERB, SecondaryRc(0))),
        }
    }

    /// A SEND_DATA's data: buffered, or (a SEND_DATA that flushes, with
    /// nothing buffered before it) sent from the verb's buffer at once.
    /// Every type but `AP_NONE` flushes.
    fn send_data(&mut self, peer: &mut dyn Peer, kind: SendKind, data: &[u8]) {
        if kind != SendKind::Plain && !self.has_out() {
            self.put_out(peer);
            if self.broken.is_none() {
                peer.send(Flow::Data(data));
            }
            return;
        }
        let buffers = self.buffers();
        buffers.out.extend_from_slice(data);
        buffers.out_lens.push(data.len());
        if kind != SendKind::Plain || buffers.out.len() > SEND_BUFFER {
            self.put_out(peer);
        }
    }

    /// A post task for a posting verb, made from the verb's copy, aimed at
    /// its event.
    fn post(&self, verb: crate::verbs::Verb, sema: &appc_engine::Event) -> Result<Handle, Out> {
        let Some(tasks) = &self.tasks else {
            return Err(Out::rc(PrimaryRc::UNEXPECTED_DOS_ERROR, SecondaryRc(21)));
        };
        tasks
            .submit_to_event(verb, sema)
            .map_err(|Rejected { reason, .. }| {
                Out::rc(
                    PrimaryRc::UNEXPECTED_DOS_ERROR,
                    // ERROR_NOT_ENOUGH_MEMORY, or the engine is closing.
                    SecondaryRc(match reason {
                        Reason::Full => 8,
                        Reason::CleanedUp | Reason::ForeignTarget => 21,
                    }),
                )
            })
    }

    fn wait_for_post(&mut self, post: Handle, kind: WaitKind) {
        self.wait = Some(Wait {
            handle: post,
            kind,
            buf: None,
            active: self.activity.as_ref().map(Activity::begin),
        });
    }

    /// A send that did not wait for a reply finishes, unless the session
    /// to a remote partner holds more than it allows not yet sent: then it
    /// waits until the session says it is writable (backpressure).
    fn sent(&mut self, peer: &mut dyn Peer) -> Act {
        if peer.backlogged() {
            self.writable = false;
            Act::Wait(WaitKind::Writable)
        } else {
            Act::Finish(self.rts_out())
        }
    }

    /// A receive issued in SEND first flushes and hands over the direction.
    /// Returns the state the receive was issued in.
    fn turn_to_receive(&mut self, peer: &mut dyn Peer) -> ConvState {
        let issued_in = self.state;
        if self.sending() {
            self.send(peer, Flow::ChangeDirection);
            self.state = ConvState::Receive;
        }
        issued_in
    }

    fn confirm(&mut self, peer: &mut dyn Peer, c: Confirmation) -> Act {
        self.state = ConvState::Send;
        self.send(peer, Flow::ConfirmRequest(c));
        Act::Wait(WaitKind::Confirm(c))
    }

    fn prepare_to_receive(&mut self, peer: &mut dyn Peer, confirm: bool) -> Act {
        if confirm {
            return self.confirm(peer, Confirmation::Send);
        }
        self.send(peer, Flow::ChangeDirection);
        self.state = ConvState::Receive;
        Act::Finish(Out::ok())
    }

    fn deallocate(&mut self, node: &dyn Registrar, peer: &mut dyn Peer, confirm: bool) -> Act {
        if confirm {
            return self.confirm(peer, Confirmation::Deallocate);
        }
        self.send(peer, Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL));
        // An attach the partner LU rejected surfaces here, on the verb that
        // flushed it.
        let out = match self.broken {
            Some((primary, secondary)) => Out::rc(primary, secondary),
            None => Out::ok(),
        };
        self.end_conversation(node, peer);
        Act::Finish(out)
    }

    /// DEALLOCATE(abend) and its kin: flush in SEND, purge in a receiving
    /// state (ending a pending post with `AP_CANCELLED`), then tell the
    /// partner and end.
    pub(super) fn abend(&mut self, node: &dyn Registrar, peer: &mut dyn Peer, code: PrimaryRc) {
        if self.sending() {
            self.send(peer, Flow::Deallocate(code));
        } else {
            self.cancel_wait();
            let _ = self.purge_inbound();
            self.deliver(peer, Flow::Deallocate(code));
        }
        self.end_conversation(node, peer);
    }

    fn send_error(
        &mut self,
        node: &dyn Registrar,
        peer: &mut dyn Peer,
        err_type: u8,
        err_dir: u8,
    ) -> Out {
        self.cancel_wait();
        // Project's choice: MC_SEND_ERROR has no `err_type`, so a mapped
        // end's is ignored and the partner sees a program error.
        let svc = !self.mapped && err_type == values::ERR_SVC;
        let (no_trunc, trunc, purging) = if svc {
            (
                PrimaryRc::SVC_ERROR_NO_TRUNC,
                PrimaryRc::SVC_ERROR_TRUNC,
                PrimaryRc::SVC_ERROR_PURGING,
            )
        } else {
            (
                PrimaryRc::PROG_ERROR_NO_TRUNC,
                PrimaryRc::PROG_ERROR_TRUNC,
                PrimaryRc::PROG_ERROR_PURGING,
            )
        };
        let code = match self.state {
            ConvState::Send if !self.mapped && self.writer.truncated() => trunc,
            ConvState::Send => no_trunc,
            ConvState::SendPending if err_dir == values::SEND_DIR_ERROR => no_trunc,
            _ => purging,
        };
        if code == purging {
            // Issued while receiving: purge what came in. A purged
            // deallocation ends the conversation instead.
            if let Some(ended) = self.purge_inbound() {
                self.end_conversation(node, peer);
                return Out::rc(ended, SecondaryRc(0));
            }
        }
        self.send(peer, Flow::Error(code));
        self.writer = RecordWriter::new();
        self.state = ConvState::Send;
        self.rts_out()
    }

    /// Ends a pending posting receive or POST_ON_RECEIPT with `AP_CANCELLED`
    /// (the verbs that cancel it). The caller sets the state.
    #[inline]
    pub(super) fn cancel_wait(&mut self) {
        if self.wait.is_some() {
            self.cancel_pending();
        }
    }

    #[cold]
    #[inline(never)]
    fn cancel_pending(&mut self) {
        if let Some(wait) = self.wait.take() {
            if let WaitKind::Receive {
                posting: Some(issued_in),
                ..
            } = wait.kind
            {
                self.state = issued_in;
            }
            let handle = wait.handle;
            self.complete(handle, wait.cancelled());
        }
    }
}
