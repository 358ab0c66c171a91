//! The return codes' unit tests: their values against `docs/api.md#return-codes`,
//! names and `Debug` forms, byte order in the verb control block,
//! `what_rcvd` flags, and the texts `GetAppcReturnCode` writes.

use super::*;
use std::collections::HashSet;

#[test]
fn primary_values_match_the_reference() {
    let expected: &[(PrimaryRc, u16)] = &[
        (PrimaryRc::OK, 0x0000),
        (PrimaryRc::PARAMETER_CHECK, 0x0001),
        (PrimaryRc::STATE_CHECK, 0x0002),
        (PrimaryRc::ALLOCATION_ERROR, 0x0003),
        (PrimaryRc::DEALLOC_ABEND, 0x0005),
        (PrimaryRc::DEALLOC_ABEND_PROG, 0x0006),
        (PrimaryRc::DEALLOC_ABEND_TIMER, 0x0008),
        (PrimaryRc::DEALLOC_NORMAL, 0x0009),
        (PrimaryRc::PROG_ERROR_NO_TRUNC, 0x000C),
        // The documentation/header discrepancies: the header wins.
        (PrimaryRc::PROG_ERROR_TRUNC, 0x000D),
        (PrimaryRc::PROG_ERROR_PURGING, 0x000E),
        (PrimaryRc::SVC_ERROR_TRUNC, 0x0012),
        (PrimaryRc::SVC_ERROR_PURGING, 0x0013),
        (PrimaryRc::CONV_FAILURE_NO_RETRY, 0x0010),
        (PrimaryRc::UNSUCCESSFUL, 0x0014),
        (PrimaryRc::CNOS_PARTNER_LU_REJECT, 0x0018),
        (PrimaryRc::CONVERSATION_TYPE_MIXED, 0x0019),
        (PrimaryRc::CANCELLED, 0x0021),
        (PrimaryRc::BACKED_OUT, 0x0023),
        (PrimaryRc::ACTIVATION_FAIL_RETRY, 0x0310),
        (PrimaryRc::SESSION_DEACTIVATED, 0x0315),
        (PrimaryRc::TP_BUSY, 0xF002),
        (PrimaryRc::COMM_SUBSYSTEM_NOT_LOADED, 0xF004),
        (PrimaryRc::CONV_BUSY, 0xF005),
        (PrimaryRc::THREAD_BLOCKING, 0xF006),
        (PrimaryRc::CANT_CONTACT_DTC, 0xF00A),
        (PrimaryRc::UNEXPECTED_DOS_ERROR, 0xF011),
        (PrimaryRc::STACK_TOO_SMALL, 0xF015),
        (PrimaryRc::INVALID_KEY, 0xF020),
        (PrimaryRc::INVALID_VERB, 0xFFFF),
    ];
    for &(code, value) in expected {
        assert_eq!(code.0, value, "{code:?}");
    }
    // The engine's own constants agree.
    assert_eq!(PrimaryRc::CANCELLED.0, appc_engine::AP_CANCELLED);
    assert_eq!(PrimaryRc::OK.0, appc_engine::AP_OK);
    assert_eq!(PRIMARY.len(), 42, "every primary code of the reference");
}

