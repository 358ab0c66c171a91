//! The cost of the APPC APIs over one another (`appc_benches::api` has the
//! contestants and what each does), in two groups, each timed per verb:
//!
//! - `verb_lifecycle`: `TP_STARTED` + `TP_ENDED` (two verbs a run);
//! - `conversation_verb`: `GET_STATE` on an allocated conversation.
//!
//! In each: `appc/call` against `capi/APPC` is the C ABI's overhead (the
//! blocking entry point of both); `appc/submit_future` against `tp_async`
//! the async layer's. `verb_lifecycle` also has
//! `capi/WinAsyncAPPC_pipe` (Linux): the asynchronous C entry point with
//! its Linux window stand-in, a pipe, read back after each verb, to show
//! what a notification a C program can wait on costs.
//!
//! Wall times on a shared machine are noisy; `scripts/api_instructions.sh`
//! counts the same contestants' instructions per verb under callgrind.
//!
//! Quick run: `cargo bench -p appc-benches --bench api_overhead -- --warm-up-time 0.5 --measurement-time 2`.

use appc_benches::api::{Api, Apis, Workload};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn group(c: &mut Criterion, name: &str, workload: Workload, apis: &mut Apis) {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(workload.verbs()));
    for (api, label) in Api::ALL {
        g.bench_function(label, |b| b.iter(|| apis.run(workload, api)));
    }
    #[cfg(target_os = "linux")]
    if workload == Workload::TpPair {
        use std::os::fd::AsRawFd;
        let (mut reader, writer) = std::io::pipe().unwrap();
        let window = writer.as_raw_fd();
        g.bench_function("capi/WinAsyncAPPC_pipe", |b| {
            b.iter(|| apis.tp_pair_to_pipe(window, &mut reader))
        });
    }
    g.finish();
}

fn api_overhead(c: &mut Criterion) {
    let mut apis = Apis::new();
    group(c, "verb_lifecycle", Workload::TpPair, &mut apis);
    group(c, "conversation_verb", Workload::GetState, &mut apis);
}

criterion_group!(benches, api_overhead);
criterion_main!(benches);
