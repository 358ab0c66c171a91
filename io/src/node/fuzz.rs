//! The session protocol under a fuzzer: two half-sessions (PLU and SLU)
//! joined by queues of PIUs, driven by a script read from arbitrary bytes.
//!
//! Each step of the script is one of: a local conversation flow on either
//! end (data, change of direction, confirmation, error, deallocation,
//! REQUEST_TO_SEND), the PLU beginning a bracket or the SLU rejecting it,
//! the local TP consuming data, or traffic: the next queued PIU delivered
//! (through its byte encoding), delivered with a byte changed, dropped, or
//! a PIU of raw script bytes injected. The flows are not checked against
//! the conversation state machine first (the engine does that): the
//! half-session must cope with any order. A violation ends the session as
//! the driver ends it (UNBIND: both ends start afresh).
//!
//! What must hold, whatever the script: nothing panics; every PIU a
//! half-session emits encodes and decodes back to itself; and what a
//! session holds received and not consumed stays bounded (paced: the
//! receive limit plus two windows of the largest RU received; unpaced:
//! twice the limit), which is the node's memory bound per session.
//!
//! The fuzz target (`io/fuzz/fuzz_targets/session.rs`) calls [`session`];
//! its minimised corpus (`io/fuzz/corpus/session/`) is replayed by the
//! unit test below on every `cargo test`.

use std::collections::VecDeque;

use super::protocol::{Event, HalfSession};
use crate::appc::rc::PrimaryRc;
use crate::appc::{Confirmation, Flow};
use crate::wire::{Attach, ConversationType, Frame, FrameRef, Lfsid, SyncLevel};

/// One end: its half-session and the PIUs it sent, not yet delivered.
struct End {
    hs: HalfSession,
    primary: bool,
    /// PIUs on their way to the other end, encoded.
    outbound: VecDeque<Vec<u8>>,
    /// The largest RU this end received in its current session.
    largest_ru: usize,
}

/// The session's settings, from the script's first bytes.
#[derive(Clone, Copy)]
struct Settings {
    max_ru: usize,
    limit: usize,
    window: u8,
}

impl End {
    fn new(primary: bool, s: Settings) -> Self {
        let lfsid = Lfsid {
            odai: false,
            sidh: 0,
            sidl: 1,
        };
        let mut hs = HalfSession::new(lfsid, primary, s.max_ru, s.limit);
        hs.set_pacing(s.window, s.window);
        Self {
            hs,
            primary,
            outbound: VecDeque::new(),
            largest_ru: 0,
        }
    }

    /// Queues what the half-session emitted, checking each PIU's encoding.
    fn emit(&mut self, frames: Vec<Frame>) {
        for frame in frames {
            let mut piu = Vec::new();
            frame.encode_piu(&mut piu);
            let back = Frame::decode_piu(&piu).expect("an emitted PIU decodes");
            assert_eq!(back, frame, "an emitted PIU decodes to itself");
            self.outbound.push_back(piu);
        }
    }
}

/// A cursor over the script.
struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }
}

/// The flow a script byte names (its data, if any, in `data`).
fn flow(b: u8, len: u8, data: &mut Vec<u8>) -> Flow<'_> {
    const ERRORS: [PrimaryRc; 4] = [
        PrimaryRc::PROG_ERROR_PURGING,
        PrimaryRc::PROG_ERROR_TRUNC,
        PrimaryRc::SVC_ERROR_PURGING,
        PrimaryRc::SVC_ERROR_TRUNC,
    ];
    const DEALLOCATIONS: [PrimaryRc; 3] = [
        PrimaryRc::DEALLOC_NORMAL,
        PrimaryRc::DEALLOC_ABEND_PROG,
        PrimaryRc::DEALLOC_ABEND_SVC,
    ];
    const CONFIRMATIONS: [Confirmation; 3] = [
        Confirmation::Plain,
        Confirmation::Send,
        Confirmation::Deallocate,
    ];
    let pick = usize::from(b >> 3);
    match b & 7 {
        0 | 1 => {
            data.clear();
            data.resize(usize::from(len) * 7, len);
            Flow::Data(data)
        }
        2 => Flow::ChangeDirection,
        3 => Flow::ConfirmRequest(CONFIRMATIONS[pick % 3]),
        4 => Flow::Confirmed,
        5 => Flow::Error(ERRORS[pick % 4]),
        6 => Flow::Deallocate(DEALLOCATIONS[pick % 3]),
        _ => Flow::RequestToSend,
    }
}

