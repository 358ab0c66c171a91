//! The one error type of the wire codec.
//!
//! Decoding is total (`docs/wire.md#framing-on-tcp`): every decoder in [`crate::wire`]
//! returns either a value or a [`WireError`], for any input. Each variant
//! names the offending field and, where the bytes have one, its offset, so
//! that the node can turn it into the SNA sense data it must send back
//! (for example `0835xxxx`, "invalid parameter at byte xxxx", `docs/wire.md#sense-codes`).
//!
//! Offsets are relative to the start of the structure the decoder was given
//! (a PIU, an RU, an FM header, a logical-record stream); a decoder that
//! embeds another shifts the inner error with [`WireError::at`].

use std::fmt;

/// Why some bytes are not a valid LU 6.2 structure, or why a value cannot be
/// encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// The input ends inside `field`: it needs `needed` bytes at `offset`
    /// and only `available` are there.
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// `field` at `offset` holds `value`, which the layout does not allow
    /// (a reserved bit set, an unknown code).
    Invalid {
        field: &'static str,
        offset: usize,
        value: u32,
    },
    /// `field` at `offset` is a well-formed SNA value that LU 6.2 between our
    /// nodes does not use (`docs/wire.md#indicators-not-used`), for example a segmented BIU.
    Unsupported {
        field: &'static str,
        offset: usize,
        value: u32,
    },
    /// The length field `field` at `offset` declares `declared` bytes, but
    /// the structure it covers has `actual`.
    Length {
        field: &'static str,
        offset: usize,
        declared: usize,
        actual: usize,
    },
    /// `field` would be `len` bytes long, over its limit `max` (an
    /// architected limit, or a configured one such as the frame limit).
    /// Decoders report this before allocating anything for the field.
    TooLarge {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

impl WireError {
    /// The same error with its offset moved by `base` bytes: used when a
    /// decoder hands a sub-slice to another decoder.
    #[must_use]
    pub fn at(self, base: usize) -> Self {
        match self {
            Self::Truncated {
                field,
                offset,
                needed,
                available,
            } => Self::Truncated {
                field,
                offset: offset + base,
                needed,
                available,
            },
            Self::Invalid {
                field,
                offset,
                value,
            } => Self::Invalid {
                field,
                offset: offset + base,
                value,
            },
            Self::Unsupported {
                field,
                offset,
                value,
            } => Self::Unsupported {
                field,
                offset: offset + base,
                value,
            },
            Self::Length {
                field,
                offset,
                declared,
                actual,
            } => Self::Length {
                field,
                offset: offset + base,
                declared,
                actual,
            },
            too_large @ Self::TooLarge { .. } => too_large,
        }
    }

    /// The name of the offending field.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Truncated { field, .. }
            | Self::Invalid { field, .. }
            | Self::Unsupported { field, .. }
            | Self::Length { field, .. }
            | Self::TooLarge { field, .. } => field,
        }
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated {
                field,
                offset,
                needed,
                available,
            } => write!(
                f,
                "{field} at offset {offset} needs {needed} bytes, {available} available"
            ),
            Self::Invalid {
                field,
                offset,
                value,
            } => write!(f, "{field} at offset {offset}: invalid value {value:#x}"),
            Self::Unsupported {
                field,
                offset,
                value,
            } => write!(
                f,
                "{field} at offset {offset}: unsupported value {value:#x}"
            ),
            Self::Length {
                field,
                offset,
                declared,
                actual,
            } => write!(
                f,
                "{field} at offset {offset} declares {declared} bytes, found {actual}"
            ),
            Self::TooLarge { field, len, max } => {
                write!(f, "{field} of {len} bytes exceeds the limit of {max}")
            }
        }
    }
}

impl std::error::Error for WireError {}

/// A bounds-checked reader over a byte slice: every decoder uses it so that
/// no index can panic and every short read becomes [`WireError::Truncated`].
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// The next `n` bytes of `field`.
    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], WireError> {
        let rest = self.rest();
        match rest.get(..n) {
            Some(taken) => {
                self.pos += n;
                Ok(taken)
            }
            None => Err(WireError::Truncated {
                field,
                offset: self.pos,
                needed: n,
                available: rest.len(),
            }),
        }
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, WireError> {
        Ok(self.take(field, 1)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, WireError> {
        let b = self.take(field, 2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        let b = self.take(field, 4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A length byte followed by that many bytes (an "LT" field of the
    /// FMH-5 and BIND layouts), the bytes returned.
    pub(crate) fn lt(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let len = self.u8(field)?;
        self.take(field, usize::from(len))
    }
}

/// Appends a length byte and `data` (an "LT" field), refusing data longer
/// than `max` (at most 255: the length is one byte).
pub(crate) fn put_lt(
    out: &mut Vec<u8>,
    field: &'static str,
    data: &[u8],
    max: usize,
) -> Result<(), WireError> {
    let len = u8::try_from(data.len())
        .ok()
        .filter(|&l| usize::from(l) <= max)
        .ok_or(WireError::TooLarge {
            field,
            len: data.len(),
            max,
        })?;
    out.push(len);
    out.extend_from_slice(data);
    Ok(())
}
