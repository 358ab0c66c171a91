//! A finished [`Verb`] written back into the caller's VCB.
//!
//! Only the verb's returned fields are written, each through its own raw
//! place (`addr_of_mut!` + `write_unaligned`), so no reference to the
//! caller's memory is ever formed and the VCB needs no alignment. Return
//! codes and `what_rcvd` go in flipped; received data goes into the
//! caller's `dptr` buffer (read back from the VCB, where the caller left
//! it), at most `max_len` bytes. The verb's data vectors go back to the
//! buffer pool.

use crate::buffers;
use crate::decode::Refusal;
use crate::names::to_ebcdic;
use crate::vcb;
use appc::verbs::{Body, Receive, Verb};
use std::mem;
use std::ptr::{self, addr_of_mut};

/// Writes `value` into field `$field` of the mirror `$ty` at `$vcb`.
macro_rules! put {
    ($vcb:expr, $ty:ident . $field:ident = $value:expr) => {
        // SAFETY: `encode`'s caller guarantees the VCB is writable for this
        // mirror; the place is formed without a reference.
        unsafe { addr_of_mut!((*$vcb.cast::<vcb::$ty>()).$field).write_unaligned($value) }
    };
}

/// Reads field `$field` of the mirror `$ty` at `$vcb`.
macro_rules! get {
    ($vcb:expr, $ty:ident . $field:ident) => {
        // SAFETY: as for `put!`.
        unsafe { addr_of_mut!((*$vcb.cast::<vcb::$ty>()).$field).read_unaligned() }
    };
}

/// Writes `verb`'s results (or `refusal`'s codes) into the VCB at `vcb`.
///
/// # Safety
/// `vcb` is the VCB `verb` was decoded from, still writable, and its data
/// pointers still name the caller's buffers.
#[inline]
pub(crate) unsafe fn encode(vcb: *mut u8, verb: &mut Verb, refusal: Option<Refusal>) {
    let (primary, secondary) = match refusal {
        // A refused verb ran as an unknown one only to get its task; a
        // cancel that won still reports AP_CANCELLED.
        Some(codes) if verb.primary_rc != appc::rc::PrimaryRc::CANCELLED => codes,
        _ => (verb.primary_rc, verb.secondary_rc),
    };
    put!(
        vcb,
        Hdr.primary_rc = u16::from_ne_bytes(primary.to_vcb_bytes())
    );
    put!(
        vcb,
        Hdr.secondary_rc = u32::from_ne_bytes(secondary.to_vcb_bytes())
    );
    if refusal.is_some() {
        return;
    }
    match &mut verb.body {
        Body::TpStarted(v) => put!(vcb, TpStarted.tp_id = v.tp_id),
        Body::ReceiveAllocate(v) => {
            put!(vcb, ReceiveAllocate.tp_id = v.tp_id);
            put!(vcb, ReceiveAllocate.conv_id = v.conv_id);
            put!(vcb, ReceiveAllocate.sync_level = v.sync_level);
            put!(vcb, ReceiveAllocate.conv_type = v.conv_type);
            put!(vcb, ReceiveAllocate.user_id = v.user_id);
            put!(vcb, ReceiveAllocate.plu_alias = v.plu_alias);
            put!(vcb, ReceiveAllocate.mode_name = to_ebcdic(&v.mode_name));
            buffers::give(mem::take(&mut v.pip));
        }
        Body::Allocate(v) => {
            put!(vcb, Allocate.conv_id = v.conv_id);
            put!(vcb, Allocate.sense_data = v.sense_data);
            buffers::give(mem::take(&mut v.pip));
        }
        Body::SendConversation(v) => {
            buffers::give(mem::take(&mut v.allocate.pip));
            buffers::give(mem::take(&mut v.data));
        }
        Body::SendData(v) => {
            put!(vcb, SendData.rts_rcvd = u8::from(v.rts_rcvd));
            buffers::give(mem::take(&mut v.data));
        }
        Body::ReceiveAndWait(v) | Body::ReceiveImmediate(v) => {
            let dptr = get!(vcb, Receive.dptr);
            let max_len = get!(vcb, Receive.max_len);
            let (what, rts, dlen) = received(v, dptr, max_len);
            put!(vcb, Receive.what_rcvd = what);
            put!(vcb, Receive.rts_rcvd = rts);
            put!(vcb, Receive.dlen = dlen);
        }
        Body::ReceiveAndPost(v) => {
            let dptr = get!(vcb, ReceiveAndPost.dptr);
            let max_len = get!(vcb, ReceiveAndPost.max_len);
            let (what, rts, dlen) = received(&mut v.receive, dptr, max_len);
            put!(vcb, ReceiveAndPost.what_rcvd = what);
            put!(vcb, ReceiveAndPost.rts_rcvd = rts);
            put!(vcb, ReceiveAndPost.dlen = dlen);
        }
        Body::Confirm(v) => put!(vcb, Confirm.rts_rcvd = u8::from(v.rts_rcvd)),
        Body::SendError(v) => {
            put!(vcb, SendError.rts_rcvd = u8::from(v.rts_rcvd));
            buffers::give(mem::take(&mut v.log_data));
        }
        Body::Deallocate(v) => buffers::give(mem::take(&mut v.log_data)),
        Body::GetAttributes(v) => {
            put!(vcb, GetAttributes.sync_level = v.sync_level);
            put!(vcb, GetAttributes.mode_name = to_ebcdic(&v.mode_name));
            put!(vcb, GetAttributes.lu_alias = v.lu_alias);
            put!(vcb, GetAttributes.plu_alias = v.plu_alias);
            put!(vcb, GetAttributes.user_id = v.user_id);
        }
        Body::GetType(v) => put!(vcb, GetType.conv_type = v.conv_type),
        Body::GetState(v) => put!(vcb, GetState.conv_state = v.conv_state),
        Body::PostOnReceipt(_)
        | Body::TestRtsAndPost(_)
        | Body::TpEnded(_)
        | Body::Confirmed(_)
        | Body::Flush(_)
        | Body::PrepareToReceive(_)
        | Body::RequestToSend(_)
        | Body::TestRts(_)
        | Body::Unknown { .. } => {}
    }
}

/// Copies a receive's data into the caller's buffer; returns the flipped
/// `what_rcvd`, `rts_rcvd` and `dlen`.
fn received(v: &mut Receive, dptr: *mut u8, max_len: u16) -> (u16, u8, u16) {
    let len = v.data.len().min(max_len.into());
    if len > 0 && !dptr.is_null() {
        // SAFETY: the caller's buffer holds `max_len` bytes (the VCB's
        // contract) and `len <= max_len`; it does not overlap the engine's
        // vector.
        unsafe { ptr::copy_nonoverlapping(v.data.as_ptr(), dptr, len) };
    }
    let what = u16::from_ne_bytes(v.what_rcvd.to_vcb_bytes());
    buffers::give(mem::take(&mut v.data));
    (what, u8::from(v.rts_rcvd), len as u16)
}
