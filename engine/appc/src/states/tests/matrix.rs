//! The verb × state matrix, cell by cell: `MATRIX` against the table of
//! `docs/api.md#verb-by-state` written again from the documentation, for
//! both entry points and both sync levels, and the state codes.

use crate::states::*;
use ConvState::*;

use super::all_steps;

/// The table's column order.
const REF_COLUMNS: [ConvState; 8] = [
    Reset,
    Send,
    SendPending,
    Receive,
    Confirm,
    ConfirmSend,
    ConfirmDeallocate,
    PendingPost,
];

const BOTH: &[Entry] = &[Entry::Blocking, Entry::Async];
const SYNC_LEVELS: &[u8] = &[values::SYNC_NONE, values::SYNC_CONFIRM];

/// One row of `docs/api.md#verb-by-state`, written again from the documentation. Tokens: `X`
/// reject, `=` no change, a state name for the state on AP_OK, `rcv`
/// for "per `docs/api.md#what_rcvd`", `post` for "PP, then per `docs/api.md#what_rcvd`".
struct Expected {
    verb: &'static str,
    steps: &'static [Step],
    entries: &'static [Entry],
    sync_levels: &'static [u8],
    grid: &'static str,
    reject: SecondaryRc,
}

/// An expected row, for both entries and both sync levels.
fn row(
    verb: &'static str,
    steps: &'static [Step],
    grid: &'static str,
    reject: SecondaryRc,
) -> Expected {
    Expected {
        verb,
        steps,
        entries: BOTH,
        sync_levels: SYNC_LEVELS,
        grid,
        reject,
    }
}

/// `docs/api.md#verb-by-state`, row by row (and the state-check codes of `docs/api.md#return-codes`).
#[rustfmt::skip]
fn expected_matrix() -> Vec<Expected> {
    use SecondaryRc as Sec;
    use SendKind as SK;
    use DeallocKind as DK;
    let none = SecondaryRc(0);
    let blocking = |e: Expected| Expected { entries: &[Entry::Blocking], ..e };
    let on_async = |e: Expected| Expected { entries: &[Entry::Async], ..e };
    let sync_none = |e: Expected| Expected { sync_levels: &[values::SYNC_NONE], ..e };
    let sync_confirm = |e: Expected| Expected { sync_levels: &[values::SYNC_CONFIRM], ..e };
    vec![
        // Grid columns: T S SP R C CS CD PP.
        row("ALLOCATE",                     &[Step::Allocate],                              "S X X X X X X X", none),
        row("SEND_CONVERSATION",            &[Step::SendConversation],                      "= X X X X X X X", none),
        row("SEND_DATA NONE/FLUSH/CONFIRM", &[Step::SendData(SK::Plain),
                                              Step::SendData(SK::Flush),
                                              Step::SendData(SK::Confirm)],                 "X S S X X X X X", Sec::SEND_DATA_NOT_SEND_STATE),
        row("SEND_DATA P_TO_R_*",           &[Step::SendData(SK::PrepareToReceive)],        "X R R X X X X X", Sec::SEND_DATA_NOT_SEND_STATE),
        row("SEND_DATA DEALLOC_*",          &[Step::SendData(SK::Deallocate),
                                              Step::SendData(SK::DeallocateAbend)],         "X T T X X X X X", Sec::SEND_DATA_NOT_SEND_STATE),
        row("FLUSH",                        &[Step::Flush],                                 "X = S X X X X X", Sec::FLUSH_NOT_SEND_STATE),
        row("CONFIRM",                      &[Step::Confirm],                               "X = S X X X X X", Sec::CONFIRM_BAD_STATE),
        row("PREPARE_TO_RECEIVE",           &[Step::PrepareToReceive],                      "X R R X X X X X", Sec::P_TO_R_NOT_SEND_STATE),
        row("DEALLOCATE FLUSH",             &[Step::Deallocate(DK::Flush)],                 "X T T X X X X X", Sec::DEALLOC_FLUSH_BAD_STATE),
        sync_none(
        row("DEALLOCATE SYNC_LEVEL, NONE",  &[Step::Deallocate(DK::SyncLevel)],             "X T T X X X X X", Sec::DEALLOC_FLUSH_BAD_STATE)),
        sync_confirm(
        row("DEALLOCATE SYNC_LEVEL, CONFIRM", &[Step::Deallocate(DK::SyncLevel)],           "X T T X X X X X", Sec::DEALLOC_CONFIRM_BAD_STATE)),
        row("DEALLOCATE ABEND*",            &[Step::Deallocate(DK::Abend)],                 "X T T T T T T T", none),
        row("CONFIRMED",                    &[Step::Confirmed],                             "X X X X R S T X", Sec::CONFIRMED_BAD_STATE),
        blocking(
        row("RECEIVE_AND_WAIT (blocking)",  &[Step::ReceiveAndWait],                        "X rcv rcv rcv X X X X", Sec::RCV_AND_WAIT_BAD_STATE)),
        on_async(
        row("RECEIVE_AND_WAIT (async)",     &[Step::ReceiveAndWait],                        "X post post post X X X X", Sec::RCV_AND_WAIT_BAD_STATE)),
        row("RECEIVE_IMMEDIATE",            &[Step::ReceiveImmediate],                      "X X X rcv X X X X", Sec::RCV_IMMD_BAD_STATE),
        row("RECEIVE_AND_POST",             &[Step::ReceiveAndPost],                        "X post post post X X X X", Sec::RCV_AND_POST_BAD_STATE),
        row("POST_ON_RECEIPT",              &[Step::PostOnReceipt],                         "X X X = X X X X", none),
        row("REQUEST_TO_SEND",              &[Step::RequestToSend],                         "X X X = = X X =", Sec::R_T_S_BAD_STATE),
        row("SEND_ERROR",                   &[Step::SendError],                             "X S S S S S S S", none),
        row("TEST_RTS, TEST_RTS_AND_POST, GET_ATTRIBUTES, GET_TYPE",
                                            &[Step::TestRts, Step::TestRtsAndPost,
                                              Step::GetAttributes, Step::GetType],          "X = = = = = = =", none),
        row("GET_STATE",                    &[Step::GetState],                              "= = = = = = = =", none),
        row("TP-level verbs",               &[Step::TpVerb],                                "= = = = = = = =", none),
    ]
}

