//! A small harness for two-TP conversation scripts: a [`Tp`] issues one
//! verb per method and returns what came back as a [`Res`], so a test reads
//! like the protocol it checks.
//!
//! ```ignore
//! let (node, a, b) = setup();
//! let (_, _) = duet(
//!     || {
//!         let mut req = Tp::started(&a, MAPPED);
//!         req.allocate(RESP, SYNC_CONFIRM).ok();
//!         req.send_data(b"hi", SEND_DATA_CONFIRM).ok();
//!     },
//!     || {
//!         let resp = Tp::receive_allocate(&b, RESP);
//!         resp.receive_and_wait(100).ok().what(DATA_COMPLETE_CONFIRM);
//!         resp.confirmed().ok();
//!     },
//! );
//! ```
//!
//! Every verb goes through the blocking entry point (`Appc::call`) unless
//! its name says otherwise; [`Tp::submit`] gives the raw asynchronous one.
#![allow(dead_code)]

use appc::rc::{PrimaryRc, SecondaryRc, WhatRcvd};
use appc::states::ConvState;
use appc::verbs::{self, values, Body, Conv, TpId, Verb};
use appc::{Appc, Node};
use appc_engine::{Event, Handle, Target, WINAPPC_VERSION};

#[allow(unused_imports)]
pub use appc::verbs::values::{
    ABEND, ABEND_PROG, ABEND_SVC, ABEND_TIMER, FILL_BUFFER, FILL_LL, FLUSH, SYNC_CONFIRM,
    SYNC_LEVEL, SYNC_NONE,
};

/// The TP name [`setup`] defines on the node.
pub const RESP: &str = "RESP";
/// Conversation type for [`Tp::started`]: basic.
pub const BASIC: bool = false;
/// Conversation type for [`Tp::started`]: mapped.
pub const MAPPED: bool = true;

/// A node with [`RESP`] defined and two applications on it (requester
/// and responder sides).
pub fn setup() -> (Node, Appc, Appc) {
    let node = Node::new();
    node.define_tp(RESP);
    let a = Appc::startup(WINAPPC_VERSION, &node).unwrap().0;
    let b = Appc::startup(WINAPPC_VERSION, &node).unwrap().0;
    (node, a, b)
}

/// Runs a requester and a responder script concurrently, each on its own
/// thread, and returns both results (a panic in either fails the test).
pub fn duet<R: Send, S: Send>(
    requester: impl FnOnce() -> R + Send,
    responder: impl FnOnce() -> S + Send,
) -> (R, S) {
    std::thread::scope(|s| {
        let resp = s.spawn(responder);
        let req = s.spawn(requester);
        let req = req.join();
        let resp = resp.join();
        match (req, resp) {
            (Ok(r), Ok(s)) => (r, s),
            (Err(e), _) | (_, Err(e)) => std::panic::resume_unwind(e),
        }
    })
}

/// A RECEIVE_ALLOCATE VCB for `tp_name` (to submit asynchronously).
pub fn receive_allocate_verb(tp_name: &str) -> Verb {
    Verb::mapped(Body::ReceiveAllocate(verbs::ReceiveAllocate {
        tp_name: verbs::name(tp_name),
        lu_alias: verbs::name("LU2"),
        ..Default::default()
    }))
}

/// One basic logical record: LL (data length + 2, big-endian) then data.
pub fn ll(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len() + 2).expect("record too long");
    let mut record = len.to_be_bytes().to_vec();
    record.extend_from_slice(data);
    record
}

/// Several basic logical records, concatenated.
pub fn records(items: &[&[u8]]) -> Vec<u8> {
    items.iter().flat_map(|item| ll(item)).collect()
}

/// What a verb returned: its return codes and the output fields the
/// scripts look at (zero / empty where the verb has none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Res {
    pub primary: PrimaryRc,
    pub secondary: SecondaryRc,
    pub what_rcvd: WhatRcvd,
    pub data: Vec<u8>,
    pub rts_rcvd: bool,
    /// The post task of a posting verb's initial completion.
    pub post: Option<Handle>,
}

impl Res {
    /// The results in a finished verb.
    pub fn of(verb: &Verb) -> Self {
        let mut res = Res {
            primary: verb.primary_rc,
            secondary: verb.secondary_rc,
            what_rcvd: WhatRcvd::NONE,
            data: Vec::new(),
            rts_rcvd: false,
            post: None,
        };
        let receive = |res: &mut Res, r: &verbs::Receive| {
            res.what_rcvd = r.what_rcvd;
            res.data = r.data.clone();
            res.rts_rcvd = r.rts_rcvd;
        };
        match &verb.body {
            Body::ReceiveAndWait(r) | Body::ReceiveImmediate(r) => receive(&mut res, r),
            Body::ReceiveAndPost(r) => {
                receive(&mut res, &r.receive);
                res.post = r.post;
            }
            Body::PostOnReceipt(v) => res.post = v.post,
            Body::TestRtsAndPost(v) => res.post = v.post,
            Body::SendData(v) => res.rts_rcvd = v.rts_rcvd,
            Body::SendError(v) => res.rts_rcvd = v.rts_rcvd,
            Body::Confirm(v) => res.rts_rcvd = v.rts_rcvd,
            _ => {}
        }
        res
    }

