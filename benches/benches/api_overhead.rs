//! The cost of the APPC APIs over one another, on an in-memory node, on one
//! thread, in two groups:
//!
//! - `verb_lifecycle`: a TP verb pair that does real engine work and needs
//!   no partner, `TP_STARTED` then `TP_ENDED` (two verbs per iteration;
//!   `Throughput::Elements(2)`, so figures are per verb);
//! - `conversation_verb`: `GET_STATE` on an allocated conversation, the
//!   shape of a gateway's verbs (a TP and conversation id, no names).
//!
//! In each:
//!
//! - `appc/call` against `capi/APPC`: the blocking entry point, the Rust
//!   API against the C ABI (VCBs decoded from and written back to caller
//!   memory, the process-global application looked up): the C ABI's
//!   per-verb overhead.
//! - `appc/submit_future` against `tp_async`: the async layer over the
//!   future it awaits, both polled to completion with a no-op waker.
//! - `capi/WinAsyncAPPC_pipe` (Linux): the asynchronous C entry point with
//!   its Linux window stand-in, a pipe, read back after each verb: what a
//!   C gateway pays per verb for a notification it can wait on (two
//!   system calls), shown beside the others rather than hidden in them.
//!
//! Quick run: `cargo bench -p appc-benches --bench api_overhead -- --warm-up-time 0.5 --measurement-time 2`.

