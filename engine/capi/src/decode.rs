//! A caller's VCB as the engine's [`Verb`].
//!
//! The opcode (flipped, at offset 0) and `opext` pick the mirror to read;
//! the fields are copied by value (`read_unaligned`, so a VCB needs no
//! particular alignment), names converted ([`crate::names`]), and the data
//! a send names copied from `dptr` into a pooled buffer ([`crate::buffers`]).
//! Receives get a pooled buffer of `max_len` capacity that the engine fills.
//!
//! What the engine cannot check because it never sees the pointers is
//! checked here: a length with a null pointer is `AP_PARAMETER_CHECK` /
//! `AP_INVALID_DATA_SEGMENT`, a posting verb without its event
//! `AP_INVALID_SEMAPHORE_HANDLE`. Such a verb still becomes a task (an
//! accepted verb completes exactly once), carrying the refusal that
//! [`crate::encode`] writes instead of the engine's answer.

use crate::buffers;
use crate::names::{ascii, from_ebcdic};
use crate::vcb;
use appc::rc::{PrimaryRc, SecondaryRc};
use appc::verbs::{self, opcode, values, Body, Conv, Verb};
use appc_engine::Event;
use std::ptr::addr_of;

/// Return codes the ABI answers a VCB with before the engine sees it.
pub(crate) type Refusal = (PrimaryRc, SecondaryRc);

/// What decoding finds besides the verb.
#[derive(Default)]
pub(crate) struct Found {
    /// Codes to report instead of the engine's.
    pub(crate) refusal: Option<Refusal>,
    /// A posting verb's own event (`sema` / `handle`), as the raw value.
    pub(crate) post_event: Option<usize>,
}

/// Reads field `$field` of the mirror `$v` points to: only the bytes the
/// verb uses are read, unaligned, through a place formed without a
/// reference. Used inside `decode`'s one `unsafe` block.
macro_rules! get {
    ($v:ident . $field:tt) => {
        addr_of!((*$v).$field).read_unaligned()
    };
}

/// Copies `len` bytes at `data` into a pooled buffer; `None` for a null
/// pointer with a non-zero length.
///
/// # Safety
/// `data` is null or readable for `len` bytes.
unsafe fn copy_in(data: *const u8, len: usize) -> Option<Vec<u8>> {
    let mut buf = buffers::take(len);
    if len > 0 {
        if data.is_null() {
            return None;
        }
        // SAFETY: non-null and readable for `len` bytes (the caller's guarantee).
        buf.extend_from_slice(unsafe { std::slice::from_raw_parts(data, len) });
    }
    Some(buf)
}

fn conv(tp_id: [u8; 8], conv_id: u32) -> Conv {
    Conv { tp_id, conv_id }
}

