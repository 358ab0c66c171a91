//! Function management headers: FMH-5 Attach (`docs/wire.md#fmh-5-attach`) and FMH-7
//! Error Description (`docs/wire.md#fmh-7-error-description`), the only FM headers an LU 6.2 conversation
//! carries besides FMH-12, which our BIND never asks for (`docs/wire.md#fmh-7-error-description`) and which
//! [`Fmh::decode`] reports as unsupported.
//!
//! An FM header starts an FMD RU whose RH has FI = 1: byte 0 is its length,
//! byte 1 its type (bit 0, concatenation, must be 0).
//!
//! # FMH-5 (`docs/wire.md#fmh-5-attach`)
//!
//! ```text
//! 0     length, including itself, excluding the PIP
//! 1     05
//! 2-3   command code 02FF (Attach)
//! 4     80 already verified  60 persistent verification  10 password substitute
//!       08 PIP present  04 "xaid" [unsure]  03 reserved
//! 5     03 (length of the fixed part)
//! 6     resource type D0 basic, D1 mapped, D2/D3 the full-duplex forms
//! 7     00
//! 8     sync level: 00 none, 40 confirm, 80 syncpt [unsure]
//! 9     TP name: length (1..64) + EBCDIC
//! then  access security: length + subfields [len][type][data], len = 1 + data
//! then  LUW id: length + (length + NETID.LU) + 6-byte instance + 2-byte sequence
//! then  conversation correlator: length + bytes
//! then  further length-prefixed fields up to the FMH-5 length, kept raw
//! after if 08: PIP GDS  LL 12F5 { LL 12E2 data }*
//! ```
//!
//! The fields after the TP name may be cut off by the FMH-5 length; an absent
//! field decodes as empty. The fields after the correlator are "skipped"
//! (`docs/wire.md#fmh-5-attach`, decoder rule); we keep their bytes in [`Attach::trailing`] so that
//! decoding and re-encoding is byte-exact (KB169575 carries one:
//! `08 00000000000002FF`, meaning \[unsure\]).
//!
//! # FMH-7 (`docs/wire.md#fmh-7-error-description`)
//!
//! ```text
//! 0  07   1  07   2-5  sense data   6  80: an Error Log GDS (12E1) follows
//! ```

use super::error::{put_lt, Reader, WireError};
use super::gds::{GDS_PIP, GDS_PIP_SUBFIELD, LL_CONTINUES};
use super::sense::Sense;

/// FM header type of the Attach.
pub const FMH5_TYPE: u8 = 0x05;
/// FM header type of the Error Description.
pub const FMH7_TYPE: u8 = 0x07;
/// FM header type of the security header (`docs/wire.md#fmh-7-error-description`), not supported.
pub const FMH12_TYPE: u8 = 0x0C;
/// Attach command code.
pub const ATTACH_COMMAND: u16 = 0x02FF;
/// Longest TP name.
pub const MAX_TP_NAME: usize = 64;
/// Length of an FMH-7.
pub const FMH7_LEN: usize = 7;

const FIXED_LEN: u8 = 3;

/// Conversation type: the FMH-5 resource type, byte 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationType {
    /// `D0`.
    Basic,
    /// `D1`.
    Mapped,
    /// `D2`.
    BasicFullDuplex,
    /// `D3`.
    MappedFullDuplex,
}

impl ConversationType {
    fn code(self) -> u8 {
        match self {
            Self::Basic => 0xD0,
            Self::Mapped => 0xD1,
            Self::BasicFullDuplex => 0xD2,
            Self::MappedFullDuplex => 0xD3,
        }
    }
}

/// Sync level, FMH-5 byte 8 bits 0-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncLevel {
    /// `00`.
    None,
    /// `01` (byte `40`).
    Confirm,
    /// `10` (byte `80`), marked \[unsure\] in `docs/wire.md#fmh-5-attach`.
    Syncpt,
}

/// Kind of an access-security subfield.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityKind {
    /// `00`, marked \[unsure\] in `docs/wire.md#fmh-5-attach`.
    Profile,
    /// `01`: password, or its substitute when
    /// [`Security::password_substitute`] is set.
    Password,
    /// `02`.
    UserId,
}