use appc::rc::PrimaryRc;
use appc::tp_async::Allocation;
use appc::tp_async::Tp;
use appc::verbs::{name, values, Body, GetState, TpEnded, TpStarted, Verb};
use appc::{Appc, Node};
use appc_capi::exports::{WinAPPCStartup, APPC};
use appc_engine::WINAPPC_VERSION;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Polls `future` until it is ready (the verbs here finish at once or
/// within a few polls).
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
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

/// The C VCBs of the pair, as the header lays them out (64-bit).
#[repr(C, align(8))]
struct Vcbs {
    started: [u8; 92],
    ended: [u8; 24],
}

impl Vcbs {
    fn new() -> Self {
        let mut started = [0u8; 92];
        started[..2].copy_from_slice(&0x1400u16.to_be_bytes()); // AP_TP_STARTED
        started[12..20].fill(b' '); // lu_alias: the default LU
        started[28..92].fill(0x40); // tp_name, EBCDIC blanks
        started[28..33].copy_from_slice(&[0xC2, 0xC5, 0xD5, 0xC3, 0xC8]); // "BENCH"
        let mut ended = [0u8; 24];
        ended[..2].copy_from_slice(&0x1300u16.to_be_bytes()); // AP_TP_ENDED
        Self { started, ended }
    }

    /// Copies the TP id TP_STARTED returned into TP_ENDED.
    fn hand_over(&mut self) {
        assert_eq!(self.started[4..6], [0, 0], "TP_STARTED primary_rc");
        let (from, to) = (&self.started[20..28], &mut self.ended[12..20]);
        to.copy_from_slice(from);
    }

    fn check_ended(&self) {
        assert_eq!(self.ended[4..6], [0, 0], "TP_ENDED primary_rc");
    }
}

fn verb_lifecycle(c: &mut Criterion) {
    let node = Node::new();
    let app = Arc::new(Appc::startup(WINAPPC_VERSION, &node).unwrap().0);
    // SAFETY: no WAPPCDATA is asked for.
    assert_eq!(
        unsafe { WinAPPCStartup(WINAPPC_VERSION, std::ptr::null_mut()) },
        0
    );

    let mut g = c.benchmark_group("verb_lifecycle");
    g.throughput(Throughput::Elements(2));
    g.bench_function("appc/call", |b| {
        b.iter(|| {
            let tp = tp_id(&app.call(started()).unwrap());
            let done = app.call(ended(tp)).unwrap();
            assert_eq!(done.primary_rc, PrimaryRc::OK);
        })
    });
    let mut vcbs = Vcbs::new();
    g.bench_function("capi/APPC", |b| {
        b.iter(|| {
            // SAFETY: valid VCBs that live through each call.
            unsafe { APPC(vcbs.started.as_mut_ptr() as isize) };
            vcbs.hand_over();
            // SAFETY: as above.
            unsafe { APPC(vcbs.ended.as_mut_ptr() as isize) };
            vcbs.check_ended();
        })
    });
    g.bench_function("appc/submit_future", |b| {
        b.iter(|| {
            let tp = tp_id(&ready(app.submit_future(started()).unwrap()));
            let done = ready(app.submit_future(ended(tp)).unwrap());
            assert_eq!(done.primary_rc, PrimaryRc::OK);
        })
    });
    g.bench_function("tp_async", |b| {
        b.iter(|| {
            let tp = ready(Tp::start(&app, "", "BENCH")).unwrap();
            ready(tp.end(false)).unwrap();
        })
    });
    #[cfg(target_os = "linux")]
    pipe_contestant(&mut g, &mut vcbs);
    g.finish();
    black_box(&vcbs);
}

#[cfg(target_os = "linux")]
fn pipe_contestant(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    vcbs: &mut Vcbs,
) {
    use appc_capi::exports::WinAsyncAPPC;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    let (mut reader, writer) = std::io::pipe().unwrap();
    let window = writer.as_raw_fd() as usize as appc_capi::exports::Handle;
    let mut message = [0u8; 16];
    g.bench_function("capi/WinAsyncAPPC_pipe", |b| {
        b.iter(|| {
            // SAFETY: valid VCBs that live until their message is read.
            let task = unsafe { WinAsyncAPPC(window, vcbs.started.as_mut_ptr() as isize) };
            assert!(!task.is_null());
            reader.read_exact(&mut message).unwrap();
            vcbs.hand_over();
            // SAFETY: as above.
            let task = unsafe { WinAsyncAPPC(window, vcbs.ended.as_mut_ptr() as isize) };
            assert!(!task.is_null());
            reader.read_exact(&mut message).unwrap();
            vcbs.check_ended();
        })
    });
    drop(writer);
}

/// `MC_ALLOCATE` of TP `tp_id` to the local node's TP `NO` (never
/// attached: ALLOCATE only reserves the conversation), as the header lays
/// it out; its `tp_id` and `conv_id` (bytes 12..24) name the conversation.
fn allocate_vcb(tp_id: &[u8]) -> [u8; 232] {
    let mut vcb = [0u8; 232];
    vcb[..2].copy_from_slice(&0x0100u16.to_be_bytes()); // AP_M_ALLOCATE
    vcb[2] = values::MAPPED_CONVERSATION;
    vcb[12..20].copy_from_slice(tp_id);
    vcb[25] = values::SYNC_CONFIRM;
    vcb[40..48].copy_from_slice(b"LOCAL   "); // plu_alias, ASCII
    vcb[48..56].fill(0x40); // mode_name, EBCDIC blanks
    vcb[56..120].fill(0x40); // tp_name, EBCDIC
    vcb[56..58].copy_from_slice(&[0xD5, 0xD6]); // "NO"
    vcb
}

fn conversation_verb(c: &mut Criterion) {
    let node = Node::new();
    let app = Arc::new(Appc::startup(WINAPPC_VERSION, &node).unwrap().0);
    // SAFETY: no WAPPCDATA is asked for (a second startup counts up).
    assert_eq!(
        unsafe { WinAPPCStartup(WINAPPC_VERSION, std::ptr::null_mut()) },
        0
    );

    let tp = ready(Tp::start(&app, "", "BENCH")).unwrap();
    let conv = ready(tp.allocate(&Allocation::mapped("LOCAL", "NO"))).unwrap();
    let id = conv.id();
    let state = || {
        Verb::mapped(Body::GetState(GetState {
            conv: id,
            conv_state: 0,
        }))
    };

    let mut vcbs = Vcbs::new();
    // SAFETY: a valid VCB.
    unsafe { APPC(vcbs.started.as_mut_ptr() as isize) };
    vcbs.hand_over();
    #[repr(C, align(8))]
    struct Vcb<const N: usize>([u8; N]);
    let mut allocate = Vcb(allocate_vcb(&vcbs.started[20..28]));
    // SAFETY: a valid VCB.
    unsafe { APPC(allocate.0.as_mut_ptr() as isize) };
    assert_eq!(allocate.0[4..6], [0, 0], "MC_ALLOCATE primary_rc");
    let mut get_state = Vcb([0u8; 28]);
    get_state.0[..2].copy_from_slice(&0x0900u16.to_be_bytes()); // AP_GET_STATE
    get_state.0[2] = values::MAPPED_CONVERSATION;
    get_state.0[12..24].copy_from_slice(&allocate.0[12..24]);

    let mut g = c.benchmark_group("conversation_verb");
    g.throughput(Throughput::Elements(1));
    g.bench_function("appc/call", |b| {
        b.iter(|| assert_eq!(app.call(state()).unwrap().primary_rc, PrimaryRc::OK))
    });
    g.bench_function("capi/APPC", |b| {
        b.iter(|| {
            // SAFETY: a valid VCB that lives through the call.
            unsafe { APPC(get_state.0.as_mut_ptr() as isize) };
            assert_eq!(get_state.0[4..6], [0, 0]);
            assert_eq!(get_state.0[24], 2, "SEND state");
        })
    });
    g.bench_function("appc/submit_future", |b| {
        b.iter(|| {
            let done = ready(app.submit_future(state()).unwrap());
            assert_eq!(done.primary_rc, PrimaryRc::OK);
        })
    });
    g.bench_function("tp_async", |b| {
        b.iter(|| assert_eq!(ready(conv.state()).unwrap(), 2))
    });
    g.finish();
}

criterion_group!(benches, verb_lifecycle, conversation_verb);
criterion_main!(benches);
