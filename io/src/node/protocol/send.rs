//! A half-session's send side: brackets begun and refused, and each
//! [`Flow`] the local end sends, as PIUs.

use super::*;

impl HalfSession {
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

    pub(super) fn send_flow(&mut self, flow: Flow<'_>, out: &mut dyn Wire) -> bool {
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
    pub(super) fn finish_bracket(&mut self) {
        self.chain_out = false;
        if self.primary {
            self.bracket = Bracket::Draining;
            self.drain_snf = self.snf_out;
        } else {
            self.bracket = Bracket::Idle;
        }
    }
}
