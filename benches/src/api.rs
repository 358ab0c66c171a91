//! The contestants of the API-overhead comparison: the same verbs through
//! the Rust API (`Appc::call`, `Appc::submit_future`), the async layer
//! (`appc::tp_async`) and the C ABI (`appc-capi`'s exported functions,
//! called with VCBs laid out as `winappc.h` lays them out), on one
//! in-memory node, on one thread.
//!
//! Two workloads: [`Workload::TpPair`] is `TP_STARTED` then `TP_ENDED`
//! (real engine work, no partner; two verbs), [`Workload::GetState`] is
//! `GET_STATE` on an allocated conversation (a gateway's kind of verb: ids,
//! no names; one verb). The criterion benchmark (`benches/api_overhead.rs`)
//! times them; `examples/api_instructions.rs` runs one a fixed number of
//! times so that `scripts/api_instructions.sh` can count its instructions
//! under callgrind, which a shared machine's noise does not disturb.
//! Every contestant asserts the outcome it claims to measure.

use appc::rc::PrimaryRc;
use appc::tp_async::{Allocation, Conversation, Tp};
use appc::verbs::{name, values, Body, Conv, GetState, TpEnded, TpStarted, Verb};
use appc::{Appc, Node};
use appc_capi::exports::{WinAPPCStartup, APPC};
use appc_engine::WINAPPC_VERSION;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Polls `future` until it is ready (these verbs finish at once or within
/// a few polls).
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// What is run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// `TP_STARTED` + `TP_ENDED`.
    TpPair,
    /// `GET_STATE` on a conversation.
    GetState,
}

impl Workload {
    /// Verbs per run.
    pub fn verbs(self) -> u64 {
        match self {
            Workload::TpPair => 2,
            Workload::GetState => 1,
        }
    }
}

/// Through which API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// `Appc::call` (blocking).
    Call,
    /// The C ABI's `APPC` (blocking).
    CApi,
    /// `Appc::submit_future`, polled.
    Future,
    /// `appc::tp_async`, polled.
    Async,
}

impl Api {
    /// Every API, with the names the benchmark and the script use.
    pub const ALL: [(Api, &'static str); 4] = [
        (Api::Call, "appc/call"),
        (Api::CApi, "capi/APPC"),
        (Api::Future, "appc/submit_future"),
        (Api::Async, "tp_async"),
    ];
}

/// A VCB as caller memory, aligned as a C compiler would.
#[repr(C, align(8))]
struct Vcb<const N: usize>([u8; N]);

impl<const N: usize> Vcb<N> {
    fn with_opcode(opcode: u16) -> Self {
        let mut vcb = Self([0; N]);
        vcb.0[..2].copy_from_slice(&opcode.to_be_bytes()); // flipped
        vcb
    }

    /// Issues it with `APPC` and checks `primary_rc` is `AP_OK`.
    fn call(&mut self) {
        // SAFETY: a VCB laid out for its opcode, alive through the call.
        unsafe { APPC(self.0.as_mut_ptr() as isize) };
        assert_eq!(self.0[4..6], [0, 0], "primary_rc");
    }
}

/// Everything the contestants need: one application for the Rust APIs,
/// the C ABI's (process-wide) one, and a conversation on each.
pub struct Apis {
    app: Arc<Appc>,
    conv: Conversation,
    started: Vcb<92>,
    ended: Vcb<24>,
    get_state: Vcb<28>,
}

impl std::fmt::Debug for Apis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apis").finish_non_exhaustive()
    }
}

fn started() -> Verb {
    Verb::basic(Body::TpStarted(TpStarted {
        lu_alias: name(""),
        tp_name: name("BENCH"),
        tp_id: [0; 8],
    }))
}

fn ended(tp_id: [u8; 8]) -> Verb {
    Verb::basic(Body::TpEnded(TpEnded {
        tp_id,
        tp_type: values::SOFT,
    }))
}

fn tp_id(verb: &Verb) -> [u8; 8] {
    assert_eq!(verb.primary_rc, PrimaryRc::OK);
    match &verb.body {
        Body::TpStarted(v) => v.tp_id,
        other => panic!("TP_STARTED came back as {other:?}"),
    }
}

fn state(conv: Conv) -> Verb {
    Verb::mapped(Body::GetState(GetState {
        conv,
        conv_state: 0,
    }))
}

