//! SNA sense data: the 4-byte code carried by negative responses, FMH-7 and
//! UNBIND.
//!
//! Only the codes listed in `docs/wire.md#fmh-5-attach` (Attach checks) and `docs/wire.md#sense-codes` (sense
//! codes that matter) are named here, with the values given there. Where the
//! sources disagree, `docs/wire.md#sense-codes` "Errata" says to use the Linux-SNA values
//! (`08640002`, `08890101`), and so do we.

use std::fmt;

/// A 4-byte SNA sense code, big-endian on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sense(pub u32);

impl Sense {
    /// `08890000`: program error, no truncation / purging (FMH-7).
    pub const PROG_ERROR_PURGING: Self = Self(0x0889_0000);
    /// `08890001`: program error, a logical record was truncated (FMH-7).
    pub const PROG_ERROR_TRUNC: Self = Self(0x0889_0001);
    /// `08890100`: service-TP error, no truncation / purging (FMH-7).
    pub const SVC_ERROR_PURGING: Self = Self(0x0889_0100);
    /// `08890101`: service-TP error, truncated (FMH-7).
    pub const SVC_ERROR_TRUNC: Self = Self(0x0889_0101);
    /// `08640000`: DEALLOCATE(ABEND_PROG) (FMH-7 or UNBIND).
    pub const DEALLOCATE_ABEND_PROG: Self = Self(0x0864_0000);
    /// `08640001`: DEALLOCATE(ABEND_SVC) (FMH-7 or UNBIND).
    pub const DEALLOCATE_ABEND_SVC: Self = Self(0x0864_0001);
    /// `08640002`: DEALLOCATE(ABEND_TIMER) (FMH-7 or UNBIND).
    pub const DEALLOCATE_ABEND_TIMER: Self = Self(0x0864_0002);
    /// `08240000`: backed out (sync point; FMH-7).
    pub const BACKED_OUT: Self = Self(0x0824_0000);
    /// `08460000`: an ERP message (FMH-7) follows (negative response).
    pub const ERP_MESSAGE_FORTHCOMING: Self = Self(0x0846_0000);
    /// `08130000`: bracket bid rejected, no RTR will follow.
    pub const BRACKET_BID_REJECT_NO_RTR: Self = Self(0x0813_0000);
    /// `08140000`: bracket bid rejected, RTR will follow.
    pub const BRACKET_BID_REJECT_RTR: Self = Self(0x0814_0000);
    /// `08190000`: RTR not required.
    pub const RTR_NOT_REQUIRED: Self = Self(0x0819_0000);
    /// `088B0000`: BB not accepted, BIS reply requested.
    pub const BB_REJECT_BIS_REPLY: Self = Self(0x088B_0000);
    /// `10030000`: function not supported.
    pub const FUNCTION_NOT_SUPPORTED: Self = Self(0x1003_0000);

    /// `08120000`: insufficient resource (*ours*: an unpaced session whose
    /// conversation holds more received data than the node allows).
    pub const INSUFFICIENT_RESOURCE: Self = Self(0x0812_0000);
    /// `20110000`: pacing error, a paced request beyond the window or a
    /// window begun before its pacing response \[unsure of the code, SNA
    /// Formats\].
    pub const PACING_ERROR: Self = Self(0x2011_0000);
    /// `20010000`: sequence number error.
    pub const SEQUENCE_NUMBER_ERROR: Self = Self(0x2001_0000);
    /// `20020000`: chaining error.
    pub const CHAINING_ERROR: Self = Self(0x2002_0000);
    /// `20030000`: bracket error.
    pub const BRACKET_ERROR: Self = Self(0x2003_0000);
    /// `20040000`: direction error.
    pub const DIRECTION_ERROR: Self = Self(0x2004_0000);
    /// `20080000`: no begin bracket.
    pub const NO_BEGIN_BRACKET: Self = Self(0x2008_0000);
    /// `200E0000`: response correlation error.
    pub const RESPONSE_CORRELATION_ERROR: Self = Self(0x200E_0000);
    /// `40030000`: BB not allowed.
    pub const BB_NOT_ALLOWED: Self = Self(0x4003_0000);
    /// `40070000`: definite response not allowed.
    pub const DR_NOT_ALLOWED: Self = Self(0x4007_0000);
    /// `40110000`: RU category not allowed.
    pub const BAD_RU_CATEGORY: Self = Self(0x4011_0000);
    /// `40140000`: invalid use of DR1/DR2/ERI.
    pub const BAD_RESPONSE_TYPE: Self = Self(0x4014_0000);

    /// `1008600B`: unrecognised FMH command (FMH-5 command code not `02FF`).
    pub const ATTACH_BAD_COMMAND: Self = Self(0x1008_600B);
    /// `10086000`: FM header length wrong.
    pub const FMH_LENGTH: Self = Self(0x1008_6000);
    /// `10086005`: access-security length wrong.
    pub const ATTACH_SECURITY_LENGTH: Self = Self(0x1008_6005);
    /// `10086009`: fixed-length field wrong.
    pub const ATTACH_FIXED_LENGTH: Self = Self(0x1008_6009);
    /// `10086011`: LUW identifier wrong.
    pub const ATTACH_LUW: Self = Self(0x1008_6011);
    /// `10086021`: TP name not recognised.
    pub const TP_NOT_RECOGNIZED: Self = Self(0x1008_6021);
    /// `10086031`: PIP not allowed.
    pub const PIP_NOT_ALLOWED: Self = Self(0x1008_6031);
    /// `10086032`: PIP wrong.
    pub const PIP_WRONG: Self = Self(0x1008_6032);
    /// `10086034`: conversation type mismatch.
    pub const CONVERSATION_TYPE_MISMATCH: Self = Self(0x1008_6034);
    /// `10086040`: Attach parameter contradicts the BIND.
    pub const ATTACH_CONTRADICTS_BIND: Self = Self(0x1008_6040);
    /// `10086041`: sync level not supported by the TP.
    pub const SYNC_LEVEL_NOT_SUPPORTED: Self = Self(0x1008_6041);
    /// `080F6051`: security not valid.
    pub const SECURITY_NOT_VALID: Self = Self(0x080F_6051);
    /// `084B6031`: TP not available, retry.
    pub const TP_UNAVAILABLE_RETRY: Self = Self(0x084B_6031);
    /// `084C0000`: TP not available, no retry.
    pub const TP_UNAVAILABLE_NO_RETRY: Self = Self(0x084C_0000);

    /// `0835xxxx`: invalid parameter, `xxxx` the byte offset of the bad field
    /// (for example in a BIND).
    pub const fn invalid_parameter(offset: u16) -> Self {
        Self(0x0835_0000 | offset as u32)
    }

    /// The 4 bytes as they appear on the wire.
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

impl fmt::Display for Sense {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08X}", self.0)
    }
}
