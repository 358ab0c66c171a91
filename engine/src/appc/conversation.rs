//! One LU 6.2 conversation, both ends of it: the half-duplex protocol
//! between two TPs, run over the in-memory session of this module.
//!
//! # The session
//!
//! A [`Pair`] holds the two [`End`]s of a conversation (side 0 allocated
//! it, side 1 was attached) behind one lock, so a verb on either end sees
//! and changes both consistently. What one end sends reaches the other as
//! a [`Flow`] in its `inbound` queue, in order. Out of band, as on the
//! wire, are REQUEST_TO_SEND (it sets the partner's `rts_in` at once,
//! overtaking data) and a session failure (the partner's `broken`, which
//! overrides whatever it still had to receive).
//!
//! When the other end is on another node, its [`End`] is never live: the
//! pair's `remote` [`Session`] carries every flow to it instead ("push onto
//! the partner's queue" becomes "hand to the session"), and what arrives
//! comes back through a [`ConvPort`] into [`Pair::arrive`] and
//! [`Pair::fail`]. Nothing else in the protocol differs.
//!
//! An end that holds the send direction drops data, confirmation requests
//! and changes of direction as they arrive (`End::wants`), unless a
//! partner's error that hands the direction back is waiting before them:
//! they can only be what the partner sent before this end's SEND_ERROR
//! reached it, which SEND_ERROR purges.
//!
//! # Buffering (`appc-api.md` §5.5)
//!
//! ALLOCATE's attach and SEND_DATA's data wait in the sender's `out` until
//! a flush: FLUSH, CONFIRM, PREPARE_TO_RECEIVE, DEALLOCATE, a receive
//! issued in SEND, a SEND_DATA with a combined type, SEND_ERROR, or more
//! than [`SEND_BUFFER`] bytes. The attach flows with the first flush; if the
//! partner LU rejects it, the allocating end becomes `broken` with
//! `AP_ALLOCATION_ERROR`, which its waiting verb or its next verb reports.
//!
//! With a remote partner two more things flow between the conversation and
//! its [`Session`] (bounded memory, `appc-io`'s pacing): after every verb
//! and every arrival, what the local TP took off the data the session
//! delivered (received, or purged) goes to [`Session::consumed`]; and a
//! SEND_DATA or FLUSH that would complete at once first asks
//! [`Session::backlogged`]: if the session holds too much not yet sent, the
//! verb waits (`WaitKind::Writable`) until [`ConvPort::writable`], a
//! session failure, or a cancel. In-memory conversations never wait.
//!
//! # Verbs
//!
//! [`Pair::issue`] runs one conversation verb on one end, in this order:
//! the verb-slot rule (`AP_CONV_BUSY`, with the posting-receive exceptions
//! of [`states::during_pending`]), basic versus mapped
//! (`AP_CONVERSATION_TYPE_MIXED`), the state check ([`states::check`]), the
//! checks that need the conversation (logical-record boundary, sync level,
//! LL validity); all of these refuse the verb with nothing changed. Then a
//! session failure, or an error or abend the partner sent while this end
//! was sending, is reported. Only then is the verb handed to the engine,
//! and the conversation changes: the verb either finishes at once or waits
//! in its end's `wait` until [`Pair::progress`] finds what it waits for.
//!
//! Every waiting verb is completed through the engine's state word, so a
//! cancel that won first leaves the completion a no-op (Q153523: the two
//! never both release anything: the wait record is dropped exactly once,
//! here, under the pair's lock).
//!
//! # Locks
//!
//! A pair's lock is taken before the node's registry lock, never after
//! (attach routing and forgetting an ended conversation take the registry
//! while holding a pair). Engine completions run under the pair's lock;
//! they never wait.

use std::collections::VecDeque;
use std::mem;

use super::activity::Active;
use super::node::NodeInner;
use super::outcome::{complete, AppCore, Attributes, Out};
use super::param::Refusal;
use super::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use super::records::{Fill, MappedReader, RecordReader, RecordWriter, Take};
use super::session::{Attach, Confirmation, ConvPort, Flow, Partner, Session};
use super::states::{self, Concurrent, ConvState, DeallocKind, Entry, Pending, SendKind, Step};
use super::verbs::{values, Body, Conv, Verb};
use crate::core::{submitter, Reason};
use crate::state::Kind;
use crate::sync::{Arc, Mutex};
use crate::{Event, Handle, Rejected};

/// Buffered SEND_DATA bytes beyond which the send buffer flushes by itself
/// (one RU-chain's worth; the "buffer full" flush of §5.5).
pub const SEND_BUFFER: usize = 32 * 1024;

/// A conversation's lock.
pub(crate) type PairLock = Arc<Mutex<Pair>>;

/// Where an attach went.
pub(crate) enum Attached {
    /// To a TP on this node: the invoked end's ids.
    Local(Conv),
    /// To a partner LU on another node.
    Remote(Arc<dyn Partner>),
}

impl Confirmation {
    fn what(self) -> WhatRcvd {
        match self {
            Confirmation::Plain => WhatRcvd::CONFIRM_WHAT_RECEIVED,
            Confirmation::Send => WhatRcvd::CONFIRM_SEND,
            Confirmation::Deallocate => WhatRcvd::CONFIRM_DEALLOCATE,
        }
    }
}

/// A verb holding an end's verb slot until something arrives.
struct Wait {
    core: AppCore,
    handle: Handle,
    kind: WaitKind,
    /// Counts the verb as active for its TP (`TP_ENDED(AP_SOFT)` waits)
    /// until the wait is dropped.
    _active: Option<Active>,
}

impl Wait {
    fn new(node: &NodeInner, end: &End, core: &AppCore, handle: Handle, kind: WaitKind) -> Self {
        Self {
            core: core.clone(),
            handle,
            kind,
            _active: node.activity(end.ids.tp_id),
        }
    }
}

enum WaitKind {
    /// A receive. `posting` is the state it was issued in when it holds
    /// the conversation in PENDING_POST (RECEIVE_AND_POST, or
    /// RECEIVE_AND_WAIT on an async entry point).
    Receive {
        fill: Fill,
        max_len: u16,
        rtn_status: bool,
        posting: Option<ConvState>,
    },
    /// CONFIRM, or a verb with a confirmation request, awaiting the reply.
    Confirm(Confirmation),
    /// POST_ON_RECEIPT: data (at least `max_len` bytes) or status.
    PostOnReceipt { max_len: u16 },
    /// A send whose session holds too much not yet sent: it completes when
    /// the session reports [`ConvPort::writable`].
    Writable,
}

