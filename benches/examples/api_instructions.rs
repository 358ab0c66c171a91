//! Runs one API-overhead contestant (`appc_benches::api`) a given number of
//! times, for `scripts/api_instructions.sh` to count its instructions under
//! callgrind: `api_instructions WORKLOAD API RUNS`, with WORKLOAD
//! `tp_pair` or `get_state` and API one of `appc/call`, `capi/APPC`,
//! `appc/submit_future`, `tp_async`.

use appc_benches::api::{Api, Apis, Workload};
use std::process::exit;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, api, runs] = args.as_slice() else {
        eprintln!("usage: api_instructions tp_pair|get_state API RUNS");
        exit(2);
    };
    let workload = match workload.as_str() {
        "tp_pair" => Workload::TpPair,
        "get_state" => Workload::GetState,
        other => {
            eprintln!("unknown workload {other:?}");
            exit(2)
        }
    };
    let Some((api, _)) = Api::ALL.iter().find(|(_, label)| label == api) else {
        eprintln!("unknown API {api:?}");
        exit(2)
    };
    let Ok(runs) = runs.parse::<u64>() else {
        eprintln!("RUNS is a number");
        exit(2)
    };
    let mut apis = Apis::new();
    for _ in 0..runs {
        apis.run(workload, *api);
    }
}
