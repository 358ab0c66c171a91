//! The FID2 transmission header (`docs/wire.md#transmission-header-fid2`): 6 bytes in front of every
//! PIU, naming the session (LFSID) and numbering the request.
//!
//! ```text
//! byte 0   F0 FID (2)   0C MPF   02 ODAI   01 EFI
//! byte 1   reserved (0)
//! byte 2   DAF'         byte 3   OAF'
//! bytes 4-5 SNF, big-endian
//! ```
//!
//! Many sessions share one TCP connection; the local-form session identifier
//! (LFSID = ODAI + DAF' + OAF') tells them apart. `docs/wire.md` marks the
//! placement of SIDH/SIDL in DAF'/OAF' **\[unsure\]**; between two of our nodes
//! any fixed rule works, and ours is the one Linux-SNA uses on send:
//! **DAF' = SIDL, OAF' = SIDH, in both directions** (see [`Lfsid`]). The
//! node that sends the BIND assigns the LFSID.
//!
//! The SNF counts normal-flow requests per session and direction; a response
//! carries the SNF of the request it answers.

use super::error::{Reader, WireError};

/// Length of a FID2 transmission header.
pub const TH_LEN: usize = 6;

const FID2: u8 = 0x2;

/// Mapping field: which part of a BIU this PIU carries. Over TCP we send and
/// accept whole BIUs only (`docs/wire.md#transmission-header-fid2`, `docs/wire.md#indicators-not-used`); the other values exist so
/// that the TH itself decodes byte-exactly and the frame layer can reject
/// them by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mpf {
    /// `00`: a middle segment.
    Middle = 0,
    /// `01`: the last segment.
    Last = 1,
    /// `10`: the first segment.
    First = 2,
    /// `11`: a whole BIU.
    Whole = 3,
}

/// Expedited flow indicator (EFI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// EFI = 0: data, data-flow responses; subject to SNF sequencing.
    Normal,
    /// EFI = 1: BIND, UNBIND, SIGNAL.
    Expedited,
}

/// The local-form session identifier: ODAI plus a 16-bit session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lfsid {
    /// OAF'/DAF' assignor indicator.
    pub odai: bool,
    /// High byte of the session id, carried in OAF'.
    pub sidh: u8,
    /// Low byte of the session id, carried in DAF'.
    pub sidl: u8,
}

/// A FID2 transmission header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Th {
    pub mpf: Mpf,
    pub odai: bool,
    pub flow: Flow,
    /// Destination address field (DAF'): SIDL under our rule.
    pub daf: u8,
    /// Origin address field (OAF'): SIDH under our rule.
    pub oaf: u8,
    /// Sequence number field.
    pub snf: u16,
}

impl Th {
    /// A whole-BIU header for the session `lfsid`.
    pub fn new(lfsid: Lfsid, flow: Flow, snf: u16) -> Self {
        Self {
            mpf: Mpf::Whole,
            odai: lfsid.odai,
            flow,
            daf: lfsid.sidl,
            oaf: lfsid.sidh,
            snf,
        }
    }

    /// The session this header names.
    pub fn lfsid(&self) -> Lfsid {
        Lfsid {
            odai: self.odai,
            sidh: self.oaf,
            sidl: self.daf,
        }
    }

    /// The 6 header bytes.
    pub fn to_bytes(&self) -> [u8; TH_LEN] {
        let byte0 = (FID2 << 4)
            | ((self.mpf as u8) << 2)
            | (u8::from(self.odai) << 1)
            | u8::from(self.flow == Flow::Expedited);
        let [snf_hi, snf_lo] = self.snf.to_be_bytes();
        [byte0, 0, self.daf, self.oaf, snf_hi, snf_lo]
    }

    /// Decodes the first [`TH_LEN`] bytes of `bytes`. A FID other than 2 or
    /// a non-zero reserved byte is [`WireError::Invalid`].
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let b = r.take("TH", TH_LEN)?;
        let fid = b[0] >> 4;
        if fid != FID2 {
            return Err(WireError::Invalid {
                field: "TH FID",
                offset: 0,
                value: fid.into(),
            });
        }
        if b[1] != 0 {
            return Err(WireError::Invalid {
                field: "TH reserved byte",
                offset: 1,
                value: b[1].into(),
            });
        }
        let mpf = match (b[0] >> 2) & 0b11 {
            0 => Mpf::Middle,
            1 => Mpf::Last,
            2 => Mpf::First,
            _ => Mpf::Whole,
        };
        Ok(Self {
            mpf,
            odai: b[0] & 0x02 != 0,
            flow: if b[0] & 0x01 != 0 {
                Flow::Expedited
            } else {
                Flow::Normal
            },
            daf: b[2],
            oaf: b[3],
            snf: u16::from_be_bytes([b[4], b[5]]),
        })
    }
}
