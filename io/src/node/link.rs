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
use std::num::NonZeroU32;

use super::limits::Timers;
use super::protocol::HalfSession;
use crate::appc::rc::PrimaryRc;
use crate::appc::verbs::ConvId;
use crate::diag::Limits;
use crate::wire::frame::{MIN_PIU, PREFIX_LEN};

/// Splits the byte stream into PIUs (4-byte big-endian length prefix, as
/// [`crate::wire::frame`]), holding at most one partial PIU. Unlike
/// [`crate::wire::Decoder`] it hands out the raw PIU, so that a PIU whose
/// TH or RH does not decode can still be charged to its session. A PIU
/// that arrived whole in one read is handed out in place, uncopied; only
/// one split across reads is gathered, in a buffer the splitter keeps.
#[derive(Debug)]
pub(crate) struct Splitter {
    max: usize,
    /// The partial PIU, length prefix included.
    buf: Vec<u8>,
    broken: bool,
}

/// One PIU, from [`Splitter::next`].
#[derive(Debug)]
pub(crate) enum Piu<'a> {
    /// Whole in the bytes pushed (without its length prefix).
    InPlace(&'a [u8]),
    /// Gathered across reads: take it with [`Splitter::take_gathered`].
    Gathered,
}

impl Splitter {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            buf: Vec::new(),
            broken: false,
        }
    }

    /// Bytes it holds for a partial PIU.
    pub(crate) fn held(&self) -> usize {
        self.buf.capacity()
    }

    /// The framing broke: whatever comes next is not read.
    pub(crate) fn is_broken(&self) -> bool {
        self.broken
    }

    /// The next PIU the bytes in `data` complete, taking them off `data`;
    /// `None` once `data` is all taken (a partial PIU is kept for the next
    /// read). `Err(len)` with the bad length prefix once the framing is
    /// broken (for good).
    pub(crate) fn next<'a>(&mut self, data: &mut &'a [u8]) -> Result<Option<Piu<'a>>, usize> {
        if self.broken {
            return Err(0);
        }
        // First finish the PIU a previous read left partial.
        if !self.buf.is_empty() {
            if self.buf.len() < PREFIX_LEN {
                let n = (PREFIX_LEN - self.buf.len()).min(data.len());
                self.buf.extend_from_slice(&data[..n]);
                *data = &data[n..];
                if self.buf.len() < PREFIX_LEN {
                    return Ok(None);
                }
                let len = self.check(prefix(&self.buf))?;
                self.buf.reserve(len);
            }
            let want = PREFIX_LEN + prefix(&self.buf) - self.buf.len();
            let n = want.min(data.len());
            self.buf.extend_from_slice(&data[..n]);
            *data = &data[n..];
            return Ok((n == want).then_some(Piu::Gathered));
        }
        // Then a PIU whole in `data`, in place; else keep the partial rest.
        if data.len() >= PREFIX_LEN {
            let len = self.check(prefix(data))?;
            if data.len() >= PREFIX_LEN + len {
                let piu = &data[PREFIX_LEN..PREFIX_LEN + len];
                *data = &data[PREFIX_LEN + len..];
                return Ok(Some(Piu::InPlace(piu)));
            }
            self.buf.reserve(PREFIX_LEN + len);
        }
        self.buf.extend_from_slice(data);
        *data = &[];
        Ok(None)
    }

    /// The PIU [`Piu::Gathered`] announced, length prefix included; give
    /// the buffer back with [`Splitter::recycle`] once done with it.
    pub(crate) fn take_gathered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Keeps a gathered PIU's buffer for the next one.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.buf.is_empty() && !self.broken {
            buf.clear();
            self.buf = buf;
        }
    }

    /// `len` if it is a PIU length this link accepts; else the framing is
    /// broken.
    fn check(&mut self, len: usize) -> Result<usize, usize> {
        if len > self.max || len < MIN_PIU {
            self.broken = true;
            self.buf = Vec::new();
            return Err(len);
        }
        Ok(len)
    }
}

/// The length prefix at the start of `bytes` (at least [`PREFIX_LEN`]).
fn prefix(bytes: &[u8]) -> usize {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize
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
    /// The conversation the current bracket carries ([`Sess::conv`]; no
    /// conversation has id 0, so this takes 4 bytes, not 8).
    conv: Option<NonZeroU32>,
}

impl Sess {
    /// A session for `hs`, carrying `conv`'s bracket if any.
    pub(crate) fn new(
        hs: HalfSession,
        bound: bool,
        mode: [u8; 8],
        partner_lu: [u8; 8],
        conv: Option<ConvId>,
    ) -> Self {
        let mut sess = Self {
            hs,
            bound,
            mode,
            partner_lu,
            conv: None,
        };
        sess.set_conv(conv);
        sess
    }

    /// The conversation the current bracket carries.
    pub(crate) fn conv(&self) -> Option<ConvId> {
        self.conv.map(NonZeroU32::get)
    }

    pub(crate) fn set_conv(&mut self, conv: Option<ConvId>) {
        self.conv = conv.and_then(NonZeroU32::new);
    }
}