/// One access-security subfield, in wire order (the IBM example sends the
/// password first, the KB169575 trace the user ID first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySubfield {
    pub kind: SecurityKind,
    /// EBCDIC bytes (or the substituted password).
    pub data: Vec<u8>,
}

/// The security part of an Attach: byte 4 flags and the access-security
/// field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Security {
    /// The user ID is already verified; no password subfield.
    pub already_verified: bool,
    /// Persistent verification indicator, 2 bits (0 = not used; other
    /// values are in SNA Formats, not in `docs/wire.md`).
    pub persistent_verification: u8,
    /// The password subfield is a substitute.
    pub password_substitute: bool,
    pub subfields: Vec<SecuritySubfield>,
}

impl Security {
    /// The first subfield of `kind`.
    pub fn get(&self, kind: SecurityKind) -> Option<&[u8]> {
        self.subfields
            .iter()
            .find(|s| s.kind == kind)
            .map(|s| s.data.as_slice())
    }
}

/// Logical unit of work identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luw {
    /// Network-qualified LU name, `NETID.LU` in EBCDIC.
    pub lu_name: Vec<u8>,
    pub instance: [u8; 6],
    pub sequence: u16,
}

/// An FMH-5 Attach, with its PIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attach {
    pub conversation_type: ConversationType,
    pub sync_level: SyncLevel,
    /// TP name, 1..=64 bytes of EBCDIC (a first byte below `40` names an
    /// SNA service TP).
    pub tp_name: Vec<u8>,
    pub security: Security,
    /// Byte 4 bit `04`, which Linux-SNA calls `xaid`; meaning \[unsure\].
    pub xaid: bool,
    pub luw: Option<Luw>,
    /// Conversation correlator; empty = absent.
    pub correlator: Vec<u8>,
    /// Length-prefixed fields after the correlator, raw.
    pub trailing: Vec<u8>,
    /// Program initialisation parameters, one entry per `12E2` subfield;
    /// `Some` sets the PIP-present flag.
    pub pip: Option<Vec<Vec<u8>>>,
}

impl Attach {
    /// A basic or mapped Attach for `tp_name` with no security, LUW,
    /// correlator or PIP.
    pub fn new(conversation_type: ConversationType, sync_level: SyncLevel, tp_name: &[u8]) -> Self {
        Self {
            conversation_type,
            sync_level,
            tp_name: tp_name.to_vec(),
            security: Security::default(),
            xaid: false,
            luw: None,
            correlator: Vec::new(),
            trailing: Vec::new(),
            pip: None,
        }
    }

