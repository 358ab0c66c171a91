//! The state of one conversation end, and the small operations on it that
//! every verb and arrival share.

use std::collections::VecDeque;
use std::sync::Arc;

use super::wait::Wait;
use crate::node::{AppId, Registrar};
use crate::outcome::{AppCore, Attributes, Out};
use crate::param::Refusal;
use crate::rc::{PrimaryRc, SecondaryRc};
use crate::records::{ByteQueue, Fill, MappedReader, RecordReader, RecordWriter, Take};
use crate::session::{Attach, Flow, Peer};
use crate::states::ConvState;
use crate::verbs::{values, Conv};
use appc_engine::activity::Activity;
use appc_engine::Handle;

/// The data an end has received and not yet handed out.
#[derive(Debug)]
pub(super) enum Reader {
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
    /// mapped one keeps it (one whole record).
    fn push(&mut self, data: &[u8]) -> Result<(), SecondaryRc> {
        match self {
            Reader::Basic(r) => r.push(data),
            Reader::Mapped(r) => {
                r.push(data);
                Ok(())
            }
        }
    }

    pub(super) fn take(
        &mut self,
        fill: Fill,
        max_len: u16,
        complete_input: bool,
        into: &mut Vec<u8>,
    ) -> Take {
        match self {
            Reader::Basic(r) => r.take(fill, max_len, complete_input, into),
            Reader::Mapped(r) => r.take(max_len, into),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Reader::Basic(r) => r.is_empty(),
            Reader::Mapped(r) => r.is_empty(),
        }
    }

    pub(super) fn buffered(&self) -> usize {
        match self {
            Reader::Basic(r) => r.buffered(),
            Reader::Mapped(r) => r.buffered(),
        }
    }

    pub(super) fn purge(&mut self) {
        match self {
            Reader::Basic(r) => r.purge(),
            Reader::Mapped(r) => r.purge(),
        }
    }
}

/// A flow held in an end's inbound queue: a status not yet reported, or
/// data that arrived behind one (its bytes wait in [`Buffers::held`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Held {
    /// This many bytes of [`Buffers::held`] (one flow's: at most an RU,
    /// or one SEND_DATA in memory, so `u32` keeps this 8 bytes).
    Data(u32),
    /// Any other flow, as it arrived.
    Status(Status),
}

/// The flows other than data, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Status {
    ChangeDirection,
    ConfirmRequest(crate::session::Confirmation),
    Confirmed,
    Error(PrimaryRc),
    Deallocate(PrimaryRc),
}

/// What arrived and is not yet reported, in order. Data that arrives
/// while nothing is held goes straight into the reader (its one copy);
/// only data behind a status not yet reported waits, its bytes in
/// [`Buffers::held`], since the reader may hold only what precedes the
/// next status.
#[derive(Debug, Default)]
pub(super) struct HeldFlows {
    pub(super) held: VecDeque<Held>,
}

impl HeldFlows {
    pub(super) fn front(&self) -> Option<Held> {
        self.held.front().copied()
    }

