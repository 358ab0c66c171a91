//! One verb at a time, with an optional time limit, and the turn-taking
//! steps both APING ends share.
//!
//! Verbs go through [`Appc::submit`] to a message queue rather than the
//! blocking [`Appc::call`] so that a client can put a limit on each one: a
//! partner that never answers (a connect that hangs, a stalled daemon)
//! must end in a message, not a hang. At the limit the verb is cancelled,
//! which closes its session (the partner's verb fails) and posts
//! `AP_CANCELLED` before `cancel` returns; if the verb finished just as the
//! limit passed, the cancel answers `WAPPCALREADY` and its real completion
//! is used. The daemon runs without a limit: it waits for clients forever.

use appc_io::appc::rc::{return_code_text, PrimaryRc, SecondaryRc, WhatRcvd};
use appc_io::appc::verbs::{
    name, values, Allocate, Body, Conv, Deallocate, PrepareToReceive, Receive, ReceiveAllocate,
    SendData, TpEnded, TpId, TpStarted, Verb,
};
use appc_io::appc::Appc;
use appc_io::engine::{Receiver, Target};
use std::fmt;
use std::time::Duration;

/// Why an APING exchange stopped.
#[derive(Debug)]
pub enum Failure {
    /// The engine did not accept the verb (handle 0).
    Rejected {
        /// The verb.
        verb: &'static str,
        /// The engine's reason.
        reason: String,
    },
    /// The verb completed with a return code the protocol does not expect.
    Rc {
        /// The verb.
        verb: &'static str,
        /// Its primary return code.
        primary: PrimaryRc,
        /// Its secondary return code.
        secondary: SecondaryRc,
    },
    /// No completion within the limit; the verb was cancelled.
    Timeout {
        /// The verb.
        verb: &'static str,
        /// The limit.
        limit: Duration,
    },
    /// The partner broke the APING protocol.
    Protocol(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Rejected { verb, reason } => write!(f, "{verb}: {reason}"),
            Failure::Rc {
                verb,
                primary,
                secondary,
            } => write!(
                f,
                "{verb} failed: {}",
                return_code_text(*primary, *secondary)
            ),
            Failure::Timeout { verb, limit } => write!(
                f,
                "{verb}: no answer from the partner within {} s; cancelled",
                limit.as_secs_f64()
            ),
            Failure::Protocol(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Failure {}

/// How the partner ended its turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// It gave us the send direction (PREPARE_TO_RECEIVE): `AP_SEND`.
    Send,
    /// It asked for confirmation: `AP_CONFIRM_WHAT_RECEIVED`.
    Confirm,
    /// It deallocated the conversation normally.
    Deallocated,
}

/// A TP's verbs, issued one at a time on one thread.
pub struct Tp<'a> {
    app: &'a Appc,
    target: Target<Verb>,
    done: Receiver<Verb>,
    limit: Option<Duration>,
}

impl fmt::Debug for Tp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tp").field("limit", &self.limit).finish()
    }
}

impl<'a> Tp<'a> {
    /// Verbs of `app`, each allowed `limit` (`None`: wait forever).
    pub fn new(app: &'a Appc, limit: Option<Duration>) -> Self {
        let (tx, done) = app.queue();
        Self {
            app,
            target: Target::Queue(tx),
            done,
            limit,
        }
    }

    /// Runs `body` as a mapped verb named `verb`; returns the finished verb
    /// whatever its return code (see the module docs for the limit).
    pub fn run(&mut self, verb: &'static str, body: Body) -> Result<Verb, Failure> {
        let handle = self
            .app
            .submit(Verb::mapped(body), &self.target)
            .map_err(|rejected| Failure::Rejected {
                verb,
                reason: rejected.to_string(),
            })?;
        let completion = match self.limit {
            None => self.done.recv(),
            Some(limit) => match self.done.recv_timeout(limit) {
                Some(completion) => completion,
                None if self.app.cancel(handle).code() == 0 => {
                    // Its AP_CANCELLED is already queued: take it, so the
                    // queue holds nothing of this verb afterwards.
                    let _ = self.done.try_recv();
                    return Err(Failure::Timeout { verb, limit });
                }
                None => self.done.recv(),
            },
        };
        Ok(completion.verb)
    }

    /// Runs `body`, which must end `AP_OK`; returns its output fields.
    pub fn ok(&mut self, verb: &'static str, body: Body) -> Result<Body, Failure> {
        let done = self.run(verb, body)?;
        if done.primary_rc != PrimaryRc::OK {
            return Err(Failure::Rc {
                verb,
                primary: done.primary_rc,
                secondary: done.secondary_rc,
            });
        }
        Ok(done.body)
    }

    /// `TP_STARTED`: a new invoking TP.
    pub fn tp_started(&mut self) -> Result<TpId, Failure> {
        match self.ok("TP_STARTED", Body::TpStarted(TpStarted::default()))? {
            Body::TpStarted(started) => Ok(started.tp_id),
            other => unreachable!("TP_STARTED came back as {other:?}"),
        }
    }

    /// `RECEIVE_ALLOCATE` for [`TP_NAME`](super::TP_NAME): the next
    /// incoming conversation, and the partner LU that started it.
    pub fn receive_allocate(&mut self) -> Result<(Conv, String), Failure> {
        let body = Body::ReceiveAllocate(ReceiveAllocate {
            tp_name: name(super::TP_NAME),
            ..Default::default()
        });
        match self.ok("RECEIVE_ALLOCATE", body)? {
            Body::ReceiveAllocate(ra) => {
                let partner = String::from_utf8_lossy(&ra.plu_alias);
                let conv = Conv {
                    tp_id: ra.tp_id,
                    conv_id: ra.conv_id,
                };
                Ok((conv, partner.trim_end().to_owned()))
            }
            other => unreachable!("RECEIVE_ALLOCATE came back as {other:?}"),
        }
    }