/// One TCP connection and its sessions.
#[derive(Debug)]
pub(crate) struct Link {
    pub initiator: bool,
    pub up: bool,
    /// Initiator: the partner LU alias it was opened for (blank-padded).
    pub partner: Option<[u8; 8]>,
    /// Initiator: that partner LU's name, as its BINDs name it.
    pub partner_lu: String,
    pub split: Splitter,
    /// By session id, looked up for every PIU. `FxHash`, not SipHash
    /// (`docs/design.md#ids-and-hashing`). On an accepting link
    /// the partner picks the ids and could pick ones that collide: that
    /// slows only its own link, whose sessions are capped at
    /// [`NodeConfig::max_sessions_per_link`](super::NodeConfig::max_sessions_per_link).
    pub sessions: FxHashMap<u16, Box<Sess>>,
    pub next_sid: u16,
    /// Initiator: idle bound sessions per mode, reused serially.
    pub idle: HashMap<[u8; 8], Vec<u16>>,
    /// Initiator: conversations waiting for a session, in order.
    pub waiting: VecDeque<ConvId>,
    /// What the conversations on it report when it goes.
    pub failure: PrimaryRc,
    /// Its span and the rate limits of what its peer can make it log.
    pub log: Limits,
    /// Protocol violations its peer committed (see
    /// [`NodeConfig::max_link_violations`](super::NodeConfig::max_link_violations)).
    pub violations: u32,
    /// Being closed by this node: what else arrives is not read.
    pub closing: bool,
    /// Its handshake and idle clocks.
    pub timers: Timers,
    /// Bytes it held (partial PIU, send queue) when last accounted.
    pub memory: usize,
}

impl Link {
    pub(crate) fn new(
        initiator: bool,
        partner: Option<[u8; 8]>,
        max_frame: usize,
        log: Limits,
        timers: Timers,
    ) -> Self {
        Self {
            initiator,
            up: false,
            partner,
            partner_lu: String::new(),
            split: Splitter::new(max_frame),
            sessions: FxHashMap::default(),
            next_sid: 0,
            idle: HashMap::new(),
            waiting: VecDeque::new(),
            failure: PrimaryRc::CONV_FAILURE_RETRY,
            log,
            violations: 0,
            closing: false,
            timers,
            memory: 0,
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

    /// Every PIU `data` completes, owned (and whether each was in place).
    fn push(s: &mut Splitter, mut data: &[u8]) -> Result<Vec<(Vec<u8>, bool)>, usize> {
        let mut pius = Vec::new();
        while let Some(piu) = s.next(&mut data)? {
            match piu {
                Piu::InPlace(piu) => pius.push((piu.to_vec(), true)),
                Piu::Gathered => {
                    let buf = s.take_gathered();
                    pius.push((buf[PREFIX_LEN..].to_vec(), false));
                    s.recycle(buf);
                }
            }
        }
        Ok(pius)
    }

    #[test]
    fn splitter_cuts_anywhere_and_refuses_bad_lengths() {
        let mut stream = Vec::new();
        for n in [9usize, 12, 9] {
            stream.extend_from_slice(&(n as u32).to_be_bytes());
            stream.extend(std::iter::repeat_n(n as u8, n));
        }
        let want: Vec<Vec<u8>> = [9usize, 12, 9].iter().map(|&n| vec![n as u8; n]).collect();
        let bytes = |pius: Vec<(Vec<u8>, bool)>| -> Vec<Vec<u8>> {
            pius.into_iter().map(|(piu, _)| piu).collect()
        };
        for a in 0..=stream.len() {
            for b in a..=stream.len() {
                let mut s = Splitter::new(100);
                let mut got = bytes(push(&mut s, &stream[..a]).unwrap());
                got.extend(bytes(push(&mut s, &stream[a..b]).unwrap()));
                got.extend(bytes(push(&mut s, &stream[b..]).unwrap()));
                assert_eq!(got, want, "cut at {a} and {b}");
                assert!(s.buf.is_empty());
            }
        }
        let mut s = Splitter::new(100);
        let mut got = Vec::new();
        for byte in &stream {
            got.extend(bytes(push(&mut s, std::slice::from_ref(byte)).unwrap()));
        }
        assert_eq!(got, want, "a byte at a time");
        // Whole PIUs are handed out in place.
        let mut s = Splitter::new(100);
        assert!(push(&mut s, &stream)
            .unwrap()
            .iter()
            .all(|(_, in_place)| *in_place));
        let mut s = Splitter::new(100);
        assert_eq!(push(&mut s, &[0, 0, 1, 0]).unwrap_err(), 256);
        assert!(push(&mut s, &[0; 20]).is_err());
        let mut s = Splitter::new(100);
        assert_eq!(push(&mut s, &[0, 0, 0, 3]).unwrap_err(), 3);
        // A bad length in a PIU's own read, after a good one.
        let mut s = Splitter::new(100);
        let mut bad = stream[..13].to_vec();
        bad.extend_from_slice(&[0, 0, 2, 0, 1]);
        assert_eq!(push(&mut s, &bad).unwrap_err(), 512);
    }
}
