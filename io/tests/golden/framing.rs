//! Whole frames (mapped data, SIGNAL, attach and error), framing errors,
//! every MPF, the decoder's idle state and frame limit, and how wire
//! errors, sense codes and EBCDIC names print.

use crate::{ibm_attach, IBM_FMH5};
use appc_io::wire::{
    ebcdic, frame::DEFAULT_MAX_PIU, ControlRu, Decoder, ErrorDescription, Flow, Fmh, Frame, Mpf,
    ResponseRu, Rh, Ru, Sense, Signal, Th, WireError,
};

// ---------------------------------------------------------------- framing

#[test]
fn framed_mapped_data() {
    let stream = [
        0x00, 0x00, 0x00, 0x11, // length prefix: 17-byte PIU
        0x2C, 0x00, 0x01, 0x02, 0x00, 0x07, // TH: FID2 whole, DAF' 01, OAF' 02, SNF 7
        0x03, 0x90, 0x20, // RH: FMD, BC+EC, RQE1, CD
        0x00, 0x08, 0x12, 0xFF, 0xC1, 0xC2, 0xC3, 0xC4, // GDS 12FF "ABCD"
    ];
    let mut decoder = Decoder::new(DEFAULT_MAX_PIU);
    let frames: Vec<_> = decoder.frames(&stream).collect();
    assert_eq!(frames.len(), 1);
    let frame = frames[0].clone().unwrap();
    assert_eq!(frame.th.snf, 7);
    assert_eq!(frame.ru, stream[13..]);
    let mut out = Vec::new();
    frame.encode(DEFAULT_MAX_PIU, &mut out).unwrap();
    assert_eq!(out, stream);
    assert_eq!(frame.encoded_len(), stream.len());
    assert!(decoder.is_idle());
}

#[test]
fn framed_signal_request_to_send() {
    // `docs/wire.md#verbs-on-the-wire` REQUEST_TO_SEND: expedited (TH 2D), RH DFC + FI; DR1 is our
    // choice (`docs/wire.md` does not give SIGNAL's response type).
    let stream = [
        0x00, 0x00, 0x00, 0x0E, // 14-byte PIU
        0x2D, 0x00, 0x01, 0x02, 0x00, 0x00, // TH: expedited, SNF 0
        0x4B, 0x80, 0x00, // RH: DFC (40), FI (08), BC+EC (03); RQD1
        0xC9, 0x00, 0x01, 0x00, 0x01, // SIGNAL 0001 0001
    ];
    let frame = Decoder::new(64).frames(&stream).next().unwrap().unwrap();
    assert_eq!(frame.th.flow, Flow::Expedited);
    assert_eq!(
        Ru::decode(&frame.rh, &frame.ru),
        Ok(Ru::Control(ControlRu::Signal(Signal::REQUEST_TO_SEND)))
    );
}

#[test]
fn framed_attach_and_error() {
    // First RU of a conversation: RH 0B 90 80 (FI, BC, EC, RQE1, BB)
    // carrying the IBM FMH-5 + PIP, then two record bytes.
    let mut ru = IBM_FMH5.to_vec();
    ru.extend_from_slice(&[0x00, 0x02]);
    let frame = Frame {
        th: Th::decode(&[0x2C, 0, 1, 2, 0, 1]).unwrap(),
        rh: Rh::decode(&[0x0B, 0x90, 0x80]).unwrap(),
        ru,
    };
    match Ru::decode(&frame.rh, &frame.ru).unwrap() {
        Ru::Fmd {
            fmh: Some(Fmh::Attach(a)),
            data,
        } => {
            assert_eq!(a, ibm_attach());
            assert_eq!(data, [0x00, 0x02]);
        }
        other => panic!("{other:?}"),
    }
    // Negative response 87 90 00 + 08460000, then FMH-7 08890000 chain.
    let rh = Rh::decode(&[0x87, 0x90, 0x00]).unwrap();
    assert_eq!(
        Ru::decode(&rh, &[0x08, 0x46, 0x00, 0x00]),
        Ok(Ru::Response(ResponseRu::Negative {
            sense: Sense::ERP_MESSAGE_FORTHCOMING,
            rest: &[]
        }))
    );
    let rh = Rh::decode(&[0x0B, 0x90, 0x00]).unwrap();
    assert_eq!(
        Ru::decode(&rh, &[0x07, 0x07, 0x08, 0x89, 0x00, 0x00, 0x00]),
        Ok(Ru::Fmd {
            fmh: Some(Fmh::Error(ErrorDescription {
                sense: Sense::PROG_ERROR_PURGING,
                log_follows: false
            })),
            data: &[]
        })
    );
}

