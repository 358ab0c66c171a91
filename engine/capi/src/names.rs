//! Name fields between the VCB's code pages and the engine's.
//!
//! The engine keeps every name in ASCII, blank-padded. In a VCB, aliases
//! (`lu_alias`, `plu_alias`) are ASCII, while TP names and mode names are
//! EBCDIC, as the HIS verb documentation describes them and its samples
//! convert them. Only the characters SNA names use map (the io crate's
//! name table); a NUL byte (an unfilled field of a zeroed VCB) reads as a
//! blank, and any other unmapped byte as `?`, which matches no TP or mode
//! name, so the verb fails the way a misspelt name does.

use appc_io::wire::ebcdic;

/// An EBCDIC VCB name field as the engine's ASCII field.
pub(crate) fn from_ebcdic<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = [b' '; N];
    for (dst, &src) in out.iter_mut().zip(field) {
        *dst = match src {
            0 => b' ',
            _ => ebcdic::decode(&[src])
                .and_then(|s| s.bytes().next())
                .unwrap_or(b'?'),
        };
    }
    out
}

/// The engine's ASCII name field as an EBCDIC VCB field.
pub(crate) fn to_ebcdic<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = [0x40; N];
    for (dst, &src) in out.iter_mut().zip(field) {
        *dst = ebcdic::encode(char::from(src).encode_utf8(&mut [0; 4]))
            .ok()
            .and_then(|bytes| bytes.first().copied())
            .unwrap_or(0x6F); // EBCDIC '?'
    }
    out
}

/// An ASCII VCB field with NULs read as blanks.
pub(crate) fn ascii<const N: usize>(field: &[u8; N]) -> [u8; N] {
    field.map(|b| if b == 0 { b' ' } else { b })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_ebcdic() {
        let ascii_name = appc::verbs::name::<8>("#INTER");
        let vcb = to_ebcdic(&ascii_name);
        assert_eq!(&vcb[..2], &[0x7B, 0xC9]);
        assert_eq!(vcb[7], 0x40);
        assert_eq!(from_ebcdic(&vcb), ascii_name);
    }

    #[test]
    fn zeroed_fields_are_blank_and_strangers_are_question_marks() {
        assert_eq!(from_ebcdic(&[0u8; 4]), *b"    ");
        assert_eq!(from_ebcdic(&[0xC1, 0xFF, 0, 0]), *b"A?  ");
        assert_eq!(ascii(&[b'L', b'U', 0, 0]), *b"LU  ");
    }
}
