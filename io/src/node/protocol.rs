//! One half-session's bracket protocol: engine [`Flow`]s to PIUs and back,
//! pure (no I/O), so two [`HalfSession`]s can be run against each other in
//! unit tests.
//!
//! # Mapping (sna-wire.md §4; choices marked *ours*)
//!
//! | flow / event | PIUs |
//! |---|---|
//! | attach (first flush) | FMD RU, FI BC BBI RQE1, the FMH-5 (with PIP GDS) alone |
//! | `Data` | FMD RUs, RQE1, no EC: basic = the LL stream as given; mapped = a GDS `12FF` record (segmented by LL); cut at the max RU size |
//! | `ChangeDirection` | end of chain: EC CD RQE1 on an **empty** FMD RU (*ours*: an end of chain never waits for data, §4 allows an empty RU) |
//! | `ConfirmRequest` | end of chain with RQD3 (`A0`); + CD for `Send`, + CEB for `Deallocate` |
//! | `Confirmed` | `+RSP` to that RU (same SNF, DR1/DR2 echoed, empty RU) |
//! | `Error(code)` | `-RSP(08460000)` first when the code is `*_PURGING` or the partner holds the direction (to the pending RQD, else the last request received); then a new chain whose first RU is FI + FMH-7 `0889xxxx` (`0000` prog, `0001` prog trunc, `0100` svc, `0101` svc trunc) |
//! | `Deallocate(NORMAL)` | end of chain with CEB: RQD1 from the PLU, RQE1 from the SLU (*ours*, below) |
//! | `Deallocate(abend)` | (`-RSP(0846)` if receiving) FI + FMH-7 `0864000x` + EC CEB, RQD1 (PLU) / RQE1 (SLU) |
//! | `RequestToSend` | SIGNAL `C9 0001 0001`, DFC, expedited, RQE1 |
//! | (pacing, sent) the first normal-flow request of a window | PI = 1 on it (RH byte 1 `01`); at most W requests per window; the next window only after the IPR to it; the rest held, in order |
//! | (pacing, owed) a PI request received | IPR: response RH `83 01 00` (FMD, DR1 = DR2 = 0, PI), empty RU, normal flow, the SNF of the PI request; sent while the conversation holds at most the limit, else on [`HalfSession::consumed`] |
//! | (pacing, received) a response with PI | opens the next window; DR1 = DR2 = 0 (an IPR): nothing else, never taken for a `+RSP`; with DR1/DR2 also the response it is |
//!
//! A receiver classifies an end of chain as §4 does: RQD2/RQD3 asks for
//! confirmation (CEB → `Deallocate`, CD → `Send`, else `Plain`); otherwise CEB
//! is `Deallocate(NORMAL)` (answered `+RSP` at once when RQD1), CD is
//! `ChangeDirection`. An FMH-7 `0889xxxx` after a `-RSP(0846)` this
//! half-session received is reported `*_PURGING`, else `*_NO_TRUNC` /
//! `*_TRUNC`; `0864000x` turns the chain's CEB into `Deallocate(abend)`; any
//! other sense received by the PLU is the partner LU rejecting the attach
//! (`ALLOCATION_ERROR` + the sense).
//!
//! # Brackets and races (*ours*)
//!
//! Only the PLU (the link's initiator, which sent the BIND) begins brackets:
//! it is the contention winner on every session, so there is no bid. The
//! SLU's bracket ends as soon as it sends or receives CEB; it then drops
//! FMD requests without BBI and responses (stale traffic of the bracket
//! that ended). The PLU ends its own brackets with a definite response and
//! keeps the session out of the pool (draining, dropping everything) until
//! the `+RSP` comes: after it nothing of the old bracket can arrive, so a
//! pooled session is clean for the next conversation.
//!
//! After a `-RSP(0846)` the sender of it holds the direction and drops the
//! partner's FMD requests still in flight (its purged chain) until the
//! partner speaks again legitimately; a CEB among them ends the bracket
//! ([`Event::EndedMeanwhile`]).
//!
//! # Pacing
//!
//! Session-level fixed pacing, one window per direction as the BIND set it
//! ([`HalfSession::set_pacing`]; 0 = unpaced). Only normal-flow FMD
//! requests are paced: responses, SIGNAL and the SC requests (BIND, UNBIND,
//! which the link sends) never wait. Held requests keep the SNF they were
//! given, so they go in sequence; an UNBIND drops them with the session.
//! The receiver checks the partner: a request beyond the window, or a PI
//! request while an IPR is still owed, is a violation (`20110000`
//! \[unsure of the code\]). The data counted against the limit is what this
//! half-session delivered in the current bracket and the engine has not
//! reported consumed; when the bracket ends the conversation leaves the
//! session, the count restarts at 0 and an owed IPR goes. An unpaced
//! receiver cannot hold the partner back: a conversation holding more
//! than twice the limit is a violation (`08120000`).
//!
//! Sequence numbers: one SNF counter per direction for normal-flow
//! requests (checked on receipt: `20010000`), one for expedited requests
//! (not checked); a response carries its request's SNF.

use std::collections::VecDeque;

use crate::appc::rc::PrimaryRc;
use crate::appc::{Confirmation, Flow};
use crate::wire::frame::PREFIX_LEN;
use crate::wire::gds::{GDS_APPLICATION_DATA, LL_CONTINUES, MAX_LL};
use crate::wire::th::Flow as ThFlow;
use crate::wire::{
    Attach, ControlRu, ConversationType, ErrorDescription, Fmh, Frame, FrameRef, Lfsid,
    RecordReader, Request, Response, ResponseRu, ResponseType, Rh, Rti, RuCategory, Sense, Signal,
    Th,
};

/// Where a half-session's PIUs go: a link's output, or (in tests) a list
/// of frames. An RU comes as consecutive parts (a mapped record's GDS
/// headers and its data), so that nobody assembles it first.
pub(crate) trait Wire {
    /// One PIU.
    fn piu(&mut self, th: Th, rh: Rh, ru: &[&[u8]]);
}

/// A link's output: each PIU encoded after the last, with its length
/// prefix.
impl Wire for Vec<u8> {
    fn piu(&mut self, th: Th, rh: Rh, ru: &[&[u8]]) {
        let len: usize = ru.iter().map(|part| part.len()).sum::<usize>() + MIN_PIU_LEN;
        // RUs are cut at the session's RU size, far below 4 GiB.
        self.extend_from_slice(&(len as u32).to_be_bytes());
        self.extend_from_slice(&th.to_bytes());
        self.extend_from_slice(&rh.to_bytes());
        for part in ru {
            self.extend_from_slice(part);
        }
    }
}

/// Frames, owned (tests).
impl Wire for Vec<Frame> {
    fn piu(&mut self, th: Th, rh: Rh, ru: &[&[u8]]) {
        self.push(Frame {
            th,
            rh,
            ru: ru.concat(),
        });
    }
}

/// TH and RH.
const MIN_PIU_LEN: usize = crate::wire::frame::MIN_PIU;

/// Appends `frame` to a link's output.
pub(crate) fn encode(frame: &Frame, out: &mut Vec<u8>) {
    out.reserve(PREFIX_LEN + MIN_PIU_LEN + frame.ru.len());
    out.piu(frame.th, frame.rh, &[&frame.ru]);
}

/// What a received PIU means for the conversation on the session. Data
/// is borrowed from the PIU, or from the session's record assembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// A bracket began (SLU): route this attach.
    Attach(Attach),
    /// Deliver to the local end.
    Flow(Flow<'a>),
    /// The partner LU rejected the attach (PLU): `ALLOCATION_ERROR`.
    Rejected(Sense),
    /// The partner ended the bracket while we were purging its chain: the
    /// local end reports `DEALLOC_NORMAL` (a purged deallocation).
    EndedMeanwhile,
    /// The bracket is over on this half-session.
    BracketEnded,
}

