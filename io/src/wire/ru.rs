//! Request units other than conversation data, and the body of responses
//! (`docs/wire.md#requestresponse-header` for responses, `docs/wire.md#other-rus-unbind-signal-lustat-responses`).
//!
//! | RU     | bytes                                   | category, flow     |
//! |--------|-----------------------------------------|--------------------|
//! | BIND   | `31` … ([`Bind`])                       | SC, expedited      |
//! | UNBIND | `32` type [4-byte sense]                | SC, expedited      |
//! | SIGNAL | `C9` code(2) extension(2)               | DFC, expedited     |
//! | LUSTAT | `04` status(4)                          | DFC, normal        |
//! | BIS    | `70`                                    | DFC, normal        |
//! | RTR    | `05`                                    | DFC, normal        |
//!
//! REQUEST_TO_SEND is SIGNAL `C9 0001 0001` (`docs/wire.md#verbs-on-the-wire`: Linux-SNA validates code
//! 0001 and extension 0001; older notes say `00010000`, \[unsure\]).
//!
//! A negative response's RU is the 4-byte sense code (`docs/wire.md#requestresponse-header`). A positive
//! response to an FMD request has an empty RU; a positive response to a
//! negotiable BIND carries the BIND image (`docs/wire.md#bind-image`). `docs/wire.md` does not give
//! the positive-response RU of the other SC/DFC requests, so
//! [`ResponseRu::Positive`] keeps whatever bytes came, raw.
//!
//! The FMD RUs of a conversation are decoded by [`Fmh`] (when FI = 1) and
//! [`RecordReader`](super::gds::RecordReader), not here: their records run
//! across RU boundaries.

use super::bind::{Bind, BIND_REQUEST};
use super::error::{Reader, WireError};
use super::fmh::Fmh;
use super::rh::{Request, Response, Rh, Rti, RuCategory};
use super::sense::Sense;

/// UNBIND request code.
pub const UNBIND_REQUEST: u8 = 0x32;
/// SIGNAL request code.
pub const SIGNAL_REQUEST: u8 = 0xC9;
/// LUSTAT request code.
pub const LUSTAT_REQUEST: u8 = 0x04;
/// BIS (bracket initiation stopped) request code.
pub const BIS_REQUEST: u8 = 0x70;
/// RTR (ready to receive) request code.
pub const RTR_REQUEST: u8 = 0x05;

/// SIGNAL: code and extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub code: u16,
    pub extension: u16,
}

impl Signal {
    /// REQUEST_TO_SEND.
    pub const REQUEST_TO_SEND: Self = Self {
        code: 0x0001,
        extension: 0x0001,
    };
}

/// UNBIND type byte. `docs/wire.md#bind-image` names only these; the full list is in
/// SNA Formats chapter 5, not read yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnbindType(pub u8);

impl UnbindType {
    /// `01`: normal end of session.
    pub const NORMAL: Self = Self(0x01);
    /// `08`: route extension inoperative.
    pub const ROUTE_EXTENSION_INOPERATIVE: Self = Self(0x08);
    /// `0E`: recoverable LU failure.
    pub const RECOVERABLE_LU_FAILURE: Self = Self(0x0E);
    /// `FE`: invalid session parameters, with sense (\[unsure\] in `docs/wire.md#bind-image`).
    pub const INVALID_SESSION_PARAMETERS: Self = Self(0xFE);
}

/// UNBIND: type and optional sense data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unbind {
    pub kind: UnbindType,
    pub sense: Option<Sense>,
}

/// A request RU of category DFC or SC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlRu {
    Bind(Bind),
    Unbind(Unbind),
    Signal(Signal),
    /// LUSTAT with its 4-byte status.
    Lustat(u32),
    Bis,
    Rtr,
}

impl ControlRu {
    /// The RU category this request travels in.
    pub fn category(&self) -> RuCategory {
        match self {
            Self::Bind(_) | Self::Unbind(_) => RuCategory::Sc,
            Self::Signal(_) | Self::Lustat(_) | Self::Bis | Self::Rtr => RuCategory::Dfc,
        }
    }