    /// Appends the FMH-5 and, if present, the PIP GDS variable.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if self.tp_name.is_empty() {
            return Err(WireError::Invalid {
                field: "FMH-5 TP name length",
                offset: 9,
                value: 0,
            });
        }
        if self.security.persistent_verification > 3 {
            return Err(WireError::Invalid {
                field: "FMH-5 persistent verification",
                offset: 4,
                value: self.security.persistent_verification.into(),
            });
        }
        let bit = |on: bool, mask: u8| if on { mask } else { 0 };
        let mut fmh = vec![
            0, // length, patched below
            FMH5_TYPE,
            (ATTACH_COMMAND >> 8) as u8,
            ATTACH_COMMAND as u8,
            bit(self.security.already_verified, 0x80)
                | (self.security.persistent_verification << 5)
                | bit(self.security.password_substitute, 0x10)
                | bit(self.pip.is_some(), 0x08)
                | bit(self.xaid, 0x04),
            FIXED_LEN,
            self.conversation_type.code(),
            0,
            match self.sync_level {
                SyncLevel::None => 0x00,
                SyncLevel::Confirm => 0x40,
                SyncLevel::Syncpt => 0x80,
            },
        ];
        put_lt(&mut fmh, "FMH-5 TP name", &self.tp_name, MAX_TP_NAME)?;
        let mut security = Vec::new();
        for s in &self.security.subfields {
            let kind = match s.kind {
                SecurityKind::Profile => 0x00,
                SecurityKind::Password => 0x01,
                SecurityKind::UserId => 0x02,
            };
            let mut sub = vec![kind];
            sub.extend_from_slice(&s.data);
            put_lt(&mut security, "FMH-5 security subfield", &sub, 255)?;
        }
        put_lt(&mut fmh, "FMH-5 access security", &security, 255)?;
        let mut luw = Vec::new();
        if let Some(l) = &self.luw {
            put_lt(&mut luw, "FMH-5 LUW LU name", &l.lu_name, 255)?;
            luw.extend_from_slice(&l.instance);
            luw.extend_from_slice(&l.sequence.to_be_bytes());
        }
        put_lt(&mut fmh, "FMH-5 LUW identifier", &luw, 255)?;
        put_lt(&mut fmh, "FMH-5 correlator", &self.correlator, 255)?;
        check_lt_walk(&self.trailing, 0, "FMH-5 trailing field")?;
        fmh.extend_from_slice(&self.trailing);
        fmh[0] = u8::try_from(fmh.len()).map_err(|_| WireError::TooLarge {
            field: "FMH-5",
            len: fmh.len(),
            max: 255,
        })?;
        out.extend_from_slice(&fmh);
        if let Some(pip) = &self.pip {
            encode_pip(pip, out)?;
        }
        Ok(())
    }

    /// Decodes an FMH-5 (and its PIP) at the start of `bytes`; returns it
    /// with the number of bytes it took. The data that follows is logical
    /// records.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), WireError> {
        let mut outer = Reader::new(bytes);
        let len = usize::from(outer.u8("FMH-5 length")?);
        outer = Reader::new(bytes);
        let fmh = outer.take("FMH-5", len)?;
        let mut r = Reader::new(fmh);
        r.take("FMH-5 length", 1)?;
        let kind = r.u8("FMH-5 type")?;
        if kind != FMH5_TYPE {
            return Err(invalid("FMH-5 type", 1, kind));
        }
        let command = r.u16("FMH-5 command code")?;
        if command != ATTACH_COMMAND {
            return Err(WireError::Invalid {
                field: "FMH-5 command code",
                offset: 2,
                value: command.into(),
            });
        }
        let flags = r.u8("FMH-5 flags")?;
        if flags & 0x03 != 0 {
            return Err(invalid("FMH-5 reserved flags", 4, flags));
        }
        let fixed = r.u8("FMH-5 fixed length")?;
        if fixed != FIXED_LEN {
            return Err(WireError::Length {
                field: "FMH-5 fixed length",
                offset: 5,
                declared: fixed.into(),
                actual: FIXED_LEN.into(),
            });
        }
        let resource = r.u8("FMH-5 resource type")?;
        let conversation_type = match resource {
            0xD0 => ConversationType::Basic,
            0xD1 => ConversationType::Mapped,
            0xD2 => ConversationType::BasicFullDuplex,
            0xD3 => ConversationType::MappedFullDuplex,
            other => return Err(invalid("FMH-5 resource type", 6, other)),
        };
        let reserved = r.u8("FMH-5 reserved byte")?;
        if reserved != 0 {
            return Err(invalid("FMH-5 reserved byte", 7, reserved));
        }
        let sync = r.u8("FMH-5 sync level")?;
        let sync_level = match sync {
            0x00 => SyncLevel::None,
            0x40 => SyncLevel::Confirm,
            0x80 => SyncLevel::Syncpt,
            other => return Err(invalid("FMH-5 sync level", 8, other)),
        };
        let tp_at = r.pos();
        let tp_name = r.lt("FMH-5 TP name")?;
        if tp_name.is_empty() || tp_name.len() > MAX_TP_NAME {
            return Err(WireError::Invalid {
                field: "FMH-5 TP name length",
                offset: tp_at,
                value: tp_name.len() as u32,
            });
        }
        let mut security = Security {
            already_verified: flags & 0x80 != 0,
            persistent_verification: (flags >> 5) & 0b11,
            password_substitute: flags & 0x10 != 0,
            subfields: Vec::new(),
        };
        if !r.rest().is_empty() {
            let at = r.pos() + 1;
            security.subfields =
                decode_security(r.lt("FMH-5 access security")?).map_err(|e| e.at(at))?;
        }
        let mut luw = None;
        if !r.rest().is_empty() {
            let at = r.pos() + 1;
            let field = r.lt("FMH-5 LUW identifier")?;
            if !field.is_empty() {
                luw = Some(decode_luw(field).map_err(|e| e.at(at))?);
            }
        }
        let mut correlator = Vec::new();
        if !r.rest().is_empty() {
            correlator = r.lt("FMH-5 correlator")?.to_vec();
        }
        let trailing = r.rest();
        check_lt_walk(trailing, r.pos(), "FMH-5 trailing field")?;
        let mut attach = Self {
            conversation_type,
            sync_level,
            tp_name: tp_name.to_vec(),
            security,
            xaid: flags & 0x04 != 0,
            luw,
            correlator,
            trailing: trailing.to_vec(),
            pip: None,
        };
        let mut used = len;
        if flags & 0x08 != 0 {
            let (pip, pip_len) = decode_pip(outer.rest()).map_err(|e| e.at(len))?;
            attach.pip = Some(pip);
            used += pip_len;
        }
        Ok((attach, used))
    }
}

