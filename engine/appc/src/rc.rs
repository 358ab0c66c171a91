//! APPC return codes: `primary_rc`, `secondary_rc` and `what_rcvd`, with
//! their header names and a `GetAppcReturnCode`-style text.
//!
//! # Values and byte order
//!
//! Every constant here has the *documented* hex value (`AP_STATE_CHECK` is
//! X'0002', so [`PrimaryRc::STATE_CHECK`] is `PrimaryRc(0x0002)`), the value
//! the documentation and the header comments use. The headers store these
//! fields "flipped" (`APPC_FLIPI` / `APPC_FLIPL`): in memory a VCB holds the
//! big-endian (SNA) form, so X'0002' is the bytes `00 02`, and the x86 C
//! constant reads `0x0200`. Convert only at the VCB boundary, with
//! `to_vcb_bytes` / `from_vcb_bytes` on each type. One exception: with
//! [`PrimaryRc::UNEXPECTED_DOS_ERROR`] the documentation says the operating
//! system's error code sits in `secondary_rc` "in Intel byte-swapped order",
//! i.e. not flipped; read it with `u32::from_le_bytes` instead (the exact
//! meaning is unsure).
//!
//! The Windows extension codes returned by the `Win*` functions
//! ([`WAPPCALREADY`](appc_engine::WAPPCALREADY) and friends) are plain integers,
//! never flipped, and live elsewhere; they overlap numerically with primary
//! codes such as X'F002' `AP_TP_BUSY` but are a different field.
//!
//! # Groups
//!
//! A secondary code means something only next to its primary code: the
//! header nests each secondary list under `AP_PARAMETER_CHECK`,
//! `AP_STATE_CHECK`, `AP_ALLOCATION_ERROR` or `AP_BACKED_OUT`, and the values
//! are reused across lists (X'00000003' is `AP_BAD_LU_ALIAS` under a
//! parameter check, but nothing under an allocation error, whose own codes
//! start at X'00000004'). [`return_code_text`] therefore interprets the
//! secondary code only within the groups its primary code defines.
//!
//! # Sources
//!
//! Values are those of `winappc.h` (authoritative where the HIS
//! documentation disagrees: `AP_PROG_ERROR_TRUNC` is X'000D',
//! `AP_PROG_ERROR_PURGING` X'000E' and `AP_SVC_ERROR_TRUNC` X'0012', although
//! the primary-code page lists X'0012' for both TRUNC codes). Codes marked
//! "documentation only" are absent from the header. Meanings follow the HIS
//! documentation.
//!
//! Each type is defined by a single table (the `codes!` invocations below)
//! that yields its constants, their names, their meanings and their docs.

use std::fmt;

/// The buffer size the documentation recommends for [`get_appc_return_code`];
/// every known code's text fits in it.
pub const RECOMMENDED_BUFFER: usize = 256;

/// The families of secondary codes, each defined for some primary codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    /// Nested under `AP_PARAMETER_CHECK` in the header.
    Parameter,
    /// Nested under `AP_STATE_CHECK`.
    State,
    /// Nested under `AP_ALLOCATION_ERROR` (mostly SNA sense codes).
    Allocation,
    /// Nested under `AP_BACKED_OUT` (sync point).
    Backout,
    /// CNOS and DISPLAY codes (documentation only; their primary code is
    /// not documented, so they are read under `AP_OK`, the CNOS rejects and
    /// `AP_PARAMETER_CHECK`).
    Management,
}

use Group::{Allocation, Backout, Management, Parameter, State};

/// One row of a code table: the value, its header name, and its meaning.
/// `extra` is per-type data: for a primary code, the secondary groups it
/// defines; for a secondary code, its group.
struct CodeRow<T, X> {
    value: T,
    name: &'static str,
    meaning: &'static str,
    extra: X,
}

/// The table row for `value`, if it is known.
fn find<T: Copy + PartialEq, X>(
    table: &'static [CodeRow<T, X>],
    value: T,
) -> Option<&'static CodeRow<T, X>> {
    table.iter().find(|entry| entry.value == value)
}

