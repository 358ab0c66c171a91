//! The 3-byte request/response header (`docs/wire.md#requestresponse-header`), with every
//! indicator LU 6.2 can see, and the response-type names of `docs/wire.md#requestresponse-header` (RQD1 …
//! RQE3).
//!
//! ```text
//! byte 0  80 RRI  60 RU category  10 reserved  08 FI  04 SDI  02 BCI  01 ECI
//! byte 1  80 DR1I 40 LCCI  20 DR2I  10 ERI/RTI  08 reserved  04 RLWI  02 QRI  01 PI
//! byte 2  80 BBI  40 EBI   20 CDI   10 reserved  08 CSI  04 EDI  02 PDI  01 CEBI
//! ```
//!
//! A request header keeps every indicator as a `bool`, so the codec is
//! byte-exact; which of them a session accepts (`docs/wire.md#indicators-not-used` lists LCCI, EDI, PDI,
//! CSI, QRI, RLWI and EBI as "reject if seen") is the session layer's
//! decision, not the codec's.
//!
//! A response header is narrower, and decoding enforces `docs/wire.md#requestresponse-header`: BCI = ECI = 1,
//! SDI = 1 exactly on negative responses, byte 2 zero, the request-only bits
//! of byte 1 (LCCI, RLWI) zero. Reserved bits set anywhere are
//! [`WireError::Invalid`]. Consequence: the `0A 89 00` RH of the KB156083
//! trace, whose reserved bit `08` of byte 1 is set (`docs/wire.md#requestresponse-header`: "trace artefact
//! \[unsure\]"), is rejected.

use super::error::{Reader, WireError};

/// Length of a request/response header.
pub const RH_LEN: usize = 3;

/// RU category (byte 0, mask `60`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuCategory {
    /// `00` function management data: conversation traffic.
    Fmd = 0,
    /// `01` network control.
    Nc = 1,
    /// `10` data flow control: SIGNAL, LUSTAT, BIS, RTR.
    Dfc = 2,
    /// `11` session control: BIND, UNBIND.
    Sc = 3,
}

impl RuCategory {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::Fmd,
            1 => Self::Nc,
            2 => Self::Dfc,
            _ => Self::Sc,
        }
    }
}

/// The response a request asks for: the (DR1, DR2, ERI) names of `docs/wire.md#requestresponse-header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    /// DR1: definite response 1 (byte 1 `80`).
    Rqd1,
    /// DR1 + ERI: exception response 1 (`90`).
    Rqe1,
    /// DR2 (`20`).
    Rqd2,
    /// DR2 + ERI (`30`).
    Rqe2,
    /// DR1 + DR2 (`A0`).
    Rqd3,
    /// DR1 + DR2 + ERI (`B0`).
    Rqe3,
}

impl ResponseType {
    /// (DR1, DR2, ERI).
    pub fn bits(self) -> (bool, bool, bool) {
        match self {
            Self::Rqd1 => (true, false, false),
            Self::Rqe1 => (true, false, true),
            Self::Rqd2 => (false, true, false),
            Self::Rqe2 => (false, true, true),
            Self::Rqd3 => (true, true, false),
            Self::Rqe3 => (true, true, true),
        }
    }

    /// Whether a positive response is expected (definite response).
    pub fn is_definite(self) -> bool {
        !self.bits().2
    }
}

/// A request header: RRI = 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub category: RuCategory,
    /// Format indicator: FMD RU starts with an FM header; always 1 for DFC/SC.
    pub fi: bool,
    /// Sense data included.
    pub sdi: bool,
    /// Begin chain.
    pub bci: bool,
    /// End chain.
    pub eci: bool,
    /// Definite response 1.
    pub dr1: bool,
    /// Length-checked compression.
    pub lcci: bool,
    /// Definite response 2.
    pub dr2: bool,
    /// Exception response.
    pub eri: bool,
    /// Request larger (pacing) window.
    pub rlwi: bool,
    /// Queued response.
    pub qri: bool,
    /// Pacing.
    pub pi: bool,
    /// Begin bracket.
    pub bbi: bool,
    /// End bracket (LU 6.2 ends brackets with CEBI instead).
    pub ebi: bool,
    /// Change direction.
    pub cdi: bool,
    /// Code selection: 0 EBCDIC, 1 ASCII.
    pub csi: bool,
    /// Enciphered data.
    pub edi: bool,
    /// Padded data.
    pub pdi: bool,
    /// Conditional end bracket.
    pub cebi: bool,
}

impl Request {
    /// A single-RU chain (BCI = ECI = 1) of `category` asking for
    /// `response`, every other indicator off; FI is set for DFC and SC,
    /// where `docs/wire.md#requestresponse-header` says it is always 1.
    pub fn new(category: RuCategory, response: ResponseType) -> Self {
        let (dr1, dr2, eri) = response.bits();
        Self {
            category,
            fi: matches!(category, RuCategory::Dfc | RuCategory::Sc),
            sdi: false,
            bci: true,
            eci: true,
            dr1,
            lcci: false,
            dr2,
            eri,
            rlwi: false,
            qri: false,
            pi: false,
            bbi: false,
            ebi: false,
            cdi: false,
            csi: false,
            edi: false,
            pdi: false,
            cebi: false,
        }
    }

    /// The named response type, or `None` when DR1 = DR2 = 0 (no response
    /// requested, or ERI alone, which `docs/wire.md#requestresponse-header` does not name).
    pub fn response_type(&self) -> Option<ResponseType> {
        match (self.dr1, self.dr2, self.eri) {
            (true, false, false) => Some(ResponseType::Rqd1),
            (true, false, true) => Some(ResponseType::Rqe1),
            (false, true, false) => Some(ResponseType::Rqd2),
            (false, true, true) => Some(ResponseType::Rqe2),
            (true, true, false) => Some(ResponseType::Rqd3),
            (true, true, true) => Some(ResponseType::Rqe3),
            (false, false, _) => None,
        }
    }

