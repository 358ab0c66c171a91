//! Function management headers: FMH-5 (attach) against the IBM and
//! KB169575 vectors and its receiver's checks, and FMH-7 (error
//! description).

use crate::{ibm_attach, IBM_FMH5};
use appc_io::wire::{
    ebcdic, Attach, ErrorDescription, Fmh, Luw, Security, SecurityKind, SecuritySubfield, Sense,
    WireError,
};

// ---------------------------------------------------------------- `docs/wire.md#fmh-5-attach` FMH-5

#[test]
fn fmh5_ibm_vector() {
    let (decoded, used) = Attach::decode(&IBM_FMH5).unwrap();
    assert_eq!(used, 44);
    assert_eq!(decoded, ibm_attach());
    assert_eq!(
        decoded.security.get(SecurityKind::UserId),
        Some(&[0xD7, 0xD9, 0xD6, 0xC7, 0xF1][..])
    );
    let mut out = Vec::new();
    ibm_attach().encode(&mut out).unwrap();
    assert_eq!(out, IBM_FMH5);
}

/// KB169575, golden vector 2 of `docs/wire.md#fmh-5-attach`: the 67-byte FMH-5 as traced, and a PIP
/// of the traced lengths (`009E 12F5 009A 12E2`) whose 150 data bytes the
/// KB does not show; we fill them with 0x5A.
fn kb169575() -> Vec<u8> {
    let mut v = vec![
        0x43, // FMH-5 length 67
        0x05, 0x02, 0xFF, // type 5, Attach
        0x18, // password substitute (10) + PIP present (08)
        0x03, 0xD0, 0x00, 0x40, // fixed 3, basic, reserved, confirm
        0x04, 0x30, 0xF0, 0xF0, 0xF5, // TP name X'30F0F0F5' (service TP)
        0x0F, // access security, 15 bytes:
        0x04, 0x02, 0xC1, 0xD4, 0xC9, //   user ID "AMI"
        0x09, 0x01, 0x7B, 0x30, 0x09, 0xE5, 0x39, 0x83, 0x81, 0xE7, // password substitute
        0x1A, // LUW, 26 bytes:
        0x11, // LU name, 17 bytes: "BIONETFR.SNADV021"
        0xC2, 0xC9, 0xD6, 0xD5, 0xC5, 0xE3, 0xC6, 0xD9, 0x4B, 0xE2, 0xD5, 0xC1, 0xC4, 0xE5, 0xF0,
        0xF2, 0xF1, //
        0x24, 0x28, 0x0E, 0x0D, 0x1E, 0x05, // instance
        0x00, 0x01, // sequence
        0x00, // correlator absent
        0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0xFF, // trailing field
        0x00, 0x9E, 0x12, 0xF5, // PIP GDS, 158 bytes
        0x00, 0x9A, 0x12, 0xE2, // PIP subfield, 154 bytes
    ];
    v.extend_from_slice(&[0x5A; 150]);
    v
}

