//! EBCDIC for names: TP names, LU names, mode names are EBCDIC on the wire
//! (sna-wire.md conventions), e.g. `TP1` = `E3 D7 F1` in the IBM Attach
//! example (§5).
//!
//! Only the characters SNA names are made of are mapped (code page 500 and
//! 037 agree on all of them): letters, digits, space and `. $ # @`. Anything
//! else is refused rather than guessed.

use super::error::WireError;

fn to_ebcdic(c: char) -> Option<u8> {
    // Letters come in three runs per case: A-I, J-R, S-Z.
    let letter = |base: u8, c: u8| match c {
        0..=8 => Some(base + c),
        9..=17 => Some(base + 0x10 + (c - 9)),
        18..=25 => Some(base + 0x21 + (c - 18)),
        _ => None,
    };
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
        .map(|&b| (' '..='z').find(|&c| to_ebcdic(c) == Some(b)))
        .collect()
}
