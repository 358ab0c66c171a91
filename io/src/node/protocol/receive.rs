//! A half-session's receive side: each PIU of the session, checked
//! against the bracket, direction and pacing state, and what it means
//! for the conversation as [`Event`]s.

use super::*;

impl HalfSession {
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

    pub(super) fn receive_piu(
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

    pub(super) fn response(
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

    pub(super) fn fmd(
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

    pub(super) fn error_description(
        &mut self,
        sense: Sense,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        let purged = std::mem::take(&mut self.purged);
        if let Some(reader) = &mut self.reader {
            reader.discard_partial();
        }
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

    pub(super) fn data(&mut self, data: &[u8], events: &mut dyn Events) -> Result<(), Violation> {
        if data.is_empty() {
            return Ok(());
        }
        if !self.mapped {
            self.pace_in.unconsumed += data.len();
            events.event(Event::Flow(Flow::Data(data)));
        } else {
            let unconsumed = &mut self.pace_in.unconsumed;
            let limit = self.record_limit;
            self.reader
                .get_or_insert_with(|| Box::new(RecordReader::new(true, limit)))
                .feed(data, |id, record| {
                    // A map name (12F3) or null data is skipped (`docs/wire.md#logical-records-and-gds-variables`).
                    if id == Some(GDS_APPLICATION_DATA) {
                        *unconsumed += record.len();
                        events.event(Event::Flow(Flow::Data(record)));
                    }
                })
                .map_err(|_| violation(Sense::FUNCTION_NOT_SUPPORTED, "mapped record"))?;
        }
        // Unpaced, the partner cannot be held back: a conversation that
        // holds more than twice the limit fails instead of growing.
        if self.pace_in.window == 0 && self.held_in() > 2 * self.record_limit {
            return Err(violation(
                Sense::INSUFFICIENT_RESOURCE,
                "unpaced data beyond the session buffer",
            ));
        }
        Ok(())
    }

    pub(super) fn chain_end(
        &mut self,
        req: &Request,
        snf: u16,
        response: ResponseType,
        out: &mut dyn Wire,
        events: &mut dyn Events,
    ) -> Result<(), Violation> {
        if self.mapped && !self.reader.as_ref().is_none_or(|r| r.at_record_boundary()) {
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
