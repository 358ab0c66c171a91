//! EBCDIC for names: TP names, LU names, mode names are EBCDIC on the wire
//! (`docs/wire.md` conventions), e.g. `TP1` = `E3 D7 F1` in the IBM Attach
//! example (`docs/wire.md#fmh-5-attach`).
//!
//! Only the characters SNA names are made of are mapped (code page 500 and
//! 037 agree on all of them): letters, digits, space and `. $ # @`. Anything
//! else is refused rather than guessed.

use super::error::WireError;

const fn to_ebcdic(c: char) -> Option<u8> {
    match c {
        'A'..='Z' => letter(0xC1, c as u8 - b'A'),
        'a'..='z' => letter(0x81, c as u8 - b'a'),
        '0'..='9' => Some(0xF0 + (c as u8 - b'0')),
        ' ' => Some(0x40),
        '.' => Some(0x4B),
        '$' => Some(0x5B),
        '#' => Some(0x7B),
        '@' => Some(0x7C),
        _ => None,
    }
}

/// Letter `c` (0 for A) of the case whose A is `base`: letters come in
/// three runs per case, A-I, J-R, S-Z.
const fn letter(base: u8, c: u8) -> Option<u8> {
    match c {
        0..=8 => Some(base + c),
        9..=17 => Some(base + 0x10 + (c - 9)),
        18..=25 => Some(base + 0x21 + (c - 18)),
        _ => None,
    }
}

/// [`to_ebcdic`] inverted, by EBCDIC byte: the ASCII name character, or 0
/// where none maps (every name character lies in `' '..='z'`). Built at
/// compile time; decoding a name is one lookup per byte (BIND and attach
/// decoding are on the session-setup path).
const FROM_EBCDIC: [u8; 256] = {
    let mut table = [0; 256];
    let mut c = b' ';
    while c <= b'z' {
        if let Some(b) = to_ebcdic(c as char) {
            table[b as usize] = c;
        }
        c += 1;
    }
    table
};

/// `name` in EBCDIC. A character outside the name set is
/// [`WireError::Invalid`] at its byte index.
pub fn encode(name: &str) -> Result<Vec<u8>, WireError> {
    name.char_indices()
        .map(|(i, c)| {
            to_ebcdic(c).ok_or(WireError::Invalid {
                field: "EBCDIC name character",
                offset: i,
                value: c.into(),
            })
        })
        .collect()
}

/// The name in `bytes`, or `None` if a byte is outside the name set (a
/// service TP name such as `X'30F0F0F5'` is one: keep such names as bytes).
pub fn decode(bytes: &[u8]) -> Option<String> {
    bytes
        .iter()
        .map(|&b| match FROM_EBCDIC[b as usize] {
            0 => None,
            c => Some(char::from(c)),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_inverts_encode_on_every_byte() {
        for b in 0..=u8::MAX {
            let decoded = decode(&[b]);
            let by_search = (' '..='z').find(|&c| to_ebcdic(c) == Some(b));
            assert_eq!(decoded, by_search.map(String::from), "byte {b:#04X}");
            if let Some(name) = decoded {
                assert_eq!(encode(&name).unwrap(), [b]);
            }
        }
        let name = "BIONETFR.SNADV021 $#@ az09";
        assert_eq!(decode(&encode(name).unwrap()).as_deref(), Some(name));
    }
}