/// Defines a code type from one table: the newtype, one documented constant
/// per row (named `AP_` + the constant's name), the table itself, `name`,
/// `meaning`, the flipped VCB conversions and a symbolic `Debug`.
macro_rules! codes {
    (
        $(#[$type_attr:meta])*
        $ty:ident($repr:ty) in $table:ident;
        $(
            $(#[$attr:meta])*
            $konst:ident = $value:literal, $meaning:literal;
        )*
    ) => {
        codes! {
            $(#[$type_attr])*
            $ty($repr) in $table, extra ();
            $( $(#[$attr])* $konst = $value, (), $meaning; )*
        }
    };
    (
        $(#[$type_attr:meta])*
        $ty:ident($repr:ty) in $table:ident, extra $extra_ty:ty;
        $(
            $(#[$attr:meta])*
            $konst:ident = $value:literal, $extra:expr, $meaning:literal;
        )*
    ) => {
        $(#[$type_attr])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
        pub struct $ty(pub $repr);

        impl $ty {
            $(
                #[doc = concat!(
                    "`AP_", stringify!($konst), "` (`", stringify!($value), "`): ",
                    $meaning, "."
                )]
                $(#[$attr])*
                pub const $konst: Self = Self($value);
            )*

            /// The header's symbolic name (with the `AP_` prefix), or `None`
            /// for a value this module does not know.
            pub fn name(self) -> Option<&'static str> {
                find($table, self).map(|entry| entry.name)
            }

            /// A short English meaning, or `None` for an unknown value.
            pub fn meaning(self) -> Option<&'static str> {
                find($table, self).map(|entry| entry.meaning)
            }

            /// The bytes a VCB holds for this value: its big-endian
            /// ("flipped") form.
            pub const fn to_vcb_bytes(self) -> [u8; ::std::mem::size_of::<$repr>()] {
                self.0.to_be_bytes()
            }

            /// The value a VCB's (big-endian, "flipped") bytes hold.
            pub const fn from_vcb_bytes(bytes: [u8; ::std::mem::size_of::<$repr>()]) -> Self {
                Self(<$repr>::from_be_bytes(bytes))
            }
        }

        static $table: &[CodeRow<$ty, $extra_ty>] = &[
            $(
                CodeRow {
                    value: $ty::$konst,
                    name: concat!("AP_", stringify!($konst)),
                    meaning: $meaning,
                    extra: $extra,
                },
            )*
        ];

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(
                        f,
                        concat!(stringify!($ty), "({:#0width$x})"),
                        self.0,
                        width = 2 + 2 * ::std::mem::size_of::<$repr>(),
                    ),
                }
            }
        }
    };
}

codes! {
    /// A `primary_rc` value (documented hex; see the module docs for the
    /// flipped VCB form).
    PrimaryRc(u16) in PRIMARY, extra &'static [Group];

    OK = 0x0000, &[Management], "the verb completed successfully";
    /// The verb was not executed and the conversation state is unchanged.
    PARAMETER_CHECK = 0x0001, &[Parameter, Management],
        "a parameter of the verb was not valid, so the verb was not executed";
    /// The verb was not executed and the conversation state is unchanged.
    STATE_CHECK = 0x0002, &[State],
        "the verb was issued in a conversation state that does not allow it";
    /// ALLOCATE is buffered, so this can be returned on any later verb. The
    /// conversation goes to RESET.
    ALLOCATION_ERROR = 0x0003, &[Allocation],
        "the conversation could not be allocated (may be reported on a later verb)";
    /// Mapped conversations. The conversation goes to RESET.
    DEALLOC_ABEND = 0x0005, &[],
        "the partner deallocated the mapped conversation abnormally (AP_ABEND or a TP abend)";
    /// Basic conversations. The conversation goes to RESET.
    DEALLOC_ABEND_PROG = 0x0006, &[],
        "the partner issued DEALLOCATE with AP_ABEND_PROG, or its TP ended abnormally";
    /// Basic conversations. The conversation goes to RESET.
    DEALLOC_ABEND_SVC = 0x0007, &[], "the partner issued DEALLOCATE with AP_ABEND_SVC";
    /// Basic conversations. The conversation goes to RESET.
    DEALLOC_ABEND_TIMER = 0x0008, &[], "the partner issued DEALLOCATE with AP_ABEND_TIMER";
    /// Not an error (FLUSH, or SYNC_LEVEL at sync level NONE). The
    /// conversation goes to RESET.
    DEALLOC_NORMAL = 0x0009, &[],
        "the partner deallocated the conversation without asking for confirmation";
    PROG_ERROR_NO_TRUNC = 0x000C, &[],
        "the partner issued SEND_ERROR (AP_PROG) in SEND state at a logical-record boundary";
    /// The header's value; the documentation's primary-code page wrongly
    /// gives X'0012' (shared with `AP_SVC_ERROR_TRUNC`).
    PROG_ERROR_TRUNC = 0x000D, &[],
        "the partner issued SEND_ERROR (AP_PROG) in SEND state in the middle of a logical record";
    /// The header's value; missing from the documentation's primary-code page.
    /// The local program goes to RECEIVE.
    PROG_ERROR_PURGING = 0x000E, &[],
        "the partner issued SEND_ERROR (AP_PROG) while receiving or confirming; unreceived data was purged";
    /// The conversation goes to RESET.
    CONV_FAILURE_RETRY = 0x000F, &[],
        "the conversation failed because of a temporary condition such as session loss; retry";
    /// The conversation goes to RESET.
    CONV_FAILURE_NO_RETRY = 0x0010, &[],
        "the conversation failed because of a permanent condition such as a protocol error";
    SVC_ERROR_NO_TRUNC = 0x0011, &[],
        "the partner issued SEND_ERROR (AP_SVC) in SEND state at a logical-record boundary";
    /// The header's value (the documentation lists it together with
    /// `AP_PROG_ERROR_TRUNC`).
    SVC_ERROR_TRUNC = 0x0012, &[],
        "the partner issued SEND_ERROR (AP_SVC) in SEND state in the middle of a logical record";
    /// The local program goes to RECEIVE.
    SVC_ERROR_PURGING = 0x0013, &[],
        "the partner issued SEND_ERROR (AP_SVC) while receiving or confirming; unreceived data was purged";
    /// The conversation state is unchanged.
    UNSUCCESSFUL = 0x0014, &[],
        "nothing to report: no data is available (RECEIVE_IMMEDIATE) or no request to send (TEST_RTS)";
    /// Documentation only (CNOS).
    CNOS_LOCAL_RACE_REJECT = 0x0017, &[Management],
        "APPC is already processing a CNOS verb issued by the local LU";
    /// Documentation only (CNOS).
    CNOS_PARTNER_LU_REJECT = 0x0018, &[Management], "the partner LU rejected the CNOS request";
    CONVERSATION_TYPE_MIXED = 0x0019, &[],
        "basic and mapped conversation verbs were mixed on one conversation";
    /// The documentation spells it `AP_CANCELED`; the header `AP_CANCELLED`.
    CANCELLED = 0x0021, &[],
        "the outstanding verb was cancelled (abend DEALLOCATE, SEND_ERROR, TP_ENDED or WinAPPCCancelAsyncRequest)";
    SECURITY_REQUESTED_NOT_SUPPORTED = 0x0022, &[],
        "the requested conversation security is not supported";
    /// Sync point. The header's comment wrongly says X'0022'.
    BACKED_OUT = 0x0023, &[Backout], "the sync point transaction was backed out";
    /// ACTIVATE_SESSION.
    ACTIVATION_FAIL_RETRY = 0x0310, &[],
        "the session could not be activated because of a temporary condition; retry";
    /// ACTIVATE_SESSION.
    ACTIVATION_FAIL_NO_RETRY = 0x0311, &[],
        "the session could not be activated because of a permanent condition";
    /// ACTIVATE_SESSION.
    SESSION_LIMITS_CLOSED = 0x0312, &[], "the session limits for the mode are closed";
    /// ACTIVATE_SESSION.
    SESSION_LIMITS_EXCEEDED = 0x0313, &[],
        "activating the session would exceed the session limits for the mode";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    VERB_IN_PROGRESS = 0x0314, &[],
        "another session activation or deactivation verb is already in progress";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    SESSION_DEACTIVATED = 0x0315, &[], "the session was deactivated";
    /// Several threads are using the same `tp_id`.
    TP_BUSY = 0xF002, &[], "APPC is already processing another call for this TP";
    /// The conversation goes to RESET.
    COMM_SUBSYSTEM_ABENDED = 0xF003, &[],
        "the node, the connection to it, or the local SnaBase ended abnormally";
    /// With ALLOCATE, often an unconfigured or unpadded LU alias or mode name.
    COMM_SUBSYSTEM_NOT_LOADED = 0xF004, &[],
        "a required component is not loaded or has ended (secondary X'F0000001': no node started, \
         X'F0000002': local LU on no active node)";
    CONV_BUSY = 0xF005, &[], "another verb is already outstanding on this conversation";
    THREAD_BLOCKING = 0xF006, &[], "the calling thread is already in a blocking APPC call";
    INVALID_VERB_SEGMENT = 0xF008, &[],
        "the verb control block extends beyond the end of its data segment";
    /// Two-phase commit (DTC).
    CANT_ENLIST_TX = 0xF009, &[],
        "the conversation could not be enlisted in the distributed transaction";
    /// Two-phase commit (DTC).
    CANT_CONTACT_DTC = 0xF00A, &[],
        "the Distributed Transaction Coordinator (DTC) could not be contacted";
    /// The operating system's code is in `secondary_rc`, not flipped (see
    /// the module docs). Also seen when TP control blocks run out because
    /// TP_ENDED was never issued.
    UNEXPECTED_DOS_ERROR = 0xF011, &[],
        "the operating system returned an error while APPC processed the verb";
    STACK_TOO_SMALL = 0xF015, &[], "the application's stack is too small to execute the verb";
    /// Documentation only.
    INVALID_KEY = 0xF020, &[], "the supplied key was not correct";
    /// Also returned by GET_TP_PROPERTIES for an unrecognised LUWID.
    INVALID_VERB = 0xFFFF, &[], "the verb's opcode is not recognised";
}

codes! {
    /// A `secondary_rc` value (documented hex; see the module docs for the
    /// flipped VCB form). Its meaning depends on the primary code: see
    /// [`return_code_text`].
    SecondaryRc(u32) in SECONDARY, extra Group;

    // With AP_PARAMETER_CHECK.
    BAD_TP_ID = 0x00000001, Parameter, "tp_id does not match a TP identifier assigned by APPC";
    BAD_CONV_ID = 0x00000002, Parameter,
        "conv_id does not match a conversation identifier assigned by APPC";
    BAD_LU_ALIAS = 0x00000003, Parameter, "lu_alias is not one of the defined LU aliases";
    INVALID_DATA_SEGMENT = 0x00000006, Parameter,
        "the PIP data is longer than its segment, or its buffer address is wrong";
    BAD_CONV_TYPE = 0x00000011, Parameter, "conv_type is not valid";
    BAD_SYNC_LEVEL = 0x00000012, Parameter, "sync_level is not valid";
    BAD_SECURITY = 0x00000013, Parameter, "security is not valid";
    BAD_RETURN_CONTROL = 0x00000014, Parameter, "rtn_ctl is not valid";
    PIP_LEN_INCORRECT = 0x00000016, Parameter, "the PIP data length is not valid";
    NO_USE_OF_SNASVCMG = 0x00000017, Parameter, "SNASVCMG is not a valid mode_name";
    UNKNOWN_PARTNER_MODE = 0x00000018, Parameter, "mode_name is not a known mode";
    CONFIRM_ON_SYNC_LEVEL_NONE = 0x00000031, Parameter,
        "CONFIRM was issued on a conversation with sync_level AP_NONE";
    DEALLOC_BAD_TYPE = 0x00000051, Parameter, "dealloc_type is not valid";
    DEALLOC_LOG_LL_WRONG = 0x00000057, Parameter,
        "DEALLOCATE: the LL of the error log GDS variable does not match the log data";
    P_TO_R_INVALID_TYPE = 0x000000A1, Parameter, "ptr_type is not valid";
    RCV_AND_WAIT_BAD_FILL = 0x000000B5, Parameter, "fill is not valid on RECEIVE_AND_WAIT";
    /// The documentation's secondary-code page files it out of order.
    RCV_IMMD_BAD_FILL = 0x000000C4, Parameter, "fill is not valid on RECEIVE_IMMEDIATE";
    RCV_AND_POST_BAD_FILL = 0x000000D5, Parameter, "fill is not valid on RECEIVE_AND_POST";
    INVALID_SEMAPHORE_HANDLE = 0x000000D6, Parameter,
        "the semaphore or event handle is not valid";
    BAD_RETURN_STATUS_WITH_DATA = 0x000000D7, Parameter, "rtn_status is not valid";
    BAD_LL = 0x000000F1, Parameter,
        "a logical record length is not valid (X'0000', X'0001', X'8000' or X'8001')";
    SEND_DATA_INVALID_TYPE = 0x000000F4, Parameter, "the SEND_DATA type is not valid";
    /// The documentation spells it `AP_SEND_DATA_CONFIRM_ON_SYNC_NONE`.
    SEND_DATA_CONFIRM_SYNC_NONE = 0x000000F5, Parameter,
        "SEND_DATA type CONFIRM on a conversation with sync_level AP_NONE";
    SEND_ERROR_LOG_LL_WRONG = 0x00000102, Parameter,
        "SEND_ERROR: the LL of the error log GDS variable does not match the log data";
    SEND_ERROR_BAD_TYPE = 0x00000103, Parameter, "err_type is not valid";
    BAD_ERROR_DIRECTION = 0x00000105, Parameter, "err_dir is not valid";
    /// Also listed among the CNOS codes by the documentation.
    BAD_PARTNER_LU_ALIAS = 0x0000015B, Parameter, "the partner LU alias is not recognised";
    TOO_MANY_TPS = 0x00000243, Parameter, "too many TPs are active";
    BAD_TYPE = 0x00000250, Parameter, "type is not valid";
    UNDEFINED_TP_NAME = 0x00000506, Parameter, "no invokable TP is configured with this tp_name";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    INVALID_SESSION_ID = 0x00000512, Parameter, "session_id is not valid";
    /// ACTIVATE_SESSION.
    INVALID_POLARITY = 0x00000513, Parameter, "polarity is not valid";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    INVALID_TYPE = 0x00000514, Parameter, "the activation or deactivation type is not valid";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    INVALID_LU_ALIAS = 0x00000515, Parameter, "lu_alias is not valid";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    INVALID_PLU_ALIAS = 0x00000516, Parameter, "plu_alias is not valid";
    /// ACTIVATE_SESSION / DEACTIVATE_SESSION.
    INVALID_MODE_NAME = 0x00000517, Parameter, "mode_name is not valid";
    /// Two-phase commit (ENLIST).
    INVALID_TRANSACT_ID = 0x00000518, Parameter, "the transaction identifier is not valid";
    /// Sync point (SET_TP_PROPERTIES).
    INVALID_SET_PROT = 0x00000700, Parameter, "set_prot_id is not AP_NO or AP_YES";
    /// Sync point (SET_TP_PROPERTIES).
    INVALID_NEW_PROT = 0x00000701, Parameter, "new_prot_id is not AP_NO or AP_YES";
    /// Sync point (SET_TP_PROPERTIES).
    INVALID_SET_UNPROT = 0x00000702, Parameter, "set_unprot_id is not AP_NO or AP_YES";
    /// Sync point (SET_TP_PROPERTIES).
    INVALID_NEW_UNPROT = 0x00000703, Parameter, "new_unprot_id is not AP_NO or AP_YES";
    /// Sync point (SET_TP_PROPERTIES).
    INVALID_SET_USER = 0x00000704, Parameter, "set_user_id is not AP_NO or AP_YES";
    /// Sync point.
    INVALID_DATA_TYPE = 0x00000705, Parameter, "data_type is not valid";
    BAD_LOCAL_LU_ALIAS = 0x01000003, Parameter, "the local LU alias is not valid";
    BAD_REMOTE_LU_ALIAS = 0x02000003, Parameter, "the remote LU alias is not valid";
    POST_ON_RECEIPT_BAD_FILL = 0x03000003, Parameter, "fill is not valid on POST_ON_RECEIPT";

    // With AP_STATE_CHECK.
    CONFIRM_BAD_STATE = 0x00000032, State, "CONFIRM issued outside SEND state";
    CONFIRM_NOT_LL_BDY = 0x00000033, State,
        "CONFIRM issued in SEND state before a logical record was finished";
    CONFIRMED_BAD_STATE = 0x00000041, State,
        "CONFIRMED issued outside CONFIRM, CONFIRM_SEND or CONFIRM_DEALLOCATE state";
    DEALLOC_FLUSH_BAD_STATE = 0x00000052, State,
        "DEALLOCATE (AP_FLUSH, or AP_SYNC_LEVEL at sync level NONE) issued outside SEND state";
    DEALLOC_CONFIRM_BAD_STATE = 0x00000053, State,
        "DEALLOCATE (AP_SYNC_LEVEL at sync level CONFIRM) issued outside SEND state";
    DEALLOC_NOT_LL_BDY = 0x00000055, State,
        "DEALLOCATE issued in SEND state before a logical record was finished";
    FLUSH_NOT_SEND_STATE = 0x00000061, State, "FLUSH issued outside SEND state";
    P_TO_R_NOT_LL_BDY = 0x000000A2, State,
        "PREPARE_TO_RECEIVE issued before a logical record was finished";
    P_TO_R_NOT_SEND_STATE = 0x000000A3, State, "PREPARE_TO_RECEIVE issued outside SEND state";
    RCV_AND_WAIT_BAD_STATE = 0x000000B1, State,
        "RECEIVE_AND_WAIT issued outside RECEIVE or SEND state";
    RCV_AND_WAIT_NOT_LL_BDY = 0x000000B2, State,
        "RECEIVE_AND_WAIT issued in SEND state before a logical record was finished";
    RCV_IMMD_BAD_STATE = 0x000000C1, State, "RECEIVE_IMMEDIATE issued outside RECEIVE state";
    RCV_AND_POST_BAD_STATE = 0x000000D1, State,
        "RECEIVE_AND_POST issued outside RECEIVE or SEND state";
    RCV_AND_POST_NOT_LL_BDY = 0x000000D2, State,
        "RECEIVE_AND_POST issued in SEND state before a logical record was finished";
    R_T_S_BAD_STATE = 0x000000E1, State, "REQUEST_TO_SEND issued in a state that does not allow it";
    SEND_DATA_NOT_SEND_STATE = 0x000000F2, State, "SEND_DATA issued outside SEND state";
    SEND_DATA_NOT_LL_BDY = 0x000000F6, State,
        "SEND_DATA with a confirm, flush or deallocate type before a logical record was finished";
    ATTACH_MANAGER_INACTIVE = 0x00000508, State, "the attach manager is not active";
    ALLOCATE_NOT_PENDING = 0x00000509, State,
        "RECEIVE_ALLOCATE timed out waiting for an incoming allocate";
    LU_ALREADY_REGISTERED = 0x0000050A, State,
        "another attach manager is already registered for this local LU";
    INVALID_PROCESS = 0x00000525, State,
        "RECEIVE_ALLOCATE was issued by a process other than the one APPC started";

    // With AP_ALLOCATION_ERROR.
    ALLOCATION_FAILURE_NO_RETRY = 0x00000004, Allocation,
        "permanent condition (configuration or session protocol error); do not retry";
    ALLOCATION_FAILURE_RETRY = 0x00000005, Allocation,
        "temporary condition such as a link failure; retry";
    SECURITY_NOT_VALID = 0x080F6051, Allocation, "the partner LU rejected the user ID or password";
    TRANS_PGM_NOT_AVAIL_RETRY = 0x084B6031, Allocation,
        "the partner LU could not start the TP for now; retry";
    TRANS_PGM_NOT_AVAIL_NO_RETRY = 0x084C0000, Allocation,
        "the partner LU could not start the TP (permanent condition)";
    TP_NAME_NOT_RECOGNIZED = 0x10086021, Allocation, "the partner LU does not recognise the TP name";
    PIP_NOT_ALLOWED = 0x10086031, Allocation, "PIP data was sent but the partner does not accept it";
    PIP_NOT_SPECIFIED_CORRECTLY = 0x10086032, Allocation,
        "the partner TP requires PIP data that was missing or wrong";
    CONVERSATION_TYPE_MISMATCH = 0x10086034, Allocation,
        "the partner does not support the conversation type (basic or mapped)";
    SYNC_LEVEL_NOT_SUPPORTED = 0x10086041, Allocation,
        "the partner TP does not support the sync_level";
    /// Sent when an attach manager rejects with `dealloc_type` 0x10.
    SECURITY_NOT_VALID_PASSWORD_EXPIRED = 0x080FFF00, Allocation,
        "security rejected: password expired";
    /// Sent when an attach manager rejects with `dealloc_type` 0x11.
    SECURITY_NOT_VALID_PASSWORD_INVALID = 0x080FFF01, Allocation,
        "security rejected: password not valid";
    /// Sent when an attach manager rejects with `dealloc_type` 0x12.
    SECURITY_NOT_VALID_USERID_REVOKED = 0x080FFF02, Allocation,
        "security rejected: user ID revoked";
    /// Sent when an attach manager rejects with `dealloc_type` 0x13.
    SECURITY_NOT_VALID_USERID_INVALID = 0x080FFF03, Allocation,
        "security rejected: user ID not valid";
    /// Sent when an attach manager rejects with `dealloc_type` 0x14.
    SECURITY_NOT_VALID_USERID_MISSING = 0x080FFF04, Allocation,
        "security rejected: user ID missing";
    /// Sent when an attach manager rejects with `dealloc_type` 0x15.
    SECURITY_NOT_VALID_PASSWORD_MISSING = 0x080FFF05, Allocation,
        "security rejected: password missing";
    /// Sent when an attach manager rejects with `dealloc_type` 0x16.
    SECURITY_NOT_VALID_GROUP_INVALID = 0x080FFF06, Allocation,
        "security rejected: group not valid";
    /// Sent when an attach manager rejects with `dealloc_type` 0x17.
    SECURITY_NOT_VALID_USERID_REVOKED_IN_GROUP = 0x080FFF07, Allocation,
        "security rejected: user ID revoked in the group";
    /// Sent when an attach manager rejects with `dealloc_type` 0x18.
    SECURITY_NOT_VALID_USERID_NOT_DEFD_TO_GROUP = 0x080FFF08, Allocation,
        "security rejected: user ID not defined to the group";
    /// Sent when an attach manager rejects with `dealloc_type` 0x19.
    SECURITY_NOT_VALID_NOT_AUTHORIZED_AT_REMOTE_LU = 0x080FFF09, Allocation,
        "security rejected: not authorized at the remote LU";
    /// Sent when an attach manager rejects with `dealloc_type` 0x1A.
    SECURITY_NOT_VALID_NOT_AUTHORIZED_FROM_LOCAL_LU = 0x080FFF0A, Allocation,
        "security rejected: not authorized from the local LU";
    /// Sent when an attach manager rejects with `dealloc_type` 0x1B.
    SECURITY_NOT_VALID_NOT_AUTHORIZED_TO_TRANSACTION_PROGRAM = 0x080FFF0B, Allocation,
        "security rejected: not authorized to the TP";
    /// Sent when an attach manager rejects with `dealloc_type` 0x1C.
    SECURITY_NOT_VALID_INSTALLATION_EXIT_FAILED = 0x080FFF0C, Allocation,
        "security rejected: installation exit failed";
    /// Sent when an attach manager rejects with `dealloc_type` 0x1D.
    SECURITY_NOT_VALID_PROCESSING_FAILURE = 0x080FFF0D, Allocation,
        "security rejected: security processing failed";
    /// Sent when an attach manager rejects with `dealloc_type` 0x1E.
    SECURITY_NOT_VALID_PROTOCOL_VIOLATION = 0x080FFF0E, Allocation,
        "security rejected: protocol violation";

    // With AP_BACKED_OUT (sync point).
    BO_NO_RESYNC = 0x08240000, Backout, "backed out without resynchronization";
    BO_RESYNC = 0x08240001, Backout, "backed out with resynchronization";

    // CNOS and DISPLAY (documentation only).
    /// Documentation only (CNOS).
    CNOS_NEGOTIATED = 0x00000007, Management,
        "CNOS accepted, with the session limits negotiated by the partner LU";
    /// Documentation only (CNOS).
    CNOS_IMPLICIT_PARALLEL = 0x00000150, Management,
        "limits of the implicit parallel-session partner template cannot be changed";
    /// Documentation only (CNOS).
    CANT_RAISE_LIMITS = 0x00000151, Management,
        "session limits can be set non-zero only while they are zero";
    /// Documentation only (CNOS).
    AUTOACT_EXCEEDS_SESSLIM = 0x00000152, Management,
        "auto_activate exceeds the partner LU mode session limit";
    /// Documentation only (CNOS).
    ALL_MODE_MUST_RESET = 0x00000153, Management,
        "a non-zero session limit is not allowed when mode_name_select is ALL";
    /// Documentation only (CNOS).
    BAD_SNASVCMG_LIMITS = 0x00000154, Management, "the SNASVCMG session limits are not valid";
    /// Documentation only (CNOS).
    MIN_GT_TOTAL = 0x00000155, Management,
        "the minimum contention winners exceed the session limit";
    /// Documentation only (CNOS).
    MODE_CLOSED = 0x00000156, Management,
        "the partner's maximum session limit for the mode is zero";
    /// Documentation only (CNOS).
    CNOS_MODE_NAME_REJECT = 0x00000157, Management, "the partner LU does not recognise the mode name";
    /// Documentation only (CNOS).
    RESET_SNA_DRAINS = 0x00000159, Management, "SNASVCMG does not support the drain values";
    /// Documentation only (CNOS).
    SINGLE_NOT_SRC_RESP = 0x0000015A, Management,
        "for a single session only the local LU may be responsible for deactivation";
    /// Documentation only (CNOS).
    EXCEEDS_MAX_ALLOWED = 0x0000015C, Management,
        "the session limit exceeds the maximum allowed and set_negotiable is NO";
    /// Documentation only (CNOS).
    CHANGE_SRC_DRAINS = 0x0000015D, Management,
        "drain_source YES is not allowed while drain_source NO is in effect";
    /// Documentation only (CNOS).
    LU_DETACHED = 0x0000015E, Management, "the local LU definition was reset during CNOS";
    /// Documentation only (CNOS).
    CNOS_COMMAND_RACE_REJECT = 0x0000015F, Management,
        "the local LU is processing a CNOS verb issued by the partner LU";
    /// Documentation only (CNOS).
    SNASVCMG_RESET_NOT_ALLOWED = 0x00000167, Management,
        "the SNASVCMG session limit cannot be set to zero";
    /// Documentation only (DISPLAY).
    DISPLAY_INFO_EXCEEDS_LENGTH = 0x000001B4, Management,
        "the DISPLAY information did not fit in the buffer";
    /// Documentation only (DISPLAY), which spells it without the `AP_` prefix.
    DISPLAY_INVALID_CONSTANT = 0x000001B5, Management, "NUM_SECTIONS or INIT_SEC_LEN is not valid";
}

impl SecondaryRc {
    /// `AP_CNOS_ACCEPTED` (`0x00000000`): APPC accepts the CNOS session
    /// limits and responsibility as specified (documentation only).
    ///
    /// Zero is also the "no secondary code" of every other verb, so this
    /// constant is not in the name table: `SecondaryRc(0).name()` is `None`.
    pub const CNOS_ACCEPTED: Self = Self(0x00000000);

    /// The `AP_SECURITY_NOT_VALID_*` code (X'080FFF00' + `detail`) for
    /// `detail` 0x00 to 0x0E, the sense an attach manager's reject with
    /// `dealloc_type` 0x10 + `detail` sends; `None` above 0x0E.
    pub const fn security_not_valid(detail: u8) -> Option<Self> {
        if detail <= 0x0E {
            Some(Self(
                Self::SECURITY_NOT_VALID_PASSWORD_EXPIRED.0 + detail as u32,
            ))
        } else {
            None
        }
    }
}

codes! {
    /// A `what_rcvd` value (documented hex; see the module docs for the
    /// flipped VCB form). The low byte says what data arrived, the high byte
    /// what status; combined values appear only with `rtn_status = AP_YES`.
    WhatRcvd(u16) in WHAT_RCVD;

    NONE = 0x0000, "nothing was received (possible when max_len is 0)";
    DATA = 0x0001, "a buffer of data with no record boundary (basic conversation, fill AP_BUFFER)";
    DATA_COMPLETE = 0x0002, "a complete logical record, or the last piece of one";
    /// POST_ON_RECEIPT.
    NOT_DATA = 0x0003, "status, not data, is waiting to be received";
    DATA_INCOMPLETE = 0x0004, "part of a logical record; receive again for the rest";
    /// Sync point.
    USER_CONTROL_DATA_COMPLETE = 0x0008, "complete user control data";
    /// Sync point.
    USER_CONTROL_DATA_INCOMPLETE = 0x0010, "part of the user control data";
    /// Sync point.
    PS_HEADER_COMPLETE = 0x0020, "a complete PS header";
    /// Sync point.
    PS_HEADER_INCOMPLETE = 0x0040, "part of a PS header";
    SEND = 0x0100, "the partner entered RECEIVE state; the local program is now in SEND state";
    CONFIRM_WHAT_RECEIVED = 0x0200, "the partner issued CONFIRM";
    CONFIRM_SEND = 0x0300, "the partner issued PREPARE_TO_RECEIVE at sync level CONFIRM";
    CONFIRM_DEALLOCATE = 0x0400, "the partner issued DEALLOCATE at sync level CONFIRM";
    DATA_SEND = 0x0101, "AP_DATA together with AP_SEND";
    DATA_CONFIRM = 0x0201, "AP_DATA together with AP_CONFIRM_WHAT_RECEIVED";
    DATA_CONFIRM_SEND = 0x0301, "AP_DATA together with AP_CONFIRM_SEND";
    DATA_CONFIRM_DEALLOCATE = 0x0401, "AP_DATA together with AP_CONFIRM_DEALLOCATE";
    DATA_COMPLETE_SEND = 0x0102, "AP_DATA_COMPLETE together with AP_SEND";
    DATA_COMPLETE_CONFIRM = 0x0202, "AP_DATA_COMPLETE together with AP_CONFIRM_WHAT_RECEIVED";
    DATA_COMPLETE_CONFIRM_SEND = 0x0302, "AP_DATA_COMPLETE together with AP_CONFIRM_SEND";
    DATA_COMPLETE_CONFIRM_DEALL = 0x0402, "AP_DATA_COMPLETE together with AP_CONFIRM_DEALLOCATE";
}

impl WhatRcvd {
    /// The data part (low byte), e.g. [`WhatRcvd::DATA_COMPLETE`] for
    /// [`WhatRcvd::DATA_COMPLETE_SEND`]; [`WhatRcvd::NONE`] if only status.
    pub const fn data_part(self) -> WhatRcvd {
        WhatRcvd(self.0 & 0x00FF)
    }

    /// The status part (high byte), e.g. [`WhatRcvd::SEND`] for
    /// [`WhatRcvd::DATA_COMPLETE_SEND`]; [`WhatRcvd::NONE`] if only data.
    pub const fn status_part(self) -> WhatRcvd {
        WhatRcvd(self.0 & 0xFF00)
    }

    /// The combined value: `data`'s low byte with `status`'s high byte.
    pub const fn combine(data: WhatRcvd, status: WhatRcvd) -> WhatRcvd {
        WhatRcvd(data.data_part().0 | status.status_part().0)
    }
}

/// The text for a primary and secondary code pair, written piece by piece.
struct ReturnCodeText {
    primary: PrimaryRc,
    secondary: SecondaryRc,
}

impl fmt::Display for ReturnCodeText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { primary, secondary } = *self;
        let groups: &[Group] = match find(PRIMARY, primary) {
            Some(entry) => {
                write!(
                    f,
                    "{} (X'{:04X}'): {}",
                    entry.name, primary.0, entry.meaning
                )?;
                entry.extra
            }
            None => {
                write!(f, "unknown primary return code X'{:04X}'", primary.0)?;
                &[]
            }
        };
        if secondary.0 == 0 {
            return Ok(());
        }
        if primary == PrimaryRc::UNEXPECTED_DOS_ERROR {
            return write!(
                f,
                "; operating system error {} (X'{:08X}')",
                secondary.0, secondary.0
            );
        }
        match find(SECONDARY, secondary).filter(|entry| groups.contains(&entry.extra)) {
            Some(entry) => write!(
                f,
                "; secondary {} (X'{:08X}'): {}",
                entry.name, secondary.0, entry.meaning
            ),
            None => write!(f, "; secondary X'{:08X}'", secondary.0),
        }
    }
}

