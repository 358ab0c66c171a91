//! Name fields between the VCB's code pages and the engine's.
//!
//! The engine keeps every name in ASCII, blank-padded. In a VCB, aliases
//! (`lu_alias`, `plu_alias`) are ASCII, while TP names and mode names are
//! EBCDIC, as the HIS verb documentation describes them and its samples
//! convert them. Only the characters SNA names use map (letters, digits,
//! blank and `. $ # @`, on which code pages 037 and 500 agree); a NUL byte
//! (an unfilled field of a zeroed VCB) reads as a blank, and any other
//! unmapped byte as `?`, which matches no TP or mode name, so the verb
//! fails the way a misspelt name does. (The io crate's wire codec has the
//! same table for names on the wire; this library also builds without it.)

/// The EBCDIC byte of an ASCII name character.
const fn to_ebcdic_byte(c: u8) -> Option<u8> {
    Some(match c {
        b'A'..=b'I' => 0xC1 + (c - b'A'),
        b'J'..=b'R' => 0xD1 + (c - b'J'),
        b'S'..=b'Z' => 0xE2 + (c - b'S'),
        b'a'..=b'i' => 0x81 + (c - b'a'),
        b'j'..=b'r' => 0x91 + (c - b'j'),
        b's'..=b'z' => 0xA2 + (c - b's'),
        b'0'..=b'9' => 0xF0 + (c - b'0'),
        b' ' => 0x40,
        b'.' => 0x4B,
        b'$' => 0x5B,
        b'#' => 0x7B,
        b'@' => 0x7C,
        _ => return None,
    })
}

/// [`to_ebcdic_byte`] inverted: the ASCII character of each EBCDIC byte,
/// 0 where none.
const FROM_EBCDIC: [u8; 256] = {
    let mut table = [0; 256];
    let mut c = 0u8;
    while c < 0x80 {
        if let Some(e) = to_ebcdic_byte(c) {
            table[e as usize] = c;
        }
        c += 1;
    }
    table
};

/// An EBCDIC VCB name field as the engine's ASCII field.
pub(crate) fn from_ebcdic<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = [b' '; N];
    for (dst, &src) in out.iter_mut().zip(field) {
        *dst = match (src, FROM_EBCDIC[usize::from(src)]) {
            (0, _) => b' ',
            (_, 0) => b'?',
            (_, c) => c,
        };
    }
    out
}

/// The engine's ASCII name field as an EBCDIC VCB field.
pub(crate) fn to_ebcdic<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = [0x40; N];
    for (dst, &src) in out.iter_mut().zip(field) {
        *dst = to_ebcdic_byte(src).unwrap_or(0x6F); // EBCDIC '?'
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

    #[cfg(feature = "tcp")]
    #[test]
    fn the_table_agrees_with_the_wire_codec() {
        for c in 0..0x80u8 {
            let ours = to_ebcdic_byte(c);
            let wire = appc_io::wire::ebcdic::encode(&char::from(c).to_string()).ok();
            assert_eq!(ours.map(|b| vec![b]), wire, "{:?}", char::from(c));
        }
    }

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