#[test]
fn secondary_and_what_rcvd_values_match_the_reference() {
    let secondary: &[(SecondaryRc, u32)] = &[
        (SecondaryRc::BAD_TP_ID, 0x00000001),
        (SecondaryRc::BAD_LU_ALIAS, 0x00000003),
        (SecondaryRc::INVALID_DATA_SEGMENT, 0x00000006),
        (SecondaryRc::UNKNOWN_PARTNER_MODE, 0x00000018),
        (SecondaryRc::RCV_IMMD_BAD_FILL, 0x000000C4),
        (SecondaryRc::BAD_RETURN_STATUS_WITH_DATA, 0x000000D7),
        (SecondaryRc::BAD_LL, 0x000000F1),
        (SecondaryRc::SEND_DATA_CONFIRM_SYNC_NONE, 0x000000F5),
        (SecondaryRc::BAD_PARTNER_LU_ALIAS, 0x0000015B),
        (SecondaryRc::INVALID_SESSION_ID, 0x00000512),
        (SecondaryRc::INVALID_TRANSACT_ID, 0x00000518),
        (SecondaryRc::INVALID_SET_PROT, 0x00000700),
        (SecondaryRc::INVALID_DATA_TYPE, 0x00000705),
        (SecondaryRc::BAD_LOCAL_LU_ALIAS, 0x01000003),
        (SecondaryRc::BAD_REMOTE_LU_ALIAS, 0x02000003),
        (SecondaryRc::POST_ON_RECEIPT_BAD_FILL, 0x03000003),
        (SecondaryRc::CONFIRM_BAD_STATE, 0x00000032),
        (SecondaryRc::RCV_AND_WAIT_BAD_STATE, 0x000000B1),
        (SecondaryRc::SEND_DATA_NOT_LL_BDY, 0x000000F6),
        (SecondaryRc::LU_ALREADY_REGISTERED, 0x0000050A),
        (SecondaryRc::INVALID_PROCESS, 0x00000525),
        (SecondaryRc::ALLOCATION_FAILURE_NO_RETRY, 0x00000004),
        (SecondaryRc::ALLOCATION_FAILURE_RETRY, 0x00000005),
        (SecondaryRc::SECURITY_NOT_VALID, 0x080F6051),
        (SecondaryRc::TRANS_PGM_NOT_AVAIL_RETRY, 0x084B6031),
        (SecondaryRc::TRANS_PGM_NOT_AVAIL_NO_RETRY, 0x084C0000),
        (SecondaryRc::SYNC_LEVEL_NOT_SUPPORTED, 0x10086041),
        (SecondaryRc::SECURITY_NOT_VALID_PASSWORD_EXPIRED, 0x080FFF00),
        (
            SecondaryRc::SECURITY_NOT_VALID_PROTOCOL_VIOLATION,
            0x080FFF0E,
        ),
        (SecondaryRc::BO_NO_RESYNC, 0x08240000),
        (SecondaryRc::BO_RESYNC, 0x08240001),
        (SecondaryRc::CNOS_ACCEPTED, 0x00000000),
        (SecondaryRc::CNOS_NEGOTIATED, 0x00000007),
        (SecondaryRc::DISPLAY_INVALID_CONSTANT, 0x000001B5),
    ];
    for &(code, value) in secondary {
        assert_eq!(code.0, value, "{code:?}");
    }
    let what: &[(WhatRcvd, u16)] = &[
        (WhatRcvd::NONE, 0x0000),
        (WhatRcvd::DATA, 0x0001),
        (WhatRcvd::NOT_DATA, 0x0003),
        (WhatRcvd::DATA_INCOMPLETE, 0x0004),
        (WhatRcvd::USER_CONTROL_DATA_INCOMPLETE, 0x0010),
        (WhatRcvd::PS_HEADER_INCOMPLETE, 0x0040),
        (WhatRcvd::CONFIRM_WHAT_RECEIVED, 0x0200),
        (WhatRcvd::DATA_CONFIRM_DEALLOCATE, 0x0401),
        (WhatRcvd::DATA_COMPLETE_CONFIRM_DEALL, 0x0402),
    ];
    for &(code, value) in what {
        assert_eq!(code.0, value, "{code:?}");
    }
}

#[test]
fn the_fifteen_security_codes_are_a_range() {
    assert_eq!(
        SecondaryRc::security_not_valid(0),
        Some(SecondaryRc::SECURITY_NOT_VALID_PASSWORD_EXPIRED)
    );
    assert_eq!(
        SecondaryRc::security_not_valid(0x0B),
        Some(SecondaryRc::SECURITY_NOT_VALID_NOT_AUTHORIZED_TO_TRANSACTION_PROGRAM)
    );
    assert_eq!(
        SecondaryRc::security_not_valid(0x0E),
        Some(SecondaryRc::SECURITY_NOT_VALID_PROTOCOL_VIOLATION)
    );
    assert_eq!(SecondaryRc::security_not_valid(0x0F), None);
    for detail in 0..=0x0E {
        let code = SecondaryRc::security_not_valid(detail).unwrap();
        assert!(code.name().unwrap().starts_with("AP_SECURITY_NOT_VALID_"));
    }
}

fn assert_table<T: Copy + PartialEq + fmt::Debug, X>(
    table: &'static [CodeRow<T, X>],
    name: impl Fn(T) -> Option<&'static str>,
) {
    let mut names = HashSet::new();
    for entry in table {
        assert!(names.insert(entry.name), "duplicate name {}", entry.name);
        assert!(entry.name.starts_with("AP_"));
        assert!(!entry.meaning.is_empty());
        // Values are unique too, so the lookup finds this very row.
        assert_eq!(name(entry.value), Some(entry.name), "{:?}", entry.value);
    }
}

#[test]
fn names_are_unique_and_looked_up_by_value() {
    assert_table(PRIMARY, PrimaryRc::name);
    assert_table(SECONDARY, SecondaryRc::name);
    assert_table(WHAT_RCVD, WhatRcvd::name);
    assert_eq!(PrimaryRc::STATE_CHECK.name(), Some("AP_STATE_CHECK"));
    assert_eq!(PrimaryRc(0x0004).name(), None);
    assert_eq!(SecondaryRc::CNOS_ACCEPTED.name(), None);
    assert_eq!(
        WhatRcvd::DATA_COMPLETE_CONFIRM_DEALL.name(),
        Some("AP_DATA_COMPLETE_CONFIRM_DEALL")
    );
}

