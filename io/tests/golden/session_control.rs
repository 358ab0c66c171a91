//! Session control RUs: the LU 6.2 BIND image, RU sizes, a negative
//! response pointing at the bad byte, and UNBIND, SIGNAL and LUSTAT.

use appc_io::wire::{
    bind::{BIND_REQUEST, FM_PROFILE_19, TS_PROFILE_7},
    ebcdic, Bind, ControlRu, Request, Response, ResponseRu, ResponseType, Rh, Rti, RuCategory,
    RuSize, Sense, Signal, Unbind, UnbindType,
};

// ---------------------------------------------------------------- `docs/wire.md#bind-image` BIND

#[test]
fn bind_lu62() {
    let expected: Vec<u8> = [
        &[
            0x31, // BIND
            0x00, // format 0, type 0 negotiable
            0x13, // FM profile 19
            0x07, // TS profile 7
            0xB0, // primary FM usage: multi-RU chains (80), immediate, DR or ER (30)
            0xB0, // secondary FM usage: the same
            0x50, // common: FM headers (40), bracket termination rule 1 (10)
            0xA1, // HDX flip-flop (80), recovery resp. (20), HDX-FF reset state (01)
            0x00, 0x00, // secondary send / receive pacing: window 0
            0x87, 0x87, // max RU secondary / primary: 8 * 2^7 = 1024
            0x00, 0x00, // primary send / receive pacing
            0x06, // LU type 6
            0x02, // LU 6 level 2
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // reserved 16-21
            0x00, 0x00, // 22, 23: no extended / access security
            0x20, // 24: sync level 01 confirm (bits 1-2)
            0x00, 0x00, // 25, 26
            0x08, // primary LU name, 8 bytes: "NETA.PLU"
            0xD5, 0xC5, 0xE3, 0xC1, 0x4B, 0xD7, 0xD3, 0xE4,
        ][..],
        &[
            0x09, // user data, 9 bytes
            0x00, //   key 00
            0x07, 0x02, //   subfield of 7 bytes: mode name (02)
            0x7B, 0xC9, 0xD5, 0xE3, 0xC5, 0xD9, //   "#INTER"
            0x00, // URC absent
            0x08, // secondary LU name, 8 bytes: "NETA.SLU"
            0xD5, 0xC5, 0xE3, 0xC1, 0x4B, 0xE2, 0xD3, 0xE4,
        ][..],
    ]
    .concat();
    let bind = Bind::lu62(
        &ebcdic::encode("NETA.PLU").unwrap(),
        &ebcdic::encode("NETA.SLU").unwrap(),
        &ebcdic::encode("#INTER").unwrap(),
        RuSize::from_byte(0x87).unwrap(),
    );
    let mut out = Vec::new();
    bind.encode(&mut out).unwrap();
    assert_eq!(out, expected);
    // A -RSP(0835xxxx) refusing the secondary LU name points at its
    // length byte: 27 fixed + 9 (PLU) + 10 (user data) + 1 (URC).
    assert_eq!(bind.secondary_lu_name_offset(), 47);
    assert_eq!(expected[47], 0x08);
    let decoded = Bind::decode(&expected).unwrap();
    assert_eq!(decoded, bind);
    assert_eq!(decoded.fm_profile, FM_PROFILE_19);
    assert_eq!(decoded.ts_profile, TS_PROFILE_7);
    assert_eq!(decoded.max_ru_primary.bytes(), 1024);
    assert_eq!(
        decoded.mode_name(),
        Some(&[0x7B, 0xC9, 0xD5, 0xE3, 0xC5, 0xD9][..])
    );
    assert_eq!(
        ControlRu::decode(RuCategory::Sc, &expected),
        Ok(ControlRu::Bind(bind))
    );
    assert_eq!(expected[0], BIND_REQUEST);
}

#[test]
fn ru_sizes() {
    // `docs/wire.md#bind-image`: 85 = 256, 87 = 1024, FF = 491,520.
    assert_eq!(RuSize::from_byte(0x85).unwrap().bytes(), 256);
    assert_eq!(RuSize::from_byte(0xFF).unwrap().bytes(), 491_520);
    assert_eq!(RuSize::from_byte(0x7F), None);
    assert_eq!(RuSize::at_most(1024).unwrap().byte(), 0x87);
    assert_eq!(RuSize::at_most(4000).unwrap().bytes(), 3840); // F8 = 15 * 2^8
    assert_eq!(RuSize::at_most(7), None);
}

#[test]
fn bind_negative_response_points_at_bad_byte() {
    // -RSP(0835 000A) to a BIND (`docs/wire.md#bind-image`): invalid parameter at byte 10.
    // RH EF 90 00 = RRI 1 (80), SC (60), FI echoed (08), SDI (04), BC+EC
    // (03); DR1 echoed (80), RTI negative (10); byte 2 zero.
    let req = Request::new(RuCategory::Sc, ResponseType::Rqd1);
    let rsp = Response::to(&req, Rti::Negative);
    assert_eq!(Rh::Response(rsp).to_bytes(), [0xEF, 0x90, 0x00]);
    let ru = Sense::invalid_parameter(0x000A).to_bytes();
    assert_eq!(ru, [0x08, 0x35, 0x00, 0x0A]);
    assert_eq!(
        ResponseRu::decode(&rsp, &ru),
        Ok(ResponseRu::Negative {
            sense: Sense(0x0835_000A),
            rest: &[]
        })
    );
}

// ------------------------------------------------- `docs/wire.md#logical-records-and-gds-variables` UNBIND, SIGNAL, LUSTAT

#[test]
fn control_rus() {
    for (category, bytes, ru) in [
        (
            RuCategory::Sc,
            vec![0x32, 0x01], // UNBIND, normal end of session
            ControlRu::Unbind(Unbind {
                kind: UnbindType::NORMAL,
                sense: None,
            }),
        ),
        (
            RuCategory::Sc,
            vec![0x32, 0xFE, 0x08, 0x64, 0x00, 0x00], // UNBIND with sense 08640000
            ControlRu::Unbind(Unbind {
                kind: UnbindType::INVALID_SESSION_PARAMETERS,
                sense: Some(Sense::DEALLOCATE_ABEND_PROG),
            }),
        ),
        (
            RuCategory::Dfc,
            vec![0xC9, 0x00, 0x01, 0x00, 0x01], // SIGNAL, REQUEST_TO_SEND
            ControlRu::Signal(Signal::REQUEST_TO_SEND),
        ),
        (
            RuCategory::Dfc,
            vec![0x04, 0x00, 0x06, 0x00, 0x01], // LUSTAT 0006 0001
            ControlRu::Lustat(0x0006_0001),
        ),
        (RuCategory::Dfc, vec![0x70], ControlRu::Bis),
        (RuCategory::Dfc, vec![0x05], ControlRu::Rtr),
    ] {
        assert_eq!(ControlRu::decode(category, &bytes), Ok(ru.clone()));
        assert_eq!(ru.category(), category);
        let mut out = Vec::new();
        ru.encode(&mut out).unwrap();
        assert_eq!(out, bytes);
    }
    // A SIGNAL on the SC category, or trailing bytes, are refused.
    assert!(ControlRu::decode(RuCategory::Sc, &[0xC9, 0, 1, 0, 1]).is_err());
    assert!(ControlRu::decode(RuCategory::Dfc, &[0x70, 0x00]).is_err());
}