/// The English text `GetAppcReturnCode` would give for a VCB's return codes,
/// e.g. `AP_STATE_CHECK (X'0002'): the verb was issued in a conversation
/// state that does not allow it; secondary AP_RCV_AND_WAIT_BAD_STATE
/// (X'000000B1'): RECEIVE_AND_WAIT issued outside RECEIVE or SEND state`.
///
/// The secondary code is named only if it belongs to a group the primary
/// code defines (see the module docs); otherwise it is shown as hex, and
/// not at all when zero. With [`PrimaryRc::UNEXPECTED_DOS_ERROR`] it is shown
/// as the operating system's error number. An unknown primary code gives
/// "unknown primary return code X'....'". Never panics; every known code's
/// text is shorter than [`RECOMMENDED_BUFFER`].
pub fn return_code_text(primary: PrimaryRc, secondary: SecondaryRc) -> String {
    ReturnCodeText { primary, secondary }.to_string()
}

/// Why [`get_appc_return_code`] failed: `GetAppcReturnCode` returns 0 and
/// `GetLastError` gives [`code`](GetRcError::code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetRcError {
    /// Bad parameters (`0x20000001`): here, an empty buffer.
    BadParameters,
    /// The buffer is too small (`0x20000002`).
    BufferTooSmall {
        /// The buffer size that would do, including the terminating NUL.
        needed: usize,
    },
}

