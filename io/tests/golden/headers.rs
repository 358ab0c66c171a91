//! The transmission header (FID2) and the request/response header.

use appc_io::wire::{
    Flow, Lfsid, Mpf, Request, Response, ResponseType, Rh, Rti, RuCategory, Th, WireError,
};

// ---------------------------------------------------------------- `docs/wire.md#transmission-header-fid2` TH

#[test]
fn th_normal_whole_biu() {
    let bytes = [
        0x2C, // FID 2 (F0), MPF 11 whole BIU (0C), ODAI 0, EFI 0 normal
        0x00, // reserved
        0x01, // DAF' = SIDL 01
        0x02, // OAF' = SIDH 02
        0x00, 0x05, // SNF 5
    ];
    let th = Th::new(
        Lfsid {
            odai: false,
            sidh: 0x02,
            sidl: 0x01,
        },
        Flow::Normal,
        5,
    );
    assert_eq!(th.to_bytes(), bytes);
    assert_eq!(Th::decode(&bytes), Ok(th));
    assert_eq!(th.lfsid().sidh, 0x02);
}

#[test]
fn th_byte0_variants() {
    // `docs/wire.md#transmission-header-fid2` "Typical byte 0": 2D expedited, 2E/2F the same with ODAI = 1.
    for (byte0, odai, flow) in [
        (0x2D, false, Flow::Expedited),
        (0x2E, true, Flow::Normal),
        (0x2F, true, Flow::Expedited),
    ] {
        let th = Th::decode(&[byte0, 0x00, 0x10, 0x20, 0xFF, 0xFE]).unwrap();
        assert_eq!((th.mpf, th.odai, th.flow), (Mpf::Whole, odai, flow));
        assert_eq!((th.daf, th.oaf, th.snf), (0x10, 0x20, 0xFFFE));
        assert_eq!(th.to_bytes()[0], byte0);
    }
    // MPF 10 = first segment: a valid TH, but not a whole BIU.
    assert_eq!(Th::decode(&[0x28, 0, 0, 0, 0, 0]).unwrap().mpf, Mpf::First);
}

#[test]
fn th_rejects_other_fids_and_reserved() {
    assert_eq!(
        Th::decode(&[0x1C, 0, 0, 0, 0, 0]), // FID 1
        Err(WireError::Invalid {
            field: "TH FID",
            offset: 0,
            value: 1
        })
    );
    assert_eq!(
        Th::decode(&[0x2C, 0x01, 0, 0, 0, 0]), // reserved byte 1 non-zero
        Err(WireError::Invalid {
            field: "TH reserved byte",
            offset: 1,
            value: 1
        })
    );
    assert!(matches!(
        Th::decode(&[0x2C, 0, 0]),
        Err(WireError::Truncated {
            needed: 6,
            available: 3,
            ..
        })
    ));
}

// ---------------------------------------------------------------- `docs/wire.md#requestresponse-header` RH

fn request(bytes: [u8; 3]) -> Request {
    match Rh::decode(&bytes).unwrap() {
        Rh::Request(r) => r,
        Rh::Response(r) => panic!("{bytes:02X?} decoded as response {r:?}"),
    }
}

#[test]
fn rh_kb156083_mapped_data_with_change_direction() {
    // 03 = RRI 0, FMD (00), FI 0, SDI 0, BCI 1, ECI 1
    // 90 = DR1 + ERI: RQE1
    // 20 = CDI
    let bytes = [0x03, 0x90, 0x20];
    let r = request(bytes);
    assert_eq!(r.category, RuCategory::Fmd);
    assert!(r.bci && r.eci && r.cdi && !r.fi && !r.bbi && !r.cebi);
    assert_eq!(r.response_type(), Some(ResponseType::Rqe1));
    let mut built = Request::new(RuCategory::Fmd, ResponseType::Rqe1);
    built.cdi = true;
    assert_eq!(Rh::Request(built).to_bytes(), bytes);

    // 01 90 20: last RU of a chain (ECI only).
    let r = request([0x01, 0x90, 0x20]);
    assert!(!r.bci && r.eci && r.cdi);
}

#[test]
fn rh_kb156083_negative_response() {
    // 87 = RRI 1, FMD, FI 0, SDI 1, BCI 1, ECI 1
    // 90 = DR1 echoed, RTI 1 negative
    // 00 = byte 2 zero on responses
    let bytes = [0x87, 0x90, 0x00];
    let rsp = Response {
        category: RuCategory::Fmd,
        fi: false,
        dr1: true,
        dr2: false,
        rti: Rti::Negative,
        qri: false,
        pi: false,
    };
    assert_eq!(Rh::decode(&bytes), Ok(Rh::Response(rsp)));
    assert_eq!(Rh::Response(rsp).to_bytes(), bytes);
    // Built from the request it answers (03 90 20), as `docs/wire.md#requestresponse-header` says.
    let req = request([0x03, 0x90, 0x20]);
    assert_eq!(
        Rh::Response(Response::to(&req, Rti::Negative)).to_bytes(),
        bytes
    );
}