#[test]
fn debug_is_symbolic_or_hex() {
    assert_eq!(format!("{:?}", PrimaryRc::STATE_CHECK), "AP_STATE_CHECK");
    assert_eq!(format!("{:?}", PrimaryRc(0x1234)), "PrimaryRc(0x1234)");
    assert_eq!(format!("{:?}", SecondaryRc::BAD_LL), "AP_BAD_LL");
    assert_eq!(
        format!("{:?}", SecondaryRc(0xAB)),
        "SecondaryRc(0x000000ab)"
    );
    assert_eq!(format!("{:?}", WhatRcvd::SEND), "AP_SEND");
    assert_eq!(format!("{:?}", WhatRcvd(0x0505)), "WhatRcvd(0x0505)");
}

#[test]
fn vcb_bytes_are_big_endian() {
    assert_eq!(PrimaryRc::STATE_CHECK.to_vcb_bytes(), [0x00, 0x02]);
    // KB Q236797's trace: primary_rc bytes F0 06.
    assert_eq!(
        PrimaryRc::from_vcb_bytes([0xF0, 0x06]),
        PrimaryRc::THREAD_BLOCKING
    );
    assert_eq!(
        SecondaryRc::RCV_AND_WAIT_BAD_STATE.to_vcb_bytes(),
        [0x00, 0x00, 0x00, 0xB1]
    );
    assert_eq!(
        SecondaryRc::SECURITY_NOT_VALID.to_vcb_bytes(),
        [0x08, 0x0F, 0x60, 0x51]
    );
    assert_eq!(WhatRcvd::DATA_COMPLETE_SEND.to_vcb_bytes(), [0x01, 0x02]);
    for entry in PRIMARY {
        let code = entry.value;
        assert_eq!(PrimaryRc::from_vcb_bytes(code.to_vcb_bytes()), code);
    }
    for entry in SECONDARY {
        let code = entry.value;
        assert_eq!(SecondaryRc::from_vcb_bytes(code.to_vcb_bytes()), code);
    }
    for entry in WHAT_RCVD {
        let code = entry.value;
        assert_eq!(WhatRcvd::from_vcb_bytes(code.to_vcb_bytes()), code);
    }
}

#[test]
fn what_rcvd_splits_and_combines() {
    let w = WhatRcvd::DATA_COMPLETE_CONFIRM_DEALL;
    assert_eq!(w.data_part(), WhatRcvd::DATA_COMPLETE);
    assert_eq!(w.status_part(), WhatRcvd::CONFIRM_DEALLOCATE);
    assert_eq!(WhatRcvd::SEND.data_part(), WhatRcvd::NONE);
    assert_eq!(WhatRcvd::DATA_INCOMPLETE.status_part(), WhatRcvd::NONE);
    let statuses = [
        WhatRcvd::SEND,
        WhatRcvd::CONFIRM_WHAT_RECEIVED,
        WhatRcvd::CONFIRM_SEND,
        WhatRcvd::CONFIRM_DEALLOCATE,
    ];
    for data in [WhatRcvd::DATA, WhatRcvd::DATA_COMPLETE] {
        assert_eq!(WhatRcvd::combine(data, WhatRcvd::NONE), data);
        for status in statuses {
            let both = WhatRcvd::combine(data, status);
            assert!(both.name().is_some(), "{both:?} is a named combination");
            assert_eq!((both.data_part(), both.status_part()), (data, status));
        }
    }
    // Each argument contributes only its own half.
    assert_eq!(
        WhatRcvd::combine(WhatRcvd::DATA_SEND, WhatRcvd::CONFIRM_SEND),
        WhatRcvd::DATA_CONFIRM_SEND
    );
}