fn invalid(field: &'static str, offset: usize, value: u8) -> WireError {
    WireError::Invalid {
        field,
        offset,
        value: value.into(),
    }
}

/// Checks that `bytes` is a sequence of whole length-prefixed fields.
fn check_lt_walk(bytes: &[u8], base: usize, field: &'static str) -> Result<(), WireError> {
    let mut r = Reader::new(bytes);
    while !r.rest().is_empty() {
        r.lt(field).map_err(|e| e.at(base))?;
    }
    Ok(())
}

fn decode_security(field: &[u8]) -> Result<Vec<SecuritySubfield>, WireError> {
    let mut r = Reader::new(field);
    let mut subfields = Vec::new();
    while !r.rest().is_empty() {
        let at = r.pos();
        let sub = r.lt("FMH-5 security subfield")?;
        let Some((&kind, data)) = sub.split_first() else {
            return Err(invalid("FMH-5 security subfield length", at, 0));
        };
        let kind = match kind {
            0x00 => SecurityKind::Profile,
            0x01 => SecurityKind::Password,
            0x02 => SecurityKind::UserId,
            other => return Err(invalid("FMH-5 security subfield type", at + 1, other)),
        };
        subfields.push(SecuritySubfield {
            kind,
            data: data.to_vec(),
        });
    }
    Ok(subfields)
}

fn decode_luw(field: &[u8]) -> Result<Luw, WireError> {
    let mut r = Reader::new(field);
    let lu_name = r.lt("FMH-5 LUW LU name")?.to_vec();
    let mut instance = [0; 6];
    instance.copy_from_slice(r.take("FMH-5 LUW instance", 6)?);
    let sequence = r.u16("FMH-5 LUW sequence")?;
    if !r.rest().is_empty() {
        return Err(WireError::Length {
            field: "FMH-5 LUW identifier",
            offset: 0,
            declared: field.len(),
            actual: r.pos(),
        });
    }
    Ok(Luw {
        lu_name,
        instance,
        sequence,
    })
}

/// Appends `LL id` + `body`, refusing a variable over the one-segment LL
/// limit (the PIP is never segmented here).
fn put_gds(out: &mut Vec<u8>, field: &'static str, id: u16, body: &[u8]) -> Result<(), WireError> {
    let ll = body.len() + 4;
    let ll = u16::try_from(ll)
        .ok()
        .filter(|&ll| ll < LL_CONTINUES)
        .ok_or(WireError::TooLarge {
            field,
            len: ll,
            max: usize::from(LL_CONTINUES - 1),
        })?;
    out.extend_from_slice(&ll.to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(body);
    Ok(())
}

fn encode_pip(pip: &[Vec<u8>], out: &mut Vec<u8>) -> Result<(), WireError> {
    let mut body = Vec::new();
    for sub in pip {
        put_gds(&mut body, "PIP subfield", GDS_PIP_SUBFIELD, sub)?;
    }
    put_gds(out, "PIP", GDS_PIP, &body)
}

/// Reads one unsegmented GDS variable `id` at the start of `bytes`: its body
/// and total length.
fn take_gds<'a>(
    bytes: &'a [u8],
    field: &'static str,
    id: u16,
) -> Result<(&'a [u8], usize), WireError> {
    let mut r = Reader::new(bytes);
    let ll = r.u16(field)?;
    if ll & LL_CONTINUES != 0 {
        return Err(WireError::Unsupported {
            field,
            offset: 0,
            value: ll.into(),
        });
    }
    if ll < 4 {
        return Err(WireError::Invalid {
            field,
            offset: 0,
            value: ll.into(),
        });
    }
    let got = r.u16(field)?;
    if got != id {
        return Err(WireError::Invalid {
            field,
            offset: 2,
            value: got.into(),
        });
    }
    let body = r.take(field, usize::from(ll) - 4)?;
    Ok((body, usize::from(ll)))
}