#[test]
fn framing_errors() {
    // A length over the limit is refused from the prefix alone.
    let mut d = Decoder::new(1000);
    let mut input: &[u8] = &[0xFF, 0xFF, 0xFF, 0xFF, 0x2C];
    assert_eq!(
        d.decode(&mut input),
        Some(Err(WireError::TooLarge {
            field: "PIU",
            len: 0xFFFF_FFFF,
            max: 1000
        }))
    );
    assert!(d.is_broken());
    // A PIU shorter than TH + RH.
    let mut d = Decoder::new(1000);
    assert_eq!(
        d.frames(&[0, 0, 0, 5]).next(),
        Some(Err(WireError::Invalid {
            field: "frame length",
            offset: 0,
            value: 5
        }))
    );
    // A segmented BIU (MPF 10) in a well-framed PIU costs only that frame;
    // offsets count from the start of the stream.
    let stream = [
        0, 0, 0, 9, 0x28, 0, 1, 2, 0, 0, 0x03, 0x90, 0x20, // MPF first
        0, 0, 0, 9, 0x2C, 0, 1, 2, 0, 1, 0x03, 0x90, 0x20, // fine
    ];
    let results: Vec<_> = Decoder::new(100).frames(&stream).collect();
    assert_eq!(
        results[0],
        Err(WireError::Unsupported {
            field: "TH MPF",
            offset: 4,
            value: 2
        })
    );
    assert!(results[1].is_ok());
    // Encoding refuses what the peer would refuse.
    let frame = Frame::decode_piu(&stream[17..]).unwrap();
    assert!(frame.encode(8, &mut Vec::new()).is_err());
}

#[test]
fn th_every_mpf() {
    // TH byte 0 bits 2-3: 00 middle, 01 last, 10 first, 11 whole BIU.
    for (byte0, mpf) in [
        (0x20, Mpf::Middle),
        (0x24, Mpf::Last),
        (0x28, Mpf::First),
        (0x2C, Mpf::Whole),
    ] {
        let th = Th::decode(&[byte0, 0, 1, 2, 0, 0]).unwrap();
        assert_eq!(th.mpf, mpf, "{byte0:#04x}");
        assert_eq!(th.to_bytes()[0], byte0);
    }
    // Only a whole BIU is framed; a last segment is refused as a first is.
    let stream = [0, 0, 0, 9, 0x24, 0, 1, 2, 0, 0, 0x03, 0x90, 0x20];
    assert_eq!(
        Decoder::new(100).frames(&stream).next(),
        Some(Err(WireError::Unsupported {
            field: "TH MPF",
            offset: 4,
            value: 1
        }))
    );
}

#[test]
fn decoder_is_idle_only_between_frames() {
    let stream = [0, 0, 0, 9, 0x2C, 0, 1, 2, 0, 1, 0x03, 0x90, 0x20];
    let mut d = Decoder::new(100);
    assert!(d.is_idle());
    assert_eq!(d.frames(&stream[..2]).count(), 0);
    assert!(!d.is_idle(), "half a length prefix");
    assert_eq!(d.frames(&stream[2..6]).count(), 0);
    assert!(!d.is_idle(), "part of a PIU");
    assert!(d.frames(&stream[6..]).next().unwrap().is_ok());
    assert!(d.is_idle());
    let mut broken = Decoder::new(100);
    assert!(broken.frames(&[0, 0, 0, 5]).next().unwrap().is_err());
    assert!(!broken.is_idle(), "a broken stream");
}

