//! One half-session's bracket protocol: engine [`Flow`]s to PIUs and back,
//! pure (no I/O), so two [`HalfSession`]s can be run against each other in
//! unit tests.
//!
//! # Mapping (`docs/wire.md#verbs-on-the-wire`; choices marked *ours*)
//!
//! | flow / event | PIUs |
//! |---|---|
//! | attach (first flush) | FMD RU, FI BC BBI RQE1, the FMH-5 (with PIP GDS) alone |
//! | `Data` | FMD RUs, RQE1, no EC: basic = the LL stream as given; mapped = a GDS `12FF` record (segmented by LL); cut at the max RU size |
//! | `ChangeDirection` | end of chain: EC CD RQE1 on an **empty** FMD RU (*ours*: an end of chain never waits for data, `docs/wire.md#verbs-on-the-wire` allows an empty RU) |
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
//! A receiver classifies an end of chain as `docs/wire.md#verbs-on-the-wire` does: RQD2/RQD3 asks for
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

mod pacing;
mod receive;
mod segment;
mod send;

use pacing::{RecvPacing, SendPacing};
use segment::{cut, gds_parts};
#[cfg(test)]
mod tests;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bracket {
    Idle,
    Active,
    /// PLU: CEB sent with a definite response; waiting for its `+RSP`.
    Draining,
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
    /// Mapped records being reassembled: made when the first mapped data
    /// arrives (a session that never receives any holds none).
    reader: Option<Box<RecordReader>>,
    /// The session buffer: the reader's record limit, and what the
    /// conversation may hold before the IPR is withheld (see `pacing.rs`).
    record_limit: usize,
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
            reader: None,
            record_limit,
            pace_out: SendPacing::default(),
            pace_in: RecvPacing::default(),
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
        self.pace_out.held_bytes()
    }

    /// Bytes of a mapped record being reassembled.
    fn buffered_in(&self) -> usize {
        self.reader.as_ref().map_or(0, |r| r.buffered())
    }

    /// Data delivered to the conversation and not yet consumed, with a
    /// mapped record being reassembled.
    pub(crate) fn received_held(&self) -> usize {
        if self.bracket == Bracket::Active {
            self.pace_in.unconsumed + self.buffered_in()
        } else {
            0
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
        if let Some(reader) = &mut self.reader {
            reader.discard_partial();
        }
        self.pace_in.unconsumed = 0;
    }

    /// A normal-flow request: paced (held while the window is closed).
    fn request(&mut self, rh: Request, ru: &[&[u8]], out: &mut dyn Wire) {
        self.snf_out = self.snf_out.wrapping_add(1);
        let th = Th::new(self.lfsid, ThFlow::Normal, self.snf_out);
        let p = &mut self.pace_out;
        if p.window == 0 {
            out.piu(th, Rh::Request(rh), ru);
        } else if p.holds() || p.blocked() {
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
}