#[test]
fn rh_confirmed_positive_responses() {
    // `docs/wire.md#verbs-on-the-wire` CONFIRMED: 83 A0 00 (to RQD3) or 83 20 00 (to RQD2).
    // 83 = RRI 1, FMD, SDI 0, BCI 1, ECI 1; A0 = DR1 + DR2, RTI 0.
    let confirm = request([0x01, 0xA0, 0x00]); // ECI, RQD3
    assert_eq!(confirm.response_type(), Some(ResponseType::Rqd3));
    assert_eq!(
        Rh::Response(Response::to(&confirm, Rti::Positive)).to_bytes(),
        [0x83, 0xA0, 0x00]
    );
    let confirm2 = request([0x01, 0x20, 0x00]); // ECI, RQD2
    assert_eq!(
        Rh::Response(Response::to(&confirm2, Rti::Positive)).to_bytes(),
        [0x83, 0x20, 0x00]
    );
}

#[test]
fn rh_bind_request() {
    // `docs/wire.md#checking-the-bytes`: BIND RH 6B 80 00 = RRI 0, SC (60), FI (08), BC, EC; DR1.
    let r = request([0x6B, 0x80, 0x00]);
    assert_eq!(r.category, RuCategory::Sc);
    assert!(r.fi && r.bci && r.eci);
    assert_eq!(r.response_type(), Some(ResponseType::Rqd1));
    assert_eq!(
        Rh::Request(Request::new(RuCategory::Sc, ResponseType::Rqd1)).to_bytes(),
        [0x6B, 0x80, 0x00]
    );
}

#[test]
fn rh_response_type_table() {
    // `docs/wire.md#requestresponse-header`: RQD1 80, RQE1 90, RQD2 20, RQE2 30, RQD3 A0, RQE3 B0.
    for (byte1, rt) in [
        (0x80, ResponseType::Rqd1),
        (0x90, ResponseType::Rqe1),
        (0x20, ResponseType::Rqd2),
        (0x30, ResponseType::Rqe2),
        (0xA0, ResponseType::Rqd3),
        (0xB0, ResponseType::Rqe3),
    ] {
        assert_eq!(request([0x03, byte1, 0x00]).response_type(), Some(rt));
        assert_eq!(
            Rh::Request(Request::new(RuCategory::Fmd, rt)).to_bytes(),
            [0x03, byte1, 0x00]
        );
    }
}

#[test]
fn rh_verb_mappings_of_section_4() {
    // DEALLOCATE(FLUSH): ECI=1, CEBI=1, RQE1 -> 01 90 01.
    let r = request([0x01, 0x90, 0x01]);
    assert!(r.eci && r.cebi && !r.cdi);
    // First RU of a conversation: BBI=1, FI=1, BCI=1 (+ECI for one RU),
    // RQE1 -> 0B 90 80.
    let r = request([0x0B, 0x90, 0x80]);
    assert!(r.bbi && r.fi && r.bci && r.eci);
    // Every byte-2 indicator in its place: 80 BBI, 40 EBI, 20 CDI,
    // 08 CSI, 04 EDI, 02 PDI, 01 CEBI.
    let r = request([0x00, 0x00, 0xEF]);
    assert!(r.bbi && r.ebi && r.cdi && r.csi && r.edi && r.pdi && r.cebi);
    // Byte 1: 40 LCCI, 04 RLWI, 02 QRI, 01 PI.
    let r = request([0x00, 0x47, 0x00]);
    assert!(r.lcci && r.rlwi && r.qri && r.pi && r.response_type().is_none());
    // Byte 0: 08 FI, 04 SDI.
    let r = request([0x0C, 0x00, 0x00]);
    assert!(r.fi && r.sdi && !r.bci && !r.eci);
}

#[test]
fn rh_rejects_reserved_bits() {
    // KB156083's 0A 89 00 has reserved bit 08 of byte 1 set (`docs/wire.md#requestresponse-header` "trace
    // artefact [unsure]"): we reject it.
    assert_eq!(
        Rh::decode(&[0x0A, 0x89, 0x00]),
        Err(WireError::Invalid {
            field: "RH reserved bit",
            offset: 1,
            value: 0x89
        })
    );
    assert!(Rh::decode(&[0x13, 0x90, 0x00]).is_err()); // byte 0 bit 10
    assert!(Rh::decode(&[0x03, 0x90, 0x10]).is_err()); // byte 2 bit 10
                                                       // Responses: byte 2 must be 0, BCI/ECI 1, SDI iff negative.
    assert!(Rh::decode(&[0x87, 0x90, 0x20]).is_err());
    assert!(Rh::decode(&[0x81, 0x80, 0x00]).is_err());
    assert!(Rh::decode(&[0x83, 0x90, 0x00]).is_err()); // negative without SDI
    assert!(Rh::decode(&[0x87, 0x80, 0x00]).is_err()); // SDI on a positive
}