#[test]
fn default_frame_limit_takes_a_72_kib_ru() {
    let frame = |ru_len| Frame {
        th: Th::decode(&[0x2C, 0, 1, 2, 0, 0]).unwrap(),
        rh: Rh::decode(&[0x03, 0x90, 0x20]).unwrap(),
        ru: vec![0x40; ru_len],
    };
    let mut out = Vec::new();
    frame(73_728).encode(DEFAULT_MAX_PIU, &mut out).unwrap();
    let decoded: Vec<_> = Decoder::new(DEFAULT_MAX_PIU).frames(&out).collect();
    assert_eq!(decoded, [Ok(frame(73_728))]);
    assert!(frame(73_729)
        .encode(DEFAULT_MAX_PIU, &mut Vec::new())
        .is_err());
}

#[test]
fn sense_codes_print_as_eight_hex_digits() {
    assert_eq!(Sense::TP_UNAVAILABLE_RETRY.to_string(), "084B6031");
    assert_eq!(Sense::invalid_parameter(0x1B).to_string(), "0835001B");
}

#[test]
fn an_empty_fmh5_tp_name_points_at_its_length_byte() {
    let mut bytes = IBM_FMH5;
    bytes[9] = 0x00; // TP name length
    assert_eq!(
        Fmh::decode(&bytes).map(|_| ()),
        Err(WireError::Invalid {
            field: "FMH-5 TP name length",
            offset: 9,
            value: 0
        })
    );
}

#[test]
fn wire_errors_move_name_their_field_and_print() {
    let errors = [
        WireError::Truncated {
            field: "a",
            offset: 1,
            needed: 4,
            available: 2,
        },
        WireError::Invalid {
            field: "b",
            offset: 2,
            value: 0x1F,
        },
        WireError::Unsupported {
            field: "c",
            offset: 3,
            value: 2,
        },
        WireError::Length {
            field: "d",
            offset: 4,
            declared: 9,
            actual: 7,
        },
        WireError::TooLarge {
            field: "e",
            len: 70_000,
            max: 65_535,
        },
    ];
    let moved = errors.clone().map(|e| e.at(10));
    assert_eq!(
        moved,
        [
            WireError::Truncated {
                field: "a",
                offset: 11,
                needed: 4,
                available: 2,
            },
            WireError::Invalid {
                field: "b",
                offset: 12,
                value: 0x1F,
            },
            WireError::Unsupported {
                field: "c",
                offset: 13,
                value: 2,
            },
            WireError::Length {
                field: "d",
                offset: 14,
                declared: 9,
                actual: 7,
            },
            errors[4].clone(),
        ]
    );
    assert_eq!(
        errors.each_ref().map(WireError::field),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        errors.map(|e| e.to_string()),
        [
            "a at offset 1 needs 4 bytes, 2 available",
            "b at offset 2: invalid value 0x1f",
            "c at offset 3: unsupported value 0x2",
            "d at offset 4 declares 9 bytes, found 7",
            "e of 70000 bytes exceeds the limit of 65535",
        ]
    );
}

#[test]
fn ebcdic_names() {
    assert_eq!(ebcdic::encode("TP1").unwrap(), [0xE3, 0xD7, 0xF1]);
    assert_eq!(
        ebcdic::encode("APINGD").unwrap(),
        [0xC1, 0xD7, 0xC9, 0xD5, 0xC7, 0xC4]
    );
    assert_eq!(
        ebcdic::encode("@$#. az").unwrap(),
        [0x7C, 0x5B, 0x7B, 0x4B, 0x40, 0x81, 0xA9]
    );
    assert_eq!(ebcdic::decode(&[0xE2, 0xD5, 0xC1]).as_deref(), Some("SNA"));
    assert!(ebcdic::encode("TP_1").is_err());
}