    /// Asserts `primary_rc` (any secondary).
    #[track_caller]
    pub fn rc(self, primary: PrimaryRc) -> Self {
        assert_eq!(self.primary, primary, "{self:?}");
        self
    }

    /// Asserts both return codes.
    #[track_caller]
    pub fn rc2(self, primary: PrimaryRc, secondary: SecondaryRc) -> Self {
        assert_eq!(
            (self.primary, self.secondary),
            (primary, secondary),
            "{self:?}"
        );
        self
    }

    /// Asserts `AP_OK`.
    #[track_caller]
    pub fn ok(self) -> Self {
        self.rc2(PrimaryRc::OK, SecondaryRc(0))
    }

    /// Asserts `what_rcvd`.
    #[track_caller]
    pub fn what(self, what: WhatRcvd) -> Self {
        assert_eq!(self.what_rcvd, what, "{self:?}");
        self
    }

    /// Asserts the data received.
    #[track_caller]
    pub fn data(self, data: &[u8]) -> Self {
        assert_eq!(self.data, data, "{self:?}");
        self
    }

    /// Asserts `rts_rcvd`.
    #[track_caller]
    pub fn rts(self, rts: bool) -> Self {
        assert_eq!(self.rts_rcvd, rts, "{self:?}");
        self
    }
}

/// One TP and (at most) one conversation of it.
pub struct Tp<'a> {
    pub app: &'a Appc,
    pub tp_id: TpId,
    /// The conversation the verbs name (`conv_id` 0 before ALLOCATE).
    pub conv: Conv,
    /// Issue mapped (`MC_`) verbs rather than basic ones.
    pub mapped: bool,
}

impl<'a> Tp<'a> {
    /// TP_STARTED; the conversation verbs will be mapped or basic.
    #[track_caller]
    pub fn started(app: &'a Appc, mapped: bool) -> Self {
        let verb = app
            .call(Verb::mapped(Body::TpStarted(verbs::TpStarted {
                lu_alias: verbs::name("LU1"),
                tp_name: verbs::name("REQ"),
                tp_id: [0; 8],
            })))
            .unwrap();
        assert_eq!(verb.primary_rc, PrimaryRc::OK, "TP_STARTED: {verb:?}");
        let Body::TpStarted(v) = verb.body else {
            unreachable!()
        };
        Tp {
            app,
            tp_id: v.tp_id,
            conv: Conv {
                tp_id: v.tp_id,
                conv_id: 0,
            },
            mapped,
        }
    }

    /// RECEIVE_ALLOCATE for `tp_name` (blocks until an attach comes);
    /// asserts AP_OK. The verbs follow the conversation's type.
    #[track_caller]
    pub fn receive_allocate(app: &'a Appc, tp_name: &str) -> Self {
        let verb = app.call(receive_allocate_verb(tp_name)).unwrap();
        Self::accepted(app, &verb)
    }

    /// The TP a finished RECEIVE_ALLOCATE started (asserts AP_OK).
    #[track_caller]
    pub fn accepted(app: &'a Appc, verb: &Verb) -> Self {
        assert_eq!(verb.primary_rc, PrimaryRc::OK, "RECEIVE_ALLOCATE: {verb:?}");
        let Body::ReceiveAllocate(v) = &verb.body else {
            panic!("not a RECEIVE_ALLOCATE: {verb:?}")
        };
        Tp {
            app,
            tp_id: v.tp_id,
            conv: Conv {
                tp_id: v.tp_id,
                conv_id: v.conv_id,
            },
            mapped: v.conv_type == values::MAPPED_CONVERSATION,
        }
    }

    /// A VCB of this TP's conversation type.
    pub fn verb(&self, body: Body) -> Verb {
        if self.mapped {
            Verb::mapped(body)
        } else {
            Verb::basic(body)
        }
    }

    /// Issues `body` through the blocking entry point.
    #[track_caller]
    pub fn call(&self, body: Body) -> Res {
        Res::of(&self.call_verb(self.verb(body)))
    }

    /// Issues a whole VCB through the blocking entry point; the finished VCB.
    #[track_caller]
    pub fn call_verb(&self, verb: Verb) -> Verb {
        self.app.call(verb).expect("the engine refused the verb")
    }

    /// Issues `body` through the event entry point (`WinAsyncAPPCEx`).
    #[track_caller]
    pub fn submit(&self, body: Body, event: &Event) -> Handle {
        self.app
            .submit(self.verb(body), &Target::Event(event.clone()))
            .expect("the engine refused the verb")
    }

