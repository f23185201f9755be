#!/usr/bin/env bash
# Authentication benchmarks, side by side in one run (see bench/auth-results.md):
#   1. login throughput against cores / single Argon2id verify time,
#   2. access-token verification cost (criterion, crates/palisade-crypto/benches/token.rs),
#   3. p50/p99 of an authenticated read (GET /v1/me) idle and during a login flood,
#   4. where the CPU went during each flood (server hashing threads, rest of the
#      server, load generator, other processes, idle) and the load generator's
#      own CPU time (/usr/bin/time -v).
# Builds release binaries, starts `palisade serve` on a temporary data dir and
# a free loopback port, runs bench/authload against it, prints a table, stops
# the server. Extra arguments go to authload (e.g. --rounds 5 --workers 8).
# Everything needed to read the figures (machine, load average, ratios) is
# printed in the one run.
# Set CARGO_TARGET_DIR to build elsewhere than ./target.
# Usage: bench/auth.sh [authload flags]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/target.sh

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
l2=$(cat /sys/devices/system/cpu/cpu0/cache/index2/size 2>/dev/null || echo "?")
echo "machine: $(nproc) cores ($cpu, L2 $l2 per core), $(free -h | awk '/Mem:/{print $2}') RAM, $(uname -m), kernel $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"

cargo build --release --quiet -p palisade
(cd bench/authload && cargo build --release --quiet)

echo
echo "== access-token cost (criterion) =="
cargo bench --quiet -p palisade-crypto --bench token -- --warm-up-time 1 --measurement-time 4 2>&1 \
  | grep -E "^token|time:"

data=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

# The per-IP limit on /v1/auth/* (60/min by default) would refuse the flood
# from one loopback address; lift it for the benchmark only.
PALISADE_AUTH_REQUESTS_PER_MINUTE=1000000 \
  "$target/release/palisade" serve --data-dir "$data/d" --listen 127.0.0.1:0 \
  >"$data/stdout" 2>"$data/stderr" &
server_pid=$!

url=""
for _ in $(seq 1 120); do
  url=$(sed -n 's/^Palisade is serving \(https:\/\/[^ ]*\).*/\1/p' "$data/stdout" | head -n 1)
  [ -n "$url" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "palisade serve exited:" >&2
    cat "$data/stderr" >&2
    exit 1
  fi
  sleep 0.5
done
if [ -z "$url" ]; then
  echo "palisade serve did not start within 60 s" >&2
  exit 1
fi
echo
echo "== login throughput and read latency (authload, server on $url) =="
echo "server log: $(grep -m 1 'password hashing pool' "$data/stderr" || echo 'no hashing pool line')"
timer=()
if [ -x /usr/bin/time ]; then
  timer=(/usr/bin/time -v -o "$data/authload-time")
fi
timeout 900 "${timer[@]}" "$target/release/authload" --url "$url" --ca "$data/d/tls/ca.pem" \
  --password-file "$data/d/initial-admin-password" --server-pid "$server_pid" "$@"
if [ -f "$data/authload-time" ]; then
  echo
  echo "load generator, whole run (/usr/bin/time -v):"
  grep -E "User time|System time|Percent of CPU|Elapsed|Maximum resident" "$data/authload-time" | sed 's/^[[:space:]]*/  /'
fi
echo "server, whole run: $(awk '{printf "%.1f s CPU", ($14+$15)/100}' "/proc/$server_pid/stat")"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