impl WaitKind {
    /// The verbs the slot holder lets through, if any (§2.4 rules 4, 5).
    fn pending(&self) -> Option<Pending> {
        match self {
            WaitKind::Receive {
                posting: Some(_), ..
            } => Some(Pending::ReceivePost),
            WaitKind::PostOnReceipt { .. } => Some(Pending::PostOnReceipt),
            WaitKind::Receive { posting: None, .. } | WaitKind::Confirm(_) | WaitKind::Writable => {
                None
            }
        }
    }
}

/// The data an end has received and not yet handed out.
enum Reader {
    Basic(RecordReader),
    Mapped(MappedReader),
}

impl Reader {
    fn new(mapped: bool) -> Self {
        if mapped {
            Reader::Mapped(MappedReader::new())
        } else {
            Reader::Basic(RecordReader::new())
        }
    }

    /// Takes a flow's data: a basic reader parses it into its records, a
    /// mapped one keeps it (one whole record) as it is.
    fn push(&mut self, data: Vec<u8>) -> Result<(), SecondaryRc> {
        match self {
            Reader::Basic(r) => r.push(&data),
            Reader::Mapped(r) => {
                r.push(data);
                Ok(())
            }
        }
    }

    fn take(&mut self, fill: Fill, max_len: u16, complete_input: bool) -> Take {
        match self {
            Reader::Basic(r) => r.take(fill, max_len, complete_input),
            Reader::Mapped(r) => r.take(max_len),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Reader::Basic(r) => r.is_empty(),
            Reader::Mapped(r) => r.is_empty(),
        }
    }

    fn buffered(&self) -> usize {
        match self {
            Reader::Basic(r) => r.buffered(),
            Reader::Mapped(r) => r.buffered(),
        }
    }

    fn purge(&mut self) {
        match self {
            Reader::Basic(r) => r.purge(),
            Reader::Mapped(r) => r.purge(),
        }
    }
}

/// One end of a conversation.
pub(crate) struct End {
    /// This end's TP and conversation ids (side 1: assigned at attach).
    pub(crate) ids: Conv,
    /// Attached and not yet ended; flows to an end that is not live are
    /// dropped.
    live: bool,
    state: ConvState,
    mapped: bool,
    attrs: Attributes,
    /// Side 0: ALLOCATE's attach, until the first flush sends it.
    attach: Option<Attach>,
    writer: RecordWriter,
    out: Vec<Vec<u8>>,
    out_bytes: usize,
    inbound: VecDeque<Flow>,
    reader: Reader,
    /// The partner's REQUEST_TO_SEND, not yet reported.
    rts_in: bool,
    /// Data bytes in `inbound` that came from a session.
    in_bytes: usize,
    /// Data bytes a session delivered that it has not been told were
    /// consumed ([`Session::consumed`]).
    delivered: usize,
    /// The session reported [`ConvPort::writable`] for a waiting send.
    writable: bool,
    /// The session failed or the attach was rejected: the code every verb
    /// now reports, ending the conversation.
    broken: Option<Refusal>,
    wait: Option<Wait>,
    /// A TEST_RTS_AND_POST registration: its post task.
    rts_post: Option<(AppCore, Handle)>,
}

impl End {
    fn new(ids: Conv, live: bool, state: ConvState, mapped: bool, attrs: Attributes) -> Self {
        Self {
            ids,
            live,
            state,
            mapped,
            attrs,
            attach: None,
            writer: RecordWriter::new(),
            out: Vec::new(),
            out_bytes: 0,
            inbound: VecDeque::new(),
            reader: Reader::new(mapped),
            rts_in: false,
            in_bytes: 0,
            delivered: 0,
            writable: false,
            broken: None,
            wait: None,
            rts_post: None,
        }
    }

    /// Moves the data at the front of `inbound` into the reader, up to the
    /// next status (the readers' input contract).
    fn feed(&mut self) {
        while matches!(self.inbound.front(), Some(Flow::Data(_))) {
            let Some(Flow::Data(data)) = self.inbound.pop_front() else {
                break;
            };
            self.in_bytes = self.in_bytes.saturating_sub(data.len());
            if let Err(secondary) = self.reader.push(data) {
                // The partner's LU validates every LL it sends, so this is
                // a protocol error: the conversation fails.
                self.broken = Some((PrimaryRc::CONV_FAILURE_NO_RETRY, secondary));
            }
        }
    }

    /// Whether a flow from the partner still concerns this end, or is
    /// purged as it arrives. An end that holds the send direction (SEND,
    /// SEND_PENDING) and has no partner's error waiting (which hands the
    /// direction over) cannot have been sent data, a confirmation request
    /// or a change of direction since it got the direction. Any that come
    /// are what the partner had buffered or in flight when this end's
    /// SEND_ERROR reached it (a partner's DEALLOCATE(ABEND) or TP_ENDED
    /// flushes its buffer without reporting the error first), and
    /// SEND_ERROR purges them (§5.5). Kept, they would sit in front of what
    /// does concern this end, a CONFIRMED or the partner's abend, and hold
    /// a waiting CONFIRM forever.
    fn wants(&self, flow: &Flow) -> bool {
        let stale = matches!(
            flow,
            Flow::Data(_) | Flow::ConfirmRequest(_) | Flow::ChangeDirection
        );
        !stale
            || !matches!(self.state, ConvState::Send | ConvState::SendPending)
            || self.inbound.iter().any(|f| matches!(f, Flow::Error(_)))
    }

    fn take_rts(&mut self) -> bool {
        mem::take(&mut self.rts_in)
    }

    /// Drops everything received and not yet reported (SEND_ERROR and
    /// DEALLOCATE(abend) in a receiving state); the partner's RTS stays.
    /// Returns the code a purged deallocation or failure makes the purging
    /// verb report: `AP_DEALLOC_NORMAL` (§5.5).
    fn purge_inbound(&mut self) -> Option<PrimaryRc> {
        self.reader.purge();
        self.in_bytes = 0;
        let ended = self
            .inbound
            .drain(..)
            .any(|flow| matches!(flow, Flow::Deallocate(_)));
        ended.then_some(PrimaryRc::DEALLOC_NORMAL)
    }