#[test]
fn text_example_and_groups() {
    assert_eq!(
        return_code_text(PrimaryRc::STATE_CHECK, SecondaryRc::RCV_AND_WAIT_BAD_STATE),
        "AP_STATE_CHECK (X'0002'): the verb was issued in a conversation state that \
         does not allow it; secondary AP_RCV_AND_WAIT_BAD_STATE (X'000000B1'): \
         RECEIVE_AND_WAIT issued outside RECEIVE or SEND state"
    );
    assert_eq!(
        return_code_text(PrimaryRc::OK, SecondaryRc(0)),
        "AP_OK (X'0000'): the verb completed successfully"
    );
    // The same value means different things under different primaries.
    let three = SecondaryRc(3);
    assert!(return_code_text(PrimaryRc::PARAMETER_CHECK, three)
        .ends_with("secondary AP_BAD_LU_ALIAS (X'00000003'): lu_alias is not one of the defined LU aliases"));
    assert!(
        return_code_text(PrimaryRc::ALLOCATION_ERROR, three).ends_with("; secondary X'00000003'")
    );
    let four = SecondaryRc::ALLOCATION_FAILURE_NO_RETRY;
    assert!(return_code_text(PrimaryRc::ALLOCATION_ERROR, four)
        .contains("AP_ALLOCATION_FAILURE_NO_RETRY (X'00000004')"));
    assert!(return_code_text(PrimaryRc::PARAMETER_CHECK, four).ends_with("; secondary X'00000004'"));
    assert!(
        return_code_text(PrimaryRc::STATE_CHECK, SecondaryRc::BAD_LL)
            .ends_with("; secondary X'000000F1'")
    );
    assert!(
        return_code_text(PrimaryRc::BACKED_OUT, SecondaryRc::BO_RESYNC).contains("AP_BO_RESYNC")
    );
    assert!(return_code_text(PrimaryRc::CONV_BUSY, SecondaryRc(0x1234))
        .ends_with("; secondary X'00001234'"));
    assert_eq!(
        return_code_text(PrimaryRc::UNEXPECTED_DOS_ERROR, SecondaryRc(5)),
        "AP_UNEXPECTED_DOS_ERROR (X'F011'): the operating system returned an error while \
         APPC processed the verb; operating system error 5 (X'00000005')"
    );
    assert_eq!(
        return_code_text(PrimaryRc(0x0004), SecondaryRc(0)),
        "unknown primary return code X'0004'"
    );
    assert_eq!(
        return_code_text(PrimaryRc(0xABCD), SecondaryRc(0xB1)),
        "unknown primary return code X'ABCD'; secondary X'000000B1'"
    );
}

#[test]
fn every_text_is_non_empty_and_fits() {
    let mut count = 0;
    for primary in PRIMARY {
        let mut secondaries = vec![SecondaryRc(0), SecondaryRc(u32::MAX)];
        secondaries.extend(
            SECONDARY
                .iter()
                .filter(|entry| primary.extra.contains(&entry.extra))
                .map(|entry| entry.value),
        );
        for secondary in secondaries {
            let text = return_code_text(primary.value, secondary);
            assert!(text.starts_with(primary.name), "{text}");
            assert!(text.is_ascii() && !text.contains('\0'), "{text}");
            assert!(
                text.len() < RECOMMENDED_BUFFER,
                "{} bytes: {text}",
                text.len()
            );
            count += 1;
        }
    }
    // Every secondary group is defined by at least one primary code.
    for entry in SECONDARY {
        assert!(PRIMARY.iter().any(|p| p.extra.contains(&entry.extra)));
    }
    assert!(count > PRIMARY.len() * 2);
}

#[test]
fn get_appc_return_code_writes_nul_terminated_text() {
    let (p, s) = (PrimaryRc::STATE_CHECK, SecondaryRc::RCV_AND_WAIT_BAD_STATE);
    let text = return_code_text(p, s);
    let mut buf = [0xAA_u8; RECOMMENDED_BUFFER];
    let len = get_appc_return_code(p, s, &mut buf).unwrap();
    assert_eq!(len, text.len());
    assert!(len > 0);
    assert_eq!(&buf[..len], text.as_bytes());
    assert_eq!(buf[len], 0);
    assert_eq!(buf[len + 1], 0xAA, "nothing written past the NUL");

    // Exactly text + NUL fits; one byte less does not.
    let mut exact = vec![0xAA_u8; len + 1];
    assert_eq!(get_appc_return_code(p, s, &mut exact), Ok(len));
    assert_eq!(exact[len], 0);
    let mut short = vec![0xAA_u8; len];
    let err = get_appc_return_code(p, s, &mut short).unwrap_err();
    assert_eq!(err, GetRcError::BufferTooSmall { needed: len + 1 });
    assert_eq!(err.code(), 0x2000_0002);
    assert!(short.iter().all(|&b| b == 0xAA), "untouched on error");
    let mut one = [0xAA_u8; 1];
    assert_eq!(
        get_appc_return_code(p, s, &mut one).unwrap_err().code(),
        0x2000_0002
    );

    let err = get_appc_return_code(p, s, &mut []).unwrap_err();
    assert_eq!(err, GetRcError::BadParameters);
    assert_eq!(err.code(), 0x2000_0001);
    assert!(err.to_string().contains("20000001"));
}