    /// `MC_ALLOCATE` (sync level CONFIRM) of the APINGD TP at `partner_lu`.
    pub fn allocate(&mut self, tp_id: TpId, partner_lu: &str) -> Result<Conv, Failure> {
        let body = Body::Allocate(Allocate {
            tp_id,
            conv_type: values::MAPPED_CONVERSATION,
            sync_level: values::SYNC_CONFIRM,
            plu_alias: name(partner_lu),
            mode_name: name(super::MODE_NAME),
            tp_name: name(super::TP_NAME),
            ..Default::default()
        });
        match self.ok("MC_ALLOCATE", body)? {
            Body::Allocate(allocated) => Ok(Conv {
                tp_id,
                conv_id: allocated.conv_id,
            }),
            other => unreachable!("MC_ALLOCATE came back as {other:?}"),
        }
    }

    /// `count` copies of `block`, the last one followed by `last` (a
    /// `SEND_DATA` type: PREPARE_TO_RECEIVE or CONFIRM). `count` is at
    /// least 1.
    pub fn send_blocks(
        &mut self,
        conv: Conv,
        block: &[u8],
        count: usize,
        last: u8,
    ) -> Result<(), Failure> {
        for sent in 1..=count {
            let send_type = if sent == count {
                last
            } else {
                values::SEND_DATA_NONE
            };
            let body = Body::SendData(SendData {
                conv,
                send_type,
                data: block.to_vec(),
                rts_rcvd: false,
            });
            self.ok("MC_SEND_DATA", body)?;
        }
        Ok(())
    }

    /// Receives the partner's blocks (each at most `max_len` bytes, handed
    /// to `each`) until it ends its turn.
    pub fn receive_turn(
        &mut self,
        conv: Conv,
        max_len: usize,
        mut each: impl FnMut(Vec<u8>),
    ) -> Result<Turn, Failure> {
        loop {
            let body = Body::ReceiveAndWait(Receive {
                conv,
                rtn_status: true,
                max_len: u16::try_from(max_len).unwrap_or(u16::MAX),
                ..Default::default()
            });
            let done = self.run("MC_RECEIVE_AND_WAIT", body)?;
            if done.primary_rc == PrimaryRc::DEALLOC_NORMAL {
                return Ok(Turn::Deallocated);
            }
            if done.primary_rc != PrimaryRc::OK {
                return Err(Failure::Rc {
                    verb: "MC_RECEIVE_AND_WAIT",
                    primary: done.primary_rc,
                    secondary: done.secondary_rc,
                });
            }
            let Body::ReceiveAndWait(received) = done.body else {
                unreachable!("MC_RECEIVE_AND_WAIT came back as {:?}", done.body)
            };
            let what = received.what_rcvd;
            match what.data_part() {
                WhatRcvd::NONE => {}
                WhatRcvd::DATA_COMPLETE => each(received.data),
                WhatRcvd::DATA_INCOMPLETE => {
                    return Err(Failure::Protocol(format!(
                        "the partner sent a block over {max_len} bytes"
                    )))
                }
                _ => return Err(unexpected(what)),
            }
            match what.status_part() {
                WhatRcvd::NONE => {}
                WhatRcvd::SEND => return Ok(Turn::Send),
                WhatRcvd::CONFIRM_WHAT_RECEIVED => return Ok(Turn::Confirm),
                _ => return Err(unexpected(what)),
            }
        }
    }

    /// `MC_CONFIRMED`.
    pub fn confirmed(&mut self, conv: Conv) -> Result<(), Failure> {
        self.ok("MC_CONFIRMED", Body::Confirmed(conv)).map(drop)
    }

    /// `MC_PREPARE_TO_RECEIVE(FLUSH)`: hands the send direction over.
    pub fn prepare_to_receive(&mut self, conv: Conv) -> Result<(), Failure> {
        let body = Body::PrepareToReceive(PrepareToReceive {
            conv,
            ptr_type: values::FLUSH,
            locks: values::LOCKS_SHORT,
        });
        self.ok("MC_PREPARE_TO_RECEIVE", body).map(drop)
    }

    /// `MC_DEALLOCATE(FLUSH)`.
    pub fn deallocate(&mut self, conv: Conv) -> Result<(), Failure> {
        let body = Body::Deallocate(Deallocate {
            conv,
            dealloc_type: values::FLUSH,
            log_data: Vec::new(),
        });
        self.ok("MC_DEALLOCATE", body).map(drop)
    }

    /// `TP_ENDED(AP_HARD)`: ends the TP and whatever it still holds.
    pub fn tp_ended(&mut self, tp_id: TpId) -> Result<(), Failure> {
        let body = Body::TpEnded(TpEnded {
            tp_id,
            tp_type: values::HARD,
        });
        self.ok("TP_ENDED", body).map(drop)
    }
}

fn unexpected(what: WhatRcvd) -> Failure {
    Failure::Protocol(format!(
        "unexpected what_rcvd X'{:04X}' ({})",
        what.0,
        what.meaning().unwrap_or("unknown")
    ))
}