#[test]
fn fmh5_kb169575_vector() {
    let bytes = kb169575();
    let (a, used) = Attach::decode(&bytes).unwrap();
    assert_eq!(used, 67 + 158);
    assert_eq!(a.tp_name, [0x30, 0xF0, 0xF0, 0xF5]);
    assert_eq!(ebcdic::decode(&a.tp_name), None);
    assert_eq!(
        a.security,
        Security {
            already_verified: false,
            persistent_verification: 0,
            password_substitute: true,
            subfields: vec![
                SecuritySubfield {
                    kind: SecurityKind::UserId,
                    data: ebcdic::encode("AMI").unwrap(),
                },
                SecuritySubfield {
                    kind: SecurityKind::Password,
                    data: vec![0x7B, 0x30, 0x09, 0xE5, 0x39, 0x83, 0x81, 0xE7],
                },
            ],
        }
    );
    assert_eq!(
        a.luw,
        Some(Luw {
            lu_name: ebcdic::encode("BIONETFR.SNADV021").unwrap(),
            instance: [0x24, 0x28, 0x0E, 0x0D, 0x1E, 0x05],
            sequence: 1,
        })
    );
    assert!(a.correlator.is_empty());
    assert_eq!(a.trailing, [0x08, 0, 0, 0, 0, 0, 0, 0x02, 0xFF]);
    assert_eq!(a.pip, Some(vec![vec![0x5A; 150]]));
    let mut out = Vec::new();
    a.encode(&mut out).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn fmh5_receiver_checks() {
    // Command code other than 02FF (sense 1008600B).
    let mut bad = IBM_FMH5;
    bad[3] = 0xFE;
    assert_eq!(
        Attach::decode(&bad).unwrap_err(),
        WireError::Invalid {
            field: "FMH-5 command code",
            offset: 2,
            value: 0x02FE
        }
    );
    // Fixed-length field other than 3 (sense 10086009).
    let mut bad = IBM_FMH5;
    bad[5] = 0x04;
    assert!(matches!(
        Attach::decode(&bad),
        Err(WireError::Length {
            field: "FMH-5 fixed length",
            offset: 5,
            ..
        })
    ));
    // Security length running past the FMH-5 (sense 10086005).
    let mut bad = IBM_FMH5;
    bad[13] = 0x30;
    assert!(matches!(
        Attach::decode(&bad),
        Err(WireError::Truncated {
            field: "FMH-5 access security",
            offset: 14,
            ..
        })
    ));
    // PIP flag set but no PIP.
    assert!(matches!(
        Attach::decode(&IBM_FMH5[..32]),
        Err(WireError::Truncated {
            field: "PIP",
            offset: 32,
            ..
        })
    ));
}

// ---------------------------------------------------------------- `docs/wire.md#fmh-7-error-description` FMH-7

#[test]
fn fmh7_vectors() {
    // KB156083: 07 07 08890100 00 (service error, no log).
    let svc = [0x07, 0x07, 0x08, 0x89, 0x01, 0x00, 0x00];
    let e = ErrorDescription {
        sense: Sense::SVC_ERROR_PURGING,
        log_follows: false,
    };
    assert_eq!(e.to_bytes(), svc);
    assert_eq!(Fmh::decode(&svc), Ok((Fmh::Error(e), 7)));
    // KB180415: 07 07 0809097A 80 (error log GDS follows).
    let log = [0x07, 0x07, 0x08, 0x09, 0x09, 0x7A, 0x80];
    assert_eq!(
        ErrorDescription::decode(&log),
        Ok(ErrorDescription {
            sense: Sense(0x0809_097A),
            log_follows: true
        })
    );
    // DEALLOCATE(ABEND_PROG / SVC / TIMER), `docs/wire.md#sense-codes`.
    for (sense, last) in [
        (Sense::DEALLOCATE_ABEND_PROG, 0x00),
        (Sense::DEALLOCATE_ABEND_SVC, 0x01),
        (Sense::DEALLOCATE_ABEND_TIMER, 0x02),
    ] {
        let e = ErrorDescription {
            sense,
            log_follows: false,
        };
        assert_eq!(e.to_bytes(), [0x07, 0x07, 0x08, 0x64, 0x00, last, 0x00]);
    }
    // Program error purging: 08890000.
    assert_eq!(
        Sense::PROG_ERROR_PURGING.to_bytes(),
        [0x08, 0x89, 0x00, 0x00]
    );
    // Wrong length byte (sense 10086000).
    assert!(matches!(
        ErrorDescription::decode(&[0x08, 0x07, 0, 0, 0, 0, 0, 0]),
        Err(WireError::Length {
            field: "FMH-7 length",
            ..
        })
    ));
    // FMH-12 is not supported.
    assert!(matches!(
        Fmh::decode(&[0x0A, 0x0C, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(WireError::Unsupported {
            field: "FMH type",
            value: 0x0C,
            ..
        })
    ));
}