/// Runs one script (see the module docs); panics if an invariant breaks.
pub fn session(data: &[u8]) {
    let mut script = Script(data);
    let (Some(a), Some(b), Some(c)) = (script.byte(), script.byte(), script.byte()) else {
        return;
    };
    let settings = Settings {
        max_ru: 16 + usize::from(a) * 4,
        limit: usize::from(b) * 64,
        window: c % 9,
    };
    let mut ends = [End::new(true, settings), End::new(false, settings)];
    let mut data = Vec::new();
    while let Some(op) = script.byte() {
        let side = usize::from(op >> 7);
        let mut out = Vec::new();
        match op & 0x0F {
            0 => {
                let basic = op & 0x10 != 0;
                let kind = if basic {
                    ConversationType::Basic
                } else {
                    ConversationType::Mapped
                };
                let attach = Attach::new(kind, SyncLevel::Confirm, &[0xC5, 0xC3, 0xC8, 0xD6]);
                if ends[0].hs.is_idle() {
                    let _ = ends[0].hs.begin(&attach, &mut out);
                }
                ends[0].emit(out);
            }
            1..=4 => {
                let (Some(which), Some(len)) = (script.byte(), script.byte()) else {
                    return;
                };
                ends[side].hs.send(flow(which, len, &mut data), &mut out);
                ends[side].emit(out);
            }
            5 => {
                ends[1].hs.reject(crate::wire::Sense(0x1008_6021), &mut out);
                ends[1].emit(out);
            }
            6 => {
                let n = usize::from(script.byte().unwrap_or(0)) * 16;
                ends[side].hs.consumed(n, &mut out);
                ends[side].emit(out);
            }
            7 => {
                ends[side].outbound.pop_front();
            }
            8 => {
                let (Some(at), Some(xor)) = (script.byte(), script.byte()) else {
                    return;
                };
                if let Some(mut piu) = ends[side].outbound.pop_front() {
                    let at = usize::from(at) % piu.len();
                    piu[at] ^= xor.max(1);
                    deliver(&mut ends, 1 - side, &piu, settings);
                }
            }
            9 => {
                let len = usize::from(script.byte().unwrap_or(0));
                let piu = script.bytes(len).to_vec();
                deliver(&mut ends, side, &piu, settings);
            }
            _ => {
                if let Some(piu) = ends[side].outbound.pop_front() {
                    deliver(&mut ends, 1 - side, &piu, settings);
                }
            }
        }
    }
}

/// Delivers one PIU to `ends[to]`; a violation unbinds the session.
fn deliver(ends: &mut [End; 2], to: usize, piu: &[u8], settings: Settings) {
    let Ok(frame) = FrameRef::decode_piu(piu) else {
        return;
    };
    let end = &mut ends[to];
    end.largest_ru = end.largest_ru.max(frame.ru.len());
    let mut out = Vec::new();
    let result = end.hs.receive(frame, &mut out, &mut |_: Event<'_>| {});
    end.emit(out);
    if result.is_err() {
        // UNBIND: both ends start afresh, nothing in flight survives.
        *ends = [End::new(true, settings), End::new(false, settings)];
        return;
    }
    let held = end.hs.received_held();
    let bound = if settings.window == 0 {
        2 * settings.limit
    } else {
        settings.limit + 2 * usize::from(settings.window) * end.largest_ru
    };
    assert!(
        held <= bound,
        "the session holds {held} bytes received (bound {bound}; primary: {})",
        end.primary
    );
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    /// Replays the kept corpus: each input runs the script and its
    /// invariants, as under the fuzzer.
    #[test]
    fn replay_session_corpus() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/session");
        let mut seen = 0;
        for entry in fs::read_dir(&dir).expect("corpus directory") {
            let data = fs::read(entry.unwrap().path()).unwrap();
            super::session(&data);
            seen += 1;
        }
        assert!(seen >= 1, "no corpus in {}", dir.display());
    }
}
