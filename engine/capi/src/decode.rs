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
use std::ptr;

/// Return codes the ABI answers a VCB with before the engine sees it.
pub(crate) type Refusal = (PrimaryRc, SecondaryRc);

/// A decoded VCB.
pub(crate) struct Decoded {
    /// The verb to run.
    pub(crate) verb: Verb,
    /// Codes to report instead of the engine's.
    pub(crate) refusal: Option<Refusal>,
    /// A posting verb's own event (`sema` / `handle`), as the raw value.
    pub(crate) post_event: Option<usize>,
}

/// Reads a `T` at `vcb`.
///
/// # Safety
/// `vcb` is readable for `size_of::<T>()` bytes.
unsafe fn read<T: Copy>(vcb: *const u8) -> T {
    // SAFETY: the caller's guarantee; unaligned reads need no alignment.
    unsafe { ptr::read_unaligned(vcb.cast::<T>()) }
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

/// Decodes the VCB at `vcb`. `posts` is the event the engine signals for
/// posting verbs (the relay's, see [`crate::posts`]).
///
/// # Safety
/// `vcb` is non-null and readable for the VCB its opcode and `opext` name.
pub(crate) unsafe fn decode(vcb: *const u8, posts: &Event) -> Decoded {
    // SAFETY: the caller's guarantee covers the header.
    let hdr: vcb::Hdr = unsafe { read(vcb) };
    let opext = hdr.opext;
    let mapped = opext & values::MAPPED_CONVERSATION != 0;
    let mut refusal = None;
    let mut post_event = None;
    let mut refuse = |secondary: SecondaryRc| {
        refusal.get_or_insert((PrimaryRc::PARAMETER_CHECK, secondary));
    };
    let bad_data = SecondaryRc::INVALID_DATA_SEGMENT;
    // SAFETY (every read below): the opcode and opext name this mirror.
    let body = match u16::from_be(hdr.opcode) {
        opcode::TP_STARTED => {
            let v: vcb::TpStarted = unsafe { read(vcb) };
            Body::TpStarted(verbs::TpStarted {
                lu_alias: ascii(&v.lu_alias),
                tp_name: from_ebcdic(&v.tp_name),
                tp_id: [0; 8],
            })
        }
        opcode::RECEIVE_ALLOCATE => {
            let v: vcb::ReceiveAllocate = unsafe { read(vcb) };
            Body::ReceiveAllocate(verbs::ReceiveAllocate {
                tp_name: from_ebcdic(&v.tp_name),
                lu_alias: ascii(&v.lu_alias),
                ..Default::default()
            })
        }
        opcode::TP_ENDED => {
            let v: vcb::TpEnded = unsafe { read(vcb) };
            Body::TpEnded(verbs::TpEnded {
                tp_id: v.tp_id,
                tp_type: v.r#type,
            })
        }
        opcode::ALLOCATE => {
            let v: vcb::Allocate = unsafe { read(vcb) };
            let pip = unsafe { copy_in(v.pip_dptr, v.pip_dlen.into()) }.unwrap_or_else(|| {
                refuse(SecondaryRc::PIP_LEN_INCORRECT);
                Vec::new()
            });
            Body::Allocate(verbs::Allocate {
                tp_id: v.tp_id,
                conv_type: if mapped {
                    values::MAPPED_CONVERSATION
                } else {
                    v.conv_type
                },
                sync_level: v.sync_level,
                rtn_ctl: v.rtn_ctl,
                plu_alias: ascii(&v.plu_alias),
                mode_name: from_ebcdic(&v.mode_name),
                tp_name: from_ebcdic(&v.tp_name),
                security: v.security,
                pwd: v.pwd,
                user_id: v.user_id,
                pip,
                conv_id: 0,
                sense_data: 0,
            })
        }
        opcode::SEND_CONVERSATION => {
            let v: vcb::SendConversation = unsafe { read(vcb) };
            let pip = unsafe { copy_in(v.pip_dptr, v.pip_dlen.into()) };
            let data = unsafe { copy_in(v.dptr, v.dlen.into()) };
            if pip.is_none() || data.is_none() {
                refuse(bad_data);
            }
            Body::SendConversation(verbs::SendConversation {
                allocate: verbs::Allocate {
                    tp_id: v.tp_id,
                    conv_type: opext & values::MAPPED_CONVERSATION,
                    rtn_ctl: v.rtn_ctl,
                    plu_alias: ascii(&v.plu_alias),
                    mode_name: from_ebcdic(&v.mode_name),
                    tp_name: from_ebcdic(&v.tp_name),
                    security: v.security,
                    pwd: v.pwd,
                    user_id: v.user_id,
                    pip: pip.unwrap_or_default(),
                    ..Default::default()
                },
                data: data.unwrap_or_default(),
            })
        }
        opcode::SEND_DATA => {
            let v: vcb::SendData = unsafe { read(vcb) };
            let data = unsafe { copy_in(v.dptr, v.dlen.into()) }.unwrap_or_else(|| {
                refuse(bad_data);
                Vec::new()
            });
            Body::SendData(verbs::SendData {
                conv: conv(v.tp_id, v.conv_id),
                send_type: v.r#type,
                data,
                rts_rcvd: false,
            })
        }
        op @ (opcode::RECEIVE_AND_WAIT | opcode::RECEIVE_IMMEDIATE) => {
            let v: vcb::Receive = unsafe { read(vcb) };
            if v.max_len > 0 && v.dptr.is_null() {
                refuse(bad_data);
            }
            let receive = receive(conv(v.tp_id, v.conv_id), v.rtn_status, v.fill, v.max_len);
            if op == opcode::RECEIVE_AND_WAIT {
                Body::ReceiveAndWait(receive)
            } else {
                Body::ReceiveImmediate(receive)
            }
        }
        opcode::RECEIVE_AND_POST => {
            let v: vcb::ReceiveAndPost = unsafe { read(vcb) };
            if v.max_len > 0 && v.dptr.is_null() {
                refuse(bad_data);
            }
            post_event = event(v.sema as usize, &mut refuse);
            Body::ReceiveAndPost(verbs::ReceiveAndPost {
                receive: receive(conv(v.tp_id, v.conv_id), v.rtn_status, v.fill, v.max_len),
                sema: posts.clone(),
                post: None,
            })
        }
        opcode::POST_ON_RECEIPT => {
            let v: vcb::PostOnReceipt = unsafe { read(vcb) };
            post_event = event(v.sema as usize, &mut refuse);
            Body::PostOnReceipt(verbs::PostOnReceipt {
                conv: conv(v.tp_id, v.conv_id),
                fill: v.fill,
                max_len: v.max_len,
                sema: posts.clone(),
                post: None,
            })
        }
        opcode::TEST_RTS_AND_POST => {
            let v: vcb::TestRtsAndPost = unsafe { read(vcb) };
            post_event = event(v.handle as usize, &mut refuse);
            Body::TestRtsAndPost(verbs::TestRtsAndPost {
                conv: conv(v.tp_id, v.conv_id),
                handle: posts.clone(),
                post: None,
            })
        }
        opcode::CONFIRM => {
            let v: vcb::Confirm = unsafe { read(vcb) };
            Body::Confirm(verbs::Confirm {
                conv: conv(v.tp_id, v.conv_id),
                rts_rcvd: false,
            })
        }
        op @ (opcode::CONFIRMED | opcode::FLUSH | opcode::REQUEST_TO_SEND) => {
            let v: vcb::Conv = unsafe { read(vcb) };
            let c = conv(v.tp_id, v.conv_id);
            match op {
                opcode::CONFIRMED => Body::Confirmed(c),
                opcode::FLUSH => Body::Flush(c),
                _ => Body::RequestToSend(c),
            }
        }
        opcode::TEST_RTS => {
            let v: vcb::TestRts = unsafe { read(vcb) };
            Body::TestRts(conv(v.tp_id, v.conv_id))
        }
        opcode::PREPARE_TO_RECEIVE => {
            let v: vcb::PrepareToReceive = unsafe { read(vcb) };
            Body::PrepareToReceive(verbs::PrepareToReceive {
                conv: conv(v.tp_id, v.conv_id),
                ptr_type: v.ptr_type,
                locks: v.locks,
            })
        }
        opcode::SEND_ERROR => {
            let v: vcb::SendError = unsafe { read(vcb) };
            let log_data = unsafe { copy_in(v.log_dptr, v.log_dlen.into()) }.unwrap_or_else(|| {
                refuse(bad_data);
                Vec::new()
            });
            Body::SendError(verbs::SendError {
                conv: conv(v.tp_id, v.conv_id),
                err_type: if mapped { values::ERR_PROG } else { v.err_type },
                err_dir: v.err_dir,
                log_data,
                rts_rcvd: false,
            })
        }
        opcode::DEALLOCATE if mapped => {
            let v: vcb::McDeallocate = unsafe { read(vcb) };
            Body::Deallocate(verbs::Deallocate {
                conv: conv(v.tp_id, v.conv_id),
                dealloc_type: v.dealloc_type,
                log_data: Vec::new(),
            })
        }
        opcode::DEALLOCATE => {
            let v: vcb::Deallocate = unsafe { read(vcb) };
            let log_data = unsafe { copy_in(v.log_dptr, v.log_dlen.into()) }.unwrap_or_else(|| {
                refuse(bad_data);
                Vec::new()
            });
            Body::Deallocate(verbs::Deallocate {
                conv: conv(v.tp_id, v.conv_id),
                dealloc_type: v.dealloc_type,
                log_data,
            })
        }
        opcode::GET_ATTRIBUTES => {
            let v: vcb::Conv = unsafe { read(vcb) };
            Body::GetAttributes(verbs::GetAttributes {
                conv: conv(v.tp_id, v.conv_id),
                ..Default::default()
            })
        }
        opcode::GET_TYPE => {
            let v: vcb::Conv = unsafe { read(vcb) };
            Body::GetType(verbs::GetType {
                conv: conv(v.tp_id, v.conv_id),
                conv_type: 0,
            })
        }
        opcode::GET_STATE => {
            let v: vcb::Conv = unsafe { read(vcb) };
            Body::GetState(verbs::GetState {
                conv: conv(v.tp_id, v.conv_id),
                conv_state: 0,
            })
        }
        other => Body::Unknown { opcode: other },
    };
    Decoded {
        verb: Verb::with_opext(opext, body),
        refusal,
        post_event,
    }
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