/// Decodes the VCB at `vcb` into the verb to run, and into `found` a
/// refusal or a posting verb's event. `posts` is the event the engine
/// signals for posting verbs (the relay's, see [`crate::posts`]). (The verb
/// is returned alone, not in a struct with the rest, so that it is built
/// where the caller keeps it rather than copied there.)
///
/// # Safety
/// `vcb` is non-null and readable for the VCB its opcode and `opext` name.
#[inline(always)]
pub(crate) unsafe fn decode(vcb: *const u8, posts: &Event, found: &mut Found) -> Verb {
    let hdr = vcb.cast::<vcb::Hdr>();
    // SAFETY: the caller's guarantee covers the header.
    let opext = unsafe { get!(hdr.opext) };
    let mapped = opext & values::MAPPED_CONVERSATION != 0;
    let mut post_event = None;
    let mut refuse = |secondary: SecondaryRc| {
        found
            .refusal
            .get_or_insert((PrimaryRc::PARAMETER_CHECK, secondary));
    };
    let bad_data = SecondaryRc::INVALID_DATA_SEGMENT;
    // SAFETY: every read below is of a field of the mirror that the VCB's
    // opcode (and opext) name, which the caller guarantees readable; the
    // data pointers read from it name buffers of the lengths beside them
    // (the API's contract for a VCB's buffers, as `copy_in` requires).
    let body = unsafe {
        match u16::from_be(get!(hdr.opcode)) {
            opcode::TP_STARTED => {
                let v = vcb.cast::<vcb::TpStarted>();
                Body::TpStarted(verbs::TpStarted {
                    lu_alias: ascii(&get!(v.lu_alias)),
                    tp_name: from_ebcdic(&get!(v.tp_name)),
                    tp_id: [0; 8],
                })
            }
            opcode::RECEIVE_ALLOCATE => {
                let v = vcb.cast::<vcb::ReceiveAllocate>();
                Body::ReceiveAllocate(verbs::ReceiveAllocate {
                    tp_name: from_ebcdic(&get!(v.tp_name)),
                    lu_alias: ascii(&get!(v.lu_alias)),
                    ..Default::default()
                })
            }
            opcode::TP_ENDED => {
                let v = vcb.cast::<vcb::TpEnded>();
                Body::TpEnded(verbs::TpEnded {
                    tp_id: get!(v.tp_id),
                    tp_type: get!(v.r#type),
                })
            }
            opcode::ALLOCATE => {
                let v = vcb.cast::<vcb::Allocate>();
                let pip = copy_in(get!(v.pip_dptr), get!(v.pip_dlen).into()).unwrap_or_else(|| {
                    refuse(SecondaryRc::PIP_LEN_INCORRECT);
                    Vec::new()
                });
                Body::Allocate(verbs::Allocate {
                    tp_id: get!(v.tp_id),
                    conv_type: if mapped {
                        values::MAPPED_CONVERSATION
                    } else {
                        get!(v.conv_type)
                    },
                    sync_level: get!(v.sync_level),
                    rtn_ctl: get!(v.rtn_ctl),
                    plu_alias: ascii(&get!(v.plu_alias)),
                    mode_name: from_ebcdic(&get!(v.mode_name)),
                    tp_name: from_ebcdic(&get!(v.tp_name)),
                    security: get!(v.security),
                    pwd: get!(v.pwd),
                    user_id: get!(v.user_id),
                    pip,
                    conv_id: 0,
                    sense_data: 0,
                })
            }
            opcode::SEND_CONVERSATION => {
                let v = vcb.cast::<vcb::SendConversation>();
                let pip = copy_in(get!(v.pip_dptr), get!(v.pip_dlen).into());
                let data = copy_in(get!(v.dptr), get!(v.dlen).into());
                if pip.is_none() || data.is_none() {
                    refuse(bad_data);
                }
                Body::SendConversation(verbs::SendConversation {
                    allocate: verbs::Allocate {
                        tp_id: get!(v.tp_id),
                        conv_type: opext & values::MAPPED_CONVERSATION,
                        rtn_ctl: get!(v.rtn_ctl),
                        plu_alias: ascii(&get!(v.plu_alias)),
                        mode_name: from_ebcdic(&get!(v.mode_name)),
                        tp_name: from_ebcdic(&get!(v.tp_name)),
                        security: get!(v.security),
                        pwd: get!(v.pwd),
                        user_id: get!(v.user_id),
                        pip: pip.unwrap_or_default(),
                        ..Default::default()
                    },
                    data: data.unwrap_or_default(),
                })
            }
            opcode::SEND_DATA => {
                let v = vcb.cast::<vcb::SendData>();
                let data = copy_in(get!(v.dptr), get!(v.dlen).into()).unwrap_or_else(|| {
                    refuse(bad_data);
                    Vec::new()
                });
                Body::SendData(verbs::SendData {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    send_type: get!(v.r#type),
                    data,
                    rts_rcvd: false,
                })
            }
            op @ (opcode::RECEIVE_AND_WAIT | opcode::RECEIVE_IMMEDIATE) => {
                let v = vcb.cast::<vcb::Receive>();
                if get!(v.max_len) > 0 && get!(v.dptr).is_null() {
                    refuse(bad_data);
                }
                let receive = receive(
                    conv(get!(v.tp_id), get!(v.conv_id)),
                    get!(v.rtn_status),
                    get!(v.fill),
                    get!(v.max_len),
                );
                if op == opcode::RECEIVE_AND_WAIT {
                    Body::ReceiveAndWait(receive)
                } else {
                    Body::ReceiveImmediate(receive)
                }
            }
            opcode::RECEIVE_AND_POST => {
                let v = vcb.cast::<vcb::ReceiveAndPost>();
                if get!(v.max_len) > 0 && get!(v.dptr).is_null() {
                    refuse(bad_data);
                }
                post_event = event(get!(v.sema) as usize, &mut refuse);
                Body::ReceiveAndPost(verbs::ReceiveAndPost {
                    receive: receive(
                        conv(get!(v.tp_id), get!(v.conv_id)),
                        get!(v.rtn_status),
                        get!(v.fill),
                        get!(v.max_len),
                    ),
                    sema: posts.clone(),
                    post: None,
                })
            }
            opcode::POST_ON_RECEIPT => {
                let v = vcb.cast::<vcb::PostOnReceipt>();
                post_event = event(get!(v.sema) as usize, &mut refuse);
                Body::PostOnReceipt(verbs::PostOnReceipt {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    fill: get!(v.fill),
                    max_len: get!(v.max_len),
                    sema: posts.clone(),
                    post: None,
                })
            }
            opcode::TEST_RTS_AND_POST => {
                let v = vcb.cast::<vcb::TestRtsAndPost>();
                post_event = event(get!(v.handle) as usize, &mut refuse);
                Body::TestRtsAndPost(verbs::TestRtsAndPost {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    handle: posts.clone(),
                    post: None,
                })
            }
            opcode::CONFIRM => {
                let v = vcb.cast::<vcb::Confirm>();
                Body::Confirm(verbs::Confirm {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    rts_rcvd: false,
                })
            }
            op @ (opcode::CONFIRMED | opcode::FLUSH | opcode::REQUEST_TO_SEND) => {
                let v = vcb.cast::<vcb::Conv>();
                let c = conv(get!(v.tp_id), get!(v.conv_id));
                match op {
                    opcode::CONFIRMED => Body::Confirmed(c),
                    opcode::FLUSH => Body::Flush(c),
                    _ => Body::RequestToSend(c),
                }
            }
            opcode::TEST_RTS => {
                let v = vcb.cast::<vcb::TestRts>();
                Body::TestRts(conv(get!(v.tp_id), get!(v.conv_id)))
            }
            opcode::PREPARE_TO_RECEIVE => {
                let v = vcb.cast::<vcb::PrepareToReceive>();
                Body::PrepareToReceive(verbs::PrepareToReceive {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    ptr_type: get!(v.ptr_type),
                    locks: get!(v.locks),
                })
            }
            opcode::SEND_ERROR => {
                let v = vcb.cast::<vcb::SendError>();
                let log_data =
                    copy_in(get!(v.log_dptr), get!(v.log_dlen).into()).unwrap_or_else(|| {
                        refuse(bad_data);
                        Vec::new()
                    });
                Body::SendError(verbs::SendError {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    err_type: if mapped {
                        values::ERR_PROG
                    } else {
                        get!(v.err_type)
                    },
                    err_dir: get!(v.err_dir),
                    log_data,
                    rts_rcvd: false,
                })
            }
            opcode::DEALLOCATE if mapped => {
                let v = vcb.cast::<vcb::McDeallocate>();
                Body::Deallocate(verbs::Deallocate {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    dealloc_type: get!(v.dealloc_type),
                    log_data: Vec::new(),
                })
            }
            opcode::DEALLOCATE => {
                let v = vcb.cast::<vcb::Deallocate>();
                let log_data =
                    copy_in(get!(v.log_dptr), get!(v.log_dlen).into()).unwrap_or_else(|| {
                        refuse(bad_data);
                        Vec::new()
                    });
                Body::Deallocate(verbs::Deallocate {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    dealloc_type: get!(v.dealloc_type),
                    log_data,
                })
            }
            opcode::GET_ATTRIBUTES => {
                let v = vcb.cast::<vcb::Conv>();
                Body::GetAttributes(verbs::GetAttributes {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    ..Default::default()
                })
            }
            opcode::GET_TYPE => {
                let v = vcb.cast::<vcb::Conv>();
                Body::GetType(verbs::GetType {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    conv_type: 0,
                })
            }
            opcode::GET_STATE => {
                let v = vcb.cast::<vcb::Conv>();
                Body::GetState(verbs::GetState {
                    conv: conv(get!(v.tp_id), get!(v.conv_id)),
                    conv_state: 0,
                })
            }
            other => Body::Unknown { opcode: other },
        }
    };
    found.post_event = post_event;
    // A verb refused here still runs as a task (completing at once: an
    // unknown verb); the refusal's codes replace its answer.
    let body = match found.refusal {
        Some(_) => Body::Unknown {
            opcode: body.opcode(),
        },
        None => body,
    };
    Verb::with_opext(opext, body)
}

fn receive(conv: Conv, rtn_status: u8, fill: u8, max_len: u16) -> verbs::Receive {
    verbs::Receive {
        conv,
        rtn_status: rtn_status == 1,
        fill,
        max_len,
        data: buffers::take(max_len.into()),
        ..Default::default()
    }
}

/// A posting verb's event: its raw value, or a refusal for none.
fn event(raw: usize, refuse: &mut impl FnMut(SecondaryRc)) -> Option<usize> {
    if raw == 0 {
        refuse(SecondaryRc::INVALID_SEMAPHORE_HANDLE);
        None
    } else {
        Some(raw)
    }
}
