#!/usr/bin/env bash
# Audit log benchmarks (issue 4), side by side in one run of one binary
# (crates/palisade-store/benches/audit.rs, built with the bench-only
# `bench` feature):
#   1. mutation throughput with auditing against the same mutations with the
#      audit write switched off, interleaved round by round, on SQLite
#      (Palisade's settings: WAL, synchronous=FULL) and PostgreSQL when
#      reachable; one tenant (one hash chain) and a tenant per task;
#   2. `verify_audit` speed, in events per second, on a log of one million events.
# Prints the machine, the load average before, during and after each run,
# and every figure. Runs the benchmark RUNS times (default 2): the machine
# may be shared, so compare runs and the recorded load.
# Environment: RUNS; CARGO_TARGET_DIR; PALISADE_BENCH_DIR (where the SQLite
# files go, default the temporary directory; use the disk a data directory
# would live on); the PALISADE_BENCH_* knobs documented in the benchmark;
# PALISADE_TEST_DATABASE_URL (PostgreSQL admin URL, as for the tests).
# Usage: bench/audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/target.sh
runs=${RUNS:-2}
bench_dir=${PALISADE_BENCH_DIR:-${TMPDIR:-/tmp}}

load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(free -h | awk '/Mem:/{print $2}') RAM, $(uname -srm)"
if [ -r /etc/os-release ]; then
  echo "system: $(. /etc/os-release && echo "$PRETTY_NAME")"
fi
echo "SQLite files on: $(df -T "$bench_dir" | awk 'NR==2{print $1" ("$2")"}') under $bench_dir"
echo "rustc: $(rustc --version)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
echo "load average before building: $(load)"
cargo bench --quiet --no-run -p palisade-store --features bench --bench audit 2>&1 | grep -v '^ *Executable' || true

for run in $(seq 1 "$runs"); do
  echo
  echo "== run $run of $runs =="
  echo "load average at start: $(load)"
  samples=$(mktemp)
  ( while true; do cut -d' ' -f1 /proc/loadavg >>"$samples"; sleep 5; done ) &
  sampler=$!
  PALISADE_BENCH_DIR=$bench_dir cargo bench --quiet -p palisade-store --features bench --bench audit
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  echo "load average at end: $(load)"
  echo "1-minute load during the run (every 5 s): $(sort -n "$samples" | awk '{a[NR]=$1; s+=$1} END {if (NR) printf "min %s, median %s, max %s, mean %.2f over %d samples", a[1], a[int((NR+1)/2)], a[NR], s/NR, NR}')"
  rm -f "$samples"
done
