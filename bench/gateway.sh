#!/usr/bin/env bash
# Gateway benchmark (issue 5), side by side in one run: an authenticated,
# authorized, validated read (GET /v1/projects/{uid}/clusters/{uid}) through
# the real application, against the same handler mounted without the
# security layers, both over TLS on loopback, driven by bench/gwload in
# interleaved rounds. Prints machine, load, a per-round table and medians.
# Extra arguments go to gwload (e.g. --rounds 8 --secs 5 --workers 16).
# Set CARGO_TARGET_DIR to build elsewhere than ./target; set
# GATEWAY_BENCH_BIN to run an already built gateway_bench (to compare two
# builds back to back) instead of building this tree's.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/target.sh

echo "machine: $(nproc) cores, $(free -h | awk '/Mem:/{print $2}') RAM, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
server=${GATEWAY_BENCH_BIN:-}
if [ -z "$server" ]; then
  cargo build --release --quiet -p palisade-server --example gateway_bench
  server="$target/release/examples/gateway_bench"
fi
echo "server: $server"
(cd bench/gwload && cargo build --release --quiet)

work=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -m 0700 "$work/d"
# The access log goes to a file, as in production it goes somewhere.
PALISADE_LOG_FORMAT=json "$server" "$work/d" >"$work/config.json" 2>"$work/server.log" &
pid=$!
for _ in $(seq 1 120); do
  [ -s "$work/config.json" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "bench server exited:"; cat "$work/server.log"; exit 1; }
  sleep 0.5
done
[ -s "$work/config.json" ] || { echo "bench server did not start"; exit 1; }
"$target/release/gwload" --config "$work/config.json" "$@"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