fn decode_pip(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, usize), WireError> {
    let (body, len) = take_gds(bytes, "PIP", GDS_PIP)?;
    let mut subfields = Vec::new();
    let mut at = 0;
    while let Some(rest) = body.get(at..).filter(|rest| !rest.is_empty()) {
        let (sub, sub_len) =
            take_gds(rest, "PIP subfield", GDS_PIP_SUBFIELD).map_err(|e| e.at(4 + at))?;
        subfields.push(sub.to_vec());
        at += sub_len;
    }
    Ok((subfields, len))
}

/// An FMH-7 Error Description.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorDescription {
    pub sense: Sense,
    /// Byte 6 bit `80`: an Error Log GDS variable (`12E1`) follows.
    pub log_follows: bool,
}

impl ErrorDescription {
    /// The 7 header bytes.
    pub fn to_bytes(&self) -> [u8; FMH7_LEN] {
        let [s0, s1, s2, s3] = self.sense.to_bytes();
        [
            FMH7_LEN as u8,
            FMH7_TYPE,
            s0,
            s1,
            s2,
            s3,
            if self.log_follows { 0x80 } else { 0 },
        ]
    }

    /// Decodes an FMH-7 at the start of `bytes`. A length byte other than 7
    /// is [`WireError::Length`] (sense `10086000`, `docs/wire.md#fmh-7-error-description`).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(bytes);
        let len = r.u8("FMH-7 length")?;
        if usize::from(len) != FMH7_LEN {
            return Err(WireError::Length {
                field: "FMH-7 length",
                offset: 0,
                declared: len.into(),
                actual: FMH7_LEN,
            });
        }
        let kind = r.u8("FMH-7 type")?;
        if kind != FMH7_TYPE {
            return Err(invalid("FMH-7 type", 1, kind));
        }
        let sense = Sense(r.u32("FMH-7 sense data")?);
        let flags = r.u8("FMH-7 flags")?;
        if flags & 0x7F != 0 {
            return Err(invalid("FMH-7 reserved flags", 6, flags));
        }
        Ok(Self {
            sense,
            log_follows: flags & 0x80 != 0,
        })
    }
}

/// An FM header at the start of an FMD RU with FI = 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fmh {
    Attach(Attach),
    Error(ErrorDescription),
}

impl Fmh {
    /// Decodes the FM header at the start of `bytes`; returns it with the
    /// number of bytes it took (for an Attach, its PIP included).
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), WireError> {
        let mut r = Reader::new(bytes);
        r.u8("FMH length")?;
        let kind = r.u8("FMH type")?;
        match kind {
            FMH5_TYPE => Attach::decode(bytes).map(|(a, n)| (Self::Attach(a), n)),
            FMH7_TYPE => ErrorDescription::decode(bytes).map(|e| (Self::Error(e), FMH7_LEN)),
            FMH12_TYPE => Err(WireError::Unsupported {
                field: "FMH type",
                offset: 1,
                value: kind.into(),
            }),
            other => Err(invalid("FMH type", 1, other)),
        }
    }

    /// Appends the header.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        match self {
            Self::Attach(a) => a.encode(out),
            Self::Error(e) => {
                out.extend_from_slice(&e.to_bytes());
                Ok(())
            }
        }
    }
}