/// Where a half-session's events go, in order, as it finds them.
pub(crate) trait Events {
    /// The next event.
    fn event(&mut self, event: Event<'_>);
}

impl<F: FnMut(Event<'_>)> Events for F {
    fn event(&mut self, event: Event<'_>) {
        self(event);
    }
}

/// A protocol violation: UNBIND the session with this sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Violation {
    pub sense: Sense,
    pub what: &'static str,
}

fn violation(sense: Sense, what: &'static str) -> Violation {
    Violation { sense, what }
}

/// Sense codes of the allocation errors the SLU sends in an FMH-7.
pub(crate) const SESSION_LIMIT_EXCEEDED: Sense = Sense(0x0805_0000);

/// Session-level fixed pacing of what this half-session sends.
#[derive(Debug, Default)]
struct SendPacing {
    /// RUs per window; 0: unpaced.
    window: u32,
    /// RUs left in the current window.
    left: u32,
    /// The window's PI request went; its IPR has not come back.
    ipr_due: bool,
    /// Normal-flow requests waiting for the next window, in order: their
    /// TH, RH and RU length; the RUs, one after the other, in `held_rus`
    /// (kept, with their capacity, across windows).
    held: VecDeque<(Th, Request, usize)>,
    held_rus: VecDeque<u8>,
}

impl SendPacing {
    fn blocked(&self) -> bool {
        self.left == 0 && self.ipr_due
    }

    /// Sends a request in the current window, or begins the next one (PI).
    fn emit(&mut self, th: Th, mut rh: Request, ru: &[&[u8]], out: &mut dyn Wire) {
        rh.pi = self.count();
        out.piu(th, Rh::Request(rh), ru);
    }

    /// Counts one request against the window; true if it begins the next
    /// one (it carries PI).
    fn count(&mut self) -> bool {
        let begins = self.left == 0;
        if begins {
            self.left = self.window;
            self.ipr_due = true;
        }
        self.left -= 1;
        begins
    }

    /// Holds a request for the next window.
    fn hold(&mut self, th: Th, rh: Request, ru: &[&[u8]]) {
        let mut len = 0;
        for part in ru {
            self.held_rus.extend(part.iter());
            len += part.len();
        }
        self.held.push_back((th, rh, len));
    }
}

/// Session-level fixed pacing of what this half-session receives.
#[derive(Debug, Default)]
struct RecvPacing {
    /// RUs per window; 0: unpaced.
    window: u32,
    /// RUs received in the current window.
    in_window: u32,
    /// The SNF of the PI request whose IPR we owe.
    owed: Option<u16>,
    /// Data delivered to the conversation and not yet consumed by its TP.
    unconsumed: usize,
    /// The IPR goes only while the conversation holds at most this.
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bracket {
    Idle,
    Active,
    /// PLU: CEB sent with a definite response; waiting for its `+RSP`.
    Draining,
}

/// The most parts of one record's stream: a record of at most 65,535
/// bytes (`MAX_DATA`) takes at most three GDS segments, each a header
/// and its data.
const MAX_PARTS: usize = 8;

/// A byte stream given as consecutive parts, cut into RUs of at most
/// `max` bytes: `ru` gets each RU's parts (borrowed), in order. No RU for
/// an empty stream.
fn cut(parts: &[&[u8]], max: usize, mut ru: impl FnMut(&[&[u8]])) {
    let mut pieces: [&[u8]; MAX_PARTS] = [&[]; MAX_PARTS];
    let (mut count, mut len) = (0, 0);
    for part in parts {
        let mut rest: &[u8] = part;
        while !rest.is_empty() {
            let take = rest.len().min(max - len);
            let (piece, after) = rest.split_at(take);
            pieces[count] = piece;
            count += 1;
            len += take;
            rest = after;
            if len == max || count == MAX_PARTS {
                ru(&pieces[..count]);
                (count, len) = (0, 0);
            }
        }
    }
    if count > 0 {
        ru(&pieces[..count]);
    }
}

/// The GDS headers of `data` as one mapped record (`12FF`), segmented at
/// [`MAX_LL`]: `headers` holds them and the returned parts interleave them
/// with the data (a record of at most 65,535 bytes takes three segments).
fn gds_parts<'a>(data: &'a [u8], headers: &'a mut [[u8; 4]; 3]) -> ([&'a [u8]; 6], usize) {
    let mut parts: [&[u8]; 6] = [&[]; 6];
    let mut count = 0;
    let mut rest = data;
    let mut first = true;
    let mut lens = [0usize; 3];
    let mut segments = 0;
    // First the header values, then the borrows (the headers are written
    // before any part refers to them).
    loop {
        let header = if first { 4 } else { 2 };
        let room = usize::from(MAX_LL) - header;
        let take = rest.len().min(room);
        let more = take < rest.len();
        let mut ll = (take + header) as u16;
        if more {
            ll |= LL_CONTINUES;
        }
        let [hi, lo] = ll.to_be_bytes();
        let [id_hi, id_lo] = GDS_APPLICATION_DATA.to_be_bytes();
        headers[segments] = [hi, lo, id_hi, id_lo];
        lens[segments] = take;
        segments += 1;
        rest = &rest[take..];
        first = false;
        if !more || segments == headers.len() {
            break;
        }
    }
    let mut from = 0;
    for (i, header) in headers.iter().take(segments).enumerate() {
        parts[count] = if i == 0 { &header[..] } else { &header[..2] };
        parts[count + 1] = &data[from..from + lens[i]];
        from += lens[i];
        count += 2;
    }
    (parts, count)
}

/// The isolated pacing response to the PI request numbered `snf`:
/// response RH `83 01 00` (FMD, DR1 = DR2 = 0, PI), empty RU.
fn ipr(lfsid: Lfsid, snf: u16, out: &mut dyn Wire) {
    out.piu(
        Th::new(lfsid, ThFlow::Normal, snf),
        Rh::Response(Response {
            category: RuCategory::Fmd,
            fi: false,
            dr1: false,
            dr2: false,
            rti: Rti::Positive,
            qri: false,
            pi: true,
        }),
        &[],
    );
}

/// One half-session's bracket and direction state.
#[derive(Debug)]
pub(crate) struct HalfSession {
    lfsid: Lfsid,
    primary: bool,
    max_ru: usize,
    snf_out: u16,
    snf_exp: u16,
    snf_in: u16,
    bracket: Bracket,
    mapped: bool,
    /// This half-session holds the send direction.
    we_send: bool,
    chain_out: bool,
    chain_in: bool,
    last_in: Option<(Request, u16)>,
    confirm_in: Option<(Request, u16, Confirmation)>,
    confirm_out: Option<(u16, Confirmation)>,
    drain_snf: u16,
    /// A `-RSP(0846)` came: the FMH-7 that follows reports `*_PURGING`.
    purged: bool,
    /// We sent `-RSP(0846)` while the partner was sending: drop its chain.
    discard_in: bool,
    /// The abend code an FMH-7 `0864` announced for this chain's CEB.
    abend: Option<PrimaryRc>,
    /// The attach was rejected: the chain's CEB ends the bracket silently.
    rejected: bool,
    reader: RecordReader,
    pace_out: SendPacing,
    pace_in: RecvPacing,
}

fn fmd(response: ResponseType, bci: bool, eci: bool) -> Request {
    let mut rh = Request::new(RuCategory::Fmd, response);
    rh.bci = bci;
    rh.eci = eci;
    rh
}

