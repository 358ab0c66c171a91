//! The BIND request (`docs/wire.md#bind-image`): the session parameters the PLU
//! proposes and, for a negotiable BIND, the SLU returns (possibly changed)
//! in its positive response.
//!
//! ```text
//! 0      31 request code
//! 1      format (high nibble, 0) / type (0 negotiable, 1 non-negotiable)
//! 2, 3   FM profile (13 = 19), TS profile (07)
//! 4, 5   primary / secondary FM usage        } flag bytes, kept raw:
//! 6, 7   common FM usage, TS usage           } `docs/wire.md#bind-image` marks their polarities [unsure]
//! 8, 9   secondary send / receive pacing     bit 0 flag, bit 1 reserved, bits 2-7 window
//! 10, 11 max RU size sent by secondary / primary: X'ab' = a * 2^b, a = 8..15
//! 12, 13 primary send / receive pacing
//! 14     PS profile: LU type 6 (bit 0 PS usage field format)
//! 15     LU 6 level (02)
//! 16-21  reserved (0)
//! 22-26  security, sync level, session options, cryptography: kept raw
//! 27..   primary LU name (length + EBCDIC NETID.LU)
//!        user data (length, key 00, subfields [len][key][data]: 02 mode name, ...)
//!        user request correlation (length + data)
//!        secondary LU name (length + EBCDIC)
//!        control vectors, present when byte 7 bit 6 (mask 02) is set
//! ```
//!
//! The fields from byte 27 on may be cut short by the end of the RU; an
//! absent field decodes as empty and is encoded as a zero length.
//!
//! Two choices where `docs/wire.md#bind-image` is silent: a user-data subfield's length byte counts
//! its key and data (as the FMH-5 security subfields do, `docs/wire.md#fmh-5-attach`) \[unsure, SNA
//! Formats]; a max-RU byte whose mantissa is below 8 (including `00`) is
//! rejected, since `docs/wire.md#bind-image` gives only a = 8..15.

use super::error::{put_lt, Reader, WireError};

/// BIND request code.
pub const BIND_REQUEST: u8 = 0x31;
/// FM profile 19.
pub const FM_PROFILE_19: u8 = 0x13;
/// TS profile 7.
pub const TS_PROFILE_7: u8 = 0x07;
/// Length of the fixed part, up to the primary LU name.
pub const BIND_FIXED_LEN: usize = 27;
/// User-data subfield key of the mode name.
pub const USER_DATA_MODE_NAME: u8 = 0x02;

/// A maximum RU size, `X'ab'` = a · 2^b with a = 8..15.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuSize(u8);

impl RuSize {
    /// The encoding in `byte`, if its mantissa is 8..15.
    pub fn from_byte(byte: u8) -> Option<Self> {
        (byte >> 4 >= 8).then_some(Self(byte))
    }

    /// The largest size not above `bytes` (at least 8, the smallest size),
    /// capped at `X'FF'` = 491,520.
    pub fn at_most(bytes: usize) -> Option<Self> {
        (0x80..=0xFF)
            .map(Self)
            .filter(|s| s.bytes() <= bytes)
            .max_by_key(|s| s.bytes())
    }

    /// The byte on the wire.
    pub fn byte(self) -> u8 {
        self.0
    }

    /// The size in bytes.
    pub fn bytes(self) -> usize {
        usize::from(self.0 >> 4) << (self.0 & 0x0F)
    }
}

/// One pacing byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pacing {
    /// Bit 0: staging (send bytes) or adaptive pacing (receive bytes).
    pub flag: bool,
    /// Window size, 0..=63 (0 asks for no pacing, \[unsure\] in `docs/wire.md#indicators-not-used`).
    pub window: u8,
}

impl Pacing {
    fn byte(self, field: &'static str, offset: usize) -> Result<u8, WireError> {
        if self.window > 0x3F {
            return Err(WireError::Invalid {
                field,
                offset,
                value: self.window.into(),
            });
        }
        Ok(if self.flag { 0x80 } else { 0 } | self.window)
    }

    fn decode(byte: u8, field: &'static str, offset: usize) -> Result<Self, WireError> {
        if byte & 0x40 != 0 {
            return Err(WireError::Invalid {
                field,
                offset,
                value: byte.into(),
            });
        }
        Ok(Self {
            flag: byte & 0x80 != 0,
            window: byte & 0x3F,
        })
    }
}

/// A structured subfield of the BIND user data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDataSubfield {
    /// `02` mode name, `03` session instance id, `04`/`05` PLU/SLU network
    /// name, `11`-`14` security data.
    pub key: u8,
    pub data: Vec<u8>,
}

