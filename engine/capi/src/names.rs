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

/// A VCB's EBCDIC name byte as the engine's ASCII: [`to_ebcdic_byte`]
/// inverted, with NUL read as a blank and anything else unmapped as `?`.
/// A table, so that a 64-byte TP name costs 64 loads.
const FROM_EBCDIC: [u8; 256] = {
    let mut table = [b'?'; 256];
    table[0] = b' ';
    let mut c = 0u8;
    while c < 0x80 {
        if let Some(e) = to_ebcdic_byte(c) {
            table[e as usize] = c;
        }
        c += 1;
    }
    table
};

/// The engine's ASCII name byte as EBCDIC, `?` (X'6F') where none maps.
const TO_EBCDIC: [u8; 256] = {
    let mut table = [0x6F; 256];
    let mut c = 0u8;
    while c < 0x80 {
        if let Some(e) = to_ebcdic_byte(c) {
            table[c as usize] = e;
        }
        c += 1;
    }
    table
};

/// An EBCDIC VCB name field as the engine's ASCII field.
pub(crate) fn from_ebcdic<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = [b' '; N];
    let used = used_len(field);
    for (dst, &src) in out[..used].iter_mut().zip(&field[..used]) {
        *dst = FROM_EBCDIC[usize::from(src)];
    }
    out
}

/// The length of `field` up to its trailing 8-byte runs of EBCDIC blanks
/// or NULs (a TP name field is 64 bytes, most names a few characters: the
/// blank tail is skipped eight bytes at a time rather than looked up byte
/// by byte).
fn used_len(field: &[u8]) -> usize {
    const BLANKS: u64 = u64::from_ne_bytes([0x40; 8]);
    if field.len() % 8 != 0 {
        return field.len();
    }
    let mut used = field.len();
    for chunk in field.chunks_exact(8).rev() {
        let word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        if word != BLANKS && word != 0 {
            break;
        }
        used -= 8;
    }
    used
}

/// The engine's ASCII name field as an EBCDIC VCB field.
pub(crate) fn to_ebcdic<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = *field;
    for b in &mut out {
        *b = TO_EBCDIC[usize::from(*b)];
    }
    out
}

/// An ASCII VCB field with NULs read as blanks.
pub(crate) fn ascii<const N: usize>(field: &[u8; N]) -> [u8; N] {
    let mut out = *field;
    if out.contains(&0) {
        for b in &mut out {
            *b |= u8::from(*b == 0) * b' ';
        }
    }
    out
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
    fn names_with_blank_or_nul_tails_convert_whole() {
        let mut field = [0x40u8; 64];
        field[..3].copy_from_slice(&[0xC1, 0xC2, 0xC3]);
        field[20] = 0xF1; // a character after blanks is kept
        let out = from_ebcdic(&field);
        assert_eq!(&out[..3], b"ABC");
        assert_eq!(out[20], b'1');
        assert!(out[21..].iter().all(|&b| b == b' '));
        assert_eq!(from_ebcdic(&[0u8; 64]), [b' '; 64]);
    }

    #[test]
    fn zeroed_fields_are_blank_and_strangers_are_question_marks() {
        assert_eq!(from_ebcdic(&[0u8; 4]), *b"    ");
        assert_eq!(from_ebcdic(&[0xC1, 0xFF, 0, 0]), *b"A?  ");
        assert_eq!(ascii(&[b'L', b'U', 0, 0]), *b"LU  ");
    }
}