impl Apis {
    /// Starts both applications (the C ABI's with `WinAPPCStartup`: each
    /// `Apis` counts one startup) and a conversation on each, to the local
    /// TP `NO` (never attached: ALLOCATE only reserves it).
    pub fn new() -> Self {
        let node = Node::new();
        let app = Arc::new(Appc::startup(WINAPPC_VERSION, &node).unwrap().0);
        // (TPs and conversations live until their application ends.)
        let rust_tp = ready(Tp::start(&app, "", "BENCH")).unwrap();
        let conv = ready(rust_tp.allocate(&Allocation::mapped("LOCAL", "NO"))).unwrap();

        // SAFETY: no WAPPCDATA is asked for.
        assert_eq!(
            unsafe { WinAPPCStartup(WINAPPC_VERSION, std::ptr::null_mut()) },
            0
        );
        let mut started = Vcb::<92>::with_opcode(0x1400); // AP_TP_STARTED
        started.0[12..20].fill(b' '); // lu_alias (ASCII): the default LU
        started.0[28..92].fill(0x40); // tp_name (EBCDIC) "BENCH"
        started.0[28..33].copy_from_slice(&[0xC2, 0xC5, 0xD5, 0xC3, 0xC8]);
        let ended = Vcb::<24>::with_opcode(0x1300); // AP_TP_ENDED, AP_SOFT

        let mut tp = Vcb::<92>(started.0);
        tp.call();
        let mut allocate = Vcb::<232>::with_opcode(0x0100); // AP_M_ALLOCATE
        allocate.0[2] = values::MAPPED_CONVERSATION;
        allocate.0[12..20].copy_from_slice(&tp.0[20..28]);
        allocate.0[25] = values::SYNC_CONFIRM;
        allocate.0[40..48].copy_from_slice(b"LOCAL   "); // plu_alias
        allocate.0[48..56].fill(0x40); // mode_name
        allocate.0[56..120].fill(0x40); // tp_name "NO"
        allocate.0[56..58].copy_from_slice(&[0xD5, 0xD6]);
        allocate.call();
        let mut get_state = Vcb::<28>::with_opcode(0x0900); // AP_GET_STATE
        get_state.0[2] = values::MAPPED_CONVERSATION;
        get_state.0[12..24].copy_from_slice(&allocate.0[12..24]);
        Self {
            app,
            conv,
            started,
            ended,
            get_state,
        }
    }

    /// One run of `workload` through `api`.
    pub fn run(&mut self, workload: Workload, api: Api) {
        match (workload, api) {
            (Workload::TpPair, Api::Call) => {
                let tp = tp_id(&self.app.call(started()).unwrap());
                let done = self.app.call(ended(tp)).unwrap();
                assert_eq!(done.primary_rc, PrimaryRc::OK);
            }
            (Workload::TpPair, Api::CApi) => {
                self.started.call();
                self.ended.0[12..20].copy_from_slice(&self.started.0[20..28]);
                self.ended.call();
            }
            (Workload::TpPair, Api::Future) => {
                let tp = tp_id(&ready(self.app.submit_future(started()).unwrap()));
                let done = ready(self.app.submit_future(ended(tp)).unwrap());
                assert_eq!(done.primary_rc, PrimaryRc::OK);
            }
            (Workload::TpPair, Api::Async) => {
                let tp = ready(Tp::start(&self.app, "", "BENCH")).unwrap();
                ready(tp.end(false)).unwrap();
            }
            (Workload::GetState, Api::Call) => {
                let done = self.app.call(state(self.conv.id())).unwrap();
                assert_eq!(done.primary_rc, PrimaryRc::OK);
            }
            (Workload::GetState, Api::CApi) => {
                self.get_state.call();
                assert_eq!(self.get_state.0[24], 2, "SEND state");
            }
            (Workload::GetState, Api::Future) => {
                let done = ready(self.app.submit_future(state(self.conv.id())).unwrap());
                assert_eq!(done.primary_rc, PrimaryRc::OK);
            }
            (Workload::GetState, Api::Async) => {
                assert_eq!(ready(self.conv.state()).unwrap(), 2, "SEND state");
            }
        }
    }
}

#[cfg(target_os = "linux")]
impl Apis {
    /// `TP_STARTED` + `TP_ENDED` through `WinAsyncAPPC`, whose window is,
    /// on Linux, a pipe: each completion's message is read back from
    /// `reader` before the next verb (two system calls per verb).
    pub fn tp_pair_to_pipe(&mut self, window: std::os::fd::RawFd, reader: &mut impl std::io::Read) {
        use appc_capi::exports::WinAsyncAPPC;
        let window = window as usize as appc_capi::exports::Handle;
        let mut message = [0u8; 16];
        // SAFETY: a valid VCB that lives until its message is read.
        let task = unsafe { WinAsyncAPPC(window, self.started.0.as_mut_ptr() as isize) };
        assert!(!task.is_null());
        reader.read_exact(&mut message).unwrap();
        assert_eq!(self.started.0[4..6], [0, 0], "primary_rc");
        self.ended.0[12..20].copy_from_slice(&self.started.0[20..28]);
        // SAFETY: as above.
        let task = unsafe { WinAsyncAPPC(window, self.ended.0.as_mut_ptr() as isize) };
        assert!(!task.is_null());
        reader.read_exact(&mut message).unwrap();
        assert_eq!(self.ended.0[4..6], [0, 0], "primary_rc");
    }
}

impl Default for Apis {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_contestant_runs_its_workload() {
        let mut apis = Apis::new();
        for workload in [Workload::TpPair, Workload::GetState] {
            for (api, _) in Api::ALL {
                for _ in 0..3 {
                    apis.run(workload, api);
                }
            }
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (mut reader, writer) = std::io::pipe().unwrap();
            apis.tp_pair_to_pipe(writer.as_raw_fd(), &mut reader);
        }
        assert_eq!(apis.app.stats().live_tasks, 0);
    }
}
