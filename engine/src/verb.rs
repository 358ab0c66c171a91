//! What the engine carries for each task: a verb control block.
//!
//! The engine core is generic over [`Request`], the one thing it needs from a
//! verb: a way to set its return codes (to mark it cancelled, or to refuse a
//! second blocking call on a thread). The APPC verb set is the `appc`
//! crate's `verbs::Verb`, run by its `Appc`. [`Verb`] here is the minimal request
//! the bare engine is measured and modelled with (benchmarks, the demo, the
//! loom models): an opcode and the two return-code fields every VCB has.

/// `AP_OK`: the verb succeeded.
pub const AP_OK: u16 = 0x0000;
/// `AP_CANCELLED` (X'0021'): the verb was cancelled.
pub const AP_CANCELLED: u16 = 0x0021;
/// `AP_THREAD_BLOCKING` (X'F006'): the thread is already inside a blocking call.
pub const AP_THREAD_BLOCKING: u16 = 0xF006;

/// A verb the engine can run asynchronously.
pub trait Request: Send + 'static {
    /// Sets `primary_rc` and `secondary_rc` (documented values, not
    /// byte-flipped).
    fn set_return_codes(&mut self, primary: u16, secondary: u32);

    /// Records that the verb was cancelled: `AP_CANCELLED`, secondary 0.
    fn set_cancelled(&mut self) {
        self.set_return_codes(AP_CANCELLED, 0);
    }
}

/// Opcodes of the placeholder verb: the documented APPC values (the `AP_*`
/// verb constants of `winappc.h`, as symbolic values; the same as
/// the `appc` crate's `verbs::opcode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    /// `AP_B_ALLOCATE` / `AP_M_ALLOCATE`.
    Allocate = 0x0100,
    /// `AP_B_SEND_DATA` / `AP_M_SEND_DATA`.
    SendData = 0x0F00,
    /// `AP_B_RECEIVE_AND_WAIT` / `AP_M_RECEIVE_AND_WAIT`.
    ReceiveAndWait = 0x0B00,
    /// `AP_B_DEALLOCATE` / `AP_M_DEALLOCATE`.
    Deallocate = 0x0500,
}

/// A minimal verb control block: opcode, return codes and a caller tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verb {
    /// The verb.
    pub opcode: Opcode,
    /// `primary_rc`, as the documented hex value (not byte-flipped).
    pub primary_rc: u16,
    /// `secondary_rc`, as the documented hex value.
    pub secondary_rc: u32,
    /// Caller's correlation value; the engine never reads it.
    pub tag: u64,
}

impl Verb {
    /// A fresh verb with `AP_OK` return codes.
    pub fn new(opcode: Opcode, tag: u64) -> Self {
        Self {
            opcode,
            primary_rc: AP_OK,
            secondary_rc: 0,
            tag,
        }
    }
}

impl Request for Verb {
    fn set_return_codes(&mut self, primary: u16, secondary: u32) {
        self.primary_rc = primary;
        self.secondary_rc = secondary;
    }
}