    /// Appends the RU.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Self::Bind(b) => return b.encode(out),
            Self::Unbind(u) => {
                out.extend_from_slice(&[UNBIND_REQUEST, u.kind.0]);
                if let Some(sense) = u.sense {
                    out.extend_from_slice(&sense.to_bytes());
                }
            }
            Self::Signal(s) => {
                out.push(SIGNAL_REQUEST);
                out.extend_from_slice(&s.code.to_be_bytes());
                out.extend_from_slice(&s.extension.to_be_bytes());
            }
            Self::Lustat(status) => {
                out.push(LUSTAT_REQUEST);
                out.extend_from_slice(&status.to_be_bytes());
            }
            Self::Bis => out.push(BIS_REQUEST),
            Self::Rtr => out.push(RTR_REQUEST),
        }
        Ok(())
    }

    /// Decodes the RU of a DFC or SC request.
    pub fn decode(category: RuCategory, ru: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(ru);
        let code = r.u8("RU request code")?;
        let decoded = match (category, code) {
            (RuCategory::Sc, BIND_REQUEST) => return Bind::decode(ru).map(Self::Bind),
            (RuCategory::Sc, UNBIND_REQUEST) => {
                let kind = UnbindType(r.u8("UNBIND type")?);
                let sense = match r.rest().len() {
                    0 => None,
                    _ => Some(Sense(r.u32("UNBIND sense data")?)),
                };
                Self::Unbind(Unbind { kind, sense })
            }
            (RuCategory::Dfc, SIGNAL_REQUEST) => Self::Signal(Signal {
                code: r.u16("SIGNAL code")?,
                extension: r.u16("SIGNAL extension")?,
            }),
            (RuCategory::Dfc, LUSTAT_REQUEST) => Self::Lustat(r.u32("LUSTAT status")?),
            (RuCategory::Dfc, BIS_REQUEST) => Self::Bis,
            (RuCategory::Dfc, RTR_REQUEST) => Self::Rtr,
            (RuCategory::Dfc | RuCategory::Sc, other) => {
                return Err(WireError::Unsupported {
                    field: "RU request code",
                    offset: 0,
                    value: other.into(),
                })
            }
            (RuCategory::Fmd | RuCategory::Nc, _) => {
                return Err(WireError::Unsupported {
                    field: "RU category",
                    offset: 0,
                    value: category as u32,
                })
            }
        };
        if !r.rest().is_empty() {
            return Err(WireError::Length {
                field: "RU",
                offset: 0,
                declared: r.pos(),
                actual: ru.len(),
            });
        }
        Ok(decoded)
    }
}

/// The body of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseRu<'a> {
    /// Positive response: the RU as it came (empty for FMD; the BIND image
    /// for a BIND, see [`Bind::decode`]).
    Positive(&'a [u8]),
    /// Negative response: the sense code, and any bytes after it.
    Negative { sense: Sense, rest: &'a [u8] },
}

impl<'a> ResponseRu<'a> {
    /// Splits the RU of a response with header `rsp`.
    pub fn decode(rsp: &Response, ru: &'a [u8]) -> Result<Self, WireError> {
        match rsp.rti {
            Rti::Positive => Ok(Self::Positive(ru)),
            Rti::Negative => {
                let mut r = Reader::new(ru);
                let sense = Sense(r.u32("response sense data")?);
                Ok(Self::Negative {
                    sense,
                    rest: r.rest(),
                })
            }
        }
    }
}

/// What a PIU's RU holds, as far as it can be told from the PIU alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ru<'a> {
    /// An FMD request: an FM header when FI = 1, then record-stream bytes.
    Fmd {
        fmh: Option<Fmh>,
        data: &'a [u8],
    },
    /// A DFC or SC request.
    Control(ControlRu),
    Response(ResponseRu<'a>),
}

impl<'a> Ru<'a> {
    /// Decodes `ru` as the RH `rh` says it is laid out.
    pub fn decode(rh: &Rh, ru: &'a [u8]) -> Result<Self, WireError> {
        match rh {
            Rh::Response(rsp) => ResponseRu::decode(rsp, ru).map(Self::Response),
            Rh::Request(Request {
                category: RuCategory::Fmd,
                fi,
                ..
            }) => {
                if *fi {
                    let (fmh, used) = Fmh::decode(ru)?;
                    Ok(Self::Fmd {
                        fmh: Some(fmh),
                        data: ru.get(used..).unwrap_or_default(),
                    })
                } else {
                    Ok(Self::Fmd {
                        fmh: None,
                        data: ru,
                    })
                }
            }
            Rh::Request(req) => ControlRu::decode(req.category, ru).map(Self::Control),
        }
    }
}
