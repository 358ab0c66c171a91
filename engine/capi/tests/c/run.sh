#!/usr/bin/env bash
# Builds appc-capi and the C tests against include/winappc.h and runs them:
# the layout proof, the conversation, cancel and blocking tests (in-memory
# node), and the C APING client against the project's apingd over TCP on
# loopback. Linux (gcc) by default; `run.sh windows` builds everything with
# mingw for x86_64-pc-windows-gnu and runs it under Wine (.ci/wine-setup),
# and proves the 32-bit Windows layout (pack(4)) at compile time with
# i686-w64-mingw32-gcc (layout_static.c), installing it if missing.
# Prints each test's "N passed, N failed" line and a total; exits non-zero
# on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
cd "$root"
target="${1:-linux}"
out="$root/target/capi-c/$target"
mkdir -p "$out"
cflags=(-std=gnu99 -O2 -Wall -Wextra -Werror -I"$root/engine/capi/include")
passed=0
failed=0

tally() { # the "N passed, N failed" line of a test's output
  local line
  line="$(tr -d '\r' <"$1" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1 || true)"
  if [ -z "$line" ]; then failed=$((failed + 1)); echo "no result line in $1"; return; fi
  passed=$((passed + $(echo "$line" | cut -d' ' -f1)))
  failed=$((failed + $(echo "$line" | cut -d' ' -f3)))
}

if [ "$target" = windows ]; then
  eval "$(bash .ci/wine-setup)"
  export WINEPREFIX WINEDEBUG
  wine="$CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER"
  # One wineserver for the whole run, as .ci/wine-test does.
  wineserver="$(dirname "$wine")/wineserver"
  "$wineserver" -p </dev/null >/dev/null 2>&1
  "$wine" wineboot </dev/null >/dev/null 2>&1 || true
  trap '"$wineserver" -k </dev/null >/dev/null 2>&1 || true' EXIT
  cargo build --release -p appc-capi --target x86_64-pc-windows-gnu
  lib="$root/target/x86_64-pc-windows-gnu/release"
  cc=x86_64-w64-mingw32-gcc
  cp "$lib/appc_capi.dll" "$out/"
  build() { $cc "${cflags[@]}" "$here/$1.c" -o "$out/$1.exe" "$lib/libappc_capi.dll.a" ${2:-}; }
  run() { (cd "$out" && timeout 120 "$wine" "./$1.exe") >"$out/$1.log" 2>&1 || true; cat "$out/$1.log"; tally "$out/$1.log"; }
  # the layout proof needs no library
  $cc "${cflags[@]}" "$here/layout.c" -o "$out/layout.exe"
  # 32-bit Windows: nothing of ours runs there, so its layout is proven
  # by compiling the table as static assertions.
  if ! command -v i686-w64-mingw32-gcc >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-mingw-w64-i686 >/dev/null
  fi
  for c in "$cc" i686-w64-mingw32-gcc; do
    $c -std=c11 -Wall -Wextra -Werror -I"$root/engine/capi/include" -c "$here/layout_static.c" \
      -o "$out/layout_static.o"
    echo "layout: proven at compile time for $($c -dumpmachine)"
  done
  tests=(layout conversation cancel blocking windows)
  for t in conversation cancel blocking; do build "$t"; done
  build windows -luser32
else
  cargo build --release -p appc-capi
  cargo build --release -p appc-perf --bin apingd
  lib="$root/target/release"
  build() { gcc "${cflags[@]}" "$here/$1.c" -o "$out/$1" -L"$lib" -lappc_capi -Wl,-rpath,"$lib" ${2:-}; }
  run() { timeout 120 "$out/$1" >"$out/$1.log" 2>&1 || true; cat "$out/$1.log"; tally "$out/$1.log"; }
  gcc "${cflags[@]}" "$here/layout.c" -o "$out/layout"
  gcc -std=c11 -Wall -Wextra -Werror -I"$root/engine/capi/include" -c "$here/layout_static.c" \
    -o "$out/layout_static.o"
  tests=(layout conversation cancel blocking stress)
  for t in conversation cancel aping; do build "$t"; done
  build blocking -pthread
  build stress -pthread
  # The static library links as well (the same test, no shared object).
  gcc "${cflags[@]}" "$here/conversation.c" -o "$out/conversation-static" \
    "$lib/libappc_capi.a" -lpthread -ldl -lm
  tests+=(conversation-static)
fi

for t in "${tests[@]}"; do echo "--- $t"; run "$t"; done

if [ "$target" = linux ]; then
  echo "--- aping (C client, apingd over TCP)"
  "$root/target/release/apingd" --listen 127.0.0.1:0 >"$out/apingd.log" 2>&1 &
  daemon=$!
  trap 'kill $daemon 2>/dev/null || true' EXIT
  for _ in $(seq 100); do grep -q ' on ' "$out/apingd.log" && break; sleep 0.1; done
  addr="$(sed -n 's/.* on \([0-9.]*:[0-9]*\) .*/\1/p' "$out/apingd.log" | head -1)"
  [ -n "$addr" ] || { cat "$out/apingd.log"; echo "apingd did not start"; exit 1; }
  APPC_LOCAL_LU=APING APPC_PARTNERS="APINGSRV=$addr" run aping
  kill $daemon 2>/dev/null || true
fi

echo "capi C tests ($target): $passed checks passed, $failed failed"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
