#!/usr/bin/env bash
# Tenant bus benchmark (issue 7), in one run of one script:
# 1. agent->server messages per second over TLS against the same without
#    TLS (two private nats-servers from one generated operator config, the
#    same tenant account pushed to both), interleaved rounds, medians, ratio,
#    messages lost and slow consumers;
# 2. 1,000 tenant accounts pushed live to one nats-server: push time per
#    account, nats-server RSS before and after and with one cluster
#    connected per account (every account loaded), TLS connect times.
# Arguments go to the bench (MESSAGES_PER_ROUND ROUNDS_PER_SIDE ACCOUNTS
# CONNECTS; defaults 100000 8 1000 1000). nats-server is PALISADE_NATS_SERVER,
# else /usr/sbin/nats-server, else on PATH.
# Set CARGO_TARGET_DIR to build elsewhere than ./target.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/target.sh

cargo build --release --quiet -p palisade-bus --features testing --example bus_bench
nats=${PALISADE_NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
echo "machine: $(nproc) cores, $(free -h | awk '/Mem:/{print $2}') RAM, $(uname -m), $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "nats-server: $("$nats" --version 2>&1 | head -1)"
start=$(date +%s)
"$target/release/examples/bus_bench" "$@"
echo "wall time: $(( $(date +%s) - start )) s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
