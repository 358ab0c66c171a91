//! Every opcode constant of the engine and the APPC layer against the documented verb table.
//!
//! The table below is typed by hand from the `AP_*` verb constants of
//! `winappc.h` (the Host Integration Server / SNA Server SDK header; the
//! same values in its Windows 2000-era and HIS 2000-era copies) and the
//! verb catalogue of the Host Integration Server documentation ("APPC
//! Verbs and Windows Extensions"). Basic (`AP_B_*`) and mapped (`AP_M_*`)
//! verbs share one value; the VCB's `opext` tells them apart. The values
//! are the symbolic ones (the VCB holds them big-endian).
//!
//! Both the bare engine's [`Opcode`] and the APPC layer's
//! [`appc::verbs::opcode`] are checked, so the two can never disagree with
//! the documentation or with each other.

use appc::verbs::opcode;
use appc_engine::Opcode;

/// (verb, documented value).
const DOCUMENTED: &[(&str, u16)] = &[
    ("ALLOCATE", 0x0100),
    ("CONFIRM", 0x0300),
    ("CONFIRMED", 0x0400),
    ("DEALLOCATE", 0x0500),
    ("FLUSH", 0x0600),
    ("GET_ATTRIBUTES", 0x0700),
    ("GET_TYPE", 0x0800),
    ("GET_STATE", 0x0900),
    ("PREPARE_TO_RECEIVE", 0x0A00),
    ("RECEIVE_AND_WAIT", 0x0B00),
    ("RECEIVE_IMMEDIATE", 0x0C00),
    ("RECEIVE_AND_POST", 0x0D00),
    ("REQUEST_TO_SEND", 0x0E00),
    ("SEND_DATA", 0x0F00),
    ("SEND_ERROR", 0x1000),
    ("TEST_RTS", 0x1200),
    ("TP_ENDED", 0x1300),
    ("TP_STARTED", 0x1400),
    ("RECEIVE_ALLOCATE", 0x1600),
    ("SEND_CONVERSATION", 0x1800),
    ("TEST_RTS_AND_POST", 0x8100),
    ("POST_ON_RECEIPT", 0x8200),
];

fn documented(verb: &str) -> u16 {
    DOCUMENTED
        .iter()
        .find(|(name, _)| *name == verb)
        .unwrap_or_else(|| panic!("{verb} is not in the documented table"))
        .1
}

/// The bare engine's verb name; the match is exhaustive, so a new variant
/// does not compile until it is named (and so checked) here.
fn engine_name(op: Opcode) -> &'static str {
    match op {
        Opcode::Allocate => "ALLOCATE",
        Opcode::SendData => "SEND_DATA",
        Opcode::ReceiveAndWait => "RECEIVE_AND_WAIT",
        Opcode::Deallocate => "DEALLOCATE",
    }
}

#[test]
fn the_bare_engine_opcodes_are_the_documented_values() {
    for op in [
        Opcode::Allocate,
        Opcode::SendData,
        Opcode::ReceiveAndWait,
        Opcode::Deallocate,
    ] {
        let name = engine_name(op);
        assert_eq!(op as u16, documented(name), "Opcode::{op:?} ({name})");
    }
}

#[test]
fn the_appc_layer_opcodes_are_the_documented_values() {
    let constants = [
        ("ALLOCATE", opcode::ALLOCATE),
        ("CONFIRM", opcode::CONFIRM),
        ("CONFIRMED", opcode::CONFIRMED),
        ("DEALLOCATE", opcode::DEALLOCATE),
        ("FLUSH", opcode::FLUSH),
        ("GET_ATTRIBUTES", opcode::GET_ATTRIBUTES),
        ("GET_TYPE", opcode::GET_TYPE),
        ("GET_STATE", opcode::GET_STATE),
        ("PREPARE_TO_RECEIVE", opcode::PREPARE_TO_RECEIVE),
        ("RECEIVE_AND_WAIT", opcode::RECEIVE_AND_WAIT),
        ("RECEIVE_IMMEDIATE", opcode::RECEIVE_IMMEDIATE),
        ("RECEIVE_AND_POST", opcode::RECEIVE_AND_POST),
        ("REQUEST_TO_SEND", opcode::REQUEST_TO_SEND),
        ("SEND_DATA", opcode::SEND_DATA),
        ("SEND_ERROR", opcode::SEND_ERROR),
        ("TEST_RTS", opcode::TEST_RTS),
        ("TP_ENDED", opcode::TP_ENDED),
        ("TP_STARTED", opcode::TP_STARTED),
        ("RECEIVE_ALLOCATE", opcode::RECEIVE_ALLOCATE),
        ("SEND_CONVERSATION", opcode::SEND_CONVERSATION),
        ("TEST_RTS_AND_POST", opcode::TEST_RTS_AND_POST),
        ("POST_ON_RECEIPT", opcode::POST_ON_RECEIPT),
    ];
    for (name, value) in constants {
        assert_eq!(value, documented(name), "opcode::{name}");
    }
    assert_eq!(
        constants.len(),
        DOCUMENTED.len(),
        "every row of the table is checked"
    );
}