/// A BIND RU (request, or the image in a positive response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Type 0 (the only one LU 6.2 uses) rather than 1.
    pub negotiable: bool,
    pub fm_profile: u8,
    pub ts_profile: u8,
    /// Byte 4: chaining, request mode, chain response protocol,
    /// compression, send-EB.
    pub primary_fm_usage: u8,
    /// Byte 5: as byte 4, for the secondary.
    pub secondary_fm_usage: u8,
    /// Byte 6: whole-BIU, FM headers, bracket usage and termination rule,
    /// alternate code set, BIND queuing.
    pub common_fm_usage: u8,
    /// Byte 7: normal-flow mode, recovery responsibility, contention
    /// winner/loser, alternate code, control vectors follow (`02`), HDX-FF
    /// reset state.
    pub ts_usage: u8,
    pub secondary_send_pacing: Pacing,
    pub secondary_receive_pacing: Pacing,
    pub max_ru_secondary: RuSize,
    pub max_ru_primary: RuSize,
    pub primary_send_pacing: Pacing,
    pub primary_receive_pacing: Pacing,
    /// Byte 14: LU type (6) and PS usage field format.
    pub ps_profile: u8,
    /// Byte 15: LU 6 level.
    pub lu6_level: u8,
    /// Bytes 22-26: extended security, security acceptance, sync level and
    /// session options, limited resource / LCC, cryptography.
    pub ps_characteristics: [u8; 5],
    /// `NETID.LU` in EBCDIC.
    pub primary_lu_name: Vec<u8>,
    pub user_data: Vec<UserDataSubfield>,
    /// User request correlation.
    pub urc: Vec<u8>,
    pub secondary_lu_name: Vec<u8>,
    /// Raw control vectors (only with byte 7 bit `02`).
    pub control_vectors: Vec<u8>,
}

impl Bind {
    /// The LU 6.2 BIND Linux-SNA builds (`docs/wire.md#bind-image`, "LU 6.2 value used by LS"):
    /// negotiable, FM 19 / TS 7, multi-RU chains with definite or exception
    /// response (bytes 4-5 `B0`), FM headers and conditional bracket
    /// termination (byte 6 `50`), half-duplex flip-flop, primary recovery
    /// responsibility and primary in SEND at reset (byte 7 `A1`), pacing
    /// windows 0, LU 6 level 2, sync level confirm (byte 24 `20`), and the
    /// mode name as user-data subfield `02`.
    pub fn lu62(
        primary_lu_name: &[u8],
        secondary_lu_name: &[u8],
        mode_name: &[u8],
        max_ru: RuSize,
    ) -> Self {
        Self {
            negotiable: true,
            fm_profile: FM_PROFILE_19,
            ts_profile: TS_PROFILE_7,
            primary_fm_usage: 0xB0,
            secondary_fm_usage: 0xB0,
            common_fm_usage: 0x50,
            ts_usage: 0xA1,
            secondary_send_pacing: Pacing::default(),
            secondary_receive_pacing: Pacing::default(),
            max_ru_secondary: max_ru,
            max_ru_primary: max_ru,
            primary_send_pacing: Pacing::default(),
            primary_receive_pacing: Pacing::default(),
            ps_profile: 0x06,
            lu6_level: 0x02,
            ps_characteristics: [0, 0, 0x20, 0, 0],
            primary_lu_name: primary_lu_name.to_vec(),
            user_data: vec![UserDataSubfield {
                key: USER_DATA_MODE_NAME,
                data: mode_name.to_vec(),
            }],
            urc: Vec::new(),
            secondary_lu_name: secondary_lu_name.to_vec(),
            control_vectors: Vec::new(),
        }
    }

    /// The mode name from the user data, if present.
    pub fn mode_name(&self) -> Option<&[u8]> {
        self.user_data
            .iter()
            .find(|s| s.key == USER_DATA_MODE_NAME)
            .map(|s| s.data.as_slice())
    }

    /// The offset in the encoded RU of the secondary LU name (its length
    /// byte): what a `-RSP(0835xxxx)` refusing the name points at.
    pub fn secondary_lu_name_offset(&self) -> usize {
        let user_data = if self.user_data.is_empty() {
            0
        } else {
            1 + self
                .user_data
                .iter()
                .map(|s| 2 + s.data.len())
                .sum::<usize>()
        };
        BIND_FIXED_LEN + (1 + self.primary_lu_name.len()) + (1 + user_data) + (1 + self.urc.len())
    }