    fn abend_code(&self, dealloc_type: u8) -> PrimaryRc {
        match dealloc_type {
            values::ABEND_SVC => PrimaryRc::DEALLOC_ABEND_SVC,
            values::ABEND_TIMER => PrimaryRc::DEALLOC_ABEND_TIMER,
            _ if self.mapped => PrimaryRc::DEALLOC_ABEND,
            _ => PrimaryRc::DEALLOC_ABEND_PROG,
        }
    }
}

/// The verb's inputs the conversation needs after the verb itself has gone
/// to the engine.
enum Input {
    None,
    Send {
        data: Vec<u8>,
        send_type: u8,
    },
    Receive {
        fill: Fill,
        max_len: u16,
        rtn_status: bool,
    },
    /// A posting verb, before its post task exists.
    Post {
        verb: Box<Verb>,
        sema: Event,
        params: ReceiveParams,
    },
    /// A posting verb whose post task was made.
    Posted(Handle, ReceiveParams),
    SendError {
        err_type: u8,
        err_dir: u8,
    },
    Deallocate {
        dealloc_type: u8,
    },
    PrepareToReceive {
        ptr_type: u8,
    },
}

impl Input {
    fn of(verb: &Verb) -> Self {
        let fill = |fill| Fill::from_vcb(fill).unwrap_or(Fill::Ll);
        match &verb.body {
            Body::SendData(v) => Input::Send {
                data: v.data.clone(),
                send_type: v.send_type,
            },
            Body::ReceiveAndWait(v) | Body::ReceiveImmediate(v) => Input::Receive {
                fill: fill(v.fill),
                max_len: v.max_len,
                rtn_status: v.rtn_status,
            },
            Body::ReceiveAndPost(v) => Input::Post {
                verb: Box::new(verb.clone()),
                sema: v.sema.clone(),
                params: ReceiveParams {
                    fill: fill(v.receive.fill),
                    max_len: v.receive.max_len,
                    rtn_status: v.receive.rtn_status,
                },
            },
            Body::PostOnReceipt(v) => Input::Post {
                verb: Box::new(verb.clone()),
                sema: v.sema.clone(),
                params: ReceiveParams {
                    fill: fill(v.fill),
                    max_len: v.max_len,
                    rtn_status: false,
                },
            },
            Body::TestRtsAndPost(v) => Input::Post {
                verb: Box::new(verb.clone()),
                sema: v.handle.clone(),
                params: ReceiveParams {
                    fill: Fill::Ll,
                    max_len: 0,
                    rtn_status: false,
                },
            },
            Body::SendError(v) => Input::SendError {
                err_type: v.err_type,
                err_dir: v.err_dir,
            },
            Body::Deallocate(v) => Input::Deallocate {
                dealloc_type: v.dealloc_type,
            },
            Body::PrepareToReceive(v) => Input::PrepareToReceive {
                ptr_type: v.ptr_type,
            },
            _ => Input::None,
        }
    }
}

/// A receive's `fill`, `max_len` and `rtn_status`.
#[derive(Clone, Copy)]
struct ReceiveParams {
    fill: Fill,
    max_len: u16,
    rtn_status: bool,
}

/// What a verb does once it is a task.
enum Act {
    Finish(Out),
    Wait(WaitKind),
}

/// Both ends of a conversation.
pub(crate) struct Pair {
    ends: [End; 2],
    /// The session to the other end, when that end is on another node:
    /// which side it is, and the session.
    remote: Option<(Side, Arc<dyn Session>)>,
}

/// The side an end is on.
pub(crate) type Side = usize;

fn other(side: Side) -> Side {
    1 - side
}

impl Pair {
    /// A conversation just allocated by side 0 (in SEND), whose attach will
    /// flow with the first flush.
    pub(crate) fn allocated(ids: Conv, attach: Attach, attrs: Attributes) -> Self {
        let mut first = End::new(ids, true, ConvState::Send, attach.mapped, attrs);
        first.attach = Some(attach);
        let second = End::new(
            Conv::default(),
            false,
            ConvState::Reset,
            first.mapped,
            Attributes::default(),
        );
        Self {
            ends: [first, second],
            remote: None,
        }
    }

    /// A conversation attached from another node: side 0 is remote,
    /// reached through `session`; side 1 is local, in RECEIVE, and gets
    /// its ids when the node routes the attach.
    pub(crate) fn incoming(attach: &Attach, session: Arc<dyn Session>) -> Self {
        let mut pair = Self::allocated(Conv::default(), attach.clone(), Attributes::default());
        pair.ends[0].live = false;
        pair.ends[0].attach = None;
        pair.remote = Some((0, session));
        pair
    }

    /// The invoked end came to life (`ids`) with the attach's attributes.
    pub(crate) fn attached(&mut self, ids: Conv, attach: &Attach) {
        let end = &mut self.ends[1];
        *end = End::new(
            ids,
            true,
            ConvState::Receive,
            attach.mapped,
            Attributes {
                sync_level: attach.sync_level,
                mode_name: attach.mode_name,
                lu_alias: attach.plu_alias,
                plu_alias: attach.lu_alias,
                user_id: attach.user_id,
            },
        );
    }

    /// Whether `side` is a live end with these ids.
    pub(crate) fn is_live(&self, side: Side, ids: Conv) -> bool {
        self.ends[side].live && self.ends[side].ids == ids
    }