/// The FMH-7 sense for a `SEND_ERROR` / abend code.
fn error_sense(code: PrimaryRc) -> Sense {
    match code {
        PrimaryRc::PROG_ERROR_TRUNC => Sense::PROG_ERROR_TRUNC,
        PrimaryRc::SVC_ERROR_NO_TRUNC | PrimaryRc::SVC_ERROR_PURGING => Sense::SVC_ERROR_PURGING,
        PrimaryRc::SVC_ERROR_TRUNC => Sense::SVC_ERROR_TRUNC,
        PrimaryRc::DEALLOC_ABEND_SVC => Sense::DEALLOCATE_ABEND_SVC,
        PrimaryRc::DEALLOC_ABEND_TIMER => Sense::DEALLOCATE_ABEND_TIMER,
        PrimaryRc::DEALLOC_ABEND | PrimaryRc::DEALLOC_ABEND_PROG => Sense::DEALLOCATE_ABEND_PROG,
        _ => Sense::PROG_ERROR_PURGING,
    }
}

impl HalfSession {
    pub(crate) fn new(lfsid: Lfsid, primary: bool, max_ru: usize, record_limit: usize) -> Self {
        Self {
            lfsid,
            primary,
            max_ru: max_ru.max(16),
            snf_out: 0,
            snf_exp: 0,
            snf_in: 0,
            bracket: Bracket::Idle,
            mapped: false,
            we_send: false,
            chain_out: false,
            chain_in: false,
            last_in: None,
            confirm_in: None,
            confirm_out: None,
            drain_snf: 0,
            purged: false,
            discard_in: false,
            abend: None,
            rejected: false,
            reader: RecordReader::new(true, record_limit),
            pace_out: SendPacing::default(),
            pace_in: RecvPacing {
                limit: record_limit,
                ..RecvPacing::default()
            },
        }
    }

    /// Sends RUs of at most `max` bytes from now on, if that is less than
    /// the limit so far: the partner's +RSP(BIND) image may lower it.
    pub(crate) fn limit_ru(&mut self, max: usize) {
        self.max_ru = self.max_ru.min(max.max(16));
    }

    /// Sets the session's pacing windows (RUs; 0 = unpaced), as the BIND
    /// exchange settled them: `send` for what this half-session sends,
    /// `receive` for what it receives. Before any traffic.
    pub(crate) fn set_pacing(&mut self, send: u8, receive: u8) {
        self.pace_out.window = u32::from(send);
        self.pace_in.window = u32::from(receive);
        // The first paced request must begin a window.
        self.pace_in.in_window = u32::from(receive);
    }

    /// Bytes of requests held for the next pacing window.
    pub(crate) fn held_bytes(&self) -> usize {
        self.pace_out.held_rus.len()
    }

    /// Data delivered to the conversation and not yet consumed, with a
    /// mapped record being reassembled.
    pub(crate) fn received_held(&self) -> usize {
        if self.bracket == Bracket::Active {
            self.pace_in.unconsumed + self.reader.buffered()
        } else {
            0
        }
    }

    /// The local TP took `bytes` of delivered data: sends the IPR owed, if
    /// the conversation now holds little enough.
    pub(crate) fn consumed(&mut self, bytes: usize, out: &mut dyn Wire) {
        self.pace_in.unconsumed = self.pace_in.unconsumed.saturating_sub(bytes);
        self.pacing_response_owed(out);
    }

    /// What the conversation holds of what this session delivered: data
    /// not consumed, and a mapped record being reassembled. Nothing once
    /// the bracket is over (the conversation left the session).
    fn held_in(&mut self) -> usize {
        if self.bracket != Bracket::Active {
            self.pace_in.unconsumed = 0;
            return 0;
        }
        self.pace_in.unconsumed + self.reader.buffered()
    }

    /// Sends the IPR owed while the conversation holds at most the limit.
    fn pacing_response_owed(&mut self, out: &mut dyn Wire) {
        if self.pace_in.owed.is_none() || self.held_in() > self.pace_in.limit {
            return;
        }
        let Some(snf) = self.pace_in.owed.take() else {
            return;
        };
        ipr(self.lfsid, snf, out);
    }

    /// Counts a received normal-flow FMD request against the window.
    fn pace_request(&mut self, pi: bool, snf: u16) -> Result<(), Violation> {
        let p = &mut self.pace_in;
        if p.window == 0 {
            return Ok(());
        }
        if pi {
            if p.owed.is_some() {
                return Err(violation(Sense::PACING_ERROR, "window before its IPR"));
            }
            p.owed = Some(snf);
            p.in_window = 1;
        } else {
            p.in_window += 1;
            if p.in_window > p.window {
                return Err(violation(Sense::PACING_ERROR, "request beyond the window"));
            }
        }
        Ok(())
    }

    /// An isolated pacing response (or a response with PI) came: the next
    /// window may go.
    fn pacing_response(&mut self, out: &mut dyn Wire) {
        let p = &mut self.pace_out;
        if p.window == 0 || !p.ipr_due {
            return;
        }
        p.ipr_due = false;
        while !p.blocked() {
            let Some((th, mut rh, len)) = p.held.pop_front() else {
                break;
            };
            rh.pi = p.count();
            let ru = &p.held_rus.make_contiguous()[..len];
            out.piu(th, Rh::Request(rh), &[ru]);
            p.held_rus.drain(..len);
        }
    }

    /// No bracket, and none draining: the session may carry a new one.
    pub(crate) fn is_idle(&self) -> bool {
        self.bracket == Bracket::Idle
    }

    /// A bracket is running (not idle, not draining).
    pub(crate) fn in_bracket(&self) -> bool {
        self.bracket == Bracket::Active
    }

    fn start(&mut self, mapped: bool, we_send: bool) {
        self.bracket = Bracket::Active;
        self.mapped = mapped;
        self.we_send = we_send;
        self.chain_out = false;
        self.chain_in = false;
        self.confirm_in = None;
        self.confirm_out = None;
        self.purged = false;
        self.discard_in = false;
        self.abend = None;
        self.rejected = false;
        self.reader.discard_partial();
        self.pace_in.unconsumed = 0;
    }

    /// A normal-flow request: paced (held while the window is closed).
    fn request(&mut self, rh: Request, ru: &[&[u8]], out: &mut dyn Wire) {
        self.snf_out = self.snf_out.wrapping_add(1);
        let th = Th::new(self.lfsid, ThFlow::Normal, self.snf_out);
        let p = &mut self.pace_out;
        if p.window == 0 {
            out.piu(th, Rh::Request(rh), ru);
        } else if !p.held.is_empty() || p.blocked() {
            p.hold(th, rh, ru);
        } else {
            p.emit(th, rh, ru, out);
        }
    }

    fn respond(&self, req: &Request, snf: u16, negative: Option<Sense>, out: &mut dyn Wire) {
        let th = Th::new(self.lfsid, ThFlow::Normal, snf);
        match negative {
            Some(sense) => out.piu(
                th,
                Rh::Response(Response::to(req, Rti::Negative)),
                &[&sense.to_bytes()],
            ),
            None => out.piu(th, Rh::Response(Response::to(req, Rti::Positive)), &[]),
        }
    }

    /// A control request (BIND, UNBIND, SIGNAL) on the expedited flow.
    pub(crate) fn control(&mut self, ru: &ControlRu, response: ResponseType) -> Frame {
        self.snf_exp = self.snf_exp.wrapping_add(1);
        let mut bytes = Vec::new();
        // BIND aside (encoded by the caller's checks), these never fail.
        let _ = ru.encode(&mut bytes);
        Frame {
            th: Th::new(self.lfsid, ThFlow::Expedited, self.snf_exp),
            rh: Rh::Request(Request::new(ru.category(), response)),
            ru: bytes,
        }
    }

    fn end_chain(&mut self, response: ResponseType, set: impl FnOnce(&mut Request)) -> Request {
        let mut rh = fmd(response, !self.chain_out, true);
        set(&mut rh);
        self.chain_out = false;
        rh
    }

    /// `-RSP(0846)`: to the confirmation request we answer, else to the
    /// last request received.
    fn erp_forthcoming(&mut self, out: &mut dyn Wire) {
        let (req, snf) = match self.confirm_in.take() {
            Some((req, snf, _)) => (req, snf),
            None => match self.last_in {
                Some(last) => last,
                None => (fmd(ResponseType::Rqe1, true, true), self.snf_in),
            },
        };
        self.respond(&req, snf, Some(Sense::ERP_MESSAGE_FORTHCOMING), out);
    }

