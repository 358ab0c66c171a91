#!/usr/bin/env bash
# Where the heap allocations per request of `appc-load` come from, by
# call site in the library (engine/, io/), with valgrind's DHAT.
#
# appc-load's own report counts allocations per request (the counting
# allocator, over the measured window); this says which lines make them.
# DHAT records every allocation of a run, setup and teardown included, so
# the load runs twice, with N and 5N requests, and what a site allocated
# in the short run is taken from what it allocated in the long one: what
# is left scales with requests (and with the conversations cancels
# restart), divided by the extra requests. Each site is the first frame
# in the library or the load's own code, with the two callers after it.
#
# Valgrind cannot run io_uring, so the runs use epoll, whose own sites
# show up too. The load generator itself allocates nothing per request,
# so any of its frames here is a regression.
# Missing tools: apt-get install -y valgrind python3 (Debian).
#
# usage: perf/scripts/alloc-sites.sh [--requests N] [--sessions N]
#            [--cancel-fraction F] [--top N] [--out DIR]
# Output goes to DIR (default target/alloc-sites): the two DHAT profiles
# (dh_view.html reads them) and the two runs' JSON reports.
set -eu
cd "$(dirname "$0")/../.."

usage() { sed -n '/^# usage:/,/^# Output/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

requests=20000 sessions=32 cancel=0.01 top=30 out=target/alloc-sites
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests=${2:?}; shift 2 ;;
    --sessions) sessions=${2:?}; shift 2 ;;
    --cancel-fraction) cancel=${2:?}; shift 2 ;;
    --top) top=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) usage ;;
    *) echo "alloc-sites.sh: unknown argument $1" >&2; usage ;;
  esac
done
command -v valgrind >/dev/null || { echo "alloc-sites.sh: valgrind is not installed" >&2; exit 1; }

cargo build --release -p appc-perf --bin appc-load
mkdir -p "$out"
for n in "$requests" $((requests * 5)); do
  echo "appc-load --requests $n under DHAT ..." >&2
  valgrind --tool=dhat --dhat-out-file="$out/dhat.$n.json" \
    target/release/appc-load --backend epoll --sessions "$sessions" \
    --requests "$n" --cancel-fraction "$cancel" --json \
    >"$out/report.$n.json" 2>"$out/valgrind.$n.log"
done

python3 - "$out" "$requests" $((requests * 5)) "$top" <<'EOF'
import collections, json, re, sys

out, short, long_, top = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

def report(n):
    r = json.load(open(f"{out}/report.{n}.json"))["appc"]
    return r["requests"], r["cancels"]["cancelled"]

def frame(text):
    m = re.match(r"0x[0-9A-Fa-f]+: (.*) \((.*)\)$", text)
    return (m.group(1), m.group(2)) if m else (text, "")

LIB = re.compile(r"\b(appc_io|appc_engine|appc|appc_load|appc_perf)::")
def ours(name, where):
    if "counting" in name or where.startswith("library/") or "valgrind" in where:
        return False
    return bool(LIB.search(name)) or (
        name == "UnknownInlinedFun" and re.match(r"\w+\.rs:\d+$", where) is not None
        and where.split(":")[0] not in ("alloc.rs", "boxed.rs", "mod.rs", "main.rs", "sync.rs"))

def tidy(name):
    """A function's name without its generic arguments (a trait impl's or
    an inherent impl's path is kept whole)."""
    if name.startswith("<") or "::<impl" in name:
        return name
    return name.split("<")[0]

def sites(n):
    d = json.load(open(f"{out}/dhat.{n}.json"))
    blocks, size = collections.Counter(), collections.Counter()
    for pp in d["pps"]:
        frames = [frame(d["ftbl"][i]) for i in pp["fs"]]
        mine = [f"{where} {tidy(name)}" for name, where in frames if ours(name, where)]
        key = "  <-  ".join(mine[:3]) if mine else "(outside the project) " + frames[-1][0]
        blocks[key] += pp["tbk"]
        size[key] += pp["tb"]
    return blocks, size

(r0, c0), (r1, c1) = report(short), report(long_)
(b0, s0), (b1, s1) = sites(short), sites(long_)
requests, cancelled = r1 - r0, c1 - c0
rows = sorted(((b1[k] - b0[k], s1[k] - s0[k], k) for k in b1 if b1[k] > b0[k]), reverse=True)
total = sum(n for n, _, _ in rows)
print(f"{requests} more requests and {cancelled} more cancelled conversations in the long run")
print(f"{total} more allocations: {total / requests:.3f} per request"
      + (f", {total / cancelled:.1f} per cancelled conversation" if cancelled else ""))
print(f"{'per request':>12} {'blocks':>8} {'bytes':>6}  site  <-  callers")
for n, b, key in rows[:top]:
    print(f"{n / requests:12.4f} {n:8d} {b // n:6d}  {key}")
EOF
