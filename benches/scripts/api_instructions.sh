#!/usr/bin/env bash
# Instructions per verb of each API-overhead contestant, counted by
# callgrind: each is run 2,000 and 4,000 times, and the difference divided
# by the 2,000 extra runs' verbs, so that setup and startup cancel out.
# Deterministic, unlike wall times on a shared machine. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p appc-benches --example api_instructions
bin=target/release/examples/api_instructions
count() { # instructions of one run of the binary
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$@" 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for workload in tp_pair get_state; do
  verbs=$([ "$workload" = tp_pair ] && echo 2 || echo 1)
  for api in appc/call capi/APPC appc/submit_future tp_async; do
    small=$(count "$workload" "$api" 2000)
    large=$(count "$workload" "$api" 4000)
    printf '%-10s %-20s %6d instructions/verb\n' "$workload" "$api" $(((large - small) / (2000 * verbs)))
  done
done