fn state_named(token: &str) -> Option<ConvState> {
    Some(match token {
        "T" => Reset,
        "S" => Send,
        "SP" => SendPending,
        "R" => Receive,
        "C" => Confirm,
        "CS" => ConfirmSend,
        "CD" => ConfirmDeallocate,
        _ => return None,
    })
}

/// Checks one cell: `check`, `while_outstanding` and `after_ok`.
fn assert_cell(row: &Expected, step: Step, entry: Entry, sync: u8, state: ConvState, token: &str) {
    let at = format!(
        "{} / {step:?} / {entry:?} / sync {sync} in {state:?}",
        row.verb
    );
    let checked = check(state, step, entry, sync);
    let outstanding = while_outstanding(state, step, entry);
    let ok = after_ok(state, step);
    match token {
        "X" => {
            assert_eq!(checked, Err(row.reject), "{at}");
            assert_eq!(outstanding, state, "{at}");
            assert_eq!(ok, state, "{at}");
        }
        "=" | "rcv" => {
            assert_eq!(checked, Ok(()), "{at}");
            assert_eq!(outstanding, state, "{at}");
            assert_eq!(ok, state, "{at}");
        }
        "post" => {
            assert_eq!(checked, Ok(()), "{at}");
            assert_eq!(outstanding, PendingPost, "{at}");
            assert_eq!(ok, state, "{at}");
        }
        name => {
            let next = state_named(name).unwrap_or_else(|| panic!("bad token {name}"));
            assert_eq!(checked, Ok(()), "{at}");
            assert_eq!(outstanding, state, "{at}");
            assert_eq!(ok, next, "{at}");
        }
    }
}

#[test]
fn every_cell_of_the_matrix() {
    let rows = expected_matrix();
    let mut cells = 0;
    for row in &rows {
        let tokens: Vec<&str> = row.grid.split_whitespace().collect();
        assert_eq!(tokens.len(), REF_COLUMNS.len(), "{}", row.verb);
        for &step in row.steps {
            for &entry in row.entries {
                for &sync in row.sync_levels {
                    for (&state, &token) in REF_COLUMNS.iter().zip(&tokens) {
                        assert_cell(row, step, entry, sync, state, token);
                        cells += 1;
                    }
                    // PEND_DEALL and END_CONV: closed, like RESET
                    // without ALLOCATE / SEND_CONVERSATION.
                    let open = matches!(step, Step::GetState | Step::TpVerb);
                    for state in [PendDeall, EndConv] {
                        assert_cell(row, step, entry, sync, state, if open { "=" } else { "X" });
                    }
                }
            }
        }
    }
    // Every step and entry is spelled out, at both sync levels.
    for step in all_steps() {
        for &entry in BOTH {
            for &sync in SYNC_LEVELS {
                let listed = rows.iter().any(|row| {
                    row.steps.contains(&step)
                        && row.entries.contains(&entry)
                        && row.sync_levels.contains(&sync)
                });
                assert!(listed, "{step:?} / {entry:?} / sync {sync} missing");
            }
        }
    }
    assert_eq!(
        cells,
        27 * 2 * 2 * 8,
        "27 steps × 2 entries × 2 sync levels × 8 states"
    );
}

#[test]
fn no_input_panics_and_rejects_change_nothing() {
    for step in all_steps() {
        for state in ConvState::ALL {
            for &entry in BOTH {
                for sync in 0..=u8::MAX {
                    if check(state, step, entry, sync).is_err() {
                        assert_eq!(while_outstanding(state, step, entry), state);
                    }
                }
            }
        }
    }
    // Unsupported sync levels are treated like CONFIRM for the code.
    assert_eq!(
        check(
            Receive,
            Step::Deallocate(DeallocKind::SyncLevel),
            Entry::Blocking,
            2
        ),
        Err(SecondaryRc::DEALLOC_CONFIRM_BAD_STATE)
    );
}

#[test]
fn state_codes() {
    let codes: Vec<u8> = ConvState::ALL.iter().map(|s| s.code()).collect();
    assert_eq!(codes, (1..=10).collect::<Vec<u8>>());
    assert_eq!(Reset.code(), 1);
    assert_eq!(PendingPost.code(), 7);
    assert_eq!(SendPending.code(), 10);
}
