//! Golden bytes: every expected byte string here is written by hand from the
//! layouts in `docs/wire.md` (section cited per test) or
//! copied from the vectors it quotes (IBM-FMH5, KB169575, KB156083,
//! KB180415, HP-GDS), never produced by our encoder.
//!
//! One test binary, by layout: `headers` (TH and RH), `fmh` (FMH-5 and
//! FMH-7), `gds` (logical records and GDS variables), `session_control`
//! (BIND, UNBIND, SIGNAL, LUSTAT) and `framing` (whole frames, the
//! decoder, errors and names). The IBM FMH-5 vector, which several of them
//! use, is here.

mod fmh;
mod framing;
mod gds;
mod headers;
mod session_control;

use appc_io::wire::{ebcdic, Attach, ConversationType, SecurityKind, SecuritySubfield, SyncLevel};

/// IBM-FMH5, golden vector 1 of `docs/wire.md#fmh-5-attach` (44 bytes).
const IBM_FMH5: [u8; 44] = [
    0x20, // FMH-5 length 32 (excludes the PIP)
    0x05, // type 5
    0x02, 0xFF, // command code: Attach
    0x08, // PIP present
    0x03, // fixed-part length
    0xD0, // basic conversation
    0x00, // reserved
    0x40, // sync level confirm
    0x03, 0xE3, 0xD7, 0xF1, // TP name "TP1"
    0x10, // access security, 16 bytes:
    0x08, 0x01, 0xE2, 0xC1, 0xD4, 0xD7, 0xD3, 0xD7, 0xE6, //   password "SAMPLPW"
    0x06, 0x02, 0xD7, 0xD9, 0xD6, 0xC7, 0xF1, //   user ID "PROG1"
    0x00, // LUW absent
    0x00, // correlator absent (FMH-5 ends: 32 bytes)
    0x00, 0x0C, 0x12, 0xF5, // PIP GDS, 12 bytes
    0x00, 0x08, 0x12, 0xE2, 0xE3, 0xC5, 0xE2, 0xE3, // PIP subfield "TEST"
];

fn ibm_attach() -> Attach {
    let mut a = Attach::new(
        ConversationType::Basic,
        SyncLevel::Confirm,
        &ebcdic::encode("TP1").unwrap(),
    );
    a.security.subfields = vec![
        SecuritySubfield {
            kind: SecurityKind::Password,
            data: ebcdic::encode("SAMPLPW").unwrap(),
        },
        SecuritySubfield {
            kind: SecurityKind::UserId,
            data: ebcdic::encode("PROG1").unwrap(),
        },
    ];
    a.pip = Some(vec![ebcdic::encode("TEST").unwrap()]);
    a
}