    /// Waits for `event`, then collects task `handle`'s verb.
    #[track_caller]
    pub fn wait(&self, event: &Event, handle: Handle) -> Res {
        event.wait();
        Res::of(&self.app.collect(handle).expect("collect"))
    }

    /// The ALLOCATE fields [`Tp::allocate`] uses: this TP, its conversation
    /// type, partner LU "LU2", mode "#INTER", no security, no PIP.
    pub fn allocate_body(&self, tp_name: &str, sync_level: u8) -> verbs::Allocate {
        verbs::Allocate {
            tp_id: self.tp_id,
            conv_type: u8::from(self.mapped),
            sync_level,
            plu_alias: verbs::name("LU2"),
            mode_name: verbs::name("#INTER"),
            tp_name: verbs::name(tp_name),
            ..Default::default()
        }
    }

    /// [MC_]ALLOCATE to `tp_name` with `sync_level`; the conversation
    /// becomes this TP's.
    #[track_caller]
    pub fn allocate(&mut self, tp_name: &str, sync_level: u8) -> Res {
        let body = self.allocate_body(tp_name, sync_level);
        self.allocate_vcb(self.verb(Body::Allocate(body)))
    }

    /// Issues a whole ALLOCATE VCB; on AP_OK the conversation becomes this
    /// TP's.
    #[track_caller]
    pub fn allocate_vcb(&mut self, verb: Verb) -> Res {
        let verb = self.call_verb(verb);
        if let Body::Allocate(v) = &verb.body {
            if verb.primary_rc == PrimaryRc::OK {
                self.conv.conv_id = v.conv_id;
            }
        }
        Res::of(&verb)
    }

    /// [MC_]SEND_CONVERSATION to `tp_name` (sync NONE) with `data`; the
    /// finished VCB.
    #[track_caller]
    pub fn send_conversation(&self, tp_name: &str, data: &[u8]) -> Verb {
        self.call_verb(self.verb(Body::SendConversation(verbs::SendConversation {
            allocate: self.allocate_body(tp_name, SYNC_NONE),
            data: data.to_vec(),
        })))
    }

    /// [MC_]SEND_DATA.
    #[track_caller]
    pub fn send_data(&self, data: &[u8], send_type: u8) -> Res {
        self.call(Body::SendData(verbs::SendData {
            conv: self.conv,
            send_type,
            data: data.to_vec(),
            rts_rcvd: false,
        }))
    }

    fn receive_body(&self, fill: u8, max_len: u16, rtn_status: bool) -> verbs::Receive {
        verbs::Receive {
            conv: self.conv,
            rtn_status,
            fill,
            max_len,
            ..Default::default()
        }
    }

    /// [MC_]RECEIVE_AND_WAIT, fill LL, no rtn_status.
    #[track_caller]
    pub fn receive_and_wait(&self, max_len: u16) -> Res {
        self.receive_with(FILL_LL, max_len, false)
    }

    /// [MC_]RECEIVE_AND_WAIT with every input.
    #[track_caller]
    pub fn receive_with(&self, fill: u8, max_len: u16, rtn_status: bool) -> Res {
        self.call(Body::ReceiveAndWait(
            self.receive_body(fill, max_len, rtn_status),
        ))
    }

    /// [MC_]RECEIVE_IMMEDIATE, fill LL.
    #[track_caller]
    pub fn receive_immediate(&self, max_len: u16) -> Res {
        self.call(Body::ReceiveImmediate(
            self.receive_body(FILL_LL, max_len, false),
        ))
    }

    /// [MC_]RECEIVE_AND_POST (fill LL) through the blocking entry point: the
    /// initial result, whose `post` is the task that completes to `sema`.
    #[track_caller]
    pub fn receive_and_post(&self, max_len: u16, sema: &Event) -> Res {
        self.call(Body::ReceiveAndPost(verbs::ReceiveAndPost {
            receive: self.receive_body(FILL_LL, max_len, false),
            sema: sema.clone(),
            post: None,
        }))
    }

    /// [MC_]POST_ON_RECEIPT (fill LL) through the blocking entry point.
    #[track_caller]
    pub fn post_on_receipt(&self, max_len: u16, sema: &Event) -> Res {
        self.call(Body::PostOnReceipt(verbs::PostOnReceipt {
            conv: self.conv,
            fill: FILL_LL,
            max_len,
            sema: sema.clone(),
            post: None,
        }))
    }

    /// [MC_]TEST_RTS_AND_POST through the blocking entry point.
    #[track_caller]
    pub fn test_rts_and_post(&self, handle: &Event) -> Res {
        self.call(Body::TestRtsAndPost(verbs::TestRtsAndPost {
            conv: self.conv,
            handle: handle.clone(),
            post: None,
        }))
    }