    /// PLU: begins a bracket with `attach`.
    pub(crate) fn begin(&mut self, attach: &Attach, out: &mut dyn Wire) -> Result<(), Violation> {
        let mut ru = Vec::new();
        attach
            .encode(&mut ru)
            .map_err(|_| violation(Sense::FMH_LENGTH, "attach does not encode"))?;
        if ru.len() > self.max_ru {
            return Err(violation(Sense::FMH_LENGTH, "attach larger than an RU"));
        }
        let mapped = attach.conversation_type == ConversationType::Mapped;
        self.start(mapped, true);
        let mut rh = fmd(ResponseType::Rqe1, true, false);
        rh.fi = true;
        rh.bbi = true;
        self.chain_out = true;
        self.request(rh, &[&ru], out);
        Ok(())
    }

    /// SLU: refuses the attach that began the bracket (`-RSP(0846)`, then
    /// FMH-7 with `sense` and CEB); the bracket is over.
    pub(crate) fn reject(&mut self, sense: Sense, out: &mut dyn Wire) {
        self.erp_forthcoming(out);
        let mut rh = fmd(ResponseType::Rqe1, true, true);
        rh.fi = true;
        rh.cebi = true;
        let ru = ErrorDescription {
            sense,
            log_follows: false,
        }
        .to_bytes();
        self.request(rh, &[&ru], out);
        self.chain_out = false;
        self.bracket = Bracket::Idle;
        self.pacing_response_owed(out);
    }

    /// Carries one flow of the conversation in the bracket. Returns whether
    /// the conversation's part of the bracket is over (it sent CEB, or
    /// confirmed a CEB): later flows of it are dropped.
    pub(crate) fn send(&mut self, flow: Flow<'_>, out: &mut dyn Wire) -> bool {
        let over = self.send_flow(flow, out);
        // A bracket this ended releases the IPR its data held back.
        self.pacing_response_owed(out);
        over
    }

    fn send_flow(&mut self, flow: Flow<'_>, out: &mut dyn Wire) -> bool {
        if self.bracket != Bracket::Active {
            return false;
        }
        let end_response = if self.primary {
            ResponseType::Rqd1
        } else {
            ResponseType::Rqe1
        };
        match flow {
            Flow::RequestToSend => {
                let frame = self.control(
                    &ControlRu::Signal(Signal::REQUEST_TO_SEND),
                    ResponseType::Rqe1,
                );
                out.piu(frame.th, frame.rh, &[&frame.ru]);
            }
            Flow::Confirmed => {
                let Some((req, snf, c)) = self.confirm_in.take() else {
                    return false;
                };
                self.respond(&req, snf, None, out);
                match c {
                    Confirmation::Plain => {}
                    Confirmation::Send => self.we_send = true,
                    Confirmation::Deallocate => {
                        self.bracket = Bracket::Idle;
                        return true;
                    }
                }
            }
            Flow::Error(code) => {
                let purging = matches!(
                    code,
                    PrimaryRc::PROG_ERROR_PURGING | PrimaryRc::SVC_ERROR_PURGING
                );
                let partner_sending = !self.we_send && self.confirm_in.is_none();
                if purging || !self.we_send || self.confirm_in.is_some() {
                    self.erp_forthcoming(out);
                }
                self.discard_in = partner_sending;
                self.we_send = true;
                self.confirm_out = None;
                if self.chain_out {
                    let rh = self.end_chain(ResponseType::Rqe1, |_| {});
                    self.request(rh, &[], out);
                }
                let mut rh = fmd(ResponseType::Rqe1, true, false);
                rh.fi = true;
                let ru = ErrorDescription {
                    sense: error_sense(code),
                    log_follows: false,
                }
                .to_bytes();
                self.request(rh, &[&ru], out);
                self.chain_out = true;
            }
            Flow::Deallocate(code) if code == PrimaryRc::DEALLOC_NORMAL => {
                if !self.we_send {
                    // Purged by the partner meanwhile: the bracket goes on.
                    return false;
                }
                let rh = self.end_chain(end_response, |rh| rh.cebi = true);
                self.request(rh, &[], out);
                self.finish_bracket();
                return true;
            }
            Flow::Deallocate(code) => {
                if !self.we_send || self.confirm_in.is_some() {
                    self.erp_forthcoming(out);
                }
                if self.chain_out {
                    let rh = self.end_chain(ResponseType::Rqe1, |_| {});
                    self.request(rh, &[], out);
                }
                let mut rh = fmd(end_response, true, true);
                rh.fi = true;
                rh.cebi = true;
                let ru = ErrorDescription {
                    sense: error_sense(code),
                    log_follows: false,
                }
                .to_bytes();
                self.request(rh, &[&ru], out);
                self.finish_bracket();
                return true;
            }
            _ if !self.we_send => {
                // The partner's -RSP(0846) purged what we still send; the
                // FMH-7 that follows it tells the local end.
            }
            Flow::Data(data) => {
                let mut headers = [[0; 4]; 3];
                let (parts, count) = if self.mapped {
                    gds_parts(data, &mut headers)
                } else {
                    ([data, &[], &[], &[], &[], &[]], 1)
                };
                let max_ru = self.max_ru;
                cut(&parts[..count], max_ru, |ru| {
                    let rh = fmd(ResponseType::Rqe1, !self.chain_out, false);
                    self.chain_out = true;
                    self.request(rh, ru, out);
                });
            }
            Flow::ChangeDirection => {
                let rh = self.end_chain(ResponseType::Rqe1, |rh| rh.cdi = true);
                self.request(rh, &[], out);
                self.we_send = false;
                self.discard_in = false;
            }
            Flow::ConfirmRequest(c) => {
                let rh = self.end_chain(ResponseType::Rqd3, |rh| match c {
                    Confirmation::Plain => {}
                    Confirmation::Send => rh.cdi = true,
                    Confirmation::Deallocate => rh.cebi = true,
                });
                self.request(rh, &[], out);
                self.confirm_out = Some((self.snf_out, c));
                self.we_send = false;
                self.discard_in = false;
            }
        }
        false
    }

    /// We sent CEB: the SLU is done; the PLU drains until its `+RSP`.
    fn finish_bracket(&mut self) {
        self.chain_out = false;
        if self.primary {
            self.bracket = Bracket::Draining;
            self.drain_snf = self.snf_out;
        } else {
            self.bracket = Bracket::Idle;
        }
    }

    /// Handles one received PIU of category FMD or DFC, or a response
    /// (BIND and UNBIND are the link's).
    pub(crate) fn receive(
        &mut self,
        frame: FrameRef<'_>,
        out: &mut dyn Wire,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        self.receive_piu(frame, out, events)?;
        // The IPR for a PI request just received, or one a bracket that
        // ended here no longer holds back.
        self.pacing_response_owed(out);
        Ok(())
    }