    /// Appends the BIND RU.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), WireError> {
        if !self.control_vectors.is_empty() && self.ts_usage & 0x02 == 0 {
            return Err(WireError::Invalid {
                field: "BIND control vectors without byte 7 bit 6",
                offset: 7,
                value: self.ts_usage.into(),
            });
        }
        let mut ru = vec![
            BIND_REQUEST,
            u8::from(!self.negotiable),
            self.fm_profile,
            self.ts_profile,
            self.primary_fm_usage,
            self.secondary_fm_usage,
            self.common_fm_usage,
            self.ts_usage,
            self.secondary_send_pacing
                .byte("BIND secondary send pacing", 8)?,
            self.secondary_receive_pacing
                .byte("BIND secondary receive pacing", 9)?,
            self.max_ru_secondary.byte(),
            self.max_ru_primary.byte(),
            self.primary_send_pacing
                .byte("BIND primary send pacing", 12)?,
            self.primary_receive_pacing
                .byte("BIND primary receive pacing", 13)?,
            self.ps_profile,
            self.lu6_level,
            0,
            0,
            0,
            0,
            0,
            0,
        ];
        ru.extend_from_slice(&self.ps_characteristics);
        put_lt(&mut ru, "BIND primary LU name", &self.primary_lu_name, 255)?;
        let mut user_data = Vec::new();
        if !self.user_data.is_empty() {
            user_data.push(0x00);
            for s in &self.user_data {
                let mut sub = vec![s.key];
                sub.extend_from_slice(&s.data);
                put_lt(&mut user_data, "BIND user data subfield", &sub, 255)?;
            }
        }
        put_lt(&mut ru, "BIND user data", &user_data, 255)?;
        put_lt(&mut ru, "BIND URC", &self.urc, 255)?;
        put_lt(
            &mut ru,
            "BIND secondary LU name",
            &self.secondary_lu_name,
            255,
        )?;
        ru.extend_from_slice(&self.control_vectors);
        out.extend_from_slice(&ru);
        Ok(())
    }

    /// Decodes a BIND RU (request, or the image in a positive response).
    pub fn decode(ru: &[u8]) -> Result<Self, WireError> {
        let mut r = Reader::new(ru);
        let b = r.take("BIND fixed part", BIND_FIXED_LEN)?;
        let invalid = |field, offset: usize| WireError::Invalid {
            field,
            offset,
            value: b[offset].into(),
        };
        if b[0] != BIND_REQUEST {
            return Err(invalid("BIND request code", 0));
        }
        let negotiable = match b[1] {
            0x00 => true,
            0x01 => false,
            _ => return Err(invalid("BIND format/type", 1)),
        };
        let ru_size = |field, offset: usize| {
            RuSize::from_byte(b[offset]).ok_or_else(|| invalid(field, offset))
        };
        if let Some(at) = (16..22).find(|&i| b[i] != 0) {
            return Err(invalid("BIND reserved bytes 16-21", at));
        }
        let mut ps_characteristics = [0; 5];
        ps_characteristics.copy_from_slice(&b[22..27]);
        let mut bind = Self {
            negotiable,
            fm_profile: b[2],
            ts_profile: b[3],
            primary_fm_usage: b[4],
            secondary_fm_usage: b[5],
            common_fm_usage: b[6],
            ts_usage: b[7],
            secondary_send_pacing: Pacing::decode(b[8], "BIND secondary send pacing", 8)?,
            secondary_receive_pacing: Pacing::decode(b[9], "BIND secondary receive pacing", 9)?,
            max_ru_secondary: ru_size("BIND max RU secondary", 10)?,
            max_ru_primary: ru_size("BIND max RU primary", 11)?,
            primary_send_pacing: Pacing::decode(b[12], "BIND primary send pacing", 12)?,
            primary_receive_pacing: Pacing::decode(b[13], "BIND primary receive pacing", 13)?,
            ps_profile: b[14],
            lu6_level: b[15],
            ps_characteristics,
            primary_lu_name: Vec::new(),
            user_data: Vec::new(),
            urc: Vec::new(),
            secondary_lu_name: Vec::new(),
            control_vectors: Vec::new(),
        };
        if !r.rest().is_empty() {
            bind.primary_lu_name = r.lt("BIND primary LU name")?.to_vec();
        }
        if !r.rest().is_empty() {
            let at = r.pos() + 1;
            bind.user_data = decode_user_data(r.lt("BIND user data")?).map_err(|e| e.at(at))?;
        }
        if !r.rest().is_empty() {
            bind.urc = r.lt("BIND URC")?.to_vec();
        }
        if !r.rest().is_empty() {
            bind.secondary_lu_name = r.lt("BIND secondary LU name")?.to_vec();
        }
        if !r.rest().is_empty() {
            if bind.ts_usage & 0x02 == 0 {
                return Err(WireError::Length {
                    field: "BIND",
                    offset: 0,
                    declared: r.pos(),
                    actual: ru.len(),
                });
            }
            bind.control_vectors = r.rest().to_vec();
        }
        Ok(bind)
    }
}

fn decode_user_data(field: &[u8]) -> Result<Vec<UserDataSubfield>, WireError> {
    let mut r = Reader::new(field);
    let mut subfields = Vec::new();
    if field.is_empty() {
        return Ok(subfields);
    }
    let key = r.u8("BIND user data key")?;
    if key != 0 {
        return Err(WireError::Invalid {
            field: "BIND user data key",
            offset: 0,
            value: key.into(),
        });
    }
    while !r.rest().is_empty() {
        let at = r.pos();
        let sub = r.lt("BIND user data subfield")?;
        let Some((&key, data)) = sub.split_first() else {
            return Err(WireError::Invalid {
                field: "BIND user data subfield length",
                offset: at,
                value: 0,
            });
        };
        subfields.push(UserDataSubfield {
            key,
            data: data.to_vec(),
        });
    }
    Ok(subfields)
}
