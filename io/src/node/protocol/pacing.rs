//! Session-level fixed pacing (see the parent module's docs): the
//! windows of what a half-session sends and receives, and the IPRs.

use super::*;

/// Session-level fixed pacing of what this half-session sends.
#[derive(Debug, Default)]
pub(super) struct SendPacing {
    /// RUs per window; 0: unpaced.
    pub(super) window: u32,
    /// RUs left in the current window.
    pub(super) left: u32,
    /// The window's PI request went; its IPR has not come back.
    pub(super) ipr_due: bool,
    /// Requests waiting for the next window: made when the first one
    /// must wait, and kept (with its capacity) across windows. A session
    /// whose partner opens each window in time never holds one, and a
    /// node holds a session per conversation, so this is a pointer until
    /// then.
    pub(super) held: Option<Box<HeldRequests>>,
}

/// Normal-flow requests waiting for the next window, in order: their TH,
/// RH and RU length; the RUs, one after the other, in `rus`.
#[derive(Debug, Default)]
pub(super) struct HeldRequests {
    requests: VecDeque<(Th, Request, usize)>,
    rus: VecDeque<u8>,
}

impl SendPacing {
    pub(super) fn blocked(&self) -> bool {
        self.left == 0 && self.ipr_due
    }

    /// Whether requests wait for the next window.
    pub(super) fn holds(&self) -> bool {
        self.held.as_ref().is_some_and(|h| !h.requests.is_empty())
    }

    /// Bytes of the RUs waiting for the next window.
    pub(super) fn held_bytes(&self) -> usize {
        self.held.as_ref().map_or(0, |h| h.rus.len())
    }

    /// Sends a request in the current window, or begins the next one (PI).
    pub(super) fn emit(&mut self, th: Th, mut rh: Request, ru: &[&[u8]], out: &mut dyn Wire) {
        rh.pi = self.count();
        out.piu(th, Rh::Request(rh), ru);
    }

    /// Counts one request against the window; true if it begins the next
    /// one (it carries PI).
    pub(super) fn count(&mut self) -> bool {
        let begins = self.left == 0;
        if begins {
            self.left = self.window;
            self.ipr_due = true;
        }
        self.left -= 1;
        begins
    }

    /// Holds a request for the next window.
    pub(super) fn hold(&mut self, th: Th, rh: Request, ru: &[&[u8]]) {
        let held = self.held.get_or_insert_with(Box::default);
        let mut len = 0;
        for part in ru {
            held.rus.extend(part.iter());
            len += part.len();
        }
        held.requests.push_back((th, rh, len));
    }
}

/// Session-level fixed pacing of what this half-session receives.
#[derive(Debug, Default)]
pub(super) struct RecvPacing {
    /// RUs per window; 0: unpaced.
    pub(super) window: u32,
    /// RUs received in the current window.
    pub(super) in_window: u32,
    /// The SNF of the PI request whose IPR we owe.
    pub(super) owed: Option<u16>,
    /// Data delivered to the conversation and not yet consumed by its TP.
    /// The IPR goes only while the conversation holds at most the session
    /// buffer (`HalfSession::record_limit`).
    pub(super) unconsumed: usize,
}

/// The isolated pacing response to the PI request numbered `snf`:
/// response RH `83 01 00` (FMD, DR1 = DR2 = 0, PI), empty RU.
pub(super) fn ipr(lfsid: Lfsid, snf: u16, out: &mut dyn Wire) {
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

impl HalfSession {
    /// The local TP took `bytes` of delivered data: sends the IPR owed, if
    /// the conversation now holds little enough.
    pub(crate) fn consumed(&mut self, bytes: usize, out: &mut dyn Wire) {
        self.pace_in.unconsumed = self.pace_in.unconsumed.saturating_sub(bytes);
        self.pacing_response_owed(out);
    }

    /// What the conversation holds of what this session delivered: data
    /// not consumed, and a mapped record being reassembled. Nothing once
    /// the bracket is over (the conversation left the session).
    pub(super) fn held_in(&mut self) -> usize {
        if self.bracket != Bracket::Active {
            self.pace_in.unconsumed = 0;
            return 0;
        }
        self.pace_in.unconsumed + self.buffered_in()
    }

    /// Sends the IPR owed while the conversation holds at most the limit.
    pub(super) fn pacing_response_owed(&mut self, out: &mut dyn Wire) {
        if self.pace_in.owed.is_none() || self.held_in() > self.record_limit {
            return;
        }
        let Some(snf) = self.pace_in.owed.take() else {
            return;
        };
        ipr(self.lfsid, snf, out);
    }

    /// Counts a received normal-flow FMD request against the window.
    pub(super) fn pace_request(&mut self, pi: bool, snf: u16) -> Result<(), Violation> {
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
    pub(super) fn pacing_response(&mut self, out: &mut dyn Wire) {
        let p = &mut self.pace_out;
        if p.window == 0 || !p.ipr_due {
            return;
        }
        p.ipr_due = false;
        // Out of `p` while `p` counts the window.
        let Some(mut held) = p.held.take() else {
            return;
        };
        while !p.blocked() {
            let Some((th, mut rh, len)) = held.requests.pop_front() else {
                break;
            };
            rh.pi = p.count();
            let ru = &held.rus.make_contiguous()[..len];
            out.piu(th, Rh::Request(rh), &[ru]);
            held.rus.drain(..len);
        }
        p.held = Some(held);
    }
}