    fn receive_piu(
        &mut self,
        frame: FrameRef<'_>,
        out: &mut dyn Wire,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        match &frame.rh {
            Rh::Response(rsp) => {
                if rsp.pi && rsp.category == RuCategory::Fmd && frame.th.flow == ThFlow::Normal {
                    self.pacing_response(out);
                    if !rsp.dr1 && !rsp.dr2 {
                        // Isolated: nothing else in it.
                        if rsp.rti != Rti::Positive || !frame.ru.is_empty() {
                            return Err(violation(Sense::PACING_ERROR, "IPR with a body"));
                        }
                        return Ok(());
                    }
                }
                let body = ResponseRu::decode(rsp, frame.ru)
                    .map_err(|_| violation(Sense::FUNCTION_NOT_SUPPORTED, "response RU"))?;
                self.response(frame.th.snf, body, events)
            }
            Rh::Request(req) => match req.category {
                RuCategory::Dfc => {
                    let ru = ControlRu::decode(req.category, frame.ru)
                        .map_err(|_| violation(Sense::FUNCTION_NOT_SUPPORTED, "DFC RU"))?;
                    match ru {
                        ControlRu::Signal(s) if s == Signal::REQUEST_TO_SEND => {
                            if self.bracket == Bracket::Active {
                                events.event(Event::Flow(Flow::RequestToSend));
                            }
                            Ok(())
                        }
                        // LUSTAT: a no-op status on the normal flow.
                        ControlRu::Lustat(_) => Ok(()),
                        _ => Err(violation(Sense::FUNCTION_NOT_SUPPORTED, "DFC request")),
                    }
                }
                RuCategory::Fmd => self.fmd(frame, req, out, events),
                _ => Err(violation(Sense::BAD_RU_CATEGORY, "request category")),
            },
        }
    }