    /// Waits for a posting verb's `sema` and collects its post.
    #[track_caller]
    pub fn post_result(&self, sema: &Event, initial: &Res) -> Res {
        self.wait(sema, initial.post.expect("no post task"))
    }

    /// [MC_]CONFIRM.
    #[track_caller]
    pub fn confirm(&self) -> Res {
        self.call(Body::Confirm(verbs::Confirm {
            conv: self.conv,
            rts_rcvd: false,
        }))
    }

    /// [MC_]CONFIRMED.
    #[track_caller]
    pub fn confirmed(&self) -> Res {
        self.call(Body::Confirmed(self.conv))
    }

    /// [MC_]FLUSH.
    #[track_caller]
    pub fn flush(&self) -> Res {
        self.call(Body::Flush(self.conv))
    }

    /// [MC_]PREPARE_TO_RECEIVE with `ptr_type` ([`SYNC_LEVEL`] or [`FLUSH`]).
    #[track_caller]
    pub fn prepare_to_receive(&self, ptr_type: u8) -> Res {
        self.call(Body::PrepareToReceive(verbs::PrepareToReceive {
            conv: self.conv,
            ptr_type,
            locks: values::LOCKS_SHORT,
        }))
    }

    /// [MC_]REQUEST_TO_SEND.
    #[track_caller]
    pub fn request_to_send(&self) -> Res {
        self.call(Body::RequestToSend(self.conv))
    }

    /// [MC_]TEST_RTS.
    #[track_caller]
    pub fn test_rts(&self) -> Res {
        self.call(Body::TestRts(self.conv))
    }

    /// [MC_]SEND_ERROR with `err_type` (basic: PROG / SVC) and `err_dir`.
    #[track_caller]
    pub fn send_error(&self, err_type: u8, err_dir: u8) -> Res {
        self.call(Body::SendError(verbs::SendError {
            conv: self.conv,
            err_type,
            err_dir,
            ..Default::default()
        }))
    }

    /// [MC_]SEND_ERROR, program error, receive direction.
    #[track_caller]
    pub fn send_error_prog(&self) -> Res {
        self.send_error(values::ERR_PROG, values::RCV_DIR_ERROR)
    }

    /// [MC_]DEALLOCATE with `dealloc_type`.
    #[track_caller]
    pub fn deallocate(&self, dealloc_type: u8) -> Res {
        self.call(Body::Deallocate(verbs::Deallocate {
            conv: self.conv,
            dealloc_type,
            log_data: Vec::new(),
        }))
    }

    /// GET_STATE: the conversation's state (asserts AP_OK).
    #[track_caller]
    pub fn state(&self) -> ConvState {
        let verb = self.call_verb(self.verb(Body::GetState(verbs::GetState {
            conv: self.conv,
            conv_state: 0,
        })));
        assert_eq!(verb.primary_rc, PrimaryRc::OK, "GET_STATE: {verb:?}");
        let Body::GetState(v) = verb.body else {
            unreachable!()
        };
        ConvState::ALL
            .into_iter()
            .find(|s| s.code() == v.conv_state)
            .unwrap_or_else(|| panic!("bad conv_state {}", v.conv_state))
    }

    /// [MC_]GET_ATTRIBUTES: the finished fields (asserts AP_OK).
    #[track_caller]
    pub fn attributes(&self) -> verbs::GetAttributes {
        let verb = self.call_verb(self.verb(Body::GetAttributes(verbs::GetAttributes {
            conv: self.conv,
            ..Default::default()
        })));
        assert_eq!(verb.primary_rc, PrimaryRc::OK, "GET_ATTRIBUTES: {verb:?}");
        let Body::GetAttributes(v) = verb.body else {
            unreachable!()
        };
        v
    }

    /// GET_TYPE: the conversation's `conv_type` (asserts AP_OK).
    #[track_caller]
    pub fn conv_type(&self) -> u8 {
        let verb = self.call_verb(self.verb(Body::GetType(verbs::GetType {
            conv: self.conv,
            conv_type: 0xFF,
        })));
        assert_eq!(verb.primary_rc, PrimaryRc::OK, "GET_TYPE: {verb:?}");
        let Body::GetType(v) = verb.body else {
            unreachable!()
        };
        v.conv_type
    }

    /// GET_STATE's return codes (for a conversation that may be gone).
    #[track_caller]
    pub fn get_state(&self) -> Res {
        self.call(Body::GetState(verbs::GetState {
            conv: self.conv,
            conv_state: 0,
        }))
    }

    /// TP_ENDED (hard).
    #[track_caller]
    pub fn end(&self) -> Res {
        self.call(Body::TpEnded(verbs::TpEnded {
            tp_id: self.tp_id,
            tp_type: values::HARD,
        }))
    }
}
