//! A link: one TCP connection between two nodes, carrying many sessions
//! told apart by their LFSID.
//!
//! The node that opened the connection (the *initiator*) is the PLU of
//! every session on it: it assigns the LFSIDs (ODAI 0, session ids from 1
//! up, never reused on the link), sends the BINDs and begins every
//! bracket. The acceptor's own conversations to the initiator's node go
//! over a link the acceptor opens itself.

use rustc_hash::FxHashMap;
use std::collections::{HashMap, VecDeque};

use super::protocol::HalfSession;
use crate::engine::appc::rc::PrimaryRc;
use crate::wire::frame::{MIN_PIU, PREFIX_LEN};

/// Splits the byte stream into PIUs (4-byte big-endian length prefix, as
/// [`crate::wire::frame`]), holding at most one partial PIU. Unlike
/// [`crate::wire::Decoder`] it hands out the raw PIU, so that a PIU whose
/// TH or RH does not decode can still be charged to its session.
#[derive(Debug)]
pub(crate) struct Splitter {
    max: usize,
    buf: Vec<u8>,
    broken: bool,
}

impl Splitter {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            buf: Vec::new(),
            broken: false,
        }
    }

    /// The framing broke: whatever comes next is not read.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// Appends `data` and returns the complete PIUs, or `Err(len)` with the
    /// bad length prefix once the framing is broken (for good).
    pub(crate) fn push(&mut self, mut data: &[u8]) -> Result<Vec<Vec<u8>>, usize> {
        let mut pius = Vec::new();
        if self.broken {
            return Err(0);
        }
        loop {
            if self.buf.len() < PREFIX_LEN {
                let n = (PREFIX_LEN - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.buf.len() < PREFIX_LEN {
                    return Ok(pius);
                }
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if len > self.max || len < MIN_PIU {
                    self.broken = true;
                    self.buf = Vec::new();
                    return Err(len);
                }
                self.buf.reserve(len);
            }
            let len =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            let want = PREFIX_LEN + len - self.buf.len();
            let n = want.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.buf.len() < PREFIX_LEN + len {
                return Ok(pius);
            }
            pius.push(self.buf.split_off(PREFIX_LEN));
            self.buf.clear();
        }
    }
}

/// A session on a link.
#[derive(Debug)]
pub(crate) struct Sess {
    pub hs: HalfSession,
    /// PLU: the `+RSP(BIND)` came. SLU: always.
    pub bound: bool,
    /// Mode name (engine form, blank-padded ASCII).
    pub mode: [u8; 8],
    /// The partner LU's name (SLU: from the BIND).
    pub partner_lu: [u8; 8],
    /// The conversation the current bracket carries.
    pub conv: Option<u64>,
}

/// One TCP connection and its sessions.
#[derive(Debug)]
pub(crate) struct Link {
    pub initiator: bool,
    pub up: bool,
    /// Initiator: the partner LU alias it was opened for.
    pub partner: Option<String>,
    pub split: Splitter,
    /// By session id, looked up for every PIU. `FxHash`, not SipHash (5%
    /// of a request/response run went to hashing). On an accepting link
    /// the partner picks the ids and could pick ones that collide: that
    /// slows only its own link, whose sessions are capped at
    /// [`NodeConfig::max_sessions_per_link`](super::NodeConfig::max_sessions_per_link).
    pub sessions: FxHashMap<u16, Sess>,
    pub next_sid: u16,
    /// Initiator: idle bound sessions per mode, reused serially.
    pub idle: HashMap<[u8; 8], Vec<u16>>,
    /// Initiator: conversations waiting for a session, in order.
    pub waiting: VecDeque<u64>,
    /// What the conversations on it report when it goes.
    pub failure: PrimaryRc,
}

impl Link {
    pub(crate) fn new(initiator: bool, partner: Option<String>, max_frame: usize) -> Self {
        Self {
            initiator,
            up: false,
            partner,
            split: Splitter::new(max_frame),
            sessions: FxHashMap::default(),
            next_sid: 0,
            idle: HashMap::new(),
            waiting: VecDeque::new(),
            failure: PrimaryRc::CONV_FAILURE_RETRY,
        }
    }

    /// A session id not in use (initiator).
    pub(crate) fn new_sid(&mut self) -> u16 {
        loop {
            self.next_sid = self.next_sid.wrapping_add(1);
            if self.next_sid != 0 && !self.sessions.contains_key(&self.next_sid) {
                return self.next_sid;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitter_cuts_anywhere_and_refuses_bad_lengths() {
        let mut stream = Vec::new();
        for n in [9usize, 12, 9] {
            stream.extend_from_slice(&(n as u32).to_be_bytes());
            stream.extend(std::iter::repeat_n(n as u8, n));
        }
        for cut in 0..stream.len() {
            let mut s = Splitter::new(100);
            let mut got = s.push(&stream[..cut]).unwrap();
            got.extend(s.push(&stream[cut..]).unwrap());
            assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [9, 12, 9]);
        }
        let mut s = Splitter::new(100);
        assert_eq!(s.push(&[0, 0, 1, 0]), Err(256));
        assert!(s.push(&[0; 20]).is_err());
        let mut s = Splitter::new(100);
        assert_eq!(s.push(&[0, 0, 0, 3]), Err(3));
    }
}