impl GetRcError {
    /// The `GetLastError` value `GetAppcReturnCode` sets.
    pub const fn code(self) -> u32 {
        match self {
            GetRcError::BadParameters => 0x2000_0001,
            GetRcError::BufferTooSmall { .. } => 0x2000_0002,
        }
    }
}

impl fmt::Display for GetRcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetRcError::BadParameters => f.write_str("bad parameters (X'20000001')"),
            GetRcError::BufferTooSmall { needed } => {
                write!(f, "buffer too small (X'20000002'): {needed} bytes needed")
            }
        }
    }
}

impl std::error::Error for GetRcError {}

/// `GetAppcReturnCode`: writes [`return_code_text`] into `buf`, followed by
/// a NUL (no trailing newline), and returns the text's length (greater than
/// 0, NUL excluded). [`RECOMMENDED_BUFFER`] bytes always suffice for known
/// codes. On error `buf` is left untouched.
///
/// # Errors
///
/// [`GetRcError::BadParameters`] for an empty buffer;
/// [`GetRcError::BufferTooSmall`] if the text and its NUL do not fit.
pub fn get_appc_return_code(
    primary: PrimaryRc,
    secondary: SecondaryRc,
    buf: &mut [u8],
) -> Result<usize, GetRcError> {
    if buf.is_empty() {
        return Err(GetRcError::BadParameters);
    }
    let text = return_code_text(primary, secondary);
    let len = text.len();
    let Some(dest) = buf.get_mut(..=len) else {
        return Err(GetRcError::BufferTooSmall { needed: len + 1 });
    };
    dest[..len].copy_from_slice(text.as_bytes());
    dest[len] = 0;
    Ok(len)
}

#[cfg(all(test, not(loom)))]
mod tests;
