#!/usr/bin/env bash
# Profile of a hot path: where the time (perf) and the instructions
# (callgrind) of one criterion benchmark go.
#
# The benchmark runs with criterion's --profile-time: the measured routine
# in a loop for N seconds, no warm-up, no analysis, so the profile is the
# routine and nothing else. The default is the engine's single-thread
# lifecycle (submit -> complete -> consume through the message queue),
# the path every request takes.
#
# Tools, as the machine allows (`--tool auto`):
#   perf       `perf stat` (software events always; cycles and instructions
#              where the CPU exposes counters: a KVM guest often does not)
#              and `perf record` sampling on cpu-clock: the top symbols by
#              share of time.
#   callgrind  valgrind's instruction counts, exact and repeatable: the top
#              functions by instructions, and the instructions per request
#              (the timed loop's inclusive count / calls to Engine::submit).
# auto runs perf when `perf stat` works, and callgrind too when the CPU
# gives perf no instruction counter (or when perf is unusable).
# Missing tools: apt-get install -y linux-perf valgrind (Debian).
#
# usage: perf/scripts/profile.sh [--tool auto|perf|callgrind|both]
#            [--seconds N] [--bench lifecycle|session] [--out DIR] [FILTER]
#   FILTER   a criterion benchmark id regex
#            (default: ^lifecycle_1thread/engine/queue$)
# Output goes to DIR (default target/profile): perf.data, callgrind.out,
# and the full reports the printed summaries are cut from.
# (No pipefail: the summaries are `| head` cuts, whose early close is fine.)
set -eu
cd "$(dirname "$0")/../.."

usage() { sed -n '/^# usage:/,/^# Output/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

tool=auto seconds=3 bench=lifecycle out=target/profile filter=
while [ $# -gt 0 ]; do
  case "$1" in
    --tool) tool=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --bench) bench=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "profile.sh: unknown flag $1" >&2; usage ;;
    *) filter=$1; shift ;;
  esac
done
case "$tool" in auto|perf|callgrind|both) ;; *) echo "profile.sh: bad --tool $tool" >&2; usage ;; esac
case "$bench" in
  lifecycle) : "${filter:=^lifecycle_1thread/engine/queue\$}" ;;
  session) : "${filter:=^session_round_trip/appc_epoll/64\$}" ;;
  *) echo "profile.sh: bad --bench $bench" >&2; usage ;;
esac
mkdir -p "$out"

section() { printf '\n=== %s\n' "$1"; }

section "build (cargo bench -p appc-benches --bench $bench --no-run)"
exe=$(cargo bench -p appc-benches --bench "$bench" --no-run 2>&1 \
  | sed -n 's/^ *Executable .*(\(.*\))$/\1/p' | tail -1)
[ -x "$exe" ] || { echo "profile.sh: no benchmark executable found" >&2; exit 1; }
run=("$exe" --bench --profile-time "$seconds" "$filter")
echo "$exe, benchmark $filter, ${seconds}s"

perf_ok=no counters=no
if command -v perf >/dev/null && perf stat -e task-clock -- true >/dev/null 2>&1; then
  perf_ok=yes
  if perf stat -x, -e instructions -- true 2>&1 | grep -q '^[0-9]'; then counters=yes; fi
fi
use_perf=no use_callgrind=no
case "$tool" in
  perf) use_perf=yes ;;
  callgrind) use_callgrind=yes ;;
  both) use_perf=yes use_callgrind=yes ;;
  auto)
    use_perf=$perf_ok
    if [ "$counters" = no ]; then use_callgrind=yes; fi ;;
esac
echo "perf usable: $perf_ok (hardware counters: $counters," \
  "kernel.perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo ?))"
if [ "$use_perf" = yes ] && [ "$perf_ok" = no ]; then
  echo "profile.sh: perf is not usable here (apt-get install -y linux-perf; as root or with" \
    "kernel.perf_event_paranoid <= 1)" >&2
  exit 1
fi
if [ "$use_callgrind" = yes ] && ! command -v valgrind >/dev/null; then
  echo "profile.sh: valgrind is missing (apt-get install -y valgrind)" >&2
  exit 1
fi

if [ "$use_perf" = yes ]; then
  section "perf stat"
  events=task-clock,context-switches,cpu-migrations,page-faults
  [ "$counters" = yes ] && events=$events,cycles,instructions,branch-misses
  perf stat -e "$events" -- "${run[@]}" 2>&1 >/dev/null | sed -n '/Performance counter/,$p'

  section "perf record: top symbols by share of samples (cpu-clock)"
  perf record -q -F 2999 -o "$out/perf.data" -- "${run[@]}" >/dev/null 2>&1
  perf report -i "$out/perf.data" --stdio --no-children --sort symbol \
    --percent-limit 1 -q >"$out/perf-report.txt" 2>/dev/null
  sed '/^$/d; s/[[:space:]]*-[[:space:]]*-[[:space:]]*$//' "$out/perf-report.txt" | head -25
fi

if [ "$use_callgrind" = yes ]; then
  section "callgrind: top functions by instructions"
  # Under valgrind the loop runs ~50x slower: one second is plenty.
  cg=("$exe" --bench --profile-time 1 "$filter")
  valgrind --tool=callgrind --compress-strings=no --compress-pos=no \
    --callgrind-out-file="$out/callgrind.out" "${cg[@]}" >/dev/null 2>&1
  callgrind_annotate --auto=no "$out/callgrind.out" >"$out/callgrind.txt" 2>/dev/null
  callgrind_annotate --auto=no --inclusive=yes "$out/callgrind.out" \
    >"$out/callgrind-inclusive.txt" 2>/dev/null
  # Requests = calls to Engine::submit (one per request in every engine
  # benchmark); 0 for a benchmark that never calls it.
  calls=$(awk '/^cfn=.*Engine<V>::submit$/ { hit = 1; next }
               hit && /^calls=/ { split($0, a, "[= ]"); n += a[2] }
               { hit = 0 } END { print n + 0 }' "$out/callgrind.out")
  # callgrind_annotate splits a function by the source file of each inlined
  # line; add the pieces up per function.
  echo "  instructions  share  per request  function"
  awk -v calls="$calls" '/PROGRAM TOTALS/ { total = $1; gsub(",", "", total) }
       /file:function/ { on = 1; next }
       on && /^$/ { exit }
       on && /^ *[0-9,]+ +\(/ {
         n = $1; gsub(",", "", n); f = $0
         sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", f); sub(/^[^:]*:/, "", f); sub(/ \[.*\]$/, "", f)
         ir[f] += n
       }
       END {
         for (f in ir) {
           per = calls > 0 ? sprintf("%11.1f", ir[f] / calls) : sprintf("%11s", "-")
           printf "%14d  %5.1f%%  %s  %s\n", ir[f], 100 * ir[f] / total, per, f
         }
       }' \
    "$out/callgrind.txt" | sort -rn | head -15
  loop=$(grep -m1 'Bencher<M>::iter' "$out/callgrind-inclusive.txt" | awk '{gsub(",", "", $1); print $1}')
  if [ -n "$loop" ] && [ "$calls" -gt 0 ]; then
    echo "timed loop (criterion's Bencher::iter, inclusive): $loop instructions for $calls" \
      "requests = $((loop / calls)) instructions per request"
  fi
fi
echo
echo "data in $out/"
