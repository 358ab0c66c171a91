//! The verbs the load builds, in one place: the client, the partner and
//! the scale mode issue the same TP_STARTED, ALLOCATE, SEND_DATA,
//! RECEIVE_AND_WAIT and TP_ENDED, and must not drift apart (one mapped
//! conversation type, one sync level, one mode). The request/response verbs
//! are built once per slot and then reused ([`reuse`]), their buffers with
//! them.

use appc_io::appc::rc::PrimaryRc;
use appc_io::appc::verbs::{
    name, values, Allocate, Body, Conv, Receive, SendData, TpEnded, TpId, TpStarted, Verb,
};
use appc_io::appc::Appc;

/// The client TP's name.
const CLIENT_TP: &str = "APPCLOAD";

/// `TP_STARTED` for a client TP.
fn tp_started() -> Verb {
    Verb::mapped(Body::TpStarted(TpStarted {
        lu_alias: [b' '; 8],
        tp_name: name(CLIENT_TP),
        tp_id: [0; 8],
    }))
}

/// Runs `TP_STARTED` (blocking) and returns the new TP's id.
pub fn start_tp(app: &Appc) -> Result<TpId, String> {
    let verb = app
        .call(tp_started())
        .map_err(|e| format!("TP_STARTED refused: {:?}", e.reason))?;
    match verb.body {
        Body::TpStarted(t) if verb.primary_rc == PrimaryRc::OK => Ok(t.tp_id),
        _ => Err(format!("TP_STARTED failed: {:?}", verb.primary_rc)),
    }
}

/// `MC_ALLOCATE` (sync level NONE, mode `#INTER`) of `tp` at partner LU
/// `partner` for TP `tp_id`.
pub fn allocate(tp_id: TpId, partner: &str, tp: &str) -> Verb {
    Verb::mapped(Body::Allocate(Allocate {
        tp_id,
        conv_type: values::MAPPED_CONVERSATION,
        sync_level: values::SYNC_NONE,
        rtn_ctl: values::WHEN_SESSION_ALLOCATED,
        plu_alias: name(partner),
        mode_name: name("#INTER"),
        tp_name: name(tp),
        security: values::SECURITY_NONE,
        pwd: [b' '; 10],
        user_id: [b' '; 10],
        pip: Vec::new(),
        conv_id: 0,
        sense_data: 0,
    }))
}

/// `MC_SEND_DATA` of `data` with `P_TO_R_FLUSH`: the data and the change
/// of direction in one flush.
pub fn send_and_turn(conv: Conv, data: Vec<u8>) -> Verb {
    Verb::mapped(Body::SendData(SendData {
        conv,
        send_type: values::SEND_DATA_P_TO_R_FLUSH,
        data,
        rts_rcvd: false,
    }))
}

/// A VCB the engine gave back, with its buffer, pointed at `conv` for its
/// next use; `fresh(conv)` if there is none (the first use, or it was
/// lost with a failed conversation).
pub fn reuse(vcb: Option<Verb>, conv: Conv, fresh: impl FnOnce(Conv) -> Verb) -> Verb {
    let Some(mut verb) = vcb else {
        return fresh(conv);
    };
    match &mut verb.body {
        Body::SendData(v) => v.conv = conv,
        Body::ReceiveAndWait(v) => v.conv = conv,
        _ => {}
    }
    verb
}

/// `MC_RECEIVE_AND_WAIT` with `rtn_status`, so that data and the change of
/// direction come back in one completion, into `buf` (whose capacity is
/// kept: a buffer of `max_len` is never grown).
pub fn receive(conv: Conv, max_len: usize, buf: Vec<u8>) -> Verb {
    Verb::mapped(Body::ReceiveAndWait(Receive {
        conv,
        rtn_status: true,
        max_len: max_len.clamp(1, usize::from(u16::MAX)) as u16,
        data: buf,
        ..Receive::default()
    }))
}

/// `TP_ENDED(AP_HARD)`: a conversation in SEND at a record boundary is
/// deallocated normally, any other abnormally; waiting verbs get
/// `AP_CANCELLED`.
pub fn end_tp(tp_id: TpId) -> Verb {
    Verb::mapped(Body::TpEnded(TpEnded {
        tp_id,
        tp_type: values::HARD,
    }))
}