    fn to_bytes(self) -> [u8; RH_LEN] {
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        [
            ((self.category as u8) << 5)
                | bit(self.fi, 0x08)
                | bit(self.sdi, 0x04)
                | bit(self.bci, 0x02)
                | bit(self.eci, 0x01),
            bit(self.dr1, 0x80)
                | bit(self.lcci, 0x40)
                | bit(self.dr2, 0x20)
                | bit(self.eri, 0x10)
                | bit(self.rlwi, 0x04)
                | bit(self.qri, 0x02)
                | bit(self.pi, 0x01),
            bit(self.bbi, 0x80)
                | bit(self.ebi, 0x40)
                | bit(self.cdi, 0x20)
                | bit(self.csi, 0x08)
                | bit(self.edi, 0x04)
                | bit(self.pdi, 0x02)
                | bit(self.cebi, 0x01),
        ]
    }
}

/// Response type indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rti {
    Positive,
    /// Negative: SDI = 1 and the RU starts with 4 bytes of sense data.
    Negative,
}

/// A response header: RRI = 1, BCI = ECI = 1, byte 2 zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    /// The category of the request answered.
    pub category: RuCategory,
    /// FI, as in the request.
    pub fi: bool,
    /// DR1, echoed from the request.
    pub dr1: bool,
    /// DR2, echoed from the request.
    pub dr2: bool,
    pub rti: Rti,
    /// QRI, echoed from the request.
    pub qri: bool,
    /// Pacing.
    pub pi: bool,
}

impl Response {
    /// The response to `request` (`docs/wire.md#requestresponse-header`, "Responses"): same
    /// category and FI, DR1/DR2/QRI copied, pacing off.
    pub fn to(request: &Request, rti: Rti) -> Self {
        Self {
            category: request.category,
            fi: request.fi,
            dr1: request.dr1,
            dr2: request.dr2,
            rti,
            qri: request.qri,
            pi: false,
        }
    }

    fn to_bytes(self) -> [u8; RH_LEN] {
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        let negative = self.rti == Rti::Negative;
        [
            0x80 | ((self.category as u8) << 5) | bit(self.fi, 0x08) | bit(negative, 0x04) | 0x03,
            bit(self.dr1, 0x80)
                | bit(self.dr2, 0x20)
                | bit(negative, 0x10)
                | bit(self.qri, 0x02)
                | bit(self.pi, 0x01),
            0,
        ]
    }
}

/// A request or a response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rh {
    Request(Request),
    Response(Response),
}

impl Rh {
    /// The 3 header bytes.
    pub fn to_bytes(&self) -> [u8; RH_LEN] {
        match *self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }

    /// The RU category of the header.
    pub fn category(&self) -> RuCategory {
        match self {
            Self::Request(r) => r.category,
            Self::Response(r) => r.category,
        }
    }

    /// Decodes the first [`RH_LEN`] bytes of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let b = r.take("RH", RH_LEN)?;
        let invalid = |field, offset, value: u8| WireError::Invalid {
            field,
            offset,
            value: value.into(),
        };
        if b[0] & 0x10 != 0 {
            return Err(invalid("RH reserved bit", 0, b[0]));
        }
        if b[1] & 0x08 != 0 {
            return Err(invalid("RH reserved bit", 1, b[1]));
        }
        let category = RuCategory::from_bits(b[0] >> 5);
        let fi = b[0] & 0x08 != 0;
        let sdi = b[0] & 0x04 != 0;
        if b[0] & 0x80 == 0 {
            if b[2] & 0x10 != 0 {
                return Err(invalid("RH reserved bit", 2, b[2]));
            }
            return Ok(Self::Request(Request {
                category,
                fi,
                sdi,
                bci: b[0] & 0x02 != 0,
                eci: b[0] & 0x01 != 0,
                dr1: b[1] & 0x80 != 0,
                lcci: b[1] & 0x40 != 0,
                dr2: b[1] & 0x20 != 0,
                eri: b[1] & 0x10 != 0,
                rlwi: b[1] & 0x04 != 0,
                qri: b[1] & 0x02 != 0,
                pi: b[1] & 0x01 != 0,
                bbi: b[2] & 0x80 != 0,
                ebi: b[2] & 0x40 != 0,
                cdi: b[2] & 0x20 != 0,
                csi: b[2] & 0x08 != 0,
                edi: b[2] & 0x04 != 0,
                pdi: b[2] & 0x02 != 0,
                cebi: b[2] & 0x01 != 0,
            }));
        }
        if b[0] & 0x03 != 0x03 {
            return Err(invalid("RH response BCI/ECI", 0, b[0]));
        }
        if b[1] & 0x44 != 0 {
            return Err(invalid("RH response reserved bit", 1, b[1]));
        }
        if b[2] != 0 {
            return Err(invalid("RH response byte 2", 2, b[2]));
        }
        let rti = if b[1] & 0x10 != 0 {
            Rti::Negative
        } else {
            Rti::Positive
        };
        if sdi != (rti == Rti::Negative) {
            return Err(invalid("RH response SDI", 0, b[0]));
        }
        Ok(Self::Response(Response {
            category,
            fi,
            dr1: b[1] & 0x80 != 0,
            dr2: b[1] & 0x20 != 0,
            rti,
            qri: b[1] & 0x02 != 0,
            pi: b[1] & 0x01 != 0,
        }))
    }
}