    fn response(
        &mut self,
        snf: u16,
        body: ResponseRu<'_>,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        match body {
            ResponseRu::Positive(_) => {
                match (self.bracket, self.confirm_out) {
                    (Bracket::Active, Some((at, c))) if at == snf => {
                        self.confirm_out = None;
                        events.event(Event::Flow(Flow::Confirmed));
                        match c {
                            Confirmation::Plain => self.we_send = true,
                            Confirmation::Send => {}
                            Confirmation::Deallocate => {
                                self.bracket = Bracket::Idle;
                                events.event(Event::BracketEnded);
                            }
                        }
                    }
                    (Bracket::Draining, _) if snf == self.drain_snf => {
                        self.bracket = Bracket::Idle;
                        events.event(Event::BracketEnded);
                    }
                    (Bracket::Active, _) => {
                        return Err(violation(
                            Sense::RESPONSE_CORRELATION_ERROR,
                            "unexpected positive response",
                        ))
                    }
                    // Stale: a bracket that is over.
                    _ => {}
                }
                Ok(())
            }
            ResponseRu::Negative { sense, .. } => {
                if self.bracket != Bracket::Active {
                    return Ok(());
                }
                if sense != Sense::ERP_MESSAGE_FORTHCOMING {
                    return Err(violation(sense, "negative response"));
                }
                // The partner takes the direction; an FMH-7 follows.
                self.confirm_out = None;
                self.we_send = false;
                self.chain_out = false;
                self.discard_in = false;
                self.purged = true;
                Ok(())
            }
        }
    }

    fn fmd(
        &mut self,
        frame: FrameRef<'_>,
        req: &Request,
        out: &mut dyn Wire,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        if req.lcci || req.edi || req.pdi || req.csi || req.qri || req.rlwi || req.ebi || req.sdi {
            return Err(violation(Sense::FUNCTION_NOT_SUPPORTED, "RH indicator"));
        }
        if frame.th.flow != ThFlow::Normal {
            return Err(violation(
                Sense::FUNCTION_NOT_SUPPORTED,
                "FMD on expedited flow",
            ));
        }
        let snf = frame.th.snf;
        if snf != self.snf_in.wrapping_add(1) {
            return Err(violation(Sense::SEQUENCE_NUMBER_ERROR, "SNF"));
        }
        self.snf_in = snf;
        self.pace_request(req.pi, snf)?;
        self.last_in = Some((*req, snf));
        let Some(response) = req.response_type() else {
            return Err(violation(Sense::BAD_RESPONSE_TYPE, "no response type"));
        };
        let mut data: &[u8] = frame.ru;
        match self.bracket {
            Bracket::Draining => return Ok(()),
            Bracket::Idle if !req.bbi => return Ok(()),
            Bracket::Idle => {
                if self.primary {
                    return Err(violation(Sense::BB_NOT_ALLOWED, "BB from the SLU"));
                }
                if !req.fi || !req.bci {
                    return Err(violation(Sense::BRACKET_ERROR, "BB without an attach"));
                }
                let (fmh, used) = Fmh::decode(data)
                    .map_err(|_| violation(Sense::FMH_LENGTH, "FMH-5 does not decode"))?;
                let Fmh::Attach(attach) = fmh else {
                    return Err(violation(Sense::ATTACH_BAD_COMMAND, "BB without an FMH-5"));
                };
                let mapped = match attach.conversation_type {
                    ConversationType::Basic => false,
                    ConversationType::Mapped => true,
                    _ => {
                        return Err(violation(
                            Sense::CONVERSATION_TYPE_MISMATCH,
                            "full-duplex attach",
                        ))
                    }
                };
                self.start(mapped, false);
                events.event(Event::Attach(attach));
                data = data.get(used..).unwrap_or_default();
            }
            Bracket::Active => {
                if req.bbi {
                    return Err(violation(Sense::BRACKET_ERROR, "BB inside a bracket"));
                }
                if self.we_send || self.confirm_out.is_some() {
                    if !self.discard_in {
                        return Err(violation(Sense::DIRECTION_ERROR, "request while sending"));
                    }
                    // The partner's purged chain, still in flight.
                    if req.eci && req.cebi {
                        if response.is_definite() {
                            self.respond(req, snf, None, out);
                        }
                        self.bracket = Bracket::Idle;
                        events.event(Event::EndedMeanwhile);
                        events.event(Event::BracketEnded);
                    }
                    return Ok(());
                }
                if self.chain_in == req.bci {
                    return Err(violation(Sense::CHAINING_ERROR, "BC"));
                }
                if req.fi {
                    if !req.bci {
                        return Err(violation(Sense::CHAINING_ERROR, "FMH inside a chain"));
                    }
                    let (fmh, used) = Fmh::decode(data)
                        .map_err(|_| violation(Sense::FMH_LENGTH, "FMH does not decode"))?;
                    let Fmh::Error(ed) = fmh else {
                        return Err(violation(
                            Sense::ATTACH_BAD_COMMAND,
                            "FMH-5 inside a bracket",
                        ));
                    };
                    self.error_description(ed.sense, events)?;
                    data = data.get(used..).unwrap_or_default();
                }
            }
        }
        self.chain_in = !req.eci;
        self.data(data, events)?;
        if req.eci {
            self.chain_end(req, snf, response, out, events)?;
        }
        Ok(())
    }

    fn error_description(
        &mut self,
        sense: Sense,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        let purged = std::mem::take(&mut self.purged);
        self.reader.discard_partial();
        let code = match sense {
            Sense::PROG_ERROR_PURGING if purged => PrimaryRc::PROG_ERROR_PURGING,
            Sense::PROG_ERROR_PURGING => PrimaryRc::PROG_ERROR_NO_TRUNC,
            Sense::PROG_ERROR_TRUNC => PrimaryRc::PROG_ERROR_TRUNC,
            Sense::SVC_ERROR_PURGING if purged => PrimaryRc::SVC_ERROR_PURGING,
            Sense::SVC_ERROR_PURGING => PrimaryRc::SVC_ERROR_NO_TRUNC,
            Sense::SVC_ERROR_TRUNC => PrimaryRc::SVC_ERROR_TRUNC,
            Sense::DEALLOCATE_ABEND_PROG => {
                self.abend = Some(PrimaryRc::DEALLOC_ABEND_PROG);
                return Ok(());
            }
            Sense::DEALLOCATE_ABEND_SVC => {
                self.abend = Some(PrimaryRc::DEALLOC_ABEND_SVC);
                return Ok(());
            }
            Sense::DEALLOCATE_ABEND_TIMER => {
                self.abend = Some(PrimaryRc::DEALLOC_ABEND_TIMER);
                return Ok(());
            }
            other if self.primary => {
                self.rejected = true;
                events.event(Event::Rejected(other));
                return Ok(());
            }
            _ => return Err(violation(Sense::ATTACH_BAD_COMMAND, "FMH-7 sense")),
        };
        events.event(Event::Flow(Flow::Error(code)));
        Ok(())
    }

    fn data(&mut self, data: &[u8], events: &mut dyn Events) -> Result<(), Violation> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.mapped {
            self.pace_in.unconsumed += data.len();
            events.event(Event::Flow(Flow::Data(data)));
        } else {
            let unconsumed = &mut self.pace_in.unconsumed;
            self.reader
                .feed(data, |id, record| {
                    // A map name (12F3) or null data is skipped (§7).
                    if id == Some(GDS_APPLICATION_DATA) {
                        *unconsumed += record.len();
                        events.event(Event::Flow(Flow::Data(record)));
                    }
                })
                .map_err(|_| violation(Sense::FUNCTION_NOT_SUPPORTED, "mapped record"))?;
        }
        // Unpaced, the partner cannot be held back: a conversation that
        // holds more than twice the limit fails instead of growing.
        if self.pace_in.window == 0 && self.held_in() > 2 * self.pace_in.limit {
            return Err(violation(
                Sense::INSUFFICIENT_RESOURCE,
                "unpaced data beyond the session buffer",
            ));
        }
        Ok(())
    }

    fn chain_end(
        &mut self,
        req: &Request,
        snf: u16,
        response: ResponseType,
        out: &mut dyn Wire,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        if self.mapped && !self.reader.at_record_boundary() {
            return Err(violation(
                Sense::CHAINING_ERROR,
                "chain ends inside a record",
            ));
        }
        if response.is_definite() && req.dr2 {
            let c = if req.cebi {
                Confirmation::Deallocate
            } else if req.cdi {
                Confirmation::Send
            } else {
                Confirmation::Plain
            };
            self.confirm_in = Some((*req, snf, c));
            events.event(Event::Flow(Flow::ConfirmRequest(c)));
            return Ok(());
        }
        if response.is_definite() {
            self.respond(req, snf, None, out);
        }
        if req.cebi {
            if !self.rejected {
                let code = self.abend.take().unwrap_or(PrimaryRc::DEALLOC_NORMAL);
                events.event(Event::Flow(Flow::Deallocate(code)));
            }
            self.bracket = Bracket::Idle;
            events.event(Event::BracketEnded);
        } else if req.cdi {
            self.we_send = true;
            events.event(Event::Flow(Flow::ChangeDirection));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SyncLevel;

    fn lfsid() -> Lfsid {
        Lfsid {
            odai: false,
            sidh: 0,
            sidl: 1,
        }
    }

    fn pair() -> (HalfSession, HalfSession) {
        (
            HalfSession::new(lfsid(), true, 64, 1 << 16),
            HalfSession::new(lfsid(), false, 64, 1 << 16),
        )
    }

    /// Events, kept (their data leaked: these are tests).
    #[derive(Default)]
    struct Collect(Vec<Event<'static>>);

    impl Events for Collect {
        fn event(&mut self, event: Event<'_>) {
            let flow = |flow: Flow<'_>| match flow {
                Flow::Data(data) => Flow::Data(Box::leak(data.to_vec().into_boxed_slice())),
                Flow::ChangeDirection => Flow::ChangeDirection,
                Flow::ConfirmRequest(c) => Flow::ConfirmRequest(c),
                Flow::Confirmed => Flow::Confirmed,
                Flow::Error(code) => Flow::Error(code),
                Flow::Deallocate(code) => Flow::Deallocate(code),
                Flow::RequestToSend => Flow::RequestToSend,
            };
            self.0.push(match event {
                Event::Attach(attach) => Event::Attach(attach),
                Event::Flow(f) => Event::Flow(flow(f)),
                Event::Rejected(sense) => Event::Rejected(sense),
                Event::EndedMeanwhile => Event::EndedMeanwhile,
                Event::BracketEnded => Event::BracketEnded,
            });
        }
    }

    /// Carries `frames` through the byte encoding to `to`; returns its
    /// events and what it sent back.
    fn carry(to: &mut HalfSession, frames: Vec<Frame>) -> (Vec<Event<'static>>, Vec<Frame>) {
        let mut events = Collect::default();
        let mut back: Vec<Frame> = Vec::new();
        for frame in frames {
            let mut bytes = Vec::new();
            frame.encode_piu(&mut bytes);
            let frame = Frame::decode_piu(&bytes).expect("decodes");
            to.receive(frame.as_ref(), &mut back, &mut events)
                .expect("valid");
        }
        (events.0, back)
    }

    fn flows(events: &[Event<'static>]) -> Vec<Flow<'static>> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Flow(f) => Some(*f),
                _ => None,
            })
            .collect()
    }

    /// The frames an IPR makes.
    fn ipr_frame(lfsid: Lfsid, snf: u16) -> Frame {
        let mut out: Vec<Frame> = Vec::new();
        ipr(lfsid, snf, &mut out);
        out.remove(0)
    }

    #[test]
    fn attach_data_and_change_direction_bytes() {
        let (mut plu, mut slu) = pair();
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(
            ConversationType::Mapped,
            SyncLevel::Confirm,
            &[0xE3, 0xD7, 0xF1],
        );
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::Data(b"ping"), &mut out);
        plu.send(Flow::ChangeDirection, &mut out);
        let rhs: Vec<[u8; 3]> = out.iter().map(|f| f.rh.to_bytes()).collect();
        // FMH-5: FMD FI BC, RQE1, BB; data: RQE1 middle; end: EC RQE1 CD.
        assert_eq!(
            rhs,
            [[0x0A, 0x90, 0x80], [0x00, 0x90, 0x00], [0x01, 0x90, 0x20]]
        );
        assert_eq!(out[1].ru, [0x00, 0x08, 0x12, 0xFF, b'p', b'i', b'n', b'g']);
        assert_eq!(out[0].th.to_bytes(), [0x2C, 0, 1, 0, 0, 1]);
        let (events, back) = carry(&mut slu, out);
        assert!(back.is_empty());
        assert!(matches!(events[0], Event::Attach(_)));
        assert_eq!(flows(&events), [Flow::Data(b"ping"), Flow::ChangeDirection]);
    }

    #[test]
    fn confirm_deallocate_ends_both_brackets() {
        let (mut plu, mut slu) = pair();
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::Confirm, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::Data(&[0, 3, 7]), &mut out);
        assert!(!plu.send(Flow::ConfirmRequest(Confirmation::Deallocate), &mut out));
        assert_eq!(out.last().unwrap().rh.to_bytes(), [0x01, 0xA0, 0x01]);
        let (events, _) = carry(&mut slu, out);
        assert_eq!(
            flows(&events),
            [
                Flow::Data(&[0, 3, 7]),
                Flow::ConfirmRequest(Confirmation::Deallocate)
            ]
        );
        let mut out: Vec<Frame> = Vec::new();
        assert!(slu.send(Flow::Confirmed, &mut out));
        assert_eq!(out[0].rh.to_bytes(), [0x83, 0xA0, 0x00]);
        assert!(slu.is_idle());
        let (events, _) = carry(&mut plu, out);
        assert_eq!(events, [Event::Flow(Flow::Confirmed), Event::BracketEnded]);
        assert!(plu.is_idle());
    }

    #[test]
    fn plu_deallocate_drains_until_the_response() {
        let (mut plu, mut slu) = pair();
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        assert!(plu.send(Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL), &mut out));
        assert!(!plu.is_idle());
        let (events, back) = carry(&mut slu, out);
        assert_eq!(
            flows(&events),
            [Flow::Deallocate(PrimaryRc::DEALLOC_NORMAL)]
        );
        assert!(slu.is_idle());
        let (events, _) = carry(&mut plu, back);
        assert_eq!(events, [Event::BracketEnded]);
        assert!(plu.is_idle());
    }

    #[test]
    fn send_error_while_receiving_purges() {
        let (mut plu, mut slu) = pair();
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Mapped, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::Data(b"a"), &mut out);
        let (_, _) = carry(&mut slu, out);
        // The SLU errs while the PLU still sends.
        let mut err: Vec<Frame> = Vec::new();
        slu.send(Flow::Error(PrimaryRc::PROG_ERROR_PURGING), &mut err);
        assert_eq!(err[0].rh.to_bytes(), [0x87, 0x90, 0x00]);
        assert_eq!(err[0].ru, [0x08, 0x46, 0, 0]);
        assert_eq!(err[1].ru, [7, 7, 0x08, 0x89, 0, 0, 0]);
        // In flight: more PLU data, dropped by the SLU.
        let mut stale: Vec<Frame> = Vec::new();
        plu.send(Flow::Data(b"b"), &mut stale);
        let (events, _) = carry(&mut slu, stale);
        assert!(events.is_empty());
        let (events, _) = carry(&mut plu, err);
        assert_eq!(flows(&events), [Flow::Error(PrimaryRc::PROG_ERROR_PURGING)]);
        // The PLU's further data is purged until it gets the direction.
        let mut out: Vec<Frame> = Vec::new();
        plu.send(Flow::Data(b"c"), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn rejected_attach_and_abend() {
        let (mut plu, mut slu) = pair();
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::ChangeDirection, &mut out);
        let (_, _) = carry(&mut slu, out);
        let mut back: Vec<Frame> = Vec::new();
        slu.reject(Sense::TP_NOT_RECOGNIZED, &mut back);
        let (events, _) = carry(&mut plu, back);
        assert_eq!(
            events,
            [
                Event::Rejected(Sense::TP_NOT_RECOGNIZED),
                Event::BracketEnded
            ]
        );
        // A new bracket on the same session, ended by an abend.
        let mut out: Vec<Frame> = Vec::new();
        plu.begin(&attach, &mut out).unwrap();
        assert!(plu.send(Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_SVC), &mut out));
        let (events, back) = carry(&mut slu, out);
        assert_eq!(
            flows(&events),
            [Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_SVC)]
        );
        let (events, _) = carry(&mut plu, back);
        assert_eq!(events, [Event::BracketEnded]);
    }

    #[test]
    fn violations_are_reported() {
        let (_, mut slu) = pair();
        let mut frame = Frame {
            th: Th::new(lfsid(), ThFlow::Normal, 5),
            rh: Rh::Request(fmd(ResponseType::Rqe1, true, true)),
            ru: Vec::new(),
        };
        let (mut out, mut events): (Vec<Frame>, _) = (Vec::new(), Collect::default());
        assert_eq!(
            slu.receive(frame.as_ref(), &mut out, &mut events)
                .unwrap_err()
                .sense,
            Sense::SEQUENCE_NUMBER_ERROR
        );
        frame.th.snf = 6;
        if let Rh::Request(r) = &mut frame.rh {
            r.bbi = true;
            r.fi = true;
        }
        frame.ru = vec![0x05, 0x05, 0x02];
        assert!(slu.receive(frame.as_ref(), &mut out, &mut events).is_err());
    }

    /// A PLU / SLU pair paced with `window` RUs both ways; the SLU sends
    /// its IPRs while its conversation holds at most `limit` bytes.
    fn paced_pair(window: u8, limit: usize) -> (HalfSession, HalfSession) {
        let mut plu = HalfSession::new(lfsid(), true, 64, limit);
        let mut slu = HalfSession::new(lfsid(), false, 64, limit);
        plu.set_pacing(window, window);
        slu.set_pacing(window, window);
        (plu, slu)
    }

    fn pis(frames: &[Frame]) -> Vec<bool> {
        frames
            .iter()
            .map(|f| matches!(f.rh, Rh::Request(r) if r.pi))
            .collect()
    }

    fn is_ipr(frame: &Frame) -> bool {
        frame.rh.to_bytes() == [0x83, 0x01, 0x00] && frame.ru.is_empty()
    }

    #[test]
    fn pacing_window_holds_requests_until_the_ipr() {
        let (mut plu, mut slu) = paced_pair(2, 1 << 16);
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        for i in 0..5u8 {
            plu.send(Flow::Data(&[0, 3, i]), &mut out);
        }
        // Window 1: the attach (PI) and one data RU; 4 RUs held.
        assert_eq!(pis(&out), [true, false]);
        assert_eq!(plu.held_bytes(), 12);
        let (events, back) = carry(&mut slu, out);
        assert_eq!(flows(&events), [Flow::Data(&[0, 3, 0])]);
        // The SLU holds 3 bytes, under its limit: the IPR goes at once,
        // with the SNF of the PI request.
        assert_eq!(back.len(), 1);
        assert!(is_ipr(&back[0]));
        assert_eq!(back[0].th.snf, 1);
        let (events, more) = carry(&mut plu, back);
        // Not a +RSP: no event, no violation; window 2 goes (PI first).
        assert!(events.is_empty());
        assert_eq!(pis(&more), [true, false]);
        assert_eq!(plu.held_bytes(), 6);
        let (events, back) = carry(&mut slu, more);
        assert_eq!(
            flows(&events),
            [Flow::Data(&[0, 3, 1]), Flow::Data(&[0, 3, 2])]
        );
        let (_, more) = carry(&mut plu, back);
        assert_eq!(pis(&more), [true, false]);
        assert_eq!(plu.held_bytes(), 0);
        let (events, _) = carry(&mut slu, more);
        assert_eq!(flows(&events).len(), 2);
    }

    #[test]
    fn ipr_waits_until_the_tp_consumed() {
        let (mut plu, mut slu) = paced_pair(2, 50);
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::Data(&[0, 3, 0]), &mut out);
        let (_, back) = carry(&mut slu, std::mem::take(&mut out));
        let (_, _) = carry(&mut plu, back);
        slu.consumed(3, &mut Vec::<Frame>::new());
        // Window 2 begins with 60 bytes, over the SLU's limit of 50.
        plu.send(Flow::Data(&[vec![0, 60], vec![7; 58]].concat()), &mut out);
        plu.send(Flow::Data(&[0, 3, 9]), &mut out);
        plu.send(Flow::Data(&[0, 3, 10]), &mut out);
        assert_eq!(pis(&out), [true, false]);
        let (events, back) = carry(&mut slu, out);
        assert_eq!(flows(&events).len(), 2);
        assert!(back.is_empty(), "IPR owed while 63 bytes are held");
        assert_eq!(slu.received_held(), 63);
        let mut back: Vec<Frame> = Vec::new();
        slu.consumed(10, &mut back);
        assert!(back.is_empty(), "53 bytes still held");
        slu.consumed(3, &mut back);
        assert_eq!(back.len(), 1);
        assert!(is_ipr(&back[0]));
        assert_eq!(back[0].th.snf, 3, "the SNF of the PI request");
        let (_, more) = carry(&mut plu, back);
        assert_eq!(pis(&more), [true]);
        assert_eq!(more[0].ru, [0, 3, 10]);
        // Consumed once more: no second IPR for the same window.
        let mut again: Vec<Frame> = Vec::new();
        slu.consumed(50, &mut again);
        assert!(again.is_empty());
    }

    #[test]
    fn pacing_violations_and_responses_are_unpaced() {
        let (mut plu, mut slu) = paced_pair(2, 1 << 16);
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::Data(&[0, 3, 1]), &mut out);
        plu.send(Flow::ConfirmRequest(Confirmation::Plain), &mut out);
        // Beyond the window: held, not sent.
        assert_eq!(out.len(), 2);
        let mut events = Collect::default();
        let mut back: Vec<Frame> = Vec::new();
        for frame in &out {
            slu.receive(frame.as_ref(), &mut back, &mut events).unwrap();
        }
        // A third request in the window (forged): a pacing error.
        let mut forged = out[1].clone();
        forged.th.snf = 3;
        let err = slu
            .receive(forged.as_ref(), &mut back, &mut events)
            .unwrap_err();
        assert_eq!(err.sense, Sense::PACING_ERROR);
        // A window begun before the IPR for the last one went.
        let (mut plu, mut slu) = paced_pair(1, 0);
        let mut out: Vec<Frame> = Vec::new();
        plu.begin(&attach, &mut out).unwrap();
        let (_, back) = carry(&mut slu, std::mem::take(&mut out));
        assert_eq!(back.len(), 1, "no data held yet: the IPR goes");
        plu.send(Flow::Data(&[0, 3, 1]), &mut out);
        assert!(out.is_empty(), "held until that IPR arrives");
        let forged = |snf| {
            let mut rh = fmd(ResponseType::Rqe1, false, false);
            rh.pi = true;
            Frame {
                th: Th::new(lfsid(), ThFlow::Normal, snf),
                rh: Rh::Request(rh),
                ru: vec![0, 3, 1],
            }
        };
        let (mut back, mut events): (Vec<Frame>, _) = (Vec::new(), Collect::default());
        slu.receive(forged(2).as_ref(), &mut back, &mut events)
            .unwrap();
        assert!(back.is_empty(), "limit 0: IPR owed while 3 bytes are held");
        let err = slu
            .receive(forged(3).as_ref(), &mut back, &mut events)
            .unwrap_err();
        assert_eq!(err.sense, Sense::PACING_ERROR);
        // Responses and expedited requests are never held.
        let (mut plu, mut slu) = paced_pair(1, 1 << 16);
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::Confirm, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        plu.send(Flow::ConfirmRequest(Confirmation::Plain), &mut out);
        plu.send(Flow::RequestToSend, &mut out);
        // The attach, and SIGNAL overtaking the held confirmation request.
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].th.flow, ThFlow::Expedited);
        let (_, back) = carry(&mut slu, vec![out.remove(0)]);
        let (_, more) = carry(&mut plu, back);
        let (events, _) = carry(&mut slu, more);
        assert_eq!(flows(&events), [Flow::ConfirmRequest(Confirmation::Plain)]);
        let mut rsp: Vec<Frame> = Vec::new();
        slu.send(Flow::Confirmed, &mut rsp);
        assert_eq!(rsp.len(), 1, "a +RSP is sent whatever the window");
    }

    #[test]
    fn window_zero_is_unpaced() {
        // HalfSession::new: unpaced until set_pacing (a BIND with windows
        // of 0).
        let (mut plu, mut slu) = pair();
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        for _ in 0..100 {
            plu.send(Flow::Data(&[0, 3, 1]), &mut out);
        }
        assert_eq!(out.len(), 101);
        assert!(pis(&out).iter().all(|pi| !pi));
        assert_eq!(plu.held_bytes(), 0);
        let (events, back) = carry(&mut slu, out);
        assert_eq!(flows(&events).len(), 100);
        assert!(back.is_empty(), "no IPR on an unpaced session");
        // An IPR on an unpaced session is ignored, not taken for a +RSP.
        let (events, back) = carry(&mut plu, vec![ipr_frame(lfsid(), 1)]);
        assert!(events.is_empty() && back.is_empty());
        // Unpaced, a conversation holding more than twice the limit fails.
        let (mut plu, mut slu) = (
            HalfSession::new(lfsid(), true, 64, 100),
            HalfSession::new(lfsid(), false, 64, 100),
        );
        let mut out: Vec<Frame> = Vec::new();
        plu.begin(&attach, &mut out).unwrap();
        for _ in 0..4 {
            plu.send(Flow::Data(&[vec![0, 60], vec![7; 58]].concat()), &mut out);
        }
        let (mut back, mut events): (Vec<Frame>, _) = (Vec::new(), Collect::default());
        let results: Vec<_> = out
            .iter()
            .map(|f| slu.receive(f.as_ref(), &mut back, &mut events))
            .collect();
        assert!(results[..4].iter().all(Result::is_ok));
        assert_eq!(results[4].unwrap_err().sense, Sense::INSUFFICIENT_RESOURCE);
    }

    #[test]
    fn cut_keeps_order_and_sizes() {
        let bytes: Vec<u8> = (0..=255).cycle().take(1000).collect();
        let (a, b) = bytes.split_at(300);
        for max in [1, 7, 299, 300, 301, 999, 1000, 1001] {
            let mut rus = Vec::new();
            cut(&[a, b], max, |ru| rus.push(ru.concat()));
            assert!(rus.iter().all(|ru| !ru.is_empty() && ru.len() <= max));
            assert_eq!(rus.len(), bytes.len().div_ceil(max));
            assert_eq!(rus.concat(), bytes);
        }
        let mut none = 0;
        cut(&[&[]], 8, |_| none += 1);
        assert_eq!(none, 0);
    }

    #[test]
    fn gds_parts_segment_a_record_as_encode_record_does() {
        for len in [0, 1, 100, 32_763, 32_764, 32_765, 65_535] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut headers = [[0; 4]; 3];
            let (parts, count) = gds_parts(&data, &mut headers);
            let mut want = Vec::new();
            crate::wire::encode_record(Some(GDS_APPLICATION_DATA), &data, MAX_LL, &mut want)
                .unwrap();
            assert_eq!(parts[..count].concat(), want, "{len} bytes");
        }
    }

    #[test]
    fn ipr_rh_decodes_as_a_pacing_response() {
        let mut bytes = Vec::new();
        ipr_frame(lfsid(), 7).encode_piu(&mut bytes);
        assert_eq!(&bytes[6..], [0x83, 0x01, 0x00]);
        let frame = Frame::decode_piu(&bytes).unwrap();
        let Rh::Response(rsp) = frame.rh else {
            panic!("a response")
        };
        assert!(rsp.pi && !rsp.dr1 && !rsp.dr2 && rsp.rti == Rti::Positive);
        // A +RSP to an RQD1 request is not an IPR.
        let rqd = Request::new(RuCategory::Fmd, ResponseType::Rqd1);
        assert_eq!(
            Rh::Response(Response::to(&rqd, Rti::Positive)).to_bytes(),
            [0x83, 0x80, 0x00]
        );
    }

    #[test]
    fn an_ipr_held_back_goes_when_the_bracket_ends() {
        let (mut plu, mut slu) = paced_pair(1, 10);
        let mut out: Vec<Frame> = Vec::new();
        let attach = Attach::new(ConversationType::Basic, SyncLevel::None, &[0xE3]);
        plu.begin(&attach, &mut out).unwrap();
        let (_, back) = carry(&mut slu, std::mem::take(&mut out));
        let (_, _) = carry(&mut plu, back);
        plu.send(Flow::Data(&[vec![0, 20], vec![1; 18]].concat()), &mut out);
        plu.send(Flow::ChangeDirection, &mut out);
        assert_eq!(out.len(), 1, "CD held for the next window");
        let (_, back) = carry(&mut slu, std::mem::take(&mut out));
        assert!(back.is_empty(), "20 bytes held: IPR owed");
        // The SLU's TP abends without receiving: its bracket ends, the
        // IPR goes with the FMH-7 (the CD it releases is then stale).
        let mut abend: Vec<Frame> = Vec::new();
        assert!(slu.send(Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_PROG), &mut abend));
        assert!(abend.iter().any(is_ipr));
        assert_eq!(slu.received_held(), 0);
        let (events, more) = carry(&mut plu, abend);
        assert_eq!(
            flows(&events),
            [Flow::Deallocate(PrimaryRc::DEALLOC_ABEND_PROG)]
        );
        // The held CD goes, and the PLU's IPR for the SLU's PI request.
        assert_eq!(more.len(), 2);
        assert!(more
            .iter()
            .any(|f| matches!(f.rh, Rh::Request(r) if r.cdi && r.pi)));
        assert!(more.iter().any(is_ipr));
        assert_eq!(plu.held_bytes(), 0);
    }
}