    pub(super) fn pop_status(&mut self) -> Option<Status> {
        match self.held.front()? {
            Held::Status(status) => {
                let status = *status;
                self.held.pop_front();
                Some(status)
            }
            Held::Data(_) => None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    fn has_error(&self) -> bool {
        self.held
            .iter()
            .any(|held| matches!(held, Held::Status(Status::Error(_))))
    }

    pub(super) fn clear(&mut self) {
        self.held.clear();
    }
}

/// The data an end holds: what arrived and was not yet received, and what
/// SEND_DATA buffered. Made with the end's first data, either way, and
/// kept (with the capacity of its buffers) until the end goes: an end
/// that never moves data (a receive held for hours, an attach waiting for
/// its TP) holds a pointer instead of these.
#[derive(Debug)]
pub(super) struct Buffers {
    pub(super) reader: Reader,
    /// The bytes of the [`Held::Data`] flows, one after the other.
    pub(super) held: ByteQueue,
    /// Buffered SEND_DATA bytes, and the length of each SEND_DATA's part
    /// (a mapped record each).
    pub(super) out: Vec<u8>,
    pub(super) out_lens: Vec<usize>,
}

impl Buffers {
    fn new(mapped: bool) -> Self {
        Self {
            reader: Reader::new(mapped),
            held: ByteQueue::default(),
            out: Vec::new(),
            out_lens: Vec::new(),
        }
    }
}

/// Gives `reader` a flow's data; a bad LL in it breaks the conversation.
fn push_reader(reader: &mut Reader, broken: &mut Option<Refusal>, data: &[u8]) {
    if let Err(secondary) = reader.push(data) {
        // The partner's LU validates every LL it sends, so this is a
        // protocol error: the conversation fails.
        *broken = Some((PrimaryRc::CONV_FAILURE_NO_RETRY, secondary));
    }
}

/// An end's [`Buffers`], made if it has none yet.
fn buffers_of(buffers: &mut Option<Box<Buffers>>, mapped: bool) -> &mut Buffers {
    buffers.get_or_insert_with(|| Box::new(Buffers::new(mapped)))
}

/// One end of a conversation.
#[derive(Debug)]
pub(crate) struct End {
    /// This end's TP and conversation ids (the invoked end: assigned when
    /// a RECEIVE_ALLOCATE takes its attach).
    pub(crate) ids: Conv,
    /// The application whose TP holds this end.
    pub(crate) app: AppId,
    /// Attached and not yet ended; flows to an end that is not live are
    /// dropped.
    pub(crate) live: bool,
    pub(super) state: ConvState,
    pub(super) mapped: bool,
    pub(super) attrs: Attributes,
    /// The engine of the application, whose tasks this end's verbs are
    /// (none yet for an invoked end whose attach waits for a
    /// RECEIVE_ALLOCATE).
    pub(super) tasks: Option<AppCore>,
    /// Its TP's count of waiting verbs (`TP_ENDED(AP_SOFT)` waits for it).
    pub(super) activity: Option<Arc<Activity>>,
    /// The allocating end: ALLOCATE's attach, until the first flush sends
    /// it (boxed: most of an end's life it is gone).
    pub(super) attach: Option<Box<Attach>>,
    pub(super) writer: RecordWriter,
    pub(super) inbound: HeldFlows,
    /// Data received and to send, once there is any.
    pub(super) buffers: Option<Box<Buffers>>,
    /// The partner's REQUEST_TO_SEND, not yet reported.
    pub(super) rts_in: bool,
    /// Data bytes a peer that counts them ([`Peer::consumed`]) delivered
    /// and has not been told were consumed: those still held (in
    /// `inbound` or the reader) and those taken since the last report.
    pub(super) delivered: usize,
    /// The session reported [`RemoteEnd::writable`](super::RemoteEnd::writable)
    /// for a waiting send.
    pub(super) writable: bool,
    /// The session failed or the attach was rejected: the code every verb
    /// now reports, ending the conversation.
    pub(super) broken: Option<Refusal>,
    pub(super) wait: Option<Wait>,
    /// A TEST_RTS_AND_POST registration: its post task.
    pub(super) rts_post: Option<Handle>,
    /// The peer was closed ([`Peer::close`]): it is not told again.
    pub(super) peer_closed: bool,
}

impl End {
    pub(super) fn new(ids: Conv, live: bool, state: ConvState, mapped: bool) -> Self {
        Self {
            ids,
            app: 0,
            live,
            state,
            mapped,
            attrs: Attributes::default(),
            tasks: None,
            activity: None,
            attach: None,
            writer: RecordWriter::new(),
            inbound: HeldFlows::default(),
            buffers: None,
            rts_in: false,
            delivered: 0,
            writable: false,
            broken: None,
            wait: None,
            rts_post: None,
            peer_closed: false,
        }
    }

    /// The allocating end of a new conversation (in SEND), whose attach
    /// flows with the first flush.
    pub(crate) fn allocated(ids: Conv, attach: Attach, attrs: Attributes) -> Self {
        let mut end = Self::new(ids, true, ConvState::Send, attach.mapped);
        end.attrs = attrs;
        end.attach = Some(Box::new(attach));
        end
    }

    /// The invoked end of a conversation whose attach arrived (in
    /// RECEIVE); it gets its TP with [`End::attached`].
    pub(crate) fn invoked(attach: &Attach) -> Self {
        let mut end = Self::new(Conv::default(), true, ConvState::Receive, attach.mapped);
        end.attrs = Attributes {
            sync_level: attach.sync_level,
            mode_name: attach.mode_name,
            lu_alias: attach.plu_alias,
            plu_alias: attach.lu_alias,
            user_id: attach.user_id,
        };
        end
    }

    /// The end belongs to TP `ids.tp_id` of application `app` from now on.
    pub(crate) fn attached(
        &mut self,
        ids: Conv,
        app: AppId,
        tasks: AppCore,
        activity: Option<Arc<Activity>>,
    ) {
        self.ids = ids;
        self.app = app;
        self.tasks = Some(tasks);
        self.activity = activity;
    }

    /// Whether this is a live end with these ids.
    pub(crate) fn is_live(&self, ids: Conv) -> bool {
        self.live && self.ids == ids
    }

    /// Whether a cancel finished task `handle` of this end's application
    /// (a verb that reaches its end after its cancel must not act).
    pub(super) fn was_cancelled(&self, handle: Handle) -> bool {
        self.tasks
            .as_ref()
            .is_some_and(|tasks| !tasks.is_pending(handle))
    }

    /// Completes task `handle` of this end's application with `out`, if
    /// nothing finished it first.
    pub(super) fn complete(&self, handle: Handle, mut out: Out) {
        self.complete_with(handle, &mut out);
    }

    /// [`End::complete`] from where the results were gathered.
    pub(super) fn complete_with(&self, handle: Handle, out: &mut Out) {
        if let Some(tasks) = &self.tasks {
            let _ = tasks.complete(handle, |verb| out.apply(verb));
        }
    }

    /// Moves data into the reader while it precedes every held status
    /// (the readers' input contract).
    #[inline]
    pub(super) fn feed(&mut self) {
        if !self.inbound.is_empty() {
            self.feed_held();
        }
    }

    fn feed_held(&mut self) {
        while let Some(Held::Data(len)) = self.inbound.front() {
            self.inbound.held.pop_front();
            let buffers = buffers_of(&mut self.buffers, self.mapped);
            let len = len as usize;
            let data = &buffers.held.as_slice()[..len];
            push_reader(&mut buffers.reader, &mut self.broken, data);
            buffers.held.consume(len);
        }
    }

    fn push_reader(&mut self, data: &[u8]) {
        let buffers = buffers_of(&mut self.buffers, self.mapped);
        push_reader(&mut buffers.reader, &mut self.broken, data);
    }

    /// This end's buffers, made if it has none yet.
    pub(super) fn buffers(&mut self) -> &mut Buffers {
        buffers_of(&mut self.buffers, self.mapped)
    }

    /// Whether the reader holds nothing to receive (see
    /// [`RecordReader::is_empty`]).
    pub(super) fn reader_is_empty(&self) -> bool {
        self.buffers.as_ref().is_none_or(|b| b.reader.is_empty())
    }

    /// Bytes the reader holds, not yet received.
    pub(super) fn reader_buffered(&self) -> usize {
        self.buffers.as_ref().map_or(0, |b| b.reader.buffered())
    }

    /// Whether SEND_DATA buffered anything not yet sent.
    pub(super) fn has_out(&self) -> bool {
        self.buffers
            .as_ref()
            .is_some_and(|b| !b.out_lens.is_empty())
    }

    /// Drops what the reader holds (see [`RecordReader::purge`]).
    pub(super) fn purge_reader(&mut self) {
        if let Some(buffers) = &mut self.buffers {
            buffers.reader.purge();
        }
    }

    /// Takes a flow that arrived from the partner (one it [`wants`]).
    ///
    /// [`wants`]: End::wants
    #[inline]
    pub(super) fn hold(&mut self, flow: Flow<'_>) {
        match flow {
            Flow::Data(data) if self.inbound.is_empty() => self.push_reader(data),
            Flow::Data(data) => {
                let len = u32::try_from(data.len()).expect("one flow's data fits a u32");
                self.buffers().held.extend(data);
                self.inbound.held.push_back(Held::Data(len));
            }
            Flow::ChangeDirection => self.hold_status(Status::ChangeDirection),
            Flow::ConfirmRequest(c) => self.hold_status(Status::ConfirmRequest(c)),
            Flow::Confirmed => self.hold_status(Status::Confirmed),
            Flow::Error(code) => self.hold_status(Status::Error(code)),
            Flow::Deallocate(code) => self.hold_status(Status::Deallocate(code)),
            Flow::RequestToSend => self.rts_arrives(),
        }
    }

    fn hold_status(&mut self, status: Status) {
        self.inbound.held.push_back(Held::Status(status));
    }

    /// Whether a flow from the partner still concerns this end, or is
    /// purged as it arrives. An end that holds the send direction (SEND,
    /// SEND_PENDING) and has no partner's error waiting (which hands the
    /// direction over) cannot have been sent data, a confirmation request
    /// or a change of direction since it got the direction. Any that come
    /// are what the partner had buffered or in flight when this end's
    /// SEND_ERROR reached it (a partner's DEALLOCATE(ABEND) or TP_ENDED
    /// flushes its buffer without reporting the error first), and
    /// SEND_ERROR purges them. Kept, they would sit in front of what does
    /// concern this end, a CONFIRMED or the partner's abend, and hold a
    /// waiting CONFIRM forever.
    pub(super) fn wants(&self, flow: &Flow<'_>) -> bool {
        let stale = matches!(
            flow,
            Flow::Data(_) | Flow::ConfirmRequest(_) | Flow::ChangeDirection
        );
        !stale || !self.sending() || self.inbound.has_error()
    }

    /// In SEND or SEND_PENDING.
    pub(super) fn sending(&self) -> bool {
        matches!(self.state, ConvState::Send | ConvState::SendPending)
    }

    /// The partner's REQUEST_TO_SEND reached this end: it fires a
    /// TEST_RTS_AND_POST registration, or waits to be reported.
    pub(super) fn rts_arrives(&mut self) {
        if self.live {
            match self.rts_post.take() {
                Some(post) => self.complete(post, Out::ok()),
                None => self.rts_in = true,
            }
        }
    }

    pub(super) fn take_rts(&mut self) -> bool {
        std::mem::take(&mut self.rts_in)
    }

    /// `AP_OK` with the partner's RTS, if any.
    pub(super) fn rts_out(&mut self) -> Out {
        Out::with_rts(self.take_rts())
    }

    /// Drops everything received and not yet reported (SEND_ERROR and
    /// DEALLOCATE(abend) in a receiving state); the partner's RTS stays.
    /// Returns the code a purged deallocation or failure makes the purging
    /// verb report: `AP_DEALLOC_NORMAL`.
    pub(super) fn purge_inbound(&mut self) -> Option<PrimaryRc> {
        self.purge_reader();
        let ended = self
            .inbound
            .held
            .iter()
            .any(|held| matches!(held, Held::Status(Status::Deallocate(_))));
        self.clear_held();
        ended.then_some(PrimaryRc::DEALLOC_NORMAL)
    }

    /// Drops what SEND_DATA buffered (purged, or never to be sent).
    pub(super) fn drop_out(&mut self) {
        if let Some(buffers) = &mut self.buffers {
            buffers.out.clear();
            buffers.out_lens.clear();
        }
    }

    /// Drops the held flows, their data with them.
    fn clear_held(&mut self) {
        self.inbound.clear();
        if let Some(buffers) = &mut self.buffers {
            buffers.held.clear();
        }
    }

    pub(super) fn abend_code(&self, dealloc_type: u8) -> PrimaryRc {
        match dealloc_type {
            values::ABEND_SVC => PrimaryRc::DEALLOC_ABEND_SVC,
            values::ABEND_TIMER => PrimaryRc::DEALLOC_ABEND_TIMER,
            _ if self.mapped => PrimaryRc::DEALLOC_ABEND,
            _ => PrimaryRc::DEALLOC_ABEND_PROG,
        }
    }

    /// Tells the peer what this end's TP has consumed of what it delivered
    /// (received, or purged), so that it can let the partner send more
    /// (pacing).
    pub(super) fn settle(&mut self, peer: &mut dyn Peer) {
        let held = self
            .buffers
            .as_ref()
            .map_or(0, |b| b.held.len() + b.reader.buffered());
        if self.delivered <= held {
            return;
        }
        let consumed = self.delivered - held;
        self.delivered = held;
        peer.consumed(consumed);
    }

    /// Sends what this end has buffered, with the attach first if it has
    /// not flowed yet. (Inlined: most calls find nothing to send.)
    #[inline]
    pub(super) fn put_out(&mut self, peer: &mut dyn Peer) {
        if self.attach.is_some() || self.has_out() {
            self.put_out_buffered(peer);
        }
    }

    fn put_out_buffered(&mut self, peer: &mut dyn Peer) {
        if let Some(attach) = self.attach.take() {
            if let Err(sense) = peer.attach(&attach) {
                self.broken = Some((PrimaryRc::ALLOCATION_ERROR, sense));
                self.drop_out();
                return;
            }
        }
        if self.broken.is_some() {
            self.drop_out();
            return;
        }
        if let Some(buffers) = &self.buffers {
            let mut from = 0;
            for &len in &buffers.out_lens {
                peer.send(Flow::Data(&buffers.out[from..from + len]));
                from += len;
            }
        }
        self.drop_out();
    }

    /// Sends what is buffered, then `flow`.
    pub(super) fn send(&mut self, peer: &mut dyn Peer, flow: Flow<'_>) {
        self.put_out(peer);
        if self.broken.is_none() {
            peer.send(flow);
        }
    }

    /// Puts one flow (unbuffered) on the way to the partner.
    pub(super) fn deliver(&mut self, peer: &mut dyn Peer, flow: Flow<'_>) {
        if self.broken.is_none() {
            peer.send(flow);
        }
    }

    /// The end goes to RESET: its id is forgotten, its TEST_RTS_AND_POST
    /// registration ends with `AP_CANCELLED`, flows to it are dropped, and
    /// its peer is released (`Peer::close(false)`).
    pub(super) fn end_conversation(&mut self, node: &dyn Registrar, peer: &mut dyn Peer) {
        if !self.live {
            return;
        }
        self.live = false;
        self.state = ConvState::Reset;
        // Every path that ends a conversation has already finished its
        // waiting verb; should one remain, it must still get its completion.
        if let Some(wait) = self.wait.take() {
            self.complete(wait.handle, wait.cancelled());
        }
        self.clear_held();
        self.drop_out();
        self.purge_reader();
        if let Some(post) = self.rts_post.take() {
            self.complete(post, Out::rc(PrimaryRc::CANCELLED, SecondaryRc(0)));
        }
        node.forget(self.ids);
        self.close_peer(peer, false);
    }

    /// Closes the peer, once.
    pub(super) fn close_peer(&mut self, peer: &mut dyn Peer, abort: bool) {
        if !std::mem::replace(&mut self.peer_closed, true) {
            peer.close(abort);
        }
    }

    /// A receive's data, with `buf` (the verb's buffer) filled.
    pub(super) fn take_data(
        &mut self,
        fill: Fill,
        max_len: u16,
        complete_input: bool,
        buf: &mut Vec<u8>,
    ) -> Take {
        match &mut self.buffers {
            Some(buffers) => buffers.reader.take(fill, max_len, complete_input, buf),
            // A reader that never had data.
            None => Take::Empty,
        }
    }
}