    /// Runs conversation verb `verb` on `side` (see the module docs).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue<R>(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        side: Side,
        verb: Verb,
        entry: Entry,
        core: &AppCore,
        submit: impl FnOnce(Verb) -> Result<(Handle, R), Rejected<Verb>>,
    ) -> Result<(Handle, R), Rejected<Verb>> {
        let step = Step::of(&verb.body);
        let input = Input::of(&verb);
        if let Err((primary, secondary)) = self.admit(side, &verb, step, entry, &input) {
            return super::outcome::done(core, verb, Out::rc(primary, secondary), submit);
        }
        if let Some(out) = self.reported_first(node, side, step) {
            return super::outcome::done(core, verb, out, submit);
        }
        let (handle, extra) = submit(verb)?;
        let act = match input {
            Input::Post { verb, sema, params } => {
                let me_thread = submitter(core);
                match core.submit(me_thread, *verb, Kind::Event, |slot| {
                    slot.aim_at_event(&sema)
                }) {
                    Ok(post) => {
                        let input = Input::Posted(post, params);
                        self.act(node, me, side, step, entry, input, core)
                    }
                    Err((reason, _)) => Act::Finish(Out::rc(
                        PrimaryRc::UNEXPECTED_DOS_ERROR,
                        // ERROR_NOT_ENOUGH_MEMORY, or the engine is closing.
                        SecondaryRc(match reason {
                            Reason::Full => 8,
                            Reason::CleanedUp | Reason::ForeignTarget => 21,
                        }),
                    )),
                }
            }
            input => self.act(node, me, side, step, entry, input, core),
        };
        match act {
            Act::Finish(out) => complete(core, handle, out),
            Act::Wait(kind) => {
                let wait = Wait::new(node, &self.ends[side], core, handle, kind);
                self.ends[side].wait = Some(wait);
                self.progress(node, side);
            }
        }
        self.settle(side);
        Ok((handle, extra))
    }

    /// The checks that refuse a verb with nothing changed.
    fn admit(
        &self,
        side: Side,
        verb: &Verb,
        step: Step,
        entry: Entry,
        input: &Input,
    ) -> Result<(), Refusal> {
        let end = &self.ends[side];
        if let Some(wait) = &end.wait {
            let busy = match wait.kind.pending() {
                None => true,
                Some(pending) => states::during_pending(pending, step) == Concurrent::Busy,
            };
            if busy {
                return Err((PrimaryRc::CONV_BUSY, SecondaryRc(0)));
            }
        }
        if !matches!(step, Step::GetType | Step::GetState) && verb.is_mapped() != end.mapped {
            return Err((PrimaryRc::CONVERSATION_TYPE_MIXED, SecondaryRc(0)));
        }
        states::check(end.state, step, entry, end.attrs.sync_level)
            .map_err(|secondary| (PrimaryRc::STATE_CHECK, secondary))?;
        let sync_none = end.attrs.sync_level == values::SYNC_NONE;
        let parameter = |secondary| Err((PrimaryRc::PARAMETER_CHECK, secondary));
        let not_ll_bdy = |secondary| Err((PrimaryRc::STATE_CHECK, secondary));
        let boundary = end.mapped || end.writer.at_boundary();
        let sending = matches!(end.state, ConvState::Send | ConvState::SendPending);
        match (step, input) {
            (Step::Confirm, _) if sync_none => parameter(SecondaryRc::CONFIRM_ON_SYNC_LEVEL_NONE),
            (Step::SendData(SendKind::Confirm), _) if sync_none => {
                parameter(SecondaryRc::SEND_DATA_CONFIRM_SYNC_NONE)
            }
            (Step::SendData(kind), Input::Send { data, .. }) if !end.mapped => {
                let after = end
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

    /// What a verb that passed [`Pair::admit`] reports instead of running:
    /// the session failure, or (for a verb issued while sending) the
    /// partner's SEND_ERROR or abend that arrived meanwhile.
    fn reported_first(&mut self, node: &NodeInner, side: Side, step: Step) -> Option<Out> {
        if matches!(step, Step::GetType | Step::GetState | Step::GetAttributes) {
            return None;
        }
        if let Some(out) = self.report_broken(node, side) {
            return Some(out);
        }
        let end = &mut self.ends[side];
        let sending = matches!(end.state, ConvState::Send | ConvState::SendPending);
        let abend = matches!(
            step,
            Step::Deallocate(DeallocKind::Abend)
                | Step::SendData(SendKind::DeallocateAbend)
                | Step::RequestToSend
                | Step::TestRts
                | Step::TestRtsAndPost
        );
        if !sending || abend {
            return None;
        }
        match end.inbound.front() {
            Some(&Flow::Error(code)) => {
                end.inbound.pop_front();
                end.out.clear();
                end.out_bytes = 0;
                end.writer = RecordWriter::new();
                end.state = ConvState::Receive;
                let rts = end.take_rts();
                Some(Out {
                    rts_rcvd: Some(rts),
                    ..Out::rc(code, SecondaryRc(0))
                })
            }
            Some(&Flow::Deallocate(code)) => {
                end.inbound.pop_front();
                self.end_conversation(node, side);
                Some(Out::rc(code, SecondaryRc(0)))
            }
            _ => None,
        }
    }

    /// The verb's effect on the conversation, once it is a task.
    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        side: Side,
        step: Step,
        entry: Entry,
        input: Input,
        core: &AppCore,
    ) -> Act {
        let sync_confirm = self.ends[side].attrs.sync_level != values::SYNC_NONE;
        match (step, input) {
            (Step::SendData(kind), Input::Send { data, send_type }) => {
                let end = &mut self.ends[side];
                end.state = ConvState::Send;
                if !end.mapped {
                    // `admit` validated the LLs.
                    let _ = end.writer.write(&data);
                }
                end.out_bytes += data.len();
                end.out.push(data);
                if end.out_bytes > SEND_BUFFER {
                    self.flush(node, me, side);
                }
                match kind {
                    SendKind::Plain => self.sent(side),
                    SendKind::Flush => {
                        self.flush(node, me, side);
                        self.sent(side)
                    }
                    SendKind::Confirm => self.confirm(node, me, side, Confirmation::Plain),
                    SendKind::PrepareToReceive => {
                        let sync = send_type == values::SEND_DATA_P_TO_R_SYNC_LEVEL;
                        self.prepare_to_receive(node, me, side, sync && sync_confirm)
                    }
                    SendKind::Deallocate => {
                        let sync = send_type == values::SEND_DATA_DEALLOC_SYNC_LEVEL;
                        self.deallocate(node, me, side, sync && sync_confirm)
                    }
                    SendKind::DeallocateAbend => {
                        let code = self.ends[side].abend_code(values::ABEND_PROG);
                        self.abend(node, me, side, code);
                        Act::Finish(Out::ok())
                    }
                }
            }
            (Step::Flush, _) => {
                self.ends[side].state = ConvState::Send;
                self.flush(node, me, side);
                if self.backlogged(side) {
                    self.ends[side].writable = false;
                    Act::Wait(WaitKind::Writable)
                } else {
                    Act::Finish(Out::ok())
                }
            }
            (Step::Confirm, _) => self.confirm(node, me, side, Confirmation::Plain),
            (Step::PrepareToReceive, Input::PrepareToReceive { ptr_type }) => {
                let sync = ptr_type == values::SYNC_LEVEL;
                self.prepare_to_receive(node, me, side, sync && sync_confirm)
            }
            (Step::Deallocate(DeallocKind::Abend), Input::Deallocate { dealloc_type }) => {
                let code = self.ends[side].abend_code(dealloc_type);
                self.abend(node, me, side, code);
                Act::Finish(Out::ok())
            }
            (Step::Deallocate(kind), _) => {
                let sync = kind == DeallocKind::SyncLevel && sync_confirm;
                self.cancel_wait(side);
                self.deallocate(node, me, side, sync)
            }
            (Step::Confirmed, _) => {
                let next = states::after_ok(self.ends[side].state, step);
                self.deliver(node, side, Flow::Confirmed);
                if next == ConvState::Reset {
                    self.end_conversation(node, side);
                } else {
                    self.ends[side].state = next;
                }
                Act::Finish(Out::ok())
            }
            (
                Step::ReceiveAndWait,
                Input::Receive {
                    fill,
                    max_len,
                    rtn_status,
                },
            ) => {
                self.cancel_wait(side);
                let issued_in = self.turn_to_receive(node, me, side);
                let posting = (entry == Entry::Async).then_some(issued_in);
                if posting.is_some() {
                    self.ends[side].state = ConvState::PendingPost;
                }
                Act::Wait(WaitKind::Receive {
                    fill,
                    max_len,
                    rtn_status,
                    posting,
                })
            }
            (
                Step::ReceiveImmediate,
                Input::Receive {
                    fill,
                    max_len,
                    rtn_status,
                },
            ) => {
                self.cancel_wait(side);
                let out = self
                    .try_receive(node, side, fill, max_len, rtn_status, true)
                    .unwrap_or_else(|| Out::rc(PrimaryRc::UNSUCCESSFUL, SecondaryRc(0)));
                Act::Finish(out)
            }
            (Step::ReceiveAndPost, Input::Posted(post, params)) => {
                let ReceiveParams {
                    fill,
                    max_len,
                    rtn_status,
                } = params;
                let issued_in = self.turn_to_receive(node, me, side);
                self.ends[side].state = ConvState::PendingPost;
                let kind = WaitKind::Receive {
                    fill,
                    max_len,
                    rtn_status,
                    posting: Some(issued_in),
                };
                let wait = Wait::new(node, &self.ends[side], core, post, kind);
                self.ends[side].wait = Some(wait);
                self.progress(node, side);
                Act::Finish(Out {
                    post: Some(post),
                    ..Out::ok()
                })
            }
            (Step::PostOnReceipt, Input::Posted(post, params)) => {
                self.cancel_wait(side);
                let max_len = params.max_len;
                let kind = WaitKind::PostOnReceipt { max_len };
                let wait = Wait::new(node, &self.ends[side], core, post, kind);
                self.ends[side].wait = Some(wait);
                self.progress(node, side);
                Act::Finish(Out {
                    post: Some(post),
                    ..Out::ok()
                })
            }
            (Step::TestRtsAndPost, Input::Posted(post, _)) => {
                let end = &mut self.ends[side];
                if let Some((old_core, old)) = end.rts_post.take() {
                    complete(
                        &old_core,
                        old,
                        Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)),
                    );
                }
                if end.take_rts() {
                    // The post may fire before the initial call returns.
                    complete(core, post, Out::ok());
                } else {
                    end.rts_post = Some((core.clone(), post));
                }
                Act::Finish(Out {
                    post: Some(post),
                    ..Out::ok()
                })
            }
            (Step::RequestToSend, _) => {
                match self.session_to(other(side)) {
                    Some(session) => session.send(Flow::RequestToSend),
                    None => self.rts_arrives(other(side)),
                }
                Act::Finish(Out::ok())
            }
            (Step::SendError, Input::SendError { err_type, err_dir }) => {
                Act::Finish(self.send_error(node, me, side, err_type, err_dir))
            }
            (Step::TestRts, _) => Act::Finish(if self.ends[side].take_rts() {
                Out::ok()
            } else {
                Out::rc(PrimaryRc::UNSUCCESSFUL, SecondaryRc(0))
            }),
            (Step::GetAttributes, _) => Act::Finish(Out {
                attributes: Some(self.ends[side].attrs),
                ..Out::ok()
            }),
            (Step::GetType, _) => Act::Finish(Out {
                conv_type: Some(u8::from(self.ends[side].mapped)),
                ..Out::ok()
            }),
            (Step::GetState, _) => Act::Finish(Out {
                conv_state: Some(self.ends[side].state.code()),
                ..Out::ok()
            }),
            // TP-level verbs are the node's; the inputs always match their
            // step.
            _ => Act::Finish(Out::rc(PrimaryRc::INVALID_VERB, SecondaryRc(0))),
        }
    }

    /// A send that did not wait for a reply finishes, unless the session
    /// to a remote partner holds more than it allows not yet sent: then it
    /// waits for [`ConvPort::writable`] (backpressure on the sending TP).
    fn sent(&mut self, side: Side) -> Act {
        if self.backlogged(side) {
            self.ends[side].writable = false;
            Act::Wait(WaitKind::Writable)
        } else {
            Act::Finish(self.rts_out(side))
        }
    }

    /// Whether the session to `side`'s remote partner is backlogged (and,
    /// if so, will report [`ConvPort::writable`]).
    fn backlogged(&self, side: Side) -> bool {
        self.session_to(other(side))
            .is_some_and(|session| session.backlogged())
    }

    /// The session under `side` reported its backlog drained.
    pub(crate) fn writable(&mut self, node: &NodeInner, side: Side) {
        if self.ends[side].live {
            self.ends[side].writable = true;
            self.progress(node, side);
        }
    }

    /// Tells the session to `side`'s remote partner what `side`'s TP has
    /// consumed of what it delivered (received, or purged), so that it can
    /// let the partner send more (pacing).
    fn settle(&mut self, side: Side) {
        let end = &self.ends[side];
        let held = end.in_bytes + end.reader.buffered();
        if end.delivered <= held {
            return;
        }
        let consumed = end.delivered - held;
        self.ends[side].delivered = held;
        if let Some(session) = self.session_to(other(side)) {
            session.consumed(consumed);
        }
    }

    /// `AP_OK` with the partner's RTS, if any.
    fn rts_out(&mut self, side: Side) -> Out {
        Out::with_rts(self.ends[side].take_rts())
    }

    /// A receive issued in SEND first flushes and hands over the direction.
    /// Returns the state the receive was issued in.
    fn turn_to_receive(&mut self, node: &NodeInner, me: &PairLock, side: Side) -> ConvState {
        let issued_in = self.ends[side].state;
        if matches!(issued_in, ConvState::Send | ConvState::SendPending) {
            self.send(node, me, side, Flow::ChangeDirection);
            self.ends[side].state = ConvState::Receive;
        }
        issued_in
    }

    fn confirm(&mut self, node: &NodeInner, me: &PairLock, side: Side, c: Confirmation) -> Act {
        self.ends[side].state = ConvState::Send;
        self.send(node, me, side, Flow::ConfirmRequest(c));
        Act::Wait(WaitKind::Confirm(c))
    }

    fn prepare_to_receive(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        side: Side,
        confirm: bool,
    ) -> Act {
        if confirm {
            return self.confirm(node, me, side, Confirmation::Send);
        }
        self.send(node, me, side, Flow::ChangeDirection);
        self.ends[side].state = ConvState::Receive;
        Act::Finish(Out::ok())
    }

    fn deallocate(&mut self, node: &NodeInner, me: &PairLock, side: Side, confirm: bool) -> Act {
        if confirm {
            return self.confirm(node, me, side, Confirmation::Deallocate);
        }
        self.send(node, me, side, Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL));
        // An attach the partner LU rejected surfaces here, on the verb that
        // flushed it.
        let out = match self.ends[side].broken {
            Some((primary, secondary)) => Out::rc(primary, secondary),
            None => Out::ok(),
        };
        self.end_conversation(node, side);
        Act::Finish(out)
    }

    /// DEALLOCATE(abend) and its kin: flush in SEND, purge in a receiving
    /// state (ending a pending post with `AP_CANCELLED`), then tell the
    /// partner and end.
    fn abend(&mut self, node: &NodeInner, me: &PairLock, side: Side, code: PrimaryRc) {
        let end = &mut self.ends[side];
        if matches!(end.state, ConvState::Send | ConvState::SendPending) {
            self.send(node, me, side, Flow::Deallocate(code));
        } else {
            self.cancel_wait(side);
            let _ = self.ends[side].purge_inbound();
            self.deliver(node, side, Flow::Deallocate(code));
        }
        self.end_conversation(node, side);
    }

    fn send_error(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        side: Side,
        err_type: u8,
        err_dir: u8,
    ) -> Out {
        self.cancel_wait(side);
        let end = &mut self.ends[side];
        // Project's choice: MC_SEND_ERROR has no `err_type`, so a mapped
        // end's is ignored and the partner sees a program error.
        let svc = !end.mapped && err_type == values::ERR_SVC;
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
        let code = match end.state {
            ConvState::Send if !end.mapped && end.writer.truncated() => trunc,
            ConvState::Send => no_trunc,
            ConvState::SendPending if err_dir == values::SEND_DIR_ERROR => no_trunc,
            _ => purging,
        };
        if code == purging {
            // Issued while receiving: purge what came in. A purged
            // deallocation ends the conversation instead (§5.5).
            if let Some(ended) = end.purge_inbound() {
                self.end_conversation(node, side);
                return Out::rc(ended, SecondaryRc(0));
            }
        }
        self.send(node, me, side, Flow::Error(code));
        let end = &mut self.ends[side];
        end.writer = RecordWriter::new();
        end.state = ConvState::Send;
        self.rts_out(side)
    }

    /// Ends a pending posting receive or POST_ON_RECEIPT with `AP_CANCELLED`
    /// (the verbs of §2.4 that cancel it). The caller sets the state.
    fn cancel_wait(&mut self, side: Side) {
        let end = &mut self.ends[side];
        if let Some(wait) = end.wait.take() {
            if let WaitKind::Receive {
                posting: Some(issued_in),
                ..
            } = wait.kind
            {
                end.state = issued_in;
            }
            complete(
                &wait.core,
                wait.handle,
                Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)),
            );
        }
    }

    /// Sends everything buffered on `side` (with the attach, if it has not
    /// flowed yet), then `flow`, then lets the partner make progress.
    ///
    /// The data and `flow` reach the partner together, before it makes
    /// progress, as one RU chain carries both: a receive already waiting
    /// sees the status after the data (rtn_status combines them).
    fn send(&mut self, node: &NodeInner, me: &PairLock, side: Side, flow: Flow) {
        self.put_out(node, me, side);
        if self.ends[side].broken.is_none() {
            self.send_to_partner(side, flow);
        }
        self.progress(node, other(side));
    }

    /// Sends what `side` has buffered.
    fn flush(&mut self, node: &NodeInner, me: &PairLock, side: Side) {
        self.put_out(node, me, side);
        self.progress(node, other(side));
    }

    /// Puts what `side` has buffered (with the attach, if it has not
    /// flowed yet) on the session, without letting the partner progress.
    fn put_out(&mut self, node: &NodeInner, me: &PairLock, side: Side) {
        if let Some(attach) = self.ends[side].attach.take() {
            match node.attach(me, &attach) {
                Ok(Attached::Local(ids)) => self.attached(ids, &attach),
                Ok(Attached::Remote(partner)) => {
                    let port = ConvPort {
                        pair: me.clone(),
                        side,
                        node: node.weak(),
                    };
                    self.remote = Some((other(side), partner.attach(&attach, port)));
                }
                Err(sense) => {
                    let end = &mut self.ends[side];
                    end.broken = Some((PrimaryRc::ALLOCATION_ERROR, sense));
                    end.out.clear();
                    end.out_bytes = 0;
                    return;
                }
            }
        }
        let end = &mut self.ends[side];
        end.out_bytes = 0;
        for data in mem::take(&mut end.out) {
            self.send_to_partner(side, Flow::Data(data));
        }
    }

    /// The session to `side`, if `side` is on another node.
    fn session_to(&self, side: Side) -> Option<&Arc<dyn Session>> {
        self.remote
            .as_ref()
            .filter(|(remote, _)| *remote == side)
            .map(|(_, session)| session)
    }

    /// Puts `flow` from `side` on the session to the partner, without
    /// letting a local partner progress.
    fn send_to_partner(&mut self, side: Side, flow: Flow) {
        if let Some(session) = self.session_to(other(side)) {
            session.send(flow);
        } else {
            let partner = &mut self.ends[other(side)];
            if partner.live && partner.wants(&flow) {
                partner.inbound.push_back(flow);
            }
        }
    }

    /// Puts one flow (unbuffered) on the session to the partner.
    fn deliver(&mut self, node: &NodeInner, side: Side, flow: Flow) {
        if self.ends[side].broken.is_some() {
            return;
        }
        self.send_to_partner(side, flow);
        self.progress(node, other(side));
    }

    /// A flow from the remote end arrived for local `side`.
    pub(crate) fn arrive(&mut self, node: &NodeInner, side: Side, flow: Flow) {
        if !self.ends[side].live {
            return;
        }
        match flow {
            Flow::RequestToSend => self.rts_arrives(side),
            flow => {
                let end = &mut self.ends[side];
                let wanted = end.wants(&flow);
                if let Flow::Data(data) = &flow {
                    // Purged data counts as consumed at once (pacing).
                    end.delivered += data.len();
                    if wanted {
                        end.in_bytes += data.len();
                    }
                }
                if wanted {
                    end.inbound.push_back(flow);
                }
                self.progress(node, side);
            }
        }
    }

    /// The partner's REQUEST_TO_SEND reached `side`: it fires a
    /// TEST_RTS_AND_POST registration, or waits to be reported.
    fn rts_arrives(&mut self, side: Side) {
        let end = &mut self.ends[side];
        if end.live {
            match end.rts_post.take() {
                Some((core, post)) => complete(&core, post, Out::ok()),
                None => end.rts_in = true,
            }
        }
    }

    /// Completes `side`'s waiting verb if what it waits for is there.
    pub(crate) fn progress(&mut self, node: &NodeInner, side: Side) {
        self.complete_wait(node, side);
        self.settle(side);
    }

    fn complete_wait(&mut self, node: &NodeInner, side: Side) {
        let Some(wait) = self.ends[side].wait.take() else {
            return;
        };
        let out = match wait.kind {
            WaitKind::Receive {
                fill,
                max_len,
                rtn_status,
                posting: _,
            } => self.try_receive(node, side, fill, max_len, rtn_status, false),
            WaitKind::Confirm(c) => self.try_confirmed(node, side, c),
            WaitKind::PostOnReceipt { max_len } => self.try_post_on_receipt(node, side, max_len),
            WaitKind::Writable => match self.report_broken(node, side) {
                Some(out) => Some(out),
                None if mem::take(&mut self.ends[side].writable) => Some(self.rts_out(side)),
                None => None,
            },
        };
        match out {
            Some(out) => complete(&wait.core, wait.handle, out),
            None => self.ends[side].wait = Some(wait),
        }
    }

    /// A receive's result, or `None` to keep waiting (never for an
    /// immediate receive, which gets `AP_UNSUCCESSFUL` from its caller).
    fn try_receive(
        &mut self,
        node: &NodeInner,
        side: Side,
        fill: Fill,
        max_len: u16,
        rtn_status: bool,
        immediate: bool,
    ) -> Option<Out> {
        self.ends[side].feed();
        if let Some(out) = self.report_broken(node, side) {
            return Some(out);
        }
        let end = &mut self.ends[side];
        let status = end.inbound.front().map(|flow| match flow {
            Flow::ChangeDirection => Some(WhatRcvd::SEND),
            Flow::ConfirmRequest(c) => Some(c.what()),
            _ => None,
        });
        let complete_input = immediate || status.is_some();
        let mut out = match end.reader.take(fill, max_len, complete_input) {
            Take::Data { data, mut what } => {
                if let (true, Some(Some(status))) = (rtn_status && end.reader.is_empty(), status) {
                    if what != WhatRcvd::DATA_INCOMPLETE {
                        end.inbound.pop_front();
                        what = WhatRcvd::combine(what, status);
                    }
                }
                end.state = states::after_receive(what);
                Out {
                    received: Some((data, what)),
                    ..Out::ok()
                }
            }
            Take::NeedMore => return None,
            Take::Empty => match end.inbound.pop_front() {
                None => return None,
                Some(Flow::ChangeDirection) => {
                    end.state = ConvState::Send;
                    Out {
                        received: Some((Vec::new(), WhatRcvd::SEND)),
                        ..Out::ok()
                    }
                }
                Some(Flow::ConfirmRequest(c)) => {
                    end.state = states::after_receive(c.what());
                    Out {
                        received: Some((Vec::new(), c.what())),
                        ..Out::ok()
                    }
                }
                Some(Flow::Error(code)) => {
                    end.reader.purge();
                    end.state = ConvState::Receive;
                    Out::rc(code, SecondaryRc(0))
                }
                Some(Flow::Deallocate(code)) => {
                    self.end_conversation(node, side);
                    Out::rc(code, SecondaryRc(0))
                }
                Some(Flow::Confirmed | Flow::Data(_) | Flow::RequestToSend) => {
                    // A CONFIRMED nobody asked for: the partner broke the
                    // protocol.
                    self.end_conversation(node, side);
                    Out::rc(PrimaryRc::CONV_FAILURE_NO_RETRY, SecondaryRc(0))
                }
            },
        };
        out.rts_rcvd = Some(self.ends[side].take_rts());
        Some(out)
    }

    /// The reply to a confirmation request, or `None` to keep waiting.
    fn try_confirmed(&mut self, node: &NodeInner, side: Side, c: Confirmation) -> Option<Out> {
        if let Some(out) = self.report_broken(node, side) {
            return Some(out);
        }
        let end = &mut self.ends[side];
        let out = match end.inbound.front()? {
            Flow::Confirmed => {
                end.inbound.pop_front();
                match c {
                    Confirmation::Plain => end.state = ConvState::Send,
                    Confirmation::Send => end.state = ConvState::Receive,
                    Confirmation::Deallocate => self.end_conversation(node, side),
                }
                Out::ok()
            }
            &Flow::Error(code) => {
                end.inbound.pop_front();
                end.writer = RecordWriter::new();
                end.state = ConvState::Receive;
                Out::rc(code, SecondaryRc(0))
            }
            &Flow::Deallocate(code) => {
                end.inbound.pop_front();
                self.end_conversation(node, side);
                Out::rc(code, SecondaryRc(0))
            }
            // Nothing else can come while the partner owes a reply.
            _ => return None,
        };
        Some(Out {
            rts_rcvd: Some(self.ends[side].take_rts()),
            ..out
        })
    }

    /// POST_ON_RECEIPT's post: `AP_OK` with `AP_DATA` once `max_len` bytes
    /// (or a whole mapped record) are waiting, with `AP_NOT_DATA` when a
    /// status is next; the session failure if the session failed.
    fn try_post_on_receipt(&mut self, node: &NodeInner, side: Side, max_len: u16) -> Option<Out> {
        self.ends[side].feed();
        if let Some(out) = self.report_broken(node, side) {
            return Some(out);
        }
        let end = &mut self.ends[side];
        let buffered = end.reader.buffered();
        let enough = buffered >= usize::from(max_len.max(1)) || (end.mapped && buffered > 0);
        if enough || (!end.reader.is_empty() && !end.inbound.is_empty()) {
            Some(Out::rc(
                PrimaryRc::OK,
                SecondaryRc(u32::from(WhatRcvd::DATA.0)),
            ))
        } else if !end.inbound.is_empty() {
            Some(Out::rc(
                PrimaryRc::OK,
                SecondaryRc(u32::from(WhatRcvd::NOT_DATA.0)),
            ))
        } else {
            None
        }
    }

    /// A broken session's code, reported once: the conversation ends.
    fn report_broken(&mut self, node: &NodeInner, side: Side) -> Option<Out> {
        let (primary, secondary) = self.ends[side].broken?;
        self.end_conversation(node, side);
        Some(Out::rc(primary, secondary))
    }

    /// `side` goes to RESET: its id is forgotten, its TEST_RTS_AND_POST
    /// registration ends with `AP_CANCELLED`, and flows to it are dropped.
    fn end_conversation(&mut self, node: &NodeInner, side: Side) {
        let end = &mut self.ends[side];
        if !end.live {
            return;
        }
        end.live = false;
        end.state = ConvState::Reset;
        // Every path that ends a conversation has already finished its
        // waiting verb; should one remain, it must still get its completion.
        if let Some(wait) = end.wait.take() {
            complete(
                &wait.core,
                wait.handle,
                Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)),
            );
        }
        end.inbound.clear();
        end.in_bytes = 0;
        end.out.clear();
        end.reader.purge();
        if let Some((core, post)) = end.rts_post.take() {
            complete(&core, post, Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)));
        }
        node.forget(end.ids);
        // The local end was the last one here: the session is released
        // once what was sent on it has gone.
        if let Some((_, session)) = self.remote.take() {
            session.close(false);
        }
    }

    /// SEND_CONVERSATION on a conversation just allocated by side 0: the
    /// data, then DEALLOCATE(FLUSH). Whatever the partner LU makes of the
    /// attach is not reported.
    pub(crate) fn send_conversation(
        &mut self,
        node: &NodeInner,
        me: &PairLock,
        data: Vec<u8>,
    ) -> Out {
        let end = &mut self.ends[0];
        if !end.mapped {
            match end.writer.after_write(&data) {
                Err(secondary) => return Out::rc(PrimaryRc::PARAMETER_CHECK, secondary),
                Ok(writer) if !writer.at_boundary() => {
                    return Out::rc(PrimaryRc::STATE_CHECK, SecondaryRc::DEALLOC_NOT_LL_BDY)
                }
                Ok(writer) => end.writer = writer,
            }
        }
        end.out.push(data);
        self.send(node, me, 0, Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL));
        self.end_conversation(node, 0);
        Out::ok()
    }

    /// A verb of `side` was cancelled (`WinAPPCCancelAsyncRequest`): purge
    /// without flushing, close the session, fail the partner.
    pub(crate) fn abort(&mut self, node: &NodeInner, side: Side) {
        // The cancelled task is the wait or a post; completing it finds
        // the cancel's win and does nothing. Any other waiting task gets
        // AP_CANCELLED.
        if let Some(wait) = self.ends[side].wait.take() {
            complete(
                &wait.core,
                wait.handle,
                Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)),
            );
        }
        self.ends[side].attach = None;
        // A remote partner learns through the session's deactivation.
        if let Some((_, session)) = self.remote.take() {
            session.close(true);
        }
        self.end_conversation(node, side);
        self.fail(
            node,
            other(side),
            PrimaryRc::CONV_FAILURE_RETRY,
            SecondaryRc(0),
        );
    }

    /// The session is gone under `side` (or its attach was rejected): its
    /// waiting verb, or its next verb, reports `code`.
    pub(crate) fn fail(
        &mut self,
        node: &NodeInner,
        side: Side,
        code: PrimaryRc,
        secondary: SecondaryRc,
    ) {
        let end = &mut self.ends[side];
        if !end.live {
            return;
        }
        end.broken = Some((code, secondary));
        // An outstanding TEST_RTS_AND_POST post reports the failure (it is
        // the partner's doing, not a local cancel); the next verb still does.
        if let Some((core, post)) = end.rts_post.take() {
            complete(&core, post, Out::rc(code, secondary));
        }
        self.progress(node, side);
    }

    /// `side`'s TP ended (TP_ENDED, a cancelled TP verb, cleanup): its
    /// outstanding verbs end with `AP_CANCELLED`; in SEND at a record
    /// boundary the conversation is deallocated normally (flushing), in
    /// any other live state abnormally.
    pub(crate) fn end_tp(&mut self, node: &NodeInner, me: &PairLock, side: Side) {
        if let Some(wait) = self.ends[side].wait.take() {
            complete(
                &wait.core,
                wait.handle,
                Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)),
            );
        }
        let end = &self.ends[side];
        if !end.live {
            return;
        }
        let sending = matches!(end.state, ConvState::Send | ConvState::SendPending);
        if sending && (end.mapped || end.writer.at_boundary()) {
            self.send(node, me, side, Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL));
        } else {
            let code = end.abend_code(values::ABEND_PROG);
            let _ = self.ends[side].purge_inbound();
            self.ends[side].attach = None;
            self.deliver(node, side, Flow::Deallocate(code));
        }
        self.end_conversation(node, side);
    }
}
