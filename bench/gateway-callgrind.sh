#!/usr/bin/env bash
# Instruction counts of the gateway benchmark's two variants (issue 5):
# runs the bench server under `valgrind --tool=callgrind`, drives one
# variant at a time with bench/gwload (4 workers, a 3 s warm-up, then the
# counters are reset and a 10 s measured run), and prints instructions per
# request in all, and inclusively in the gate, the session read, SQLite,
# the token check, the access-log line and the handler. Counts do not
# depend on what else the machine runs (seconds do), so this compares
# builds; kernel time (system calls, thread hand-offs) is not counted.
# Usage: bench/gateway-callgrind.sh [secured|bare ...] (default both).
# Set CARGO_TARGET_DIR to build elsewhere than ./target.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/target.sh
command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 2; }
cargo build --release --quiet -p palisade-server --example gateway_bench
(cd bench/gwload && cargo build --release --quiet)
variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(secured bare)

for v in "${variants[@]}"; do
  case "$v" in secured|bare) ;; *) echo "unknown variant $v" >&2; exit 2 ;; esac
  work=$(mktemp -d)
  mkdir -m 0700 "$work/d"
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
    "$target/release/examples/gateway_bench" "$work/d" >"$work/config.json" 2>"$work/server.log" &
  pid=$!
  for _ in $(seq 1 240); do [ -s "$work/config.json" ] && break; sleep 0.5; done
  [ -s "$work/config.json" ] || { echo "bench server did not start"; cat "$work/server.log"; exit 1; }
  # Both URLs of the config point at the variant under test.
  python3 - "$work/config.json" "$v" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["secured"] = c["bare"] = c[sys.argv[2]]
json.dump(c, open(sys.argv[1], "w"))
PY
  "$target/release/gwload" --config "$work/config.json" --rounds 1 --secs 3 --workers 4 >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  requests=$("$target/release/gwload" --config "$work/config.json" --rounds 1 --secs 10 --workers 4 \
    | awk '$1 == "1" && ($2 == "secured" || $2 == "bare") {s += $3} END {print s + 0}')
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 1
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  dump=$(ls "$work"/cg.*.1 2>/dev/null | head -n 1)
  [ -n "$dump" ] && [ "$requests" -gt 0 ] || { echo "no dump or no requests for $v"; exit 1; }
  echo "== $v: $requests requests measured"
  callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | python3 -c '
import re, sys
n = int(sys.argv[1])
want = [
    ("all", "PROGRAM TOTALS"),
    ("the gate (admit)", "gateway::admit::{{closure}}"),
    ("session read (session_access)", "IdentityStore>::session_access::{{closure}}"),
    ("SQLite steps", ":sqlite3_step "),
    ("access-token check (verify_access)", "AuthState::verify_access "),
    ("access-log line (format_event)", ">::format_event "),
    ("the handler", "Handler<(M,T1,T2,T3),S>>::call::{{closure}} "),
    ("new TLS handshakes (RSA signatures)", "RSA_sign_raw "),
]
got = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(", line)
    if not m:
        continue
    for label, key in want:
        if key in line + " " and label not in got:
            got[label] = int(m.group(1).replace(",", ""))
for label, _ in want:
    if label in got:
        print(f"  {label:40s} {got[label] / n:>10,.0f} instructions per request")
' "$requests"
  rm -rf "$work"
done
